"""Salesforce answers in Django's cache (S12, B2): outage-tolerant calls, keys, single-flight.

Every cached Salesforce answer goes through here: the sidebar lookup, the Contacts-list badges
and the describe behind the field chooser. Which entries a lookup keeps (its answer, the stale
copy, a badge) is ``lookup_cache.py``'s; this module is the mechanism under them.

- A cache outage degrades to uncached calls (logged), never to an error page
  (:func:`core.cache.cache_call`).
- Keys carry the connection's cache generation: a disconnect or a field-set change bumps it, so
  every older entry becomes unreachable at once (Django's cache cannot delete by prefix).
- :func:`single_flight`: however many threads and processes miss the same key, one of them asks
  Salesforce while the others wait for its answer; a failure is cached like an answer, so a
  failing org is not asked once per request, but only briefly (U2, :func:`failure_seconds`):
  seconds at first, doubling while the failures go on, so a reload or Retry recovers as soon as
  Salesforce does.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from core.cache import CacheLock, cache_call
from ops import metrics

from . import errors
from .errors import SalesforceError

T = TypeVar("T")
WAIT_STEP = 0.05


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def connection_key(connection, kind: str, *parts: str) -> str:
    """``salesforce:<kind>:<connection>:<generation>[:<digest of parts>]``."""
    key = f"salesforce:{kind}:{connection.pk}:{connection.cache_generation}"
    return f"{key}:{digest(*parts)}" if parts else key


def live_key(connection_id: int, kind: str) -> str:
    """F2, F4: a connection's listener keys ("heartbeat", "lease"); no generation in them."""
    return f"salesforce:live:{kind}:{connection_id}"


def changed_key(connection_id: int, kind: str, value: str) -> str:
    """F3: when a record ("id") or a value ("email", "phone") last changed in Salesforce.

    No generation in it: a change mark must reach every entry that may hold the old data.
    """
    return f"salesforce:changed:{connection_id}:{kind}:{digest(value)}"


def clock() -> float:
    """Wall-clock seconds that end a remembered failure (U2); tests move it instead of sleeping."""
    return time.time()


@dataclass(frozen=True)
class CachedFailure:
    """A Salesforce failure kept in the cache like an answer (no retry storm).

    With ``seconds`` it also carries its own end on :func:`clock`, so a failure is over when the
    clock says so even where the cache entry outlives it (the cache's timeout is the same
    length and only cleans up)."""

    error: str  # class name in errors.py
    user_message: str
    detail: str
    at: datetime = field(default_factory=timezone.now)
    until: float | None = None

    @classmethod
    def of(cls, exc: SalesforceError, *, seconds: float | None = None) -> CachedFailure:
        until = None if seconds is None else clock() + seconds
        return cls(type(exc).__name__, exc.user_message, exc.detail, until=until)

    def over(self) -> bool:
        until = getattr(self, "until", None)  # entries cached before the field existed
        return until is not None and clock() >= until

    def exception(self) -> SalesforceError:
        cls = getattr(errors, self.error, errors.Unavailable)
        return cls(self.user_message, detail=self.detail)


def unwrap(cached: Any) -> Any:
    """Re-raise a cached failure that is not over; pass anything else through (None if over)."""
    if isinstance(cached, CachedFailure):
        if cached.over():
            return None
        raise cached.exception()
    return cached


def failure_seconds(key: str) -> int:
    """U2: how long to remember a failure under ``key``: SALESFORCE_FAILURE_SECONDS, doubling
    with each failure in a row, at most SALESFORCE_FAILURE_MAX_SECONDS. A success resets it."""
    base, cap = settings.SALESFORCE_FAILURE_SECONDS, settings.SALESFORCE_FAILURE_MAX_SECONDS
    counter = f"{key}:failures"
    cache_call("add", counter, 0, cap * 4)
    failures = cache_call("incr", counter, default=1)
    return max(1, min(base * 2 ** (max(failures, 1) - 1), cap))


def forget_failures(key: str) -> None:
    cache_call("delete", f"{key}:failures")


def single_flight(
    key: str,
    compute: Callable[[], T],
    *,
    seconds: int,
    wait: float,
    store: Callable[[T], None] | None = None,
    usable: Callable[[Any], bool] | None = None,
) -> T:
    """The cached value of ``key``, or ``compute()`` run by one caller for everyone.

    Waiters poll for up to ``wait`` seconds, then compute themselves: a lock never turns into
    an error. The leader stores its answer (``store``, or under ``key`` for ``seconds``) BEFORE
    releasing the lock: a request arriving in between would otherwise see neither and ask
    Salesforce a second time. A :class:`SalesforceError` is cached under ``key`` briefly
    (:func:`failure_seconds`) and re-raised. A cached value that ``usable`` refuses (F3, F4:
    changed in Salesforce since, or older than the rule allows) is a miss.
    """

    def get():
        value = cache_call("get", key)
        if isinstance(value, CachedFailure) and value.over():
            return None
        if value is not None and usable is not None and not usable(value):
            return None
        return value

    cached = get()
    if cached is not None:
        metrics.cache_request("hit")
        return unwrap(cached)
    lock = CacheLock(f"{key}:lock", seconds=int(wait) + 5)
    # Without a working cache every request is its own leader (uncached, never an error).
    if lock.take(default=True):
        # A leader that finished between our miss and our lock already stored its answer.
        cached = get()
        if cached is not None:
            metrics.cache_request("hit")
            lock.release()
            return unwrap(cached)
    else:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP)
            cached = get()
            if cached is not None:
                metrics.cache_request("shared")
                return unwrap(cached)
        # The leader took too long: ask ourselves.
    metrics.cache_request("miss")
    try:
        value = compute()
    except SalesforceError as exc:
        seconds = failure_seconds(key)
        cache_call("set", key, CachedFailure.of(exc, seconds=seconds), seconds)
        raise
    else:
        forget_failures(key)
        if store is not None:
            store(value)
        else:
            cache_call("set", key, value, seconds)
        return value
    finally:
        lock.release()
