"""``manage.py probe worker|listener``: exit 0 while that process beats, 1 when it is stuck.

For an orchestrator's liveness check (a Kubernetes exec probe, a systemd timer, a script):
by default it reads the heartbeat file the process writes on this machine or container
(``OPS_HEARTBEAT_DIR``), so it judges the process beside it; ``--cluster`` reads the shared
cache instead (is any replica alive?). ``probe web`` runs /readyz's checks in-process.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ops import health, heartbeat


class Command(BaseCommand):
    requires_system_checks = []  # a probe runs every few seconds: answer, nothing else
    help = "Liveness of the webhook worker or the live-updates listener (exit 1 when stuck)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[*heartbeat.KINDS, "web"])
        parser.add_argument(
            "--max-age",
            type=float,
            default=None,
            help="Seconds after which a heartbeat is stale (default OPS_HEARTBEAT_STALE_SECONDS).",
        )
        parser.add_argument(
            "--cluster",
            action="store_true",
            help="Any replica's heartbeat from the shared cache, not this machine's file.",
        )

    def handle(self, *args, kind: str, max_age: float | None, cluster: bool, **options):
        if kind == "web":
            ready, body = health.readiness()
            self.stdout.write(json.dumps(body["checks"]))
            if not ready:
                raise CommandError("web: not ready", returncode=1)
            return
        state = heartbeat.shared(kind) if cluster else heartbeat.local(kind)
        if not state["seen"]:
            where = "the cache" if cluster else str(heartbeat.file_for(kind))
            raise CommandError(f"{kind}: no heartbeat in {where}", returncode=1)
        limit = heartbeat.stale_after() if max_age is None else max_age
        if state["age_seconds"] > limit:
            raise CommandError(
                f"{kind}: stuck: last heartbeat {state['age_seconds']:.0f} s ago "
                f"(pid {state['pid']}, limit {limit:g} s)",
                returncode=1,
            )
        self.stdout.write(
            f"{kind}: alive, last heartbeat {state['age_seconds']:.1f} s ago "
            f"(pid {state['pid']} on {state['host']})"
        )
