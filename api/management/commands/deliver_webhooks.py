"""The webhook worker: `manage.py deliver_webhooks` (any number of them, on any machine)."""

from __future__ import annotations

import logging
import signal
import threading

import requests
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from api.webhooks import deliver_due
from ops import heartbeat, metrics

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
        stop = threading.Event()

        def _stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        session = requests.Session()
        if not once:
            metrics.serve_if_configured()  # V2: its own /metrics when OPS_METRICS_PORT is set
            self.stdout.write("Webhook worker started (Ctrl-C stops it).")
        while not stop.is_set():
            heartbeat.beat("worker")  # V1: `manage.py probe worker` restarts a stuck worker
            close_old_connections()
            try:
                done = deliver_due(batch=batch, session=session)
            except Exception:
                # A database outage or a bug in one row must not kill the worker: log, wait, retry.
                logger.exception("Webhook worker: delivery round failed")
                done = 0
                if once:
                    raise
            if once and not done:
                break
            if not done:
                stop.wait(poll)
        close_old_connections()
