"""The API budget (B3): lookups and badges back off when the org nears its daily API limit."""

from __future__ import annotations

from django.conf import settings

from .caching import cache_call, connection_key
from .errors import RateLimited
from .models import SalesforceConnection


def check_budget(connection: SalesforceConnection) -> None:
    """Back off when the org's API usage passes the configured share (one probe per window)."""
    share = connection.api_usage_share
    if share is None or share < settings.SALESFORCE_API_BACKOFF:
        return
    probe = connection_key(connection, "budget-probe")
    if cache_call("add", probe, "1", settings.SALESFORCE_CACHE_SECONDS, default=True):
        return  # one call per window re-reads the usage
    raise RateLimited(
        f"Salesforce lookups are paused: this org has used {share:.0%} of its daily API limit "
        "(the product stops at "
        f"{settings.SALESFORCE_API_BACKOFF:.0%} to leave room for other integrations).",
        detail="api_budget",
    )
