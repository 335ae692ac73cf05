"""Process heartbeats (V1): the webhook worker and the live-updates listener say they are alive.

Each beat goes two places:

- the shared cache (``ops:heartbeat:<kind>``), which ``/readyz`` shows: which replica beat
  last and how long ago;
- a small file in ``OPS_HEARTBEAT_DIR`` (``<kind>.json``), which ``manage.py probe <kind>``
  reads on the same machine or container, so an orchestrator restarts THIS process when it is
  stuck, even while another replica keeps the cache entry fresh.

Beats are cheap and rate-limited per process (``OPS_HEARTBEAT_SECONDS``), so the loops call
:func:`beat` on every round.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KINDS = ("worker", "listener")
_last: dict[str, float] = {}
_lock = threading.Lock()


def cache_key(kind: str) -> str:
    return f"ops:heartbeat:{kind}"


def heartbeat_dir() -> Path:
    configured = getattr(settings, "OPS_HEARTBEAT_DIR", "")
    return Path(configured or Path(tempfile.gettempdir()) / "teaminbox-heartbeats")


def file_for(kind: str) -> Path:
    return heartbeat_dir() / f"{kind}.json"


def stale_after() -> float:
    return float(settings.OPS_HEARTBEAT_STALE_SECONDS)


def beat(kind: str, *, force: bool = False) -> bool:
    """Record that this ``kind`` process is alive; at most once per OPS_HEARTBEAT_SECONDS."""
    now = time.time()
    with _lock:
        if not force and now - _last.get(kind, 0.0) < settings.OPS_HEARTBEAT_SECONDS:
            return False
        _last[kind] = now
    value = {"at": now, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        cache.set(cache_key(kind), value, max(600, int(4 * stale_after())))
    except Exception:  # noqa: BLE001 - the cache being down must not stop the loop
        logger.warning("Cache unavailable: the %s heartbeat is kept in its file only", kind)
    try:
        path = file_for(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}.")
        with os.fdopen(fd, "w") as out:
            json.dump(value, out)
        os.replace(tmp, path)  # atomic: the probe never reads half a file
    except OSError as exc:
        logger.warning("Could not write the %s heartbeat file: %s", kind, exc)
    return True


def describe(value: dict | None, now: float | None = None) -> dict:
    """A heartbeat as /readyz and the probe show it."""
    if not isinstance(value, dict) or "at" not in value:
        return {"seen": False, "fresh": False}
    now = time.time() if now is None else now
    age = max(0.0, now - float(value["at"]))
    return {
        "seen": True,
        "fresh": age <= stale_after(),
        "age_seconds": round(age, 1),
        "host": value.get("host", ""),
        "pid": value.get("pid"),
    }


def shared(kind: str) -> dict:
    """The newest beat of any replica of ``kind`` (from the cache)."""
    try:
        value = cache.get(cache_key(kind))
    except Exception:  # noqa: BLE001
        return {"seen": False, "fresh": False, "error": "cache unavailable"}
    return describe(value)


def local(kind: str) -> dict:
    """This machine's (container's) beat of ``kind`` (from its file)."""
    try:
        value = json.loads(file_for(kind).read_text())
    except (OSError, ValueError):
        value = None
    return describe(value)
