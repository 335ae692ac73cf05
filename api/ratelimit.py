"""A per-key request rate, and a per-address rate of failed keys (H7), over fixed one-minute
windows counted in Django's cache."""

from __future__ import annotations

import time

from django.conf import settings

from core.cache import cache_call, count_in_window

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


def failed_key_wait(address: str) -> int | None:
    """Seconds ``address`` must wait after too many wrong keys this minute (H7), else None."""
    limit = settings.API_FAILED_KEYS_PER_MINUTE
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    # The same window key count_in_window writes; a cache outage reads as no failures.
    count = cache_call("get", f"api-badkey:{address}:{window}", 0, default=0)
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999)) if count >= limit else None


def record_failed_key(address: str) -> None:
    """Count one wrong, malformed or revoked key from ``address`` in this minute."""
    count_in_window(f"api-badkey:{address}", seconds=WINDOW_SECONDS)
