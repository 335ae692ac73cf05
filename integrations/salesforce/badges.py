"""The Contacts-list badges (B4, R3): per contact on a page, "contact", "lead" or "".

``match_flags`` answers from the cache first (the sidebar's answer, else the badge's own), then
asks Salesforce ONE query for the rest of the page (and, with Lead matching on, one more for
those no Contact matched), and keeps each answer for the next page view and for the sidebar.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from ops import metrics

from . import encrypted, live
from .budget import check_budget
from .caching import (
    CachedFailure,
    cache_call,
    connection_key,
    failure_seconds,
    forget_failures,
    single_flight,
    unwrap,
)
from .client import SalesforceClient
from .errors import SalesforceError
from .lookup import query_contacts
from .lookup_cache import cached_answer, entry_key, store
from .matching import BADGE_SPELLINGS, MatchValues
from .models import SalesforceConnection
from .results import LookupResult, record
from .soql import BADGE_LIMIT, MATCH_LIMIT, badge_query, lead_query

# The rows of one page's query: Contacts, Leads (R3), and when the query started (F3).
PageRows = tuple[list[dict], list[dict], datetime]


@metrics.lookup("badges")
def match_flags(connection: SalesforceConnection, contacts) -> dict[int, str]:
    """B4, R3: per contact "contact", "lead" or "": cached answers, then ONE query for the rest
    (and, with Lead matching on, one more for those no Contact matched)."""
    flags, unknown = _cached_flags(connection, contacts)
    if not unknown:
        return flags
    rows, lead_rows, asked_at = _page_rows(connection, [values for _, values in unknown])
    complete = len(rows) < BADGE_LIMIT
    for contact, values in unknown:
        flags[contact.pk] = _assign(connection, values, rows, lead_rows, asked_at, complete)
    return flags


def _flag(result: LookupResult) -> str:
    return "contact" if result.matches else ("lead" if result.lead else "")


def _cached_flags(connection: SalesforceConnection, contacts):
    """The flags the cache already knows, and the contacts (with their values) it does not."""
    flags: dict[int, str] = {}
    unknown: list[tuple[object, MatchValues]] = []
    for contact in contacts:
        values = MatchValues.for_connection(connection, contact.email, contact.phone)
        flag = _cached_flag(connection, values) if values else ""
        if flag is None:
            unknown.append((contact, values))
        else:
            flags[contact.pk] = flag
    return flags, unknown


def _cached_flag(connection: SalesforceConnection, values: MatchValues) -> str | None:
    """The sidebar's cached answer's flag, else the badge's own; None when neither holds (F3)."""
    answer = cached_answer(connection, values)
    if answer is not None:
        return _flag(answer)
    return live.badge_flag(connection, cache_call("get", entry_key(connection, "badge", values)))


def _page_rows(connection: SalesforceConnection, asked: list[MatchValues]) -> PageRows:
    """The page's rows, asked once for every concurrent request (single-flight); a failing org
    is asked at most once per window for badges too (no retry storm)."""
    failed_key = connection_key(connection, "badges-failed")
    unwrap(cache_call("get", failed_key))
    try:
        answer = single_flight(
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
    return answer


def _badge_rows(connection: SalesforceConnection, asked: list[MatchValues]) -> PageRows:
    """The Contacts matching a page, and (R3) the Leads matching the rest of it; when asked."""
    check_budget(connection)
    asked_at = timezone.now()
    client = SalesforceClient(connection)
    rows = _contact_rows(connection, client, asked)
    return rows, _lead_rows(connection, client, asked, rows), asked_at


def _contact_rows(
    connection: SalesforceConnection, client: SalesforceClient, asked: list[MatchValues]
) -> list[dict]:
    """ONE query for the page: SOSL when a match field is encrypted (E2), else SOQL."""
    if any(encrypted.needs_search(connection, v) for v in asked):  # E2
        answer = query_contacts(
            connection,
            client,
            lambda fields: encrypted.search_query(fields, asked, BADGE_LIMIT),
            search=True,
        )
    else:
        conditions = encrypted.badge_conditions(connection, asked, spellings=BADGE_SPELLINGS)
        answer = query_contacts(
            connection, client, lambda fields: badge_query(fields, asked, conditions)
        )
    return answer.get("records", [])


def _lead_rows(
    connection: SalesforceConnection,
    client: SalesforceClient,
    asked: list[MatchValues],
    rows: list[dict],
) -> list[dict]:
    """R3, the Lead pass: with Lead matching on, one query for the values no Contact matched."""
    unmatched = [v for v in asked if not any(v.matches(r) for r in rows)]
    if not (connection.match_leads and unmatched):
        return []
    return client.query(lead_query(unmatched, limit=BADGE_LIMIT)).get("records", [])


def _assign(
    connection: SalesforceConnection,
    values: MatchValues,
    rows: list[dict],
    lead_rows: list[dict],
    asked_at: datetime,
    complete: bool,
) -> str:
    """One contact's flag from the page's rows, kept as its badge (with what it depends on, F3)
    and, when the rows are the whole answer, as the sidebar's answer too."""
    mine = [record(r) for r in rows if values.matches(r)]
    lead_ids = [r["Id"] for r in lead_rows if values.matches(r)]
    flag = "contact" if mine else ("lead" if lead_ids else "")
    entry = live.badge_entry(
        connection,
        flag,
        asked_at=asked_at,
        record_ids=[m.id for m in mine] + lead_ids,
        email=values.email,
        phone=values.phone,
    )
    cache_call(
        "set", entry_key(connection, "badge", values), entry, settings.SALESFORCE_CACHE_SECONDS
    )
    if mine and complete and not connection.related_lists:
        # Share the cache with the sidebar: the same answer the exact query would give
        # (not with related lists on: the badge query does not bring them).
        store(
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
    return flag
