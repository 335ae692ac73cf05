"""API usage per org: calls used and the daily limit (``Sforce-Limit-Info``, ``/limits``)."""

from __future__ import annotations

from typing import Any

from ..errors import EmulatorError
from .base import Lock, Store

DEFAULT_LIMIT = 15000


class UsageStore(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.by_org: dict[str, dict[str, int]] = {}

    def load(self, orgs: list[dict[str, Any]]) -> None:
        with self.lock:
            self.by_org = {
                org["id"]: {
                    "used": int(org.get("api_usage", 0)),
                    "limit": int(org.get("api_limit", DEFAULT_LIMIT)),
                }
                for org in orgs
            }

    def _org(self, org_id: str) -> dict[str, int]:
        counts = self.by_org.get(org_id)
        if counts is None:
            raise EmulatorError(f"unknown org {org_id!r}")
        return counts

    def count_call(self, org_id: str) -> tuple[int, int, bool]:
        """Count one REST call; returns (used, limit, over_limit_before_this_call)."""
        with self.lock:
            counts = self._org(org_id)
            over = counts["used"] >= counts["limit"]
            if not over:
                counts["used"] += 1
            return counts["used"], counts["limit"], over

    def get(self, org_id: str) -> tuple[int, int]:
        with self.lock:
            counts = self._org(org_id)
            return counts["used"], counts["limit"]

    def set(self, org_id: str, used: int | None = None, limit: int | None = None) -> None:
        with self.lock:
            counts = self._org(org_id)
            if used is not None:
                counts["used"] = int(used)
            if limit is not None:
                counts["limit"] = int(limit)
