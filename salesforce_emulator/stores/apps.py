"""Connected Apps (External Client Apps): client ids, secrets, callback URLs, token policy."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from .. import policy
from ..errors import EmulatorError
from .base import Lock, Store


class AppStore(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.by_client_id: dict[str, dict[str, Any]] = {}
        # The first app: what single-app callers (make run, tests) mean by "the app".
        self.default: dict[str, Any] = {}

    def load(self, apps: list[dict[str, Any]], startup_policy: dict[str, Any]) -> None:
        """Take the data file's apps; ``startup_policy`` (CLI flags) applies over each policy."""
        if not apps:
            raise EmulatorError("the data file needs a connected_app or connected_apps")
        by_client_id: dict[str, dict[str, Any]] = {}
        for app in apps:
            app.setdefault("name", "Team Inbox")
            try:
                app["token_policy"] = policy.normalise(app.get("token_policy"))
                if startup_policy:
                    app["token_policy"] = policy.normalise(startup_policy, app["token_policy"])
            except policy.PolicyError as exc:
                raise EmulatorError(f"app {app.get('name')!r}: {exc}") from exc
            by_client_id[app["client_id"]] = app
        with self.lock:
            self.by_client_id = by_client_id
            self.default = apps[0]

    def get(self, client_id: str | None) -> dict[str, Any] | None:
        with self.lock:
            return self.by_client_id.get(client_id or "")

    def resolve(self, client_id: str | None) -> dict[str, Any]:
        """The app with that client id, the default app when none is given; else EmulatorError."""
        if not client_id:
            return self.default
        app = self.get(client_id)
        if app is None:
            raise EmulatorError(f"unknown client_id {client_id!r}")
        return app

    def token_policy(self, client_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            return dict(self.resolve(client_id)["token_policy"])

    def set_token_policy(self, client_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change an app's token policy at run time (validated; a reset restores the file's)."""
        with self.lock:
            app = self.resolve(client_id)
            try:
                app["token_policy"] = policy.normalise(changes, app["token_policy"])
            except policy.PolicyError as exc:
                raise EmulatorError(str(exc)) from exc
            return dict(app["token_policy"])

    def set_run_as(self, client_id: str | None, username: str | None) -> dict[str, Any]:
        """E4: the app's client credentials flow runs as this user (None: the flow is off)."""
        with self.lock:
            app = self.resolve(client_id)
            app["client_credentials_user"] = username or None
            return {"client_id": app["client_id"], "client_credentials_user": username or None}

    def session_timeout(self, client_id: str | None) -> float | None:
        """Seconds an access token of that app lives (None: until revoked or unknown app)."""
        app = self.get(client_id)
        return app["token_policy"]["session_timeout_seconds"] if app else None

    def callback_allowed(
        self, redirect_uri: str, client_id: str | None, *, allow_loopback: bool
    ) -> bool:
        app = self.get(client_id) or self.default
        if redirect_uri in app.get("callback_urls", []):
            return True
        if allow_loopback:
            parts = urlsplit(redirect_uri)
            return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        return False

    def snapshot(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Copies of the default app and of every app (for the info endpoint)."""
        with self.lock:
            return copy.deepcopy(self.default), copy.deepcopy(list(self.by_client_id.values()))
