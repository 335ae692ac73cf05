"""A per-key request rate over a fixed one-minute window, counted in Django's cache."""

from __future__ import annotations

from django.conf import settings

from core.cache import count_in_window

WINDOW_SECONDS = 60


def hit(key_id: int) -> int | None:
    """Count one request for ``key_id``; None when allowed, else the seconds to wait."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    count, seconds_left = count_in_window(f"api-rate:{key_id}", seconds=WINDOW_SECONDS)
    if count is None or count <= limit:  # a cache outage must not stop customer messages
        return None
    return max(1, int(seconds_left + 0.999))
