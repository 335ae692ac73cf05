"""The org's event bus for Change Data Capture: selection, the event log, retention, allocation.

Each org has one log of change events in commit order; an event's replay id is its position in
that log (8 bytes, big-endian; opaque to clients). Events older than ``RETENTION_SECONDS`` on the
emulator's clock drop out; a replay id at or after the oldest kept position is valid, an older
one or one never issued is not. Subscribers wait on ``condition`` (notified on every publish and
by their own request readers); the condition is never held while taking the store's lock.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import uuid
from typing import Any

from salesforce_pubsub import avro

from .. import change_events
from ..errors import EmulatorError
from .base import Lock, Store
from .clock import Clock

RETENTION_SECONDS = 72 * 3600
# The demo selects every entity the product can use (Salesforce: none until an admin selects
# them; 5 without the add-on). Tests narrow it with set_cdc_entities.
DEFAULT_ENTITIES = (
    "Contact",
    "Case",
    "Opportunity",
    "OpportunityContactRole",
    "Lead",
    "Account",
    "User",
)
REPLAY_ID_BYTES = 8


def replay_id(position: int) -> bytes:
    return position.to_bytes(REPLAY_ID_BYTES, "big")


def position_of(replay: bytes) -> int | None:
    """The log position a replay id stands for, or None for bytes that are not one."""
    if len(replay) != REPLAY_ID_BYTES:
        return None
    return int.from_bytes(replay, "big")


class EventStore(Store):
    def __init__(self, lock: Lock, clock: Clock) -> None:
        super().__init__(lock)
        self.clock = clock
        self.condition = threading.Condition()
        self.selected: dict[str, set[str]] = {}  # org id -> entities selected for CDC
        self.allocation: dict[str, int | None] = {}  # org id -> deliveries left (None: no cap)
        self.delivered: dict[str, int] = {}  # org id -> events delivered since reset
        self.log: dict[str, list[dict[str, Any]]] = {}  # org id -> kept events, oldest first
        self.dropped_upto: dict[str, int] = {}  # org id -> last position no longer kept
        self.oldest_valid: dict[str, int] = {}  # org id -> oldest position a replay id may name
        # positions keep rising across resets, so a replay id from before a reset is not valid
        self._last_position = 0
        self._commits = itertools.count(1)
        self.keepalive_seconds = 270.0
        self.startup_keepalive_seconds = 270.0
        # A stream with nothing requested is closed after this long (Salesforce: about 70 s).
        self.idle_close_seconds = 70.0
        self.startup_idle_close_seconds = 70.0
        # org id -> stall count: a stream opened before the latest stall sends nothing any more
        # (no events, no keepalives) and stays open, as a silently dead stream does.
        self.stalls: dict[str, int] = {}
        self.version = 0  # rises on every notify: subscribers compare it to see news
        self.calls: dict[str, int] = {}  # RPC name -> calls (GetTopic, GetSchema, Subscribe)
        self.open_streams: dict[str, int] = {}  # org id -> Subscribe streams open now

    def load(self, orgs: list[dict[str, Any]]) -> None:
        """The data file's ``cdc_entities`` and ``event_delivery_allocation`` per org; empty logs."""
        with self.lock:
            start = self._last_position
            self.selected = {
                org["id"]: set(org.get("cdc_entities", DEFAULT_ENTITIES)) for org in orgs
            }
            self.allocation = {org["id"]: org.get("event_delivery_allocation") for org in orgs}
            self.delivered = {org["id"]: 0 for org in orgs}
            self.log = {org["id"]: [] for org in orgs}
            self.dropped_upto = {org["id"]: start for org in orgs}
            self.oldest_valid = {org["id"]: start for org in orgs}
            self.keepalive_seconds = self.startup_keepalive_seconds
            self.idle_close_seconds = self.startup_idle_close_seconds
            self.stalls = {}
            self.calls = {}
        self.notify()

    def notify(self) -> None:
        """Wake subscribers (taken after the store's lock, never before it)."""
        with self.condition:
            self.version += 1
            self.condition.notify_all()

    # -- configuration (control endpoint)
    def _org(self, org_id: str) -> None:
        if org_id not in self.log:
            raise EmulatorError(f"unknown org {org_id!r}")

    def select(self, org_id: str, entities: list[str]) -> list[str]:
        """Set the entities an org publishes change events for; returns them, sorted."""
        unknown = [e for e in entities if e not in change_events.ENTITIES]
        if unknown:
            raise EmulatorError(
                f"no change events for {unknown}; known: {list(change_events.ENTITIES)}"
            )
        with self.lock:
            self._org(org_id)
            self.selected[org_id] = set(entities)
            return sorted(self.selected[org_id])

    def selection(self, org_id: str) -> list[str]:
        with self.lock:
            self._org(org_id)
            return sorted(self.selected[org_id])

    def set_allocation(self, org_id: str, remaining: int | None) -> int | None:
        """Deliveries left for the org (None: no cap); 0 ends subscriptions with the limit error."""
        if remaining is not None and (
            isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0
        ):
            raise EmulatorError("remaining must be an integer >= 0 or null")
        with self.lock:
            self._org(org_id)
            self.allocation[org_id] = remaining
        self.notify()
        return remaining

    def set_keepalive(self, seconds: float) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise EmulatorError("keepalive_seconds must be a number > 0")
        with self.lock:
            self.keepalive_seconds = float(seconds)
        self.notify()
        return self.keepalive_seconds

    def set_idle_close(self, seconds: float) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise EmulatorError("idle_close_seconds must be a number > 0")
        with self.lock:
            self.idle_close_seconds = float(seconds)
        self.notify()
        return self.idle_close_seconds

    def stall(self, org_id: str) -> int:
        """Every Subscribe stream of the org open now goes silent without closing (a fault)."""
        with self.lock:
            self._org(org_id)
            self.stalls[org_id] = self.stalls.get(org_id, 0) + 1
            count = self.stalls[org_id]
        self.notify()
        return count

    def stall_count(self, org_id: str) -> int:
        with self.lock:
            return self.stalls.get(org_id, 0)

    def is_selected(self, org_id: str, entities: frozenset[str]) -> bool:
        """Subscribing needs every entity of the topic selected (any, for /data/ChangeEvents)."""
        with self.lock:
            self._org(org_id)
            chosen = self.selected[org_id]
            if len(entities) > 1:
                return bool(chosen & entities)
            return entities <= chosen

    # -- publishing (record changes)
    def publish(
        self,
        org_id: str,
        entity: str,
        *,
        change_type: str,
        record_id: str,
        row: dict[str, Any] | None,
        changed: list[str],
        commit_user: str,
        change_origin: str,
    ) -> dict[str, Any] | None:
        """Append a change event if the org selected ``entity``; returns it (None: not selected)."""
        with self.lock:
            if entity not in self.selected.get(org_id, ()):
                return None
            now = self.clock.now()
            header = {
                "changeOrigin": change_origin,
                "transactionKey": str(uuid.uuid4()),
                "sequenceNumber": 1,
                "commitTimestamp": int(now * 1000),
                "commitNumber": next(self._commits),
                "commitUser": commit_user,
            }
            payload, record = change_events.payload(
                entity,
                change_type=change_type,
                record_id=record_id,
                row=row,
                changed=changed,
                header=header,
            )
            self._last_position += 1
            event = {
                "position": self._last_position,
                "id": str(uuid.uuid4()),
                "entity": entity,
                "schema_id": change_events.schema_id(entity),
                "payload": payload,
                "record": record,
                "time": now,
            }
            self.log[org_id].append(event)
        self.notify()
        return event

    # -- reading (subscribers)
    def _expire(self, org_id: str) -> None:
        kept = self.log[org_id]
        horizon = self.clock.now() - RETENTION_SECONDS
        while kept and kept[0]["time"] < horizon:
            self.dropped_upto[org_id] = kept.pop(0)["position"]
            self.oldest_valid[org_id] = self.dropped_upto[org_id] + 1

    def bounds(self, org_id: str) -> tuple[int, int, int]:
        """(last position no longer kept, oldest position a replay id may name, last position
        published) of the org's log. An expired event's replay id is no longer valid."""
        with self.lock:
            self._org(org_id)
            self._expire(org_id)
            kept = self.log[org_id]
            latest = kept[-1]["position"] if kept else self.dropped_upto[org_id]
            return self.dropped_upto[org_id], self.oldest_valid[org_id], latest

    def after(
        self, org_id: str, position: int, entities: frozenset[str], limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` kept events of ``entities`` after ``position``, and the position a
        subscriber has read up to once it has them (past events of other entities too)."""
        with self.lock:
            self._expire(org_id)
            kept = self.log[org_id]
            position = max(position, self.dropped_upto[org_id])
            out: list[dict[str, Any]] = []
            start = bisect.bisect_right(kept, position, key=lambda e: e["position"])
            for event in kept[start:]:
                if event["entity"] in entities:
                    if len(out) == limit:
                        return out, out[-1]["position"] if out else position
                    out.append(event)
                position = event["position"]
            return out, position

    def take_allocation(self, org_id: str, wanted: int) -> int:
        """Deliveries granted now, at most ``wanted`` (0 once the allocation is spent)."""
        with self.lock:
            left = self.allocation.get(org_id)
            granted = wanted if left is None else min(wanted, left)
            if left is not None:
                self.allocation[org_id] = left - granted
            self.delivered[org_id] = self.delivered.get(org_id, 0) + granted
            return granted

    def count_call(self, name: str) -> None:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def stream_opened(self, org_id: str, delta: int) -> None:
        with self.lock:
            self.open_streams[org_id] = self.open_streams.get(org_id, 0) + delta

    def stats(self) -> dict[str, Any]:
        """RPC calls since reset, open Subscribe streams and events delivered, per org."""
        with self.lock:
            return {
                "calls": dict(self.calls),
                "open_streams": {k: v for k, v in self.open_streams.items() if v},
                "delivered": dict(self.delivered),
                "allocation": dict(self.allocation),
            }

    def allocation_spent(self, org_id: str) -> bool:
        with self.lock:
            return self.allocation.get(org_id) == 0

    def summary(self, org_id: str) -> list[dict[str, Any]]:
        """The org's kept events, decoded (for tests and benchmarks; no payload bytes)."""
        with self.lock:
            self._expire(org_id)
            return [
                {
                    "replay_id": replay_id(e["position"]).hex(),
                    "entity": e["entity"],
                    "schema_id": e["schema_id"],
                    "header": e["record"]["ChangeEventHeader"],
                    "changed_fields": avro.bitmap_field_names(
                        change_events.schema_json(e["entity"]),
                        e["record"]["ChangeEventHeader"]["changedFields"],
                    ),
                    "time": e["time"],
                }
                for e in self.log[org_id]
            ]
