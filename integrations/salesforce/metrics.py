"""Salesforce state read when /metrics is scraped (V2): from the connections' rows and the
listener's heartbeats, so every web replica reports the same numbers. Counts only: no
workspace or connection label (low cardinality)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from . import live
from .models import SalesforceConnection

Status = SalesforceConnection.Status
# A connection whose last call failed within this window and has not succeeded since is failing.
FAILING_WINDOW = timedelta(minutes=15)


def collect() -> Iterator[GaugeMetricFamily]:
    rows = list(
        SalesforceConnection.objects.only(
            "status",
            "live_updates",
            "last_success_at",
            "last_error_at",
            "api_usage_used",
            "api_usage_max",
            "related_lists",
            "match_leads",
        )
    )
    by_status = GaugeMetricFamily(
        "teaminbox_salesforce_connections",
        "Salesforce connections by status.",
        labels=["status"],
    )
    counts = Counter(row.status for row in rows)
    for status in Status.values:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status

    now = timezone.now()
    failing = sum(
        1
        for row in rows
        if row.status == Status.CONNECTED
        and row.last_error_at
        and now - row.last_error_at <= FAILING_WINDOW
        and (row.last_success_at is None or row.last_success_at < row.last_error_at)
    )
    yield GaugeMetricFamily(
        "teaminbox_salesforce_connections_failing",
        "Connected workspaces whose last Salesforce call failed (within 15 min), no success since.",
        value=failing,
    )

    shares = [row.api_usage_share for row in rows if row.status == Status.CONNECTED]
    shares = [s for s in shares if s is not None]
    yield GaugeMetricFamily(
        "teaminbox_salesforce_api_budget_used_ratio_max",
        "The highest share of its daily API limit any connected org has used (0..1).",
        value=max(shares, default=0.0),
    )
    yield GaugeMetricFamily(
        "teaminbox_salesforce_api_budget_backoff_ratio",
        "The share of the daily API limit at which lookups back off (SALESFORCE_API_BACKOFF).",
        value=settings.SALESFORCE_API_BACKOFF,
    )

    listener = GaugeMetricFamily(
        "teaminbox_salesforce_listener_connections",
        "Connections with live updates on, by the listener's state for them.",
        labels=["state"],
    )
    states = Counter(
        live.listener_status(row).state
        for row in rows
        if row.live_updates and row.status == Status.CONNECTED
    )
    for state in (live.State.STARTING, live.State.HEALTHY, live.State.UNHEALTHY):
        listener.add_metric([state], states.get(state, 0))
    yield listener
