"""The webhook outbox read when /metrics is scraped (V2): how many replies wait, and for how
long the oldest has (the "backlog older than 10 minutes" alert)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import WebhookDelivery


def collect() -> Iterator[GaugeMetricFamily]:
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).aggregate(
        depth=Count("pk"), oldest=Min("created_at")
    )
    yield GaugeMetricFamily(
        "teaminbox_webhook_outbox_pending",
        "Webhook deliveries not yet sent (first attempt or retrying).",
        value=pending["depth"],
    )
    oldest = pending["oldest"]
    yield GaugeMetricFamily(
        "teaminbox_webhook_outbox_oldest_age_seconds",
        "Age of the oldest delivery not yet sent (0 when none waits).",
        value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
    )
