"""``manage.py salesforce_listen``: live updates (issue 15, F2) for every connection that has them.

A long-running process: subscribes to Salesforce's Change Data Capture events over the Pub/Sub
API and drops the cached lookups they touch. Run one or more replicas (a systemd service, a
Kubernetes Deployment): each connection is led by one of them at a time (a lease in the cache),
and another takes over within SALESFORCE_LISTENER_LEASE_SECONDS when its leader dies. Stops
cleanly on SIGTERM or Ctrl-C, handing its leases back.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from integrations.salesforce.listener import Listener
from integrations.salesforce.pubsub import endpoint
from ops import metrics, worker


class Command(BaseCommand):
    help = "Listen to Salesforce Change Data Capture events and refresh the sidebar's cache."

    def add_arguments(self, parser):
        parser.add_argument(
            "--pubsub-url",
            default=None,
            help="The Pub/Sub API endpoint (default: SALESFORCE_PUBSUB_URL).",
        )

    def handle(self, *args, **options):
        url = options["pubsub_url"]
        point = endpoint(url)  # refuses plaintext off loopback before anything starts
        listener = Listener(pubsub_url=url)
        metrics.serve_if_configured()  # V2: its own /metrics when OPS_METRICS_PORT is set
        worker.on_stop_signal(listener.stop)  # hands its leases back
        self.stdout.write(
            f"Listening for Salesforce changes via {point.target} "
            f"({'TLS' if point.secure else 'plaintext, loopback'}); owner {listener.lease.owner}",
        )
        self.stdout.flush()
        listener.run()
        self.stdout.write("Stopped.")
