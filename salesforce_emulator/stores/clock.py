"""The emulator's clock: wall time plus whatever ``advance`` added (tokens, codes, idle expiry)."""

from __future__ import annotations

import time

from ..errors import EmulatorError
from .base import Lock, Store


class Clock(Store):
    def __init__(self, lock: Lock) -> None:
        super().__init__(lock)
        self.offset = 0.0

    def reset(self) -> None:
        with self.lock:
            self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new offset."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise EmulatorError("advance_seconds must be a number >= 0")
        with self.lock:
            self.offset += float(seconds)
            return self.offset
