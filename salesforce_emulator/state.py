"""In-memory state shared by both listeners: small stores (see ``stores/``) under one lock.

``State`` composes them, loads (and reloads, on reset) the data file into them, applies faults
that act on tokens, and answers the control endpoint's ``info``. Callers use the stores directly:
``state.tokens.access(token)``, ``state.records.create(...)``, ``state.faults.get(...)``...
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

from . import change_events, schema
from .errors import EmulatorError
from .stores import (
    AppStore,
    AuthorizationStore,
    Clock,
    Directory,
    EventStore,
    FaultStore,
    LogStore,
    OrgSettingsStore,
    RecordStore,
    TokenStore,
    UsageStore,
)
from .stores.faults import FAULT_KINDS, check_kind

DEMO_DATA = Path(__file__).with_name("demo_data.json")
# E3: the Account record types of an org with Person Accounts (ids fixed, so tests can name them).
ACCOUNT_RECORD_TYPES = (
    {
        "Id": "012Em00000BusAcIAJ",
        "Name": "Business Account",
        "DeveloperName": "Business_Account",
        "SobjectType": "Account",
        "IsActive": True,
        "IsPersonType": False,
    },
    {
        "Id": "012Em00000PerAcIAJ",
        "Name": "Person Account",
        "DeveloperName": "PersonAccount",
        "SobjectType": "Account",
        "IsActive": True,
        "IsPersonType": True,
    },
)

__all__ = ["DEMO_DATA", "FAULT_KINDS", "EmulatorError", "State", "load_data_file"]


class State:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.original = copy.deepcopy(data if data is not None else load_data_file(DEMO_DATA))
        # (kind, value, org_id, user_id) applied on every reset, e.g. from CLI flags
        self.startup_faults: list[tuple[str, Any, str | None, str | None]] = []
        # token policy changes applied on every reset after the data file's, e.g. from CLI flags
        self.startup_policy: dict[str, Any] = {}
        self.allow_loopback_callbacks = False
        self.login_url = ""
        self.instance_url = ""
        self.pubsub_target = ""  # host:port of the Pub/Sub API listener, when it runs
        lock = self.lock
        self.clock = Clock(lock)
        self.apps = AppStore(lock)
        self.directory = Directory(lock)
        self.logs = LogStore(lock)
        self.records = RecordStore(lock, self.logs)
        self.faults = FaultStore(lock)
        self.usage = UsageStore(lock)
        self.authorizations = AuthorizationStore(lock, self.clock)
        self.tokens = TokenStore(lock, self.clock, self.apps, self.faults)
        self.events = EventStore(lock, self.clock)
        self.org_settings = OrgSettingsStore(lock)
        self.records.on_change = self._record_changed
        self.records.row_defaults = self._row_defaults
        self.reset()

    def reset(self) -> None:
        """Back to the loaded data: tokens, logs and faults cleared, policies and clock restored."""
        with self.lock:
            data = copy.deepcopy(self.original)
            apps = data.get("connected_apps") or []
            if data.get("connected_app"):
                apps = [data["connected_app"], *apps]
            self.apps.load(apps, self.startup_policy)
            self.clock.reset()
            orgs = data["orgs"]
            self.directory.load(orgs)  # first: completes the org and user dicts the others read
            self.records.load(orgs)
            self.faults.load(orgs)
            self.usage.load(orgs)
            self.events.load(orgs)
            self.org_settings.load(orgs)
            for org in orgs:
                self._apply_settings(org["id"])
            self.authorizations.clear()
            self.tokens.clear()
            self.logs.clear()
            for kind, value, org_id, user_id in self.startup_faults:
                self.set_fault(kind, value, org_id=org_id, user_id=user_id)

    def _record_changed(
        self,
        org_id: str,
        sobject: str,
        change_type: str,
        record_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        log: dict[str, Any] | None,
    ) -> None:
        """Every record change publishes its change event (if the org selected the entity)."""
        if sobject not in change_events.ENTITIES:
            return
        changed: list[str] = []
        if change_type == "UPDATE" and before is not None and after is not None:
            changed = [name for name, value in after.items() if before.get(name) != value]
        user_id = (log or {}).get("user_id")
        if not user_id:
            users = self.directory.org_users(org_id)
            user_id = users[0]["id"] if users else ""
        self.events.publish(
            org_id,
            sobject,
            change_type=change_type,
            record_id=record_id,
            row=after,
            changed=changed,
            commit_user=user_id,
            change_origin="com/salesforce/api/rest" if log else "",
        )

    def update_org_settings(self, org_id: str, **changes: Any) -> dict[str, Any]:
        """Switch an org's enterprise settings (E9); the rows take what the switch implies."""
        with self.lock:
            settings = self.org_settings.update(org_id, **changes)
            self._apply_settings(org_id)
            return settings

    def _row_defaults(self, org_id: str, sobject: str) -> dict[str, Any]:
        settings = self.org_settings.get(org_id)
        out: dict[str, Any] = {}
        if settings["multi_currency"] and schema.field(sobject, "CurrencyIsoCode"):
            out["CurrencyIsoCode"] = settings["currencies"][0]  # the corporate currency
        if settings["person_accounts"] and schema.field(sobject, "IsPersonAccount"):
            out["IsPersonAccount"] = False
        return out

    def _apply_settings(self, org_id: str) -> None:
        for sobject in ("Opportunity", "Account", "Contact"):
            defaults = self._row_defaults(org_id, sobject)
            if defaults:
                self.records.fill_missing(org_id, sobject, defaults)
        if self.org_settings.value(org_id, "person_accounts"):
            # Enabling Person Accounts needs an Account record type (the business one) and
            # adds Salesforce's default person account record type, "PersonAccount".
            for row in ACCOUNT_RECORD_TYPES:
                self.records.put_quiet(org_id, "RecordType", dict(row))

    def person_record_type(self, org_id: str, record_type_id: str | None) -> bool | None:
        """E3: True for a person account record type, False for a business one, None unknown."""
        if not record_type_id:
            return None
        row = self.records.get(org_id, "RecordType", record_type_id)
        if row is None or row.get("SobjectType") != "Account" or not row.get("IsActive"):
            return None
        return bool(row.get("IsPersonType"))

    def default_person_record_type(self, org_id: str) -> str:
        rows = self.records.table(org_id, "RecordType")
        return next(r["Id"] for r in rows if r.get("IsPersonType") and r.get("IsActive"))

    def instance_url_of(self, org_id: str | None) -> str:
        """The org's instance URL: the listener's, or where a My Domain change moved it (E5)."""
        return self.org_settings.value(org_id, "instance_url") or self.instance_url

    def set_fault(
        self,
        kind: str,
        value: Any = True,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Set or clear a fault; ``expire_sessions`` only acts, ``revoke_refresh_tokens`` also acts."""
        check_kind(kind)
        with self.lock:
            if kind == "expire_sessions":  # a one-off action, not a standing condition
                if value:
                    self.tokens.expire_sessions(org_id, user_id)
                return
            if kind == "revoke_refresh_tokens" and value:
                self.tokens.revoke_refresh_tokens(org_id, user_id)
            self.faults.set(kind, value, org_id=org_id, user_id=user_id)

    def info(self) -> dict[str, Any]:
        with self.lock:
            app, apps = self.apps.snapshot()
            return {
                "login_url": self.login_url,
                "instance_url": self.instance_url,
                "connected_app": app,
                "connected_apps": apps,
                "clock_offset_seconds": self.clock.offset,
                "allow_loopback_callbacks": self.allow_loopback_callbacks,
                "global_faults": self.faults.global_copy(),
                "pubsub_target": self.pubsub_target,
                "orgs": [self._org_info(org) for org in self.directory.orgs.values()],
            }

    def _org_info(self, org: dict[str, Any]) -> dict[str, Any]:
        used, limit = self.usage.get(org["id"])
        return {
            "id": org["id"],
            "name": org["name"],
            "is_sandbox": org["is_sandbox"],
            "api_usage": used,
            "api_limit": limit,
            "faults": self.faults.of_org(org["id"]),
            "cdc_entities": self.events.selection(org["id"]),
            "event_delivery_allocation": self.events.allocation.get(org["id"]),
            "settings": self.org_settings.get(org["id"]),
            "users": [
                {
                    "id": u["id"],
                    "username": u["username"],
                    "name": " ".join(p for p in (u.get("first_name"), u["last_name"]) if p),
                    "email": u["email"],
                    "faults": self.faults.of_user(u["id"]),
                }
                for u in self.directory.org_users(org["id"])
            ],
        }


def load_data_file(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
