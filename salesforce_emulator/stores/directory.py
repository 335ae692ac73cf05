"""Orgs and their users, as the data file describes them (with the emulator's defaults)."""

from __future__ import annotations

from typing import Any

from ..errors import EmulatorError
from .base import Lock, Store


class Directory(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.orgs: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}

    def load(self, orgs: list[dict[str, Any]]) -> None:
        """Take the data file's orgs (each with its ``users``), filling in defaults in place."""
        by_id: dict[str, dict[str, Any]] = {}
        users: dict[str, dict[str, Any]] = {}
        for org in orgs:
            org.setdefault("is_sandbox", False)
            org.setdefault("instance_name", "EM1")
            org.setdefault("created_date", "2024-01-15T09:00:00.000+0000")
            by_id[org["id"]] = org
            for user in org.setdefault("users", []):
                user["org_id"] = org["id"]
                user.setdefault("active", True)
                users[user["id"]] = user
        with self.lock:
            self.orgs, self.users = by_id, users

    def org(self, org_id: str) -> dict[str, Any]:
        with self.lock:
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

    def org_users(self, org_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [u for u in self.users.values() if u["org_id"] == org_id]
