"""Standing faults: global, per org and per user (the most specific one wins)."""

from __future__ import annotations

from typing import Any

from .. import schema
from ..errors import EmulatorError
from .base import Lock, Store

FAULT_KINDS = {
    "api_disabled_org",
    "api_disabled_user",
    "expire_sessions",
    "revoke_refresh_tokens",
    "request_limit_exceeded",
    "latency",
    "http_500",
    "http_503",
    "malformed_body",
    "search_index_lag",
    "no_edit_tasks",  # the user lacks "Edit Tasks": creating or updating a Task is refused
    "hang_after_write",  # seconds: a create/update is saved, then its answer waits this long  # seconds: SOSL does not find rows changed more recently than this
    "hide_object",  # value: an sObject name or a list (the user has no read access to them)
}


def _normalized(kind: str, value: Any) -> Any:
    """``hide_object``: a sorted list of canonical sObject names (an error on an unknown one)."""
    if kind != "hide_object" or value in (None, False, 0, "", []):
        return value
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple):
        raise EmulatorError("hide_object takes an sObject name or a list of names")
    canonical = {schema.canonical_object(str(n).strip()) for n in names}
    if None in canonical:
        raise EmulatorError(
            f"hide_object: unknown sObject in {value!r}; known: {sorted(schema.OBJECTS)}"
        )
    return sorted(canonical)


def check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise EmulatorError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")


class FaultStore(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.global_faults: dict[str, Any] = {}
        self.by_org: dict[str, dict[str, Any]] = {}
        self.by_user: dict[str, dict[str, Any]] = {}

    def load(self, orgs: list[dict[str, Any]]) -> None:
        """Start from the data file's faults (an org's or a user's ``faults`` object)."""
        with self.lock:
            self.global_faults = {}
            self.by_org = {org["id"]: dict(org.get("faults") or {}) for org in orgs}
            self.by_user = {
                user["id"]: dict(user.get("faults") or {})
                for org in orgs
                for user in org.get("users", [])
            }

    def get(self, org_id: str | None, user_id: str | None, kind: str) -> Any:
        """The fault's value for this user in this org (falsy: not set)."""
        with self.lock:
            for faults in (
                self.by_user.get(user_id or ""),
                self.by_org.get(org_id or ""),
                self.global_faults,
            ):
                if faults and faults.get(kind):
                    return faults[kind]
            return None

    def hidden_objects(self, org_id: str | None, user_id: str | None) -> frozenset[str]:
        """Objects hidden from this user: ``hide_object`` of the user, the org and globally
        (together), with the objects whose access follows them (a contact role: its opportunity).
        """
        with self.lock:
            names: list[str] = []
            for faults in (
                self.by_user.get(user_id or ""),
                self.by_org.get(org_id or ""),
                self.global_faults,
            ):
                value = (faults or {}).get("hide_object")
                if value:
                    names += value.split(",") if isinstance(value, str) else list(value)
        return schema.hidden_with(names)

    def _target(self, org_id: str | None, user_id: str | None) -> dict[str, Any]:
        if user_id:
            if user_id not in self.by_user:
                raise EmulatorError(f"unknown user {user_id!r}")
            return self.by_user[user_id]
        if org_id:
            if org_id not in self.by_org:
                raise EmulatorError(f"unknown org {org_id!r}")
            return self.by_org[org_id]
        return self.global_faults

    def set(
        self, kind: str, value: Any = True, *, org_id: str | None = None, user_id: str | None = None
    ) -> None:
        """Set (or, with a falsy value, clear) a standing fault; no org or user: global."""
        check_kind(kind)
        value = _normalized(kind, value)
        with self.lock:
            target = self._target(org_id, user_id)
            if value in (None, False, 0, []):
                target.pop(kind, None)
            else:
                target[kind] = value

    def clear(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        """Clear a user's or an org's faults; neither given: every fault."""
        with self.lock:
            if user_id or org_id:
                self._target(org_id, user_id).clear()
                return
            for faults in (self.global_faults, *self.by_org.values(), *self.by_user.values()):
                faults.clear()

    def of_org(self, org_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.by_org.get(org_id, {}))

    def of_user(self, user_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.by_user.get(user_id, {}))

    def global_copy(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.global_faults)
