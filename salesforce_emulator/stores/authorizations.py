"""OAuth authorize requests in progress (login, consent) and the authorization codes they yield."""

from __future__ import annotations

import secrets
from typing import Any

from .base import Lock, Store
from .clock import Clock

CODE_TTL_SECONDS = 15 * 60
PENDING_TTL_SECONDS = 30 * 60


def random_token(length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
    return "".join(secrets.choice(alphabet) for _ in range(length))


class AuthorizationStore(Store):
    def __init__(self, lock: Lock, clock: Clock) -> None:
        super().__init__(lock)
        self.clock = clock
        self.pending: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()
            self.codes.clear()

    def create_pending(self, params: dict[str, Any]) -> str:
        """Remember an authorize request (dropping stale ones); returns its opaque id."""
        with self.lock:
            now = self.clock.now()
            for key in [
                k for k, v in self.pending.items() if v["created"] < now - PENDING_TTL_SECONDS
            ]:
                del self.pending[key]
            pending_id = secrets.token_urlsafe(24)
            self.pending[pending_id] = {**params, "created": now, "user_id": None}
            return pending_id

    def get_pending(self, pending_id: str) -> dict[str, Any] | None:
        with self.lock:
            pending = self.pending.get(pending_id or "")
            return dict(pending) if pending else None

    def log_in(self, pending_id: str, user_id: str) -> None:
        """The user who signed in on this authorize request."""
        with self.lock:
            if pending_id in self.pending:
                self.pending[pending_id]["user_id"] = user_id

    def pop_pending(self, pending_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.pending.pop(pending_id or "", None)

    def issue_code(self, pending: dict[str, Any]) -> str:
        with self.lock:
            code = "aPrx" + random_token(60)
            self.codes[code] = {**pending, "issued": self.clock.now(), "used": False}
            return code

    def take_code(self, code: str) -> dict[str, Any] | None:
        """Return the code's grant and mark it used (codes are single-use)."""
        with self.lock:
            grant = self.codes.get(code)
            if grant is None or grant["used"]:
                return None
            grant["used"] = True
            return dict(grant)

    def code_expired(self, grant: dict[str, Any]) -> bool:
        return self.clock.now() - grant["issued"] > CODE_TTL_SECONDS
