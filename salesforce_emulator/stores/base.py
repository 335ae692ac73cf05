"""What every store shares: the one lock of the ``State`` it belongs to."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

Lock = AbstractContextManager[Any]  # a threading.RLock, shared by every store of one State


class Store:
    def __init__(self, lock: Lock) -> None:
        self.lock = lock
