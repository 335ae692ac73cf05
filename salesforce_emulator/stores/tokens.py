"""OAuth tokens: token families (one per approval), their refresh tokens, access tokens.

One approval (a code grant that yields a refresh token) starts a token *family*: its refresh
token(s) and every access token issued from them. Rotation replaces the family's refresh token on
each refresh grant; reuse of a replaced one, the revoke endpoint, the approval limit and the control
endpoint end a family (all its refresh and access tokens). The app's token policy (``AppStore``)
and the ``revoke_refresh_tokens`` fault (``FaultStore``) decide refresh grants.
"""

from __future__ import annotations

import itertools
from typing import Any

from .. import policy
from .apps import AppStore
from .authorizations import random_token
from .base import Lock, Store
from .clock import Clock
from .faults import FaultStore


class TokenStore(Store):
    def __init__(self, lock: Lock, clock: Clock, apps: AppStore, faults: FaultStore) -> None:
        super().__init__(lock)
        self.clock = clock
        self.apps = apps
        self.faults = faults
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.families: dict[str, dict[str, Any]] = {}  # by family id
        self._families = itertools.count(1)  # not reset: family ids stay unique across resets

    def clear(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.families.clear()

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
        access = f"{org_id[:15]}!AQ" + random_token(96)
        self.access_tokens[access] = {
            "org_id": org_id,
            "user_id": user_id,
            "scope": scope,
            "client_id": client_id,
            "family": family,
            "refresh_token": refresh_token,
            "valid": True,
            "issued": self.clock.now(),
        }
        return access

    def _new_refresh(self, family: dict[str, Any]) -> str:
        token = "5Aep861" + random_token(80)
        now = self.clock.now()
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
        family["ended_at"] = self.clock.now()
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
            app = self.apps.resolve(client_id)
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
                "created": self.clock.now(),
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
            if self.faults.get(record["org_id"], record["user_id"], "revoke_refresh_tokens"):
                out["reason"] = "revoked"
                return out
            rules = self.apps.resolve(client_id)["token_policy"]
            kind, seconds = policy.parse_refresh_policy(rules["refresh_token_policy"])
            now = self.clock.now()
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
        timeout = self.apps.session_timeout(grant.get("client_id"))
        return timeout is None or self.clock.now() - grant["issued"] < timeout

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


def _in_scope(grant: dict[str, Any], org_id: str | None, user_id: str | None) -> bool:
    if user_id:
        return grant["user_id"] == user_id
    if org_id:
        return grant["org_id"] == org_id
    return True
