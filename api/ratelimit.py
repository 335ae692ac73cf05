"""A per-key request rate, and a per-address rate of failed keys (H7), over fixed one-minute
windows counted in Django's cache."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60


def hit(key_id: int) -> int | None:
    """Count one request for ``key_id``; None when allowed, else the seconds to wait."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    cache_key = f"api-rate:{key_id}:{window}"
    try:
        count = 1 if cache.add(cache_key, 1, WINDOW_SECONDS + 5) else cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, WINDOW_SECONDS + 5)
        count = 1
    except Exception:  # a cache outage must not stop customer messages
        logger.warning("API rate limit not applied: the cache is unavailable")
        return None
    if count <= limit:
        return None
    return _wait(window, now)


def _wait(window: int, now: float) -> int:
    """Seconds until the next window."""
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))


def failed_key_wait(address: str) -> int | None:
    """Seconds ``address`` must wait after too many wrong keys this minute (H7), else None."""
    limit = settings.API_FAILED_KEYS_PER_MINUTE
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    try:
        count = cache.get(f"api-badkey:{address}:{window}", 0)
    except Exception:  # a cache outage must not stop customer messages
        logger.warning("API failed-key throttle not applied: the cache is unavailable")
        return None
    return _wait(window, now) if count >= limit else None


def record_failed_key(address: str) -> None:
    """Count one wrong, malformed or revoked key from ``address`` in this minute."""
    window = int(time.time() // WINDOW_SECONDS)
    cache_key = f"api-badkey:{address}:{window}"
    try:
        if not cache.add(cache_key, 1, WINDOW_SECONDS + 5):
            cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, WINDOW_SECONDS + 5)
    except Exception:
        logger.warning("API failed-key throttle not applied: the cache is unavailable")
