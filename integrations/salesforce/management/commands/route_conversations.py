"""A6: the routing worker: `manage.py route_conversations` (any number of them)."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand

from integrations.salesforce.routing import route_due
from ops import worker

logger = logging.getLogger("integrations.salesforce.routing")


class Command(BaseCommand):
    help = "Assign new conversations to their Salesforce Contact Owner (where switched on)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Route what is due, then exit.")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between looks (1).")
        parser.add_argument("--batch", type=int, default=20, help="Conversations per round (20).")

    def handle(self, *args, once: bool, poll: float, batch: int, **options):
        worker.run_rounds(
            lambda: route_due(batch=batch),
            once=once,
            poll=poll,
            logger=logger,
            failed="Routing worker: round failed",
        )
