"""A lookup's entries in the cache (S12, B2, S13, F4, F5): keys, the answer and its stale copy,
the answer's version.

The mechanism (generation in every key, single-flight, failures remembered briefly) is
``caching.py``'s; this module says which entries a lookup keeps. It sits above ``live.py`` (how
long an answer may stay, whether a change since refuses it), which itself builds on
``caching.py``, so it cannot live in ``caching.py`` without a cycle.

- ``lookup``: the answer the sidebar shows (60 s; longer while live updates are healthy, F4).
- ``stale``: its copy for stale-on-error (B2, a day).
- ``badge``: a Contacts-list badge's own flag (``badges.py``).
"""

from __future__ import annotations

from django.conf import settings

from . import live
from .caching import cache_call, connection_key, digest
from .matching import MatchValues
from .models import SalesforceConnection
from .results import LookupResult

# cached_version's answer when the cache holds an answer that a change since refuses.
REFUSED = "refused"


def entry_key(connection: SalesforceConnection, kind: str, values: MatchValues) -> str:
    """Equal keys for values Salesforce answers the same way (S13: the values, not the contact)."""
    return connection_key(connection, kind, *values.key_parts(), ",".join(connection.field_names))


def _values(connection: SalesforceConnection, result: LookupResult) -> MatchValues:
    return MatchValues.for_connection(connection, result.email, result.phone, result.linked_id)


def store(connection: SalesforceConnection, result: LookupResult) -> None:
    """The answer for the sidebar (60 s; with live updates healthy, F4, longer) and its stale
    copy for stale-on-error (B2, a day)."""
    values = _values(connection, result)
    seconds = live.cache_seconds(connection) if connection.live_updates else None
    cache_call(
        "set",
        entry_key(connection, "lookup", values),
        result,
        seconds or settings.SALESFORCE_CACHE_SECONDS,
    )
    cache_call(
        "set", entry_key(connection, "stale", values), result, settings.SALESFORCE_STALE_SECONDS
    )


def cached_answer(connection: SalesforceConnection, values: MatchValues) -> LookupResult | None:
    """The sidebar's cached answer for these values while it may still be shown (F3, F4)."""
    cached = cache_call("get", entry_key(connection, "lookup", values))
    if isinstance(cached, LookupResult) and live.usable(connection, cached):
        return cached
    return None


def result_version(connection: SalesforceConnection, result: LookupResult) -> str:
    """F5: names one cached answer for one contact's values (the panel polls for a change)."""
    key = entry_key(connection, "lookup", _values(connection, result))
    return digest(key, result.fetched_at.isoformat())


def cached_version(
    connection: SalesforceConnection, *, email: str, phone: str, linked_id: str = ""
) -> str:
    """F5: the version of the answer a panel for these values would show now, from the cache
    alone: "" when the cache holds none (or is down), ``REFUSED`` when it holds one that a
    change since refuses (both mean a panel would ask Salesforce). Never calls Salesforce."""
    values = MatchValues.for_connection(connection, email, phone, linked_id)
    if not values:
        return ""
    cached = cache_call("get", entry_key(connection, "lookup", values))
    if not isinstance(cached, LookupResult):
        return ""
    if not live.usable(connection, cached):
        return REFUSED
    return result_version(connection, cached)


def stale_result(
    connection: SalesforceConnection, *, email: str, phone: str, linked_id: str = ""
) -> LookupResult | None:
    """B2: the last good result for these values (kept a day), to show beside an error."""
    values = MatchValues.for_connection(connection, email, phone, linked_id)
    return cache_call("get", entry_key(connection, "stale", values))
