"""Contact matching (S7, S8, S12, S13, B1, B2, B4): what the sidebar and the badges ask.

``find_contact`` is what the sidebar calls; ``match_flags`` is what the Contacts-list badges
call. The matching rule is matching.py's, the SOQL soql.py's, the caching caching.py's; this
module puts them together: one SOQL query per lookup (plus the bounded near-miss query when
nothing matched), one per page of badges, and the API-budget policy in front of both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from ops import metrics

from . import encrypted, live, person_accounts, services
from .caching import (
    CachedFailure,
    cache_call,
    connection_key,
    digest,
    failure_seconds,
    forget_failures,
    single_flight,
    unwrap,
)
from .client import SalesforceClient
from .errors import InvalidField, QueryFailed, RateLimited, SalesforceError
from .matching import BADGE_SPELLINGS, MatchValues
from .models import RELATED_LISTS, SalesforceConnection
from .soql import (
    BADGE_LIMIT,
    LEAD_FIELDS,
    LOOKUP_LIMIT,
    MATCH_LIMIT,
    RELATED_SUBQUERIES,
    badge_query,
    lead_query,
    lookup_query,
    selected_fields,
)

logger = logging.getLogger(__name__)

REFRESH_MIN_SECONDS = 10
__all__ = ["find_contact", "match_flags", "selected_fields", "stale_result"]


@dataclass(frozen=True)
class ContactMatch:
    """One Salesforce Contact: raw values by field path ("Email", "Account.Name")."""

    id: str
    values: dict
    related: dict = field(default_factory=dict)  # R1: relationship name -> child records

    def value(self, path: str):
        current = self.values
        for part in path.split("."):
            if not isinstance(current, dict):
                return None
            current = current.get(part)
        return current


@dataclass(frozen=True)
class NearMiss:
    """B1: a Contact whose phone has the same digits, or whose email differs by whitespace."""

    match: ContactMatch
    field: str  # "Phone", "MobilePhone" or "Email"
    salesforce_value: str
    product_value: str


@dataclass(frozen=True)
class LookupResult:
    email: str
    phone: str
    matches: tuple[ContactMatch, ...]
    fetched_at: datetime
    near_misses: tuple[NearMiss, ...] = ()
    truncated: bool = False
    lead: ContactMatch | None = None  # R3: only when no Contact matched and Leads are asked
    asked_at: datetime | None = None  # F3: when the query started (changes after it refuse it)
    linked_id: str = ""  # A2: the record an agent linked (first in ``matches`` when it exists)
    link_missing: bool = False  # A2: the linked record was deleted or merged: matched instead

    @property
    def primary(self) -> ContactMatch | None:
        return self.matches[0] if self.matches else None

    @property
    def others(self) -> tuple[ContactMatch, ...]:
        return self.matches[1:]


def _key(connection: SalesforceConnection, kind: str, values: MatchValues) -> str:
    """Equal keys for values Salesforce answers the same way (S13: the values, not the contact)."""
    return connection_key(connection, kind, *values.key_parts(), ",".join(connection.field_names))


def cache_key(
    connection: SalesforceConnection, kind: str, email: str, phone: str, linked_id: str = ""
) -> str:
    """The cache key of a lookup ("lookup", "stale", "badge") for a contact's email and phone."""
    return _key(connection, kind, MatchValues.for_connection(connection, email, phone, linked_id))


def _plain(row: dict) -> dict:
    """A record without Salesforce's ``attributes``, parents (Account.Name) included."""
    values = {k: v for k, v in row.items() if k != "attributes"}
    for k, v in list(values.items()):
        if isinstance(v, dict):
            values[k] = {ik: iv for ik, iv in v.items() if ik != "attributes"}
    return values


def _record(row: dict) -> ContactMatch:
    values, related = {}, {}
    for key, value in row.items():
        if key in RELATED_SUBQUERIES:  # {"totalSize", "done", "records"}, or null when empty
            related[key] = [_plain(r) for r in (value or {}).get("records") or []]
        elif key != "attributes":
            values[key] = value
    return ContactMatch(id=row["Id"], values=_plain(values), related=related)


def _near_misses(rows: list[dict], values: MatchValues) -> tuple[NearMiss, ...]:
    found = []
    for row in rows:
        match = _record(row)
        for name, theirs in values.near_misses(match.values):
            ours = values.email if name == "Email" else values.phone
            found.append(NearMiss(match, name, theirs, ours))
    return tuple(found)


# --- asking Salesforce ------------------------------------------------------------------------
def _query_contacts(
    connection: SalesforceConnection,
    client: SalesforceClient,
    build,
    *,
    search: bool = False,
    run=None,
) -> dict:
    """Run ``build(fields)``; a chosen field Salesforce no longer knows is dropped, then one retry.

    ``search``: ``build`` makes a SOSL search (E2), answered in the query's shape. ``run``:
    sends the statement instead of ``client.query`` (E3's Composite request).
    """
    for attempt in range(3):  # a vanished field, then a refused related list, at most
        try:
            if search:
                statement = build(selected_fields(connection))
                return encrypted.as_query_answer(client.search(statement), LOOKUP_LIMIT)
            statement = build(selected_fields(connection))
            return run(statement) if run else client.query(statement)
        except InvalidField as exc:
            if attempt == 2 or not _drop_field(connection, exc):
                raise QueryFailed(detail="INVALID_FIELD") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _drop_related(connection: SalesforceConnection, error: InvalidField) -> bool:
    """R2: a related list whose relationship or object Salesforce refused goes (noted for admins)."""
    for name, spec in RELATED_LISTS.items():
        refused = error.field == name or (error.entity in spec["objects"])
        if refused and name in connection.related_lists:
            reason = (
                f"the connecting Salesforce user cannot see {error.entity or name} "
                f"({error.detail or 'refused'})"
            )
            services.drop_related_list(connection, name, reason)
            return True
    return False


def _drop_field(connection: SalesforceConnection, error: InvalidField) -> bool:
    """A chosen field Salesforce no longer knows: drop it (and note it for admins), retry once."""
    if _drop_related(connection, error):
        return True
    if error.entity and error.entity != "Contact":
        return False
    lowered = error.field.lower()
    if error.relationship:  # "Region__r" is gone: every "Region__r.<field>" goes with it
        doomed = [p for p in connection.field_names if p.lower().startswith(lowered + ".")]
    else:
        doomed = [
            p
            for p in connection.field_names
            if p.lower() == lowered or p.lower().endswith("." + lowered)
        ]
    if doomed:
        services.drop_fields(connection, doomed)
    return bool(doomed)


def _ask_salesforce(connection: SalesforceConnection, values: MatchValues) -> LookupResult:
    """ONE query (P4): its rows are the matches, or, when none, the near-match candidates.

    With Lead matching on (R3) and no Contact matched, at most one more query, for a Lead.
    """
    asked_at = timezone.now()
    client = SalesforceClient(connection)
    if encrypted.needs_search(connection, values):  # E2: never in a WHERE clause
        answer = _query_contacts(
            connection,
            client,
            lambda fields: encrypted.search_query(fields, [values], LOOKUP_LIMIT),
            search=True,
        )
    else:

        def run(soql: str) -> dict:
            # E3: with person accounts, ONE Composite request also brings their Account's
            # Opportunities (asked again after a refused list was dropped: maybe not any more).
            if person_accounts.wants_account_query(connection):
                account_soql = person_accounts.account_query(connection, values)
                return person_accounts.ask(client, soql, account_soql)
            return client.query(soql)

        answer = _query_contacts(
            connection,
            client,
            lambda fields: lookup_query(
                fields,
                values,
                related=connection.related_lists,
                multi_currency=connection.multi_currency,
                conditions=encrypted.lookup_conditions(connection, values),
            ),
            run=run,
        )
    rows = answer.get("records", [])
    linked = [_record(r) for r in rows if values.is_linked(r)]
    matches = linked + [_record(r) for r in rows if values.matches(r) and not values.is_linked(r)]
    lead = None
    if not matches and connection.match_leads:
        lead = _find_lead(connection, client, values)
    return LookupResult(
        email=values.email,
        phone=values.phone,
        matches=tuple(matches[:MATCH_LIMIT]),
        near_misses=() if matches else _near_misses(rows, values),
        fetched_at=timezone.now(),
        truncated=len(matches) > MATCH_LIMIT or answer.get("totalSize", 0) > len(rows),
        lead=lead,
        asked_at=asked_at,
        linked_id=values.linked_id,
        link_missing=bool(values.linked_id) and not linked,
    )


def _find_lead(connection, client: SalesforceClient, values: MatchValues) -> ContactMatch | None:
    """R3: the newest matching Lead. A user who cannot query Leads gets none (logged), not an error."""
    _check_budget(connection)
    try:
        if encrypted.needs_search(connection, values):  # E2
            statement = encrypted.search_query(LEAD_FIELDS, [values], MATCH_LIMIT, "Lead")
            leads = encrypted.as_query_answer(client.search(statement), MATCH_LIMIT)["records"]
        else:
            leads = client.query(lead_query([values])).get("records", [])
    except (InvalidField, QueryFailed) as exc:
        logger.warning("Lead lookup refused for connection %s: %s", connection.pk, exc.detail)
        return None
    return next((_record(r) for r in leads if values.matches(r)), None)


def _check_budget(connection: SalesforceConnection) -> None:
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


def _store(connection: SalesforceConnection, result: LookupResult) -> None:
    """The answer for the sidebar (60 s; with live updates healthy, F4, longer) and its stale
    copy for stale-on-error (B2, a day)."""
    values = MatchValues.for_connection(connection, result.email, result.phone, result.linked_id)
    seconds = live.cache_seconds(connection) if connection.live_updates else None
    cache_call(
        "set",
        _key(connection, "lookup", values),
        result,
        seconds or settings.SALESFORCE_CACHE_SECONDS,
    )
    cache_call("set", _key(connection, "stale", values), result, settings.SALESFORCE_STALE_SECONDS)


# --- the sidebar ------------------------------------------------------------------------------
@metrics.lookup("sidebar")
def find_contact(
    connection: SalesforceConnection,
    *,
    email: str = "",
    phone: str = "",
    refresh: bool = False,
    linked_id: str = "",
) -> LookupResult:
    """The Salesforce Contacts matching this email or phone (S7), cached (S12), single-flight.

    Raises a :class:`SalesforceError` subclass when Salesforce fails; the failure is remembered
    a few seconds (with back-off, U2), so a failing org is not asked on every request, and a
    reload or Retry recovers soon after Salesforce does.
    """
    values = MatchValues.for_connection(connection, email, phone, linked_id)
    if not values:
        raise ValueError("Nothing to look up: the contact has no email and no phone.")
    key = _key(connection, "lookup", values)
    if refresh and cache_call("add", f"{key}:refresh", "1", REFRESH_MIN_SECONDS, default=False):
        cache_call("delete", key)

    def ask() -> LookupResult:
        _check_budget(connection)
        return _ask_salesforce(connection, values)

    # The leader may make two queries (exact, then near-miss), each up to connect + read timeout.
    # It stores under the key the connection has then (a dropped field changes the field set).
    return single_flight(
        key,
        ask,
        seconds=settings.SALESFORCE_CACHE_SECONDS,
        wait=2 * (settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT) + 1,
        store=lambda result: _store(connection, result),
        usable=lambda cached: live.usable(connection, cached),
    )


def result_version(connection: SalesforceConnection, result: LookupResult) -> str:
    """F5: names one cached answer for one contact's values (the panel polls for a change)."""
    values = MatchValues.for_connection(connection, result.email, result.phone, result.linked_id)
    return digest(_key(connection, "lookup", values), result.fetched_at.isoformat())


# cached_version's answer when the cache holds an answer that a change since refuses.
REFUSED = "refused"


def cached_version(
    connection: SalesforceConnection, *, email: str, phone: str, linked_id: str = ""
) -> str:
    """F5: the version of the answer a panel for these values would show now, from the cache
    alone: "" when the cache holds none (or is down), ``REFUSED`` when it holds one that a
    change since refuses (both mean a panel would ask Salesforce). Never calls Salesforce."""
    values = MatchValues.for_connection(connection, email, phone, linked_id)
    if not values:
        return ""
    cached = cache_call("get", _key(connection, "lookup", values))
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
    return cache_call("get", _key(connection, "stale", values))


# --- Contacts-list badges (B4) ----------------------------------------------------------------
def _flag(result: LookupResult) -> str:
    return "contact" if result.matches else ("lead" if result.lead else "")


@metrics.lookup("badges")
def match_flags(connection: SalesforceConnection, contacts) -> dict[int, str]:
    """B4, R3: per contact "contact", "lead" or "": cached answers, then ONE query for the rest
    (and, with Lead matching on, one more for those no Contact matched)."""
    flags: dict[int, str] = {}
    unknown: list[tuple[object, MatchValues]] = []
    for contact in contacts:
        values = MatchValues.for_connection(connection, contact.email, contact.phone)
        if not values:
            flags[contact.pk] = ""
            continue
        cached = cache_call("get", _key(connection, "lookup", values))
        if isinstance(cached, LookupResult) and live.usable(connection, cached):
            flags[contact.pk] = _flag(cached)
            continue
        badge = live.badge_flag(connection, cache_call("get", _key(connection, "badge", values)))
        if badge is not None:  # only when needed
            flags[contact.pk] = badge
        else:
            unknown.append((contact, values))
    if not unknown:
        return flags

    # A failing org is asked at most once per window for badges too (no retry storm).
    failed_key = connection_key(connection, "badges-failed")
    unwrap(cache_call("get", failed_key))
    asked = [values for _, values in unknown]
    try:
        rows, lead_rows, asked_at = single_flight(
            connection_key(connection, "badge-query", *sorted(map(repr, asked))),
            lambda: _badge_rows(connection, asked),
            seconds=settings.SALESFORCE_CACHE_SECONDS,
            wait=2 * (settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT) + 1,
            usable=lambda cached: live.rows_unchanged(
                connection, [*cached[0], *cached[1]], asked, cached[2]
            ),
        )
    except SalesforceError as exc:
        cache_call("set", failed_key, CachedFailure.of(exc), failure_seconds(failed_key))
        raise
    forget_failures(failed_key)
    complete = len(rows) < BADGE_LIMIT
    for contact, values in unknown:
        mine = [_record(r) for r in rows if values.matches(r)]
        lead = any(values.matches(r) for r in lead_rows) and not mine
        flags[contact.pk] = "contact" if mine else ("lead" if lead else "")
        found_ids = [m.id for m in mine] + [r["Id"] for r in lead_rows if values.matches(r)]
        entry = live.badge_entry(
            connection,
            flags[contact.pk],
            asked_at=asked_at,
            record_ids=found_ids,
            email=values.email,
            phone=values.phone,
        )
        cache_call(
            "set", _key(connection, "badge", values), entry, settings.SALESFORCE_CACHE_SECONDS
        )
        if mine and complete and not connection.related_lists:
            # Share the cache with the sidebar: the same answer the exact query would give
            # (not with related lists on: the badge query does not bring them).
            _store(
                connection,
                LookupResult(
                    email=values.email,
                    phone=values.phone,
                    matches=tuple(mine[:MATCH_LIMIT]),
                    # When the rows were read (they may come from the page's cached query).
                    fetched_at=asked_at,
                    asked_at=asked_at,
                ),
            )
    return flags


def _badge_rows(
    connection: SalesforceConnection, asked: list[MatchValues]
) -> tuple[list[dict], list[dict], datetime]:
    """The Contacts matching a page, and (R3) the Leads matching the rest of it; when asked."""
    _check_budget(connection)
    asked_at = timezone.now()
    client = SalesforceClient(connection)
    if any(encrypted.needs_search(connection, v) for v in asked):  # E2
        rows = _query_contacts(
            connection,
            client,
            lambda fields: encrypted.search_query(fields, asked, BADGE_LIMIT),
            search=True,
        ).get("records", [])
    else:
        conditions = encrypted.badge_conditions(connection, asked, spellings=BADGE_SPELLINGS)
        rows = _query_contacts(
            connection, client, lambda fields: badge_query(fields, asked, conditions)
        ).get("records", [])
    unmatched = [v for v in asked if not any(v.matches(r) for r in rows)]
    if not (connection.match_leads and unmatched):
        return rows, [], asked_at
    leads = client.query(lead_query(unmatched, limit=BADGE_LIMIT)).get("records", [])
    return rows, leads, asked_at
