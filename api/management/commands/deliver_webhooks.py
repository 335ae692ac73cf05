"""The webhook worker: `manage.py deliver_webhooks` (any number of them, on any machine)."""

from __future__ import annotations

import logging

import requests
from django.core.management.base import BaseCommand

from api.webhooks import deliver_due
from ops import metrics, worker

logger = logging.getLogger("api.webhooks")


class Command(BaseCommand):
    help = "Deliver agent replies to workspaces' webhook URLs, retrying with back-off."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Deliver what is due, then exit.")
        parser.add_argument(
            "--poll", type=float, default=1.0, help="Seconds between looks when idle (1)."
        )
        parser.add_argument("--batch", type=int, default=10, help="Rows claimed at a time (10).")

    def handle(self, *args, once: bool, poll: float, batch: int, **options):
        session = requests.Session()
        if not once:
            metrics.serve_if_configured()  # V2: its own /metrics when OPS_METRICS_PORT is set
            self.stdout.write("Webhook worker started (Ctrl-C stops it).")
        worker.run_rounds(
            lambda: deliver_due(batch=batch, session=session),
            once=once,
            poll=poll,
            logger=logger,
            failed="Webhook worker: delivery round failed",
            heartbeat_kind="worker",  # V1: `manage.py probe worker` restarts a stuck worker
        )
