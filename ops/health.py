"""Health and readiness (V1): what /healthz and /readyz answer.

``/healthz``: the process answers (no dependency is touched, so a database outage never makes
an orchestrator restart every web process). ``/readyz``: this process can serve: the database
answers, every migration is applied, the cache answers. The worker's and the listener's
heartbeats are shown beside it but do not make the web process unready: a stuck listener is
restarted through its own probe (``manage.py probe listener``), not by emptying the load
balancer.
"""

from __future__ import annotations

import time
import uuid

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections

from . import heartbeat

_migrations_done = False  # once applied, migrations stay applied for this process's lifetime


def check_database() -> dict:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready"; the class says which
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def check_migrations() -> dict:
    global _migrations_done
    if _migrations_done:
        return {"ok": True}
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    if plan:
        return {"ok": False, "error": f"{len(plan)} migration(s) not applied"}
    _migrations_done = True
    return {"ok": True}


def check_cache() -> dict:
    key, value = f"ops:readyz:{uuid.uuid4().hex}", str(time.time())
    try:
        cache.set(key, value, 10)
        ok = cache.get(key) == value
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True} if ok else {"ok": False, "error": "read back a different value"}


def readiness() -> tuple[bool, dict]:
    database = check_database()
    checks = {
        "database": database,
        # Without a database the migration check would only repeat its error.
        "migrations": check_migrations() if database["ok"] else {"ok": False, "error": "skipped"},
        "cache": check_cache(),
    }
    ready = all(c["ok"] for c in checks.values())
    processes = {kind: heartbeat.shared(kind) for kind in heartbeat.KINDS}
    return ready, {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "processes": processes,
    }


def reset_for_tests() -> None:
    global _migrations_done
    _migrations_done = False
