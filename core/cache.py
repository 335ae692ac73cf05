"""Django's cache, used so that a cache outage never becomes an error page.

Three helpers, each the only one of its kind in the product:

- :func:`cache_call`: one cache operation, or a default when the cache is down (logged);
- :func:`count_in_window`: a fixed-window counter (rate limits, throttles);
- :class:`CacheLock`: a lock across threads, processes and machines, held by an owner id with a
  lifetime, so a holder that died releases it by expiring.

Each says what happened when the cache was down and leaves the decision to its caller: a rate
limit is not applied, a lock's would-be holder goes ahead alone or stands back.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, NamedTuple

from django.core.cache import cache

logger = logging.getLogger(__name__)


def cache_call(method: str, *args: Any, default: Any = None) -> Any:
    """``cache.<method>(*args)``, or ``default`` when the cache is down (logged)."""
    try:
        return getattr(cache, method)(*args)
    except Exception:  # noqa: BLE001 - Redis down, DB cache locked...
        logger.warning("Cache unavailable (%s): continuing without it", method)
        return default


class WindowCount(NamedTuple):
    count: int | None  # hits in this window, this one included; None when the cache is down
    seconds_left: float  # until the window ends and the count starts again


def count_in_window(key: str, *, seconds: int, now: float | None = None) -> WindowCount:
    """Count one hit for ``key`` in the current fixed window of ``seconds`` (wall clock)."""
    now = time.time() if now is None else now
    window = int(now // seconds)
    window_key = f"{key}:{window}"
    seconds_left = (window + 1) * seconds - now
    try:
        count = 1 if cache.add(window_key, 1, seconds + 5) else cache.incr(window_key)
    except ValueError:  # the entry expired between add and incr: this hit starts it again
        cache.set(window_key, 1, seconds + 5)
        count = 1
    except Exception:  # noqa: BLE001 - an outage must not stop what is being counted
        logger.warning("Cache unavailable: %s not counted", key.split(":", 1)[0])
        return WindowCount(None, seconds_left)
    return WindowCount(count, seconds_left)


class CacheLock:
    """A cache key holding its owner's id for ``seconds`` (longer than any holder needs it)."""

    def __init__(self, key: str, *, seconds: int, owner: str | None = None) -> None:
        self.key = key
        self.seconds = seconds
        self.owner = owner or uuid.uuid4().hex

    def take(self, *, default: bool | None = None) -> bool | None:
        """True when taken now; False when someone holds it; ``default`` when the cache is down."""
        return cache_call("add", self.key, self.owner, self.seconds, default=default)

    def renew(self) -> bool:
        """Take it, or extend it when this owner holds it already (a lease); False otherwise."""
        if self.take(default=False):
            return True
        if self.held():
            cache_call("set", self.key, self.owner, self.seconds)
            return True
        return False

    def held(self) -> bool:
        return cache_call("get", self.key) == self.owner

    def release(self) -> None:
        """Give it back if this owner still holds it (an expired lock may be someone else's)."""
        if self.held():
            cache_call("delete", self.key)
