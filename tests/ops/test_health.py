"""V1: /healthz, /readyz and `manage.py probe` (issue 25)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from ops import health, heartbeat

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _heartbeats(settings, tmp_path):
    settings.OPS_HEARTBEAT_DIR = str(tmp_path / "beats")
    settings.OPS_HEARTBEAT_SECONDS = 0
    health.reset_for_tests()
    heartbeat._last.clear()
    yield
    health.reset_for_tests()


def test_v1_healthz_answers_without_touching_the_database(client, settings):
    settings.ALLOWED_HOSTS = ["inbox.example.com"]  # a probe comes by the pod's address
    with mock.patch.object(health, "check_database") as database:
        response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    database.assert_not_called()


@pytest.mark.django_db
def test_v1_readyz_is_ready_with_database_migrations_and_cache(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # probes speak plain http to the pod: no redirect
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "database": {"ok": True},
        "migrations": {"ok": True},
        "cache": {"ok": True},
    }
    assert body["processes"]["worker"] == {"seen": False, "fresh": False}
    assert body["processes"]["listener"] == {"seen": False, "fresh": False}


@pytest.mark.django_db
def test_v1_readyz_503_when_the_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["database"] == {"ok": True}


@pytest.mark.django_db
def test_v1_readyz_503_when_the_database_is_down(client):
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert checks["migrations"]["ok"] is False


@pytest.mark.django_db
def test_v1_readyz_503_while_a_migration_is_not_applied(client):
    with mock.patch(
        "django.db.migrations.executor.MigrationExecutor.migration_plan",
        return_value=[("a migration", False)],
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "ok": False,
        "error": "1 migration(s) not applied",
    }


@pytest.mark.django_db
def test_v1_readyz_shows_the_worker_and_listener_heartbeats(client, settings):
    heartbeat.beat("worker")
    heartbeat.beat("listener")
    # The listener's last beat is old: shown as stale, the web process stays ready.
    from django.core.cache import cache

    old = cache.get(heartbeat.cache_key("listener"))
    cache.set(heartbeat.cache_key("listener"), {**old, "at": time.time() - 300}, 600)
    response = client.get("/readyz")
    assert response.status_code == 200
    processes = response.json()["processes"]
    assert processes["worker"]["fresh"] is True
    assert processes["worker"]["age_seconds"] < 5
    assert processes["listener"]["seen"] is True
    assert processes["listener"]["fresh"] is False
    assert processes["listener"]["age_seconds"] >= 299


def test_v1_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_v1_probe_worker_passes_after_a_beat_and_fails_when_stuck(settings, capsys):
    with pytest.raises(CommandError, match="no heartbeat"):
        call_command("probe", "worker")
    heartbeat.beat("worker")
    call_command("probe", "worker")
    assert "worker: alive" in capsys.readouterr().out
    # Stuck: the file says 2 minutes ago.
    path = heartbeat.file_for("worker")
    value = json.loads(path.read_text())
    path.write_text(json.dumps({**value, "at": time.time() - 120}))
    with pytest.raises(CommandError, match="worker: stuck") as stuck:
        call_command("probe", "worker")
    assert stuck.value.returncode == 1
    call_command("probe", "worker", "--cluster")  # the cache still has the fresh beat


@pytest.mark.django_db(transaction=True)
def test_v1_the_webhook_worker_beats_and_its_probe_exits_0_then_1(settings, tmp_path):
    env = {
        **_process_env(settings),
        "OPS_HEARTBEAT_DIR": settings.OPS_HEARTBEAT_DIR,
        "OPS_HEARTBEAT_STALE_SECONDS": "60",
    }
    probe = [sys.executable, "manage.py", "probe", "worker"]
    first = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 1, first
    run = subprocess.run(
        [sys.executable, "manage.py", "deliver_webhooks", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    alive = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True)
    assert alive.returncode == 0, alive.stderr
    assert "worker: alive" in alive.stdout
    time.sleep(1.1)  # the worker is gone: its beat goes stale
    gone = subprocess.run(
        [*probe, "--max-age", "1"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert gone.returncode == 1
    assert "stuck" in gone.stderr


@pytest.mark.django_db(transaction=True)
def test_v1_the_listener_beats_on_every_step(settings):
    from integrations.salesforce.listener import Listener

    Listener(owner="probe-test").step()
    assert heartbeat.local("listener")["fresh"] is True
    assert heartbeat.shared("listener")["fresh"] is True


def _process_env(settings) -> dict:
    import os

    from django.db import connection as db

    db_settings = db.settings_dict
    if db_settings["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db_settings['NAME']}"
    else:
        database_url = (
            f"postgres://{db_settings['USER']}:{db_settings['PASSWORD']}@{db_settings['HOST']}:"
            f"{db_settings['PORT'] or 5432}/{db_settings['NAME']}"
        )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": settings.SECRET_KEY,
    }
