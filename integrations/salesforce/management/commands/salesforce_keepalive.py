"""``manage.py salesforce_keepalive``: use each quiet connection's refresh token (T3).

An org may expire refresh tokens that go unused for N days. Run this daily (cron, a systemd
timer or a Kubernetes CronJob: see the README). It refreshes every connected connection whose
tokens Salesforce issued more than SALESFORCE_KEEPALIVE_DAYS ago, prints one line per
connection and exits 1 if any failed. Idempotent and safe on several machines at once: each
refresh holds the connection's token lock and re-reads it first, so a connection refreshed
meanwhile (by another machine or a sidebar) is skipped.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.salesforce.tokens import keep_alive, keepalive_due


class Command(BaseCommand):
    help = "Refresh Salesforce connections unused for SALESFORCE_KEEPALIVE_DAYS days."

    def handle(self, *args, **options):
        days = settings.SALESFORCE_KEEPALIVE_DAYS
        failed = 0
        due = list(keepalive_due())
        for connection in due:
            result = keep_alive(connection)
            label = (
                f"connection {connection.pk} (workspace {connection.workspace.slug}, "
                f"org {connection.org_id})"
            )
            line = f"{result.outcome:<9} {label}" + (
                f": {result.message}" if result.message else ""
            )
            if result.failed:
                failed += 1
                self.stderr.write(line)
            else:
                self.stdout.write(line)
        self.stdout.write(
            f"{len(due)} connection(s) older than {days} day(s): "
            f"{len(due) - failed} ok, {failed} failed."
        )
        if failed:
            raise CommandError(f"{failed} Salesforce connection(s) could not be kept alive.")
