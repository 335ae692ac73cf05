"""A per-key request rate over a fixed one-minute window, counted in Django's cache."""

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
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
