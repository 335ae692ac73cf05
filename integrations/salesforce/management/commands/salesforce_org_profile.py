"""``manage.py salesforce_org_profile``: the daily describe of every connected org (issue 24).

Reads Contact's and Opportunity's describe again (two API calls per connection; three in orgs
with Person Accounts: their record type, E3) so that a currency switched on, a field encrypted
or Person Accounts enabled after the connect change the lookup query within a day (E1, E2, E3).
Run it daily beside ``salesforce_keepalive``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.salesforce.errors import SalesforceError
from integrations.salesforce.models import SalesforceConnection
from integrations.salesforce.org_profile import refresh_profile


class Command(BaseCommand):
    help = "Read each connected Salesforce org's describe again (currencies, encryption, ...)."

    def handle(self, *args, **options):
        failed = 0
        connections = SalesforceConnection.objects.filter(
            status=SalesforceConnection.Status.CONNECTED
        ).order_by("pk")
        for connection in connections:
            try:
                profile = refresh_profile(connection)
            except SalesforceError as exc:
                profile, detail = None, exc.detail
            else:
                detail = "describe refused"
            if profile is None:
                failed += 1
                self.stderr.write(f"failed    connection {connection.pk}: {detail}")
            else:
                self.stdout.write(
                    f"ok        connection {connection.pk}: multi-currency "
                    f"{'on' if profile.multi_currency else 'off'}, person accounts "
                    f"{'on' if profile.person_accounts else 'off'}"
                )
        if failed:
            raise CommandError(f"{failed} Salesforce org(s) could not be described.")
