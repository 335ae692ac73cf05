"""The sidebar's lookup (S7, S8, S12, S13, B1, B4, R3): ask Salesforce for one contact.

``find_contact`` is what the sidebar calls: ONE SOQL query per lookup (its rows are the matches,
or, when none matched, the near-miss candidates), a Lead query only when no Contact matched and
Lead matching is on, a chosen field Salesforce no longer knows dropped on the way. The matching
rule is matching.py's, the SOQL soql.py's, the result types results.py's, the cache entries
lookup_cache.py's (single-flight: caching.py), the API budget budget.py's. The Contacts-list
badges (``badges.match_flags``) share :func:`query_contacts`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from ops import metrics

from . import encrypted, live, services
from .budget import check_budget
from .caching import cache_call, single_flight
from .client import SalesforceClient
from .errors import InvalidField, QueryFailed
from .lookup_cache import entry_key, store
from .matching import MatchValues
from .models import RELATED_LISTS, SalesforceConnection
from .results import ContactMatch, LookupResult, near_misses, record
from .soql import LEAD_FIELDS, LOOKUP_LIMIT, MATCH_LIMIT, lead_query, lookup_query, selected_fields

logger = logging.getLogger(__name__)

REFRESH_MIN_SECONDS = 10


def query_contacts(
    connection: SalesforceConnection, client: SalesforceClient, build, *, search: bool = False
) -> dict:
    """Run ``build(fields)``; a chosen field Salesforce no longer knows is dropped, then one retry.

    ``search``: ``build`` makes a SOSL search (E2), answered in the query's shape.
    """
    for attempt in range(3):  # a vanished field, then a refused related list, at most
        try:
            if search:
                statement = build(selected_fields(connection))
                return encrypted.as_query_answer(client.search(statement), LOOKUP_LIMIT)
            return client.query(build(selected_fields(connection)))
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
        answer = query_contacts(
            connection,
            client,
            lambda fields: encrypted.search_query(fields, [values], LOOKUP_LIMIT),
            search=True,
        )
    else:
        answer = query_contacts(
            connection,
            client,
            lambda fields: lookup_query(
                fields,
                values,
                related=connection.related_lists,
                multi_currency=connection.multi_currency,
                conditions=encrypted.lookup_conditions(connection, values),
            ),
        )
    rows = answer.get("records", [])
    linked = [record(r) for r in rows if values.is_linked(r)]
    matches = linked + [record(r) for r in rows if values.matches(r) and not values.is_linked(r)]
    lead = None
    if not matches and connection.match_leads:
        lead = _find_lead(connection, client, values)
    return LookupResult(
        email=values.email,
        phone=values.phone,
        matches=tuple(matches[:MATCH_LIMIT]),
        near_misses=() if matches else near_misses(rows, values),
        fetched_at=timezone.now(),
        truncated=len(matches) > MATCH_LIMIT or answer.get("totalSize", 0) > len(rows),
        lead=lead,
        asked_at=asked_at,
        linked_id=values.linked_id,
        link_missing=bool(values.linked_id) and not linked,
    )


def _find_lead(connection, client: SalesforceClient, values: MatchValues) -> ContactMatch | None:
    """R3: the newest matching Lead. A user who cannot query Leads gets none (logged), not an error."""
    check_budget(connection)
    try:
        if encrypted.needs_search(connection, values):  # E2
            statement = encrypted.search_query(LEAD_FIELDS, [values], MATCH_LIMIT, "Lead")
            leads = encrypted.as_query_answer(client.search(statement), MATCH_LIMIT)["records"]
        else:
            leads = client.query(lead_query([values])).get("records", [])
    except (InvalidField, QueryFailed) as exc:
        logger.warning("Lead lookup refused for connection %s: %s", connection.pk, exc.detail)
        return None
    return next((record(r) for r in leads if values.matches(r)), None)


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
    key = entry_key(connection, "lookup", values)
    if refresh and cache_call("add", f"{key}:refresh", "1", REFRESH_MIN_SECONDS, default=False):
        cache_call("delete", key)

    def ask() -> LookupResult:
        check_budget(connection)
        return _ask_salesforce(connection, values)

    # The leader may make two queries (exact, then near-miss), each up to connect + read timeout.
    # It stores under the key the connection has then (a dropped field changes the field set).
    return single_flight(
        key,
        ask,
        seconds=settings.SALESFORCE_CACHE_SECONDS,
        wait=2 * (settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT) + 1,
        store=lambda result: store(connection, result),
        usable=lambda cached: live.usable(connection, cached),
    )
