"""In-memory state shared by both listeners: orgs, users, records, OAuth artefacts, faults, logs.

Every public method takes the one lock, so the threaded servers can call them concurrently.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from . import policy, schema

DEMO_DATA = Path(__file__).with_name("demo_data.json")
CODE_TTL_SECONDS = 15 * 60
PENDING_TTL_SECONDS = 30 * 60
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
}
# Faults that are one-off actions rather than standing conditions.
ACTION_FAULTS = {"expire_sessions"}
_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def to18(id15: str) -> str:
    """Salesforce's case-safe 18-character id: 15 characters plus a 3-character checksum."""
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                flags |= 1 << bit
        suffix += _CHECKSUM_CHARS[flags]
    return id15 + suffix


def sf_now() -> str:
    """Now, formatted as Salesforce formats datetimes: 2026-11-20T14:03:11.000+0000."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _random_token(length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
    return "".join(secrets.choice(alphabet) for _ in range(length))


class EmulatorError(Exception):
    """A control-endpoint request that cannot be honoured (unknown org, record...)."""


class State:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.original = copy.deepcopy(data if data is not None else load_data_file(DEMO_DATA))
        self.global_faults: dict[str, Any] = {}
        # (kind, value, org_id, user_id) applied on every reset, e.g. from CLI flags
        self.startup_faults: list[tuple[str, Any, str | None, str | None]] = []
        self.allow_loopback_callbacks = False
        self.login_url = ""
        self.instance_url = ""
        # token policy changes applied on every reset after the data file's, e.g. from CLI flags
        self.startup_policy: dict[str, Any] = {}
        self._counter = itertools.count(1)
        self._families = itertools.count(1)
        self.clock_offset = 0.0
        self.reset()

    # ------------------------------------------------------------------ loading / reset

    def reset(self) -> None:
        with self.lock:
            data = copy.deepcopy(self.original)
            apps = data.get("connected_apps") or []
            if data.get("connected_app"):
                apps = [data["connected_app"], *apps]
            if not apps:
                raise EmulatorError("the data file needs a connected_app or connected_apps")
            self.apps: dict[str, dict[str, Any]] = {}
            for app in apps:
                app.setdefault("name", "Team Inbox")
                try:
                    app["token_policy"] = policy.normalise(app.get("token_policy"))
                    if self.startup_policy:
                        app["token_policy"] = policy.normalise(
                            self.startup_policy, app["token_policy"]
                        )
                except policy.PolicyError as exc:
                    raise EmulatorError(f"app {app.get('name')!r}: {exc}") from exc
                self.apps[app["client_id"]] = app
            # The first app: what single-app callers (make run, tests) mean by "the app".
            self.app: dict[str, Any] = apps[0]
            self.clock_offset = 0.0
            self.orgs: dict[str, dict[str, Any]] = {}
            self.users: dict[str, dict[str, Any]] = {}
            self.records: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
            for org in data["orgs"]:
                org.setdefault("is_sandbox", False)
                org.setdefault("api_limit", 15000)
                org.setdefault("api_usage", 0)
                org["faults"] = dict(org.get("faults") or {})
                org.setdefault("instance_name", "EM1")
                org.setdefault("created_date", "2024-01-15T09:00:00.000+0000")
                self.orgs[org["id"]] = org
                tables: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in schema.OBJECTS}
                self.records[org["id"]] = tables
                tables["Organization"][org["id"]] = {
                    "Id": org["id"],
                    "Name": org["name"],
                    "IsSandbox": bool(org["is_sandbox"]),
                    "OrganizationType": org.get("edition", "Enterprise Edition"),
                    "InstanceName": org["instance_name"],
                    "LanguageLocaleKey": "en_US",
                    "TimeZoneSidKey": "America/Los_Angeles",
                    "CreatedDate": org["created_date"],
                    "LastModifiedDate": org["created_date"],
                }
                for user in org.get("users", []):
                    user["org_id"] = org["id"]
                    user["faults"] = dict(user.get("faults") or {})
                    user.setdefault("active", True)
                    self.users[user["id"]] = user
                    tables["User"][user["id"]] = {
                        "Id": user["id"],
                        "Username": user["username"],
                        "FirstName": user.get("first_name"),
                        "LastName": user["last_name"],
                        "Email": user["email"],
                        "IsActive": user["active"],
                        "CreatedDate": org["created_date"],
                        "LastModifiedDate": org["created_date"],
                    }
                for sobject, rows in (org.get("records") or {}).items():
                    for row in rows:
                        tables[sobject][row["Id"]] = self._normalise(sobject, row, new=True)
                for sobject in ("User",):
                    for row in tables[sobject].values():
                        self._compute(sobject, row)
            self.pending: dict[str, dict[str, Any]] = {}
            self.codes: dict[str, dict[str, Any]] = {}
            self.access_tokens: dict[str, dict[str, Any]] = {}
            self.refresh_tokens: dict[str, dict[str, Any]] = {}
            # token family (one approval = one code grant with a refresh token) by family id
            self.families: dict[str, dict[str, Any]] = {}
            self.request_log: list[dict[str, Any]] = []
            self.writes: list[dict[str, Any]] = []
            self.global_faults = {}
            for kind, value, org_id, user_id in self.startup_faults:
                self.set_fault(kind, value, org_id=org_id, user_id=user_id)

    @staticmethod
    def coerce(sobject: str, row: dict[str, Any]) -> dict[str, Any]:
        """Canonical field names and stored representations for the given fields only."""
        out: dict[str, Any] = {}
        for name, value in row.items():
            fdef = schema.field(sobject, name)
            if fdef is None:
                raise EmulatorError(f"No such column '{name}' on sobject of type {sobject}")
            if value == "":
                value = None  # Salesforce stores empty text as null
            if fdef["type"] == "double" and value is not None:
                value = float(value)
            out[fdef["name"]] = value
        return out

    def _normalise(self, sobject: str, row: dict[str, Any], *, new: bool) -> dict[str, Any]:
        out = self.coerce(sobject, row)
        if new:
            stamp = out.get("CreatedDate") or out.get("LastModifiedDate") or sf_now()
            out.setdefault("CreatedDate", stamp)
            out.setdefault("LastModifiedDate", stamp)
            out.setdefault("IsDeleted", False)
            if sobject == "Contact":
                out.setdefault("DoNotCall", False)
        for fdef in schema.OBJECTS[sobject]["fields"]:
            out.setdefault(fdef["name"], None)
        self._compute(sobject, out)
        return out

    @staticmethod
    def _compute(sobject: str, row: dict[str, Any]) -> None:
        if schema.field(sobject, "FirstName") and schema.field(sobject, "Name"):
            parts = [row.get("FirstName"), row.get("LastName")]
            row["Name"] = " ".join(p for p in parts if p) or None

    # ------------------------------------------------------------------ lookups

    def org(self, org_id: str) -> dict[str, Any]:
        org = self.orgs.get(org_id)
        if org is None:
            raise EmulatorError(f"unknown org {org_id!r}")
        return org

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        with self.lock:
            return next(
                (u for u in self.users.values() if u["username"].lower() == username.lower()),
                None,
            )

    def table(self, org_id: str, sobject: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.records[org_id][sobject].values())

    def lookup_fn(self, org_id: str):
        tables = self.records[org_id]

        def lookup(sobject: str, record_id: str) -> dict[str, Any] | None:
            row = tables[sobject].get(record_id)
            if row is None and len(record_id) == 15:
                row = next((r for k, r in tables[sobject].items() if k[:15] == record_id), None)
            return row

        return lookup

    def find_record(self, sobject: str, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """Find a record in any org (for the record pages)."""
        with self.lock:
            for org_id in self.records:
                row = self.lookup_fn(org_id)(sobject, record_id)
                if row is not None:
                    return org_id, row
            return None

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        """The emulator's clock: wall time plus whatever ``advance_clock`` added."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's clock forward (token lifetimes, idle expiry, code expiry)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise EmulatorError("advance_seconds must be a number >= 0")
        with self.lock:
            self.clock_offset += float(seconds)
            return self.clock_offset

    # ------------------------------------------------------------------ apps and token policy

    def app_for(self, client_id: str | None) -> dict[str, Any] | None:
        with self.lock:
            return self.apps.get(client_id or "")

    def _app_or_error(self, client_id: str | None) -> dict[str, Any]:
        if not client_id:
            return self.app
        app = self.apps.get(client_id)
        if app is None:
            raise EmulatorError(f"unknown client_id {client_id!r}")
        return app

    def token_policy(self, client_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            return dict(self._app_or_error(client_id)["token_policy"])

    def set_token_policy(self, client_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change an app's token policy at run time (validated; ``reset`` restores the file's)."""
        with self.lock:
            app = self._app_or_error(client_id)
            try:
                app["token_policy"] = policy.normalise(changes, app["token_policy"])
            except policy.PolicyError as exc:
                raise EmulatorError(str(exc)) from exc
            return dict(app["token_policy"])

    # ------------------------------------------------------------------ callbacks

    def callback_allowed(self, redirect_uri: str, client_id: str | None = None) -> bool:
        app = self.app_for(client_id) or self.app
        if redirect_uri in app.get("callback_urls", []):
            return True
        if self.allow_loopback_callbacks:
            from urllib.parse import urlsplit

            parts = urlsplit(redirect_uri)
            return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        return False

    # ------------------------------------------------------------------ authorize / codes

    def create_pending(self, params: dict[str, Any]) -> str:
        with self.lock:
            now = self.now()
            for key in [
                k for k, v in self.pending.items() if v["created"] < now - PENDING_TTL_SECONDS
            ]:
                del self.pending[key]
            pending_id = secrets.token_urlsafe(24)
            self.pending[pending_id] = {**params, "created": now, "user_id": None}
            return pending_id

    def get_pending(self, pending_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.pending.get(pending_id or "")

    def pop_pending(self, pending_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.pending.pop(pending_id or "", None)

    def issue_code(self, pending: dict[str, Any]) -> str:
        with self.lock:
            code = "aPrx" + _random_token(60)
            self.codes[code] = {**pending, "issued": self.now(), "used": False}
            return code

    def take_code(self, code: str) -> dict[str, Any] | None:
        """Return the code's grant and mark it used (codes are single-use)."""
        with self.lock:
            grant = self.codes.get(code)
            if grant is None or grant["used"]:
                return None
            grant["used"] = True
            return dict(grant)

    # ------------------------------------------------------------------ tokens
    #
    # One approval (a code grant that yields a refresh token) starts a token *family*: its refresh
    # token(s) and every access token issued from them. Rotation replaces the family's refresh
    # token on each refresh grant; reuse of a replaced one, the revoke endpoint, the approval limit
    # and the control endpoint end a family (all its refresh and access tokens).

    def _new_access(
        self,
        org_id: str,
        user_id: str,
        scope: str,
        client_id: str,
        *,
        family: str | None,
        refresh_token: str | None,
    ) -> str:
        access = f"{org_id[:15]}!AQ" + _random_token(96)
        self.access_tokens[access] = {
            "org_id": org_id,
            "user_id": user_id,
            "scope": scope,
            "client_id": client_id,
            "family": family,
            "refresh_token": refresh_token,
            "valid": True,
            "issued": self.now(),
        }
        return access

    def _new_refresh(self, family: dict[str, Any]) -> str:
        token = "5Aep861" + _random_token(80)
        now = self.now()
        self.refresh_tokens[token] = {
            "org_id": family["org_id"],
            "user_id": family["user_id"],
            "scope": family["scope"],
            "client_id": family["client_id"],
            "family": family["id"],
            "revoked": False,
            "rotated_out": False,
            "issued": now,
            "last_used": now,
        }
        family["refresh_tokens"].append(token)
        family["current"] = token
        return token

    def _end_family(self, family: dict[str, Any], reason: str, *, end_access: bool) -> None:
        family["revoked"] = True
        family["revoke_reason"] = reason
        family["ended_at"] = self.now()
        for token in family["refresh_tokens"]:
            self.refresh_tokens[token]["revoked"] = True
        if end_access:
            for grant in self.access_tokens.values():
                if grant["family"] == family["id"]:
                    grant["valid"] = False

    def approve(
        self, client_id: str, org_id: str, user_id: str, scope: str, *, with_refresh: bool
    ) -> tuple[str, str | None, dict[str, Any]]:
        """Tokens for a code grant: (access, refresh or None, log fields)."""
        with self.lock:
            app = self._app_or_error(client_id)
            events: dict[str, Any] = {"family_id": None, "revoked_families": 0}
            if not with_refresh:
                access = self._new_access(
                    org_id, user_id, scope, client_id, family=None, refresh_token=None
                )
                return access, None, events
            seq = next(self._families)
            family: dict[str, Any] = {
                "id": f"fam-{seq}",
                "seq": seq,
                "org_id": org_id,
                "user_id": user_id,
                "client_id": client_id,
                "scope": scope,
                "created": self.now(),
                "revoked": False,
                "revoke_reason": None,
                "ended_at": None,
                "refresh_grants": 0,
                "refresh_tokens": [],
                "current": None,
            }
            self.families[family["id"]] = family
            refresh = self._new_refresh(family)
            access = self._new_access(
                org_id, user_id, scope, client_id, family=family["id"], refresh_token=refresh
            )
            events["family_id"] = family["id"]
            limit = app["token_policy"]["max_approvals_per_user"]
            if limit:
                live = sorted(
                    (
                        f
                        for f in self.families.values()
                        if f["client_id"] == client_id
                        and f["user_id"] == user_id
                        and not f["revoked"]
                    ),
                    key=lambda f: f["seq"],
                )
                for oldest in live[: max(0, len(live) - limit)]:
                    self._end_family(oldest, "approval_limit", end_access=True)
                    events["revoked_families"] += 1
                    events["revoke_reason"] = "approval_limit"
                    events.setdefault("revoked_family_ids", []).append(oldest["id"])
            return access, refresh, events

    def refresh_grant(self, client_id: str, token: str) -> dict[str, Any]:
        """Apply the app's policy to a refresh grant, atomically.

        Returns ``ok`` plus, on success, ``access``, ``refresh`` (the new one when rotating, else
        None), ``scope``; on refusal ``reason`` (``unknown``, ``wrong_client``, ``reuse``,
        ``revoked``, ``immediate_expiry``, ``lifetime_expired``, ``idle_expired``). Always
        ``reuse_detected``, ``revoked_families``, ``family_id``, ``org_id``, ``user_id``.
        """
        with self.lock:
            out: dict[str, Any] = {
                "ok": False,
                "reason": "unknown",
                "reuse_detected": False,
                "revoked_families": 0,
                "rotated": False,
                "family_id": None,
                "org_id": None,
                "user_id": None,
            }
            record = self.refresh_tokens.get(token or "")
            if record is None:
                return out
            family = self.families[record["family"]]
            out.update(family_id=family["id"], org_id=record["org_id"], user_id=record["user_id"])
            if record["client_id"] != client_id:
                out["reason"] = "wrong_client"
                return out
            if record["rotated_out"]:
                out["reason"] = "reuse"
                out["reuse_detected"] = True
                if not family["revoked"]:
                    self._end_family(family, "refresh_token_reuse", end_access=True)
                    out["revoked_families"] = 1
                    out["revoke_reason"] = "refresh_token_reuse"
                return out
            if record["revoked"] or family["revoked"]:
                out["reason"] = "revoked"
                return out
            if self.fault(record["org_id"], record["user_id"], "revoke_refresh_tokens"):
                out["reason"] = "revoked"
                return out
            rules = self.apps[client_id]["token_policy"]
            kind, seconds = policy.parse_refresh_policy(rules["refresh_token_policy"])
            now = self.now()
            if kind == "immediately":
                out["reason"] = "immediate_expiry"
                return out
            if kind == "lifetime" and seconds is not None and now - family["created"] >= seconds:
                self._end_family(family, "lifetime_expired", end_access=False)
                out["reason"] = "lifetime_expired"
                return out
            if (
                kind == "inactivity"
                and seconds is not None
                and now - record["last_used"] >= seconds
            ):
                self._end_family(family, "idle_expired", end_access=False)
                out["reason"] = "idle_expired"
                return out
            record["last_used"] = now
            family["refresh_grants"] += 1
            new_refresh = None
            if rules["refresh_token_rotation"]:
                record["rotated_out"] = True
                new_refresh = self._new_refresh(family)
            access = self._new_access(
                record["org_id"],
                record["user_id"],
                record["scope"],
                client_id,
                family=family["id"],
                refresh_token=new_refresh or token,
            )
            out.update(
                ok=True,
                reason=None,
                access=access,
                refresh=new_refresh,
                rotated=new_refresh is not None,
                scope=record["scope"],
            )
            return out

    def _access_live(self, grant: dict[str, Any]) -> bool:
        if not grant["valid"]:
            return False
        app = self.apps.get(grant.get("client_id") or "")
        timeout = app["token_policy"]["session_timeout_seconds"] if app else None
        return timeout is None or self.now() - grant["issued"] < timeout

    def access(self, token: str) -> dict[str, Any] | None:
        """The grant behind a live access token, or None (unknown, revoked or expired)."""
        with self.lock:
            grant = self.access_tokens.get(token or "")
            if grant is None or not self._access_live(grant):
                return None
            return dict(grant)

    def access_any(self, token: str) -> dict[str, Any] | None:
        """The grant behind an access token, live or not (to attribute requests to an org)."""
        with self.lock:
            grant = self.access_tokens.get(token or "")
            return dict(grant) if grant else None

    def refresh_record(self, token: str) -> dict[str, Any] | None:
        """The record behind a refresh token, live or not (to attribute requests to an org)."""
        with self.lock:
            record = self.refresh_tokens.get(token or "")
            return dict(record) if record else None

    def revoke(self, token: str) -> dict[str, Any] | None:
        """The revoke endpoint: end an access token, or a refresh token's whole family.

        Returns None for an unknown, already revoked or rotated-out token, else
        ``{"kind": "access"|"refresh", "family_id", "revoked_families"}``.
        """
        with self.lock:
            grant = self.access_tokens.get(token or "")
            if grant is not None:
                if not grant["valid"]:
                    return None
                grant["valid"] = False
                return {"kind": "access", "family_id": grant["family"], "revoked_families": 0}
            record = self.refresh_tokens.get(token or "")
            if record is None or record["revoked"] or record["rotated_out"]:
                return None
            family = self.families[record["family"]]
            self._end_family(family, "revoked", end_access=True)
            return {"kind": "refresh", "family_id": family["id"], "revoked_families": 1}

    def expire_sessions(self, org_id: str | None = None, user_id: str | None = None) -> int:
        with self.lock:
            n = 0
            for grant in self.access_tokens.values():
                if grant["valid"] and _in_scope(grant, org_id, user_id):
                    grant["valid"] = False
                    n += 1
            return n

    def revoke_refresh_tokens(self, org_id: str | None = None, user_id: str | None = None) -> int:
        """End every live token family in scope (refresh and access tokens); returns how many."""
        with self.lock:
            n = 0
            for family in self.families.values():
                if not family["revoked"] and _in_scope(family, org_id, user_id):
                    self._end_family(family, "revoked", end_access=True)
                    n += 1
            return n

    def token_families(self) -> list[dict[str, Any]]:
        """Every token family, without token values (for tests and soaks)."""
        with self.lock:
            return [
                {
                    "id": f["id"],
                    "org_id": f["org_id"],
                    "user_id": f["user_id"],
                    "client_id": f["client_id"],
                    "created": f["created"],
                    "revoked": f["revoked"],
                    "revoke_reason": f["revoke_reason"],
                    "refresh_grants": f["refresh_grants"],
                    "refresh_tokens_issued": len(f["refresh_tokens"]),
                }
                for f in sorted(self.families.values(), key=lambda f: f["seq"])
            ]

    # ------------------------------------------------------------------ faults

    def fault(self, org_id: str | None, user_id: str | None, kind: str) -> Any:
        with self.lock:
            user = self.users.get(user_id or "")
            if user and user["faults"].get(kind):
                return user["faults"][kind]
            org = self.orgs.get(org_id or "")
            if org and org["faults"].get(kind):
                return org["faults"][kind]
            return self.global_faults.get(kind)

    def set_fault(
        self,
        kind: str,
        value: Any = True,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise EmulatorError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        with self.lock:
            if kind == "expire_sessions":
                if value:
                    self.expire_sessions(org_id, user_id)
                return
            if kind == "revoke_refresh_tokens" and value:
                self.revoke_refresh_tokens(org_id, user_id)
            if user_id:
                if user_id not in self.users:
                    raise EmulatorError(f"unknown user {user_id!r}")
                target = self.users[user_id]["faults"]
            elif org_id:
                target = self.org(org_id)["faults"]
            else:
                target = self.global_faults
            if value in (None, False, 0):
                target.pop(kind, None)
            else:
                target[kind] = value

    def clear_faults(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        with self.lock:
            if user_id:
                self.users[user_id]["faults"].clear()
            elif org_id:
                self.org(org_id)["faults"].clear()
            else:
                self.global_faults.clear()
                for org in self.orgs.values():
                    org["faults"].clear()
                for user in self.users.values():
                    user["faults"].clear()

    # ------------------------------------------------------------------ API usage

    def count_api_call(self, org_id: str) -> tuple[int, int, bool]:
        """Count one REST call; returns (used, limit, over_limit_before_this_call)."""
        with self.lock:
            org = self.orgs[org_id]
            over = org["api_usage"] >= org["api_limit"]
            if not over:
                org["api_usage"] += 1
            return org["api_usage"], org["api_limit"], over

    def usage(self, org_id: str) -> tuple[int, int]:
        with self.lock:
            org = self.orgs[org_id]
            return org["api_usage"], org["api_limit"]

    def set_usage(self, org_id: str, used: int | None = None, limit: int | None = None) -> None:
        with self.lock:
            org = self.org(org_id)
            if used is not None:
                org["api_usage"] = int(used)
            if limit is not None:
                org["api_limit"] = int(limit)

    # ------------------------------------------------------------------ records

    def new_id(self, sobject: str) -> str:
        prefix = schema.OBJECTS[sobject]["keyPrefix"]
        return to18(f"{prefix}Em{next(self._counter):010d}")

    def create(self, org_id: str, sobject: str, fields: dict[str, Any], *, log: dict | None) -> str:
        with self.lock:
            record_id = self.new_id(sobject)
            stamp = sf_now()
            row = self._normalise(
                sobject, {**fields, "Id": record_id, "CreatedDate": stamp}, new=True
            )
            row["LastModifiedDate"] = stamp
            self.records[org_id][sobject][record_id] = row
            if log is not None:
                self.writes.append({**log, "id": record_id, "fields": fields, "ts": time.time()})
            return record_id

    def update(
        self,
        org_id: str,
        sobject: str,
        record_id: str,
        fields: dict[str, Any],
        *,
        log: dict | None,
        touch: bool = True,
    ) -> None:
        with self.lock:
            row = self.lookup_fn(org_id)(sobject, record_id)
            if row is None:
                raise EmulatorError(f"unknown {sobject} {record_id!r}")
            changes = self.coerce(sobject, fields)
            row.update(changes)
            if touch and "LastModifiedDate" not in changes:
                row["LastModifiedDate"] = sf_now()
            self._compute(sobject, row)
            if log is not None:
                self.writes.append({**log, "id": row["Id"], "fields": fields, "ts": time.time()})

    def delete(self, org_id: str, sobject: str, record_id: str, *, log: dict | None) -> None:
        with self.lock:
            row = self.lookup_fn(org_id)(sobject, record_id)
            if row is None:
                raise EmulatorError(f"unknown {sobject} {record_id!r}")
            row["IsDeleted"] = True
            row["LastModifiedDate"] = sf_now()
            if log is not None:
                self.writes.append({**log, "id": row["Id"], "fields": None, "ts": time.time()})

    # ------------------------------------------------------------------ request log

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.request_log.append(entry)

    def get_request_log(self, org_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.request_log if org_id is None or e["org_id"] == org_id]

    def reset_request_log(self) -> None:
        with self.lock:
            self.request_log.clear()

    def get_writes(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.writes)

    # ------------------------------------------------------------------ info

    def info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "login_url": self.login_url,
                "instance_url": self.instance_url,
                "connected_app": copy.deepcopy(self.app),
                "connected_apps": [copy.deepcopy(a) for a in self.apps.values()],
                "clock_offset_seconds": self.clock_offset,
                "allow_loopback_callbacks": self.allow_loopback_callbacks,
                "global_faults": dict(self.global_faults),
                "orgs": [
                    {
                        "id": org["id"],
                        "name": org["name"],
                        "is_sandbox": org["is_sandbox"],
                        "api_usage": org["api_usage"],
                        "api_limit": org["api_limit"],
                        "faults": dict(org["faults"]),
                        "users": [
                            {
                                "id": u["id"],
                                "username": u["username"],
                                "name": " ".join(
                                    p for p in (u.get("first_name"), u["last_name"]) if p
                                ),
                                "email": u["email"],
                                "faults": dict(u["faults"]),
                            }
                            for u in self.users.values()
                            if u["org_id"] == org["id"]
                        ],
                    }
                    for org in self.orgs.values()
                ],
            }


def _in_scope(grant: dict[str, Any], org_id: str | None, user_id: str | None) -> bool:
    if user_id:
        return grant["user_id"] == user_id
    if org_id:
        return grant["org_id"] == org_id
    return True


def load_data_file(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
