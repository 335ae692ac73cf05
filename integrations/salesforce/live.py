"""Live updates (issue 15, F3, F4): what the listener tells the sidebar through the cache.

Change Data Capture ignores sharing, so an event never carries data to an agent: it only marks
what changed, and the sidebar re-reads with its normal query as the connecting user.

- **Change marks (F3).** For each record id in an event, and each email and phone value it
  carries, the listener writes "changed at <time>" under :func:`caching.changed_key`. A cached
  lookup depends on the record ids it holds (matches, near misses, the Lead, related records)
  and on the email and phone it was asked for; it is refused when any of those changed after
  its query started. Events carry new values only: the old value is covered by the record id
  (a lookup that found the record depends on its id), the new one by the value mark (a lookup
  that found nothing, or something else, for that value).
- **Heartbeat (F4).** The listener beats every ``SALESFORCE_LISTENER_HEARTBEAT_SECONDS`` per
  connection. While the heartbeat is fresh (two beats) and healthy on every topic the sidebar
  needs, lookups are stored for ``SALESFORCE_LIVE_CACHE_SECONDS``; otherwise the 60 s rule:
  an entry older than ``SALESFORCE_CACHE_SECONDS`` is refused on read as soon as the heartbeat
  goes stale, whatever TTL it was stored with.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from contacts.phones import parse

from .caching import cache_call, changed_key, live_key
from .related import RELATED

# A query that started this close after a change mark may have read the old data (clocks of
# the listener and the web machines differ a little): it is refused too.
CLOCK_MARGIN_SECONDS = 1.0

CONTACT_TOPIC = "/data/ContactChangeEvent"
# Related lists (R1) and Lead matching (R3) need their objects' events too.
RELATED_TOPICS = {name: related.topics for name, related in RELATED.items()}
LEAD_TOPIC = "/data/LeadChangeEvent"
# E6: parent names shown beside a Contact (Account.Name, Owner.Name) follow their own objects'
# events when the org selected them for Change Data Capture; when it did not (5 objects without
# the add-on), the listener stays healthy but lookups keep the 60 s rule.
PARENT_TOPICS = {"Account": "/data/AccountChangeEvent", "Owner": "/data/UserChangeEvent"}


class State:
    OFF = "off"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


def topics_for(connection) -> list[str]:
    """The CDC channels whose changes can alter what this connection's sidebar shows."""
    topics = [CONTACT_TOPIC]
    for name, channels in RELATED_TOPICS.items():
        if name in connection.related_lists:
            topics += channels
    if connection.match_leads:
        topics.append(LEAD_TOPIC)
    return topics + parent_topics(connection)


def parent_topics(connection) -> list[str]:
    """E6: the channels of the parents whose names the chosen fields show (optional topics)."""
    chosen = {path.split(".", 1)[0] for path in connection.field_names if "." in path}
    return [topic for parent, topic in PARENT_TOPICS.items() if parent in chosen]


def heartbeat_stale_after() -> float:
    return 2 * settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS


# --- heartbeat (F4) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ListenerStatus:
    """What the Manage page shows: off / starting / healthy / unhealthy (with why)."""

    state: str
    reason: str = ""
    topics: tuple[str, ...] = ()
    last_event_at: datetime | None = None
    lag_seconds: float | None = None

    @property
    def label(self) -> str:
        return {
            State.OFF: "Off",
            State.STARTING: "Starting",
            State.HEALTHY: "Healthy",
            State.UNHEALTHY: "Unhealthy",
        }[self.state]


def beat(
    connection_id: int,
    *,
    state: str,
    reason: str = "",
    topics: Iterable[str] = (),
    unselected: Iterable[str] = (),
) -> None:
    """The listener's heartbeat for one connection (kept a little longer than it stays fresh).

    ``unselected``: optional topics Salesforce refused (not selected for Change Data Capture).
    """
    value = {
        "at": time.time(),
        "state": state,
        "reason": reason[:300],
        "topics": list(topics),
        "unselected": list(unselected),
    }
    timeout = max(60, int(4 * settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS))
    cache_call("set", live_key(connection_id, "heartbeat"), value, timeout)


def read_beat(connection_id: int) -> dict | None:
    value = cache_call("get", live_key(connection_id, "heartbeat"))
    return value if isinstance(value, dict) else None


def _fresh(value: dict | None, now: float) -> bool:
    return bool(value) and now - value.get("at", 0) <= heartbeat_stale_after()


def _healthy(connection, value: dict | None, now: float) -> bool:
    return (
        connection.live_updates
        and _fresh(value, now)
        and value.get("state") == State.HEALTHY
        and set(topics_for(connection)) <= set(value.get("topics") or ())
    )


def healthy(connection) -> bool:
    """F4: live updates on, a fresh healthy heartbeat, every needed topic subscribed."""
    if not connection.live_updates:
        return False
    return _healthy(connection, read_beat(connection.pk), time.time())


def listener_status(connection, *, last_event_at=None, lag_seconds=None) -> ListenerStatus:
    """The Manage page's line: the heartbeat read with the connection's setting."""
    if not connection.live_updates:
        return ListenerStatus(State.OFF)
    value, now = read_beat(connection.pk), time.time()
    extra = {"last_event_at": last_event_at, "lag_seconds": lag_seconds}
    if value is None:
        return ListenerStatus(
            State.UNHEALTHY, "No listener is running (manage.py salesforce_listen).", **extra
        )
    topics = tuple(value.get("topics") or ())
    if not _fresh(value, now):
        reason = f"The listener's last heartbeat is {int(now - value['at'])} s old."
        return ListenerStatus(State.UNHEALTHY, reason, topics=topics, **extra)
    state = value.get("state", State.UNHEALTHY)
    reason = value.get("reason", "")
    unselected = [t for t in value.get("unselected") or () if t in parent_topics(connection)]
    if state == State.HEALTHY and unselected:
        names = ", ".join(t.removeprefix("/data/").removesuffix("ChangeEvent") for t in unselected)
        reason = (
            f"{names} not selected for Change Data Capture in Salesforce: names from it follow "
            "the 60-second rule."
        )
    elif state == State.HEALTHY and not _healthy(connection, value, now):
        state, reason = State.STARTING, "Subscribing to the topics the sidebar now needs."
    return ListenerStatus(state, reason, topics=topics, **extra)


def cache_seconds(connection) -> int:
    """F4: how long a lookup may stay cached when stored now."""
    if healthy(connection):
        return max(settings.SALESFORCE_LIVE_CACHE_SECONDS, settings.SALESFORCE_CACHE_SECONDS)
    return settings.SALESFORCE_CACHE_SECONDS


# --- change marks (F3) ------------------------------------------------------------------------
def _record_token(record_id: str) -> str:
    # 15- and 18-character forms of one id share their first 15 characters (case-sensitive).
    return record_id[:15]


def phone_token(value: str, region: str) -> str:
    """One mark for every spelling of a number (over-invalidating exact mode is harmless)."""
    number = parse(value, region)
    return number.e164 if number else value.strip()


def change_keys(connection, *, record_ids: Iterable[str] = (), emails=(), phones=()) -> list[str]:
    region = connection.workspace.phone_region
    keys = [changed_key(connection.pk, "id", _record_token(r)) for r in record_ids if r]
    keys += [changed_key(connection.pk, "email", e.strip().lower()) for e in emails if e]
    keys += [
        changed_key(connection.pk, "phone", phone_token(p, region))
        for p in phones
        if p and p.strip()
    ]
    return sorted(set(keys))


def mark_changed(connection, *, record_ids=(), emails=(), phones=(), at: float | None = None):
    """F3: these records and values changed in Salesforce now; entries holding them go stale.

    Kept as long as an entry can live, so no entry outlives the mark that refuses it.
    """
    keys = change_keys(connection, record_ids=record_ids, emails=emails, phones=phones)
    if not keys:
        return 0
    stamp = at if at is not None else time.time()
    timeout = max(settings.SALESFORCE_LIVE_CACHE_SECONDS, settings.SALESFORCE_CACHE_SECONDS) + 60
    cache_call("set_many", dict.fromkeys(keys, stamp), timeout)
    return len(keys)


def _ids_in(records) -> set[str]:
    found = set()
    for record in records:
        for key, value in record.items():
            if key == "Id" or key.endswith("Id"):
                if isinstance(value, str) and value:
                    found.add(value)
            elif isinstance(value, dict) and isinstance(value.get("Id"), str):
                found.add(value["Id"])
    return found


def dependencies(connection, result) -> list[str]:
    """The change keys a cached lookup result depends on (see the module's docstring)."""
    matches = [*result.matches, *(m.match for m in result.near_misses)]
    if result.lead is not None:
        matches.append(result.lead)
    ids = {m.id for m in matches}
    for match in matches:
        ids |= _ids_in([match.values])  # E6: parents shown by name (Account.Id, Owner.Id)
        for records in match.related.values():
            ids |= _ids_in(records)
    return change_keys(connection, record_ids=ids, emails=[result.email], phones=[result.phone])


def usable(connection, result) -> bool:
    """F3, F4: may this cached lookup still be shown? One cache round trip.

    Refused when older than the 60 s rule while the listener is not healthy, or when a record
    or value it depends on changed after its query started.
    """
    if not connection.live_updates or not hasattr(result, "fetched_at"):
        return True  # live updates off: stored for SALESFORCE_CACHE_SECONDS, nothing to check
    heartbeat = live_key(connection.pk, "heartbeat")
    keys = dependencies(connection, result)
    found = cache_call("get_many", [heartbeat, *keys], default={}) or {}
    now = time.time()
    started = (getattr(result, "asked_at", None) or result.fetched_at).timestamp()
    age = now - result.fetched_at.timestamp()
    if age > settings.SALESFORCE_CACHE_SECONDS and not _healthy(
        connection, found.get(heartbeat), now
    ):
        return False
    return all(found.get(k, 0) < started - CLOCK_MARGIN_SECONDS for k in keys)


def unchanged(connection, keys: list[str], started: datetime) -> bool:
    """F3: none of these change keys was marked after ``started`` (less the clock margin)."""
    if not connection.live_updates or not keys:
        return True
    found = cache_call("get_many", keys, default={}) or {}
    since = started.timestamp() - CLOCK_MARGIN_SECONDS
    return all(found.get(k, 0) < since for k in keys)


# --- Contacts-list badges (B4) under live updates ---------------------------------------------
def badge_entry(connection, flag: str, *, asked_at: datetime, record_ids, email: str, phone: str):
    """What a badge stores: its flag, and with live updates on what it depends on (F3)."""
    if not connection.live_updates:
        return flag
    keys = change_keys(connection, record_ids=record_ids, emails=[email], phones=[phone])
    return {"flag": flag, "asked_at": asked_at, "keys": keys}


def badge_flag(connection, entry) -> str | None:
    """A cached badge's flag, or None when a change since refuses it (or it is not one)."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and unchanged(connection, entry["keys"], entry["asked_at"]):
        return entry["flag"]
    return None


def rows_unchanged(connection, rows: list[dict], asked: list, asked_at: datetime) -> bool:
    """F3: a page's cached badge rows still hold (no change to them or to the values asked)."""
    keys = change_keys(
        connection,
        record_ids=_ids_in(rows),
        emails=[v.email for v in asked],
        phones=[v.phone for v in asked],
    )
    return unchanged(connection, keys, asked_at)
