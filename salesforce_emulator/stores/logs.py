"""The request log (one entry per OAuth/REST request) and the REST writes log."""

from __future__ import annotations

import copy
from typing import Any

from .base import Lock, Store


class LogStore(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.requests: list[dict[str, Any]] = []
        self.writes: list[dict[str, Any]] = []

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.writes.clear()

    def add_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def get_requests(self, org_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.requests if org_id is None or e["org_id"] == org_id]

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def add_write(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.writes.append(entry)

    def get_writes(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.writes)

    def clear_writes(self) -> None:
        with self.lock:
            self.writes.clear()
