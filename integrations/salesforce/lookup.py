"""Contact matching: one SOQL query per lookup, cached 60 s, single-flight across processes.

``find_contact`` is what the sidebar calls; ``match_flags`` is what the Contacts-list badges call.
Matching is Salesforce's own ``=`` (S7): the query asks Salesforce, nothing here loosens it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from simple_salesforce.format import format_soql

from . import errors
from .client import SalesforceClient
from .errors import InvalidField, QueryFailed, RateLimited, SalesforceError
from .models import SalesforceConnection, record_event

logger = logging.getLogger(__name__)

MATCH_LIMIT = 20  # newest first; "N more matches" beyond the first
NEAR_MISS_LIMIT = 10
BADGE_LIMIT = 200
REFRESH_MIN_SECONDS = 10
WAIT_STEP = 0.05
# Always selected: matching, ordering, near-miss display and links need them.
BASE_FIELDS = ["Id", "Name", "Email", "Phone", "MobilePhone", "LastModifiedDate"]


@dataclass(frozen=True)
class ContactMatch:
    """One Salesforce Contact: raw values by field path ("Email", "Account.Name")."""

    id: str
    values: dict

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

    @property
    def primary(self) -> ContactMatch | None:
        return self.matches[0] if self.matches else None

    @property
    def others(self) -> tuple[ContactMatch, ...]:
        return self.matches[1:]


@dataclass(frozen=True)
class _CachedFailure:
    error: str  # class name in errors.py
    user_message: str
    detail: str
    at: datetime = field(default_factory=timezone.now)

    def exception(self) -> SalesforceError:
        cls = getattr(errors, self.error, errors.Unavailable)
        return cls(self.user_message, detail=self.detail)


# --- cache helpers: a cache outage degrades to uncached lookups, never to an error page ---------
def cache_call(method: str, *args, default=None):
    """``cache.<method>(*args)``, or ``default`` when the cache is down (logged)."""
    try:
        return getattr(cache, method)(*args)
    except Exception:  # noqa: BLE001 - Redis down, DB cache locked...
        logger.warning("Cache unavailable (%s): Salesforce lookup continues uncached", method)
        return default


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _key(connection: SalesforceConnection, kind: str, email: str, phone: str) -> str:
    # Email compares without regard to case in Salesforce, so the key does too; phone as typed.
    values = _digest(email.strip().lower(), phone.strip(), ",".join(connection.field_names))
    return f"salesforce:{kind}:{connection.pk}:{connection.cache_generation}:{values}"


def selected_fields(connection: SalesforceConnection) -> list[str]:
    fields = list(BASE_FIELDS)
    for path in connection.field_names:
        if path.lower() not in {f.lower() for f in fields}:
            fields.append(path)
    return fields


FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")


def _contact_soql(fields: list[str], conditions: list[str], limit: int) -> str:
    """SELECT on Contact only. Values in ``conditions`` are quoted with format_soql; field names
    are checked to be API names, so nothing from a user can change the query's shape."""
    bad = [f for f in fields if not FIELD_PATH.match(f)]
    if bad:
        raise ValueError(f"Not Salesforce field names: {bad}")
    where = " OR ".join(conditions)
    return (
        f"SELECT {', '.join(fields)} FROM Contact WHERE {where} "  # noqa: S608 - see docstring
        f"ORDER BY LastModifiedDate DESC LIMIT {int(limit)}"
    )


def exact_query(fields: list[str], *, email: str, phone: str, limit: int = MATCH_LIMIT) -> str:
    """The ONE lookup query (S7): Email = e OR Phone = p OR MobilePhone = p, empty values omitted."""
    conditions = []
    if email:
        conditions.append(format_soql("Email = {}", email))
    if phone:
        conditions.append(format_soql("Phone = {} OR MobilePhone = {}", phone, phone))
    if not conditions:
        raise ValueError("Nothing to look up: the contact has no email and no phone.")
    return _contact_soql(fields, conditions, limit)


def digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def near_miss_query(*, email: str, phone: str) -> str | None:
    """B1: a bounded second query for formatting-only differences; None when nothing to ask."""
    conditions = []
    phone_digits = digits(phone)
    if len(phone_digits) >= 6:
        pattern = "%" + "%".join(phone_digits) + "%"
        conditions.append(format_soql("Phone LIKE {} OR MobilePhone LIKE {}", pattern, pattern))
    if email:
        conditions.append(format_soql("Email LIKE '%{:like}%'", email.strip()))
    if not conditions:
        return None
    return _contact_soql(BASE_FIELDS, conditions, NEAR_MISS_LIMIT)


def _record(row: dict) -> ContactMatch:
    values = {k: v for k, v in row.items() if k != "attributes"}
    for k, v in list(values.items()):
        if isinstance(v, dict):
            values[k] = {ik: iv for ik, iv in v.items() if ik != "attributes"}
    return ContactMatch(id=row["Id"], values=values)


def _near_misses(rows: list[dict], *, email: str, phone: str) -> tuple[NearMiss, ...]:
    found = []
    phone_digits = digits(phone)
    for row in rows:
        match = _record(row)
        for name in ("Phone", "MobilePhone"):
            theirs = match.values.get(name) or ""
            if phone and theirs and theirs != phone and digits(theirs) == phone_digits:
                found.append(NearMiss(match, name, theirs, phone))
        theirs = match.values.get("Email") or ""
        if email and theirs and theirs != email and theirs.strip().lower() == email.lower():
            found.append(NearMiss(match, "Email", theirs, email))
    return tuple(found)


# --- the lookup ---------------------------------------------------------------------------------
def _query_contacts(connection: SalesforceConnection, client: SalesforceClient, build) -> dict:
    """Run ``build(fields)``; a chosen field Salesforce no longer knows is dropped, then one retry."""
    for attempt in range(2):
        try:
            return client.query(build(selected_fields(connection)))
        except InvalidField as exc:
            if attempt or not _drop_field(connection, exc):
                raise QueryFailed(detail="INVALID_FIELD") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _ask_salesforce(connection: SalesforceConnection, *, email: str, phone: str) -> LookupResult:
    client = SalesforceClient(connection)
    answer = _query_contacts(
        connection, client, lambda fields: exact_query(fields, email=email, phone=phone)
    )
    rows = answer.get("records", [])
    near = ()
    if not rows:
        soql = near_miss_query(email=email, phone=phone)
        if soql:
            near = _near_misses(client.query(soql).get("records", []), email=email, phone=phone)
    return LookupResult(
        email=email,
        phone=phone,
        matches=tuple(_record(r) for r in rows),
        near_misses=near,
        fetched_at=timezone.now(),
        truncated=answer.get("totalSize", 0) > len(rows),
    )


def _drop_field(connection: SalesforceConnection, error: InvalidField) -> bool:
    """A chosen field Salesforce no longer knows: drop it, note it for admins, retry once."""
    lowered = error.field.lower()
    if error.relationship:  # "Region__r" is gone: every "Region__r.<field>" goes with it
        doomed = [p for p in connection.field_names if p.lower().startswith(lowered + ".")]
    else:
        doomed = [
            p
            for p in connection.field_names
            if p.lower() == lowered or p.lower().endswith("." + lowered)
        ]
    if not doomed:
        return False
    connection.field_names = [p for p in connection.field_names if p not in doomed]
    connection.dropped_fields = sorted(set(connection.dropped_fields) | set(doomed))
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        field_names=connection.field_names, dropped_fields=connection.dropped_fields
    )
    connection.bump_generation()
    record_event(
        connection=connection,
        kind="field_dropped",
        detail=f"Salesforce no longer knows {', '.join(doomed)}; removed from the sidebar.",
    )
    return True


def _check_budget(connection: SalesforceConnection) -> None:
    """Back off when the org's API usage passes the configured share (one probe per window)."""
    share = connection.api_usage_share
    if share is None or share < settings.SALESFORCE_API_BACKOFF:
        return
    probe = f"salesforce:budget-probe:{connection.pk}"
    if cache_call("add", probe, "1", settings.SALESFORCE_CACHE_SECONDS, default=True):
        return  # one call per window re-reads the usage
    raise RateLimited(
        f"Salesforce lookups are paused: this org has used {share:.0%} of its daily API limit "
        "(the product stops at "
        f"{settings.SALESFORCE_API_BACKOFF:.0%} to leave room for other integrations).",
        detail="api_budget",
    )


def unwrap_failure(cached) -> LookupResult | None:
    """Re-raise a cached failure; pass anything else through."""
    if isinstance(cached, _CachedFailure):
        raise cached.exception()
    return cached


def find_contact(
    connection: SalesforceConnection, *, email: str = "", phone: str = "", refresh: bool = False
) -> LookupResult:
    """The Salesforce Contacts matching this email or phone (S7), cached (S12), single-flight.

    Raises a :class:`SalesforceError` subclass when Salesforce fails; the failure is cached for
    the window too, so a failing org is asked at most once per window per contact.
    """
    email, phone = (email or "").strip(), (phone or "").strip()
    if not email and not phone:
        raise ValueError("Nothing to look up: the contact has no email and no phone.")
    key = _key(connection, "lookup", email, phone)
    if refresh and cache_call("add", f"{key}:refresh", "1", REFRESH_MIN_SECONDS, default=False):
        cache_call("delete", key)
    cached = cache_call("get", key)
    if cached is not None:
        return unwrap_failure(cached)

    lock = f"{key}:lock"
    # The leader may make two queries (exact, then near-miss), each up to connect + read timeout.
    wait = 2 * (settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT) + 1
    # Without a working cache every request is its own leader (uncached, never an error).
    if cache_call("add", lock, "1", int(wait) + 5, default=True):
        # A leader that finished between our cache miss and our lock already stored its answer.
        cached = cache_call("get", key)
        if cached is not None:
            cache_call("delete", lock)
            return unwrap_failure(cached)
    else:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP)
            cached = cache_call("get", key)
            if cached is not None:
                return unwrap_failure(cached)
        # The leader took too long: a lock never turns into an error, ask ourselves.
    try:
        _check_budget(connection)
        result = _ask_salesforce(connection, email=email, phone=phone)
    except SalesforceError as exc:
        failure = _CachedFailure(type(exc).__name__, exc.user_message, exc.detail)
        cache_call("set", key, failure, settings.SALESFORCE_CACHE_SECONDS)
        cache_call("delete", lock)
        raise
    except BaseException:
        cache_call("delete", lock)
        raise
    # Store the answer BEFORE releasing the lock: a request arriving in between would otherwise
    # see neither the answer nor the lock and ask Salesforce a second time (S12). Stored under
    # the key the connection has now (a dropped field changes the field set).
    key = _key(connection, "lookup", email, phone)
    cache_call("set", key, result, settings.SALESFORCE_CACHE_SECONDS)
    cache_call(
        "set", _key(connection, "stale", email, phone), result, settings.SALESFORCE_STALE_SECONDS
    )
    cache_call("delete", lock)
    return result


def stale_result(
    connection: SalesforceConnection, *, email: str, phone: str
) -> LookupResult | None:
    """B2: the last good result for these values (kept a day), to show beside an error."""
    return cache_call(
        "get", _key(connection, "stale", (email or "").strip(), (phone or "").strip())
    )


# --- Contacts-list badges (B4) -------------------------------------------------------------
def match_flags(connection: SalesforceConnection, contacts) -> dict[int, bool]:
    """Which of these contacts have a Salesforce match: cached answers, then ONE query for the rest."""
    flags: dict[int, bool] = {}
    unknown = []
    for contact in contacts:
        email, phone = contact.email.strip(), contact.phone.strip()
        if not email and not phone:
            flags[contact.pk] = False
            continue
        cached = cache_call("get", _key(connection, "lookup", email, phone))
        if isinstance(cached, LookupResult):
            flags[contact.pk] = bool(cached.matches)
            continue
        badge = cache_call("get", _key(connection, "badge", email, phone))
        if badge is not None:
            flags[contact.pk] = badge
            continue
        unknown.append(contact)
    if not unknown:
        return flags

    # A failing org is asked at most once per window for badges too (no retry storm).
    failed_key = f"salesforce:badges-failed:{connection.pk}:{connection.cache_generation}"
    unwrap_failure(cache_call("get", failed_key))
    emails = sorted({c.email.strip() for c in unknown if c.email.strip()})
    phones = sorted({c.phone.strip() for c in unknown if c.phone.strip()})
    conditions = []
    if emails:
        conditions.append(format_soql("Email IN {}", emails))
    if phones:
        conditions.append(format_soql("Phone IN {} OR MobilePhone IN {}", phones, phones))
    try:
        _check_budget(connection)
        answer = _query_contacts(
            connection,
            SalesforceClient(connection),
            lambda fields: _contact_soql(fields, conditions, BADGE_LIMIT),
        )
        rows = answer.get("records", [])
    except SalesforceError as exc:
        failure = _CachedFailure(type(exc).__name__, exc.user_message, exc.detail)
        cache_call("set", failed_key, failure, settings.SALESFORCE_CACHE_SECONDS)
        raise
    complete = len(rows) < BADGE_LIMIT
    now = timezone.now()
    for contact in unknown:
        email, phone = contact.email.strip(), contact.phone.strip()
        mine = [
            _record(r)
            for r in rows
            if (email and (r.get("Email") or "").lower() == email.lower())
            or (phone and phone in (r.get("Phone"), r.get("MobilePhone")))
        ]
        flags[contact.pk] = bool(mine)
        cache_call(
            "set",
            _key(connection, "badge", email, phone),
            bool(mine),
            settings.SALESFORCE_CACHE_SECONDS,
        )
        if mine and complete:
            # Share the cache with the sidebar: the same answer the exact query would give.
            result = LookupResult(
                email=email, phone=phone, matches=tuple(mine[:MATCH_LIMIT]), fetched_at=now
            )
            cache_call(
                "set",
                _key(connection, "lookup", email, phone),
                result,
                settings.SALESFORCE_CACHE_SECONDS,
            )
            cache_call(
                "set",
                _key(connection, "stale", email, phone),
                result,
                settings.SALESFORCE_STALE_SECONDS,
            )
    return flags
