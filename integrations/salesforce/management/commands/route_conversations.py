"""A6: the routing worker: `manage.py route_conversations` (any number of them)."""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from integrations.salesforce.routing import route_due

logger = logging.getLogger("integrations.salesforce.routing")


class Command(BaseCommand):
    help = "Assign new conversations to their Salesforce Contact Owner (where switched on)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Route what is due, then exit.")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between looks (1).")
        parser.add_argument("--batch", type=int, default=20, help="Conversations per round (20).")

    def handle(self, *args, once: bool, poll: float, batch: int, **options):
        stop = threading.Event()

        def _stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop.is_set():
            close_old_connections()
            try:
                done = route_due(batch=batch)
            except Exception:
                logger.exception("Routing worker: round failed")
                done = 0
                if once:
                    raise
            if once and not done:
                break
            if not done:
                stop.wait(poll)
        close_old_connections()
