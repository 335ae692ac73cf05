"""V4: `make prod`'s launcher (python -m ops.stack) starts the production shape on PostgreSQL
and one Ctrl-C stops all of it (issue 25). Skips on SQLite; CI's PostgreSQL pass runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings as django_settings

from ops.stack import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
pytestmark = pytest.mark.skipif(not POSTGRES, reason="the production shape needs PostgreSQL")


def _children(pid: int) -> list[int]:
    found = []
    try:
        direct = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, direct):
        found += [child, *_children(child)]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def stack_database():
    """A database of its own next to the test database (created by the launcher, dropped here)."""
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    name = f"{base.path.lstrip('/') or 'test'}_stack_{os.getpid()}"
    admin = base._replace(scheme="postgresql", path="/postgres").geturl()

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    yield base._replace(path=f"/{name}").geturl()
    drop()


def test_v4_make_prod_starts_the_production_shape_and_one_ctrl_c_stops_it(stack_database, tmp_path):
    port = free_port()
    cache_url = os.environ.get("CACHE_URL", "")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
        "DATABASE_URL": stack_database,
        "CACHE_URL": cache_url if cache_url.startswith("redis") else "dbcache://django_cache",
        "DEBUG": "0",
        "SECRET_KEY": "v4-" + Fernet.generate_key().decode(),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        # Static files from the checkout (collectstatic is minutes on a busy CI box).
        "WHITENOISE_USE_FINDERS": "1",
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "OPS_HEARTBEAT_SECONDS": "1",
    }
    log = tmp_path / "prod.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "ops.stack", "--workers", "2", "--port", str(port),
             "--emulator", "--no-collectstatic"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        ready = None
        while time.monotonic() < deadline:
            assert launcher.poll() is None, log.read_text()
            try:
                answer = requests.get(f"{base}/readyz", timeout=2)
            except requests.RequestException:
                answer = None
            if answer is not None and answer.status_code == 200:
                body = answer.json()
                if all(p["fresh"] for p in body["processes"].values()):
                    ready = body
                    break
            time.sleep(0.5)
        assert ready is not None, log.read_text()
        assert ready["checks"] == {
            "database": {"ok": True},
            "migrations": {"ok": True},
            "cache": {"ok": True},
        }
        text = log.read_text()
        assert "created database" in text
        assert "gunicorn 2 uvicorn (ASGI) workers" in text
        assert "worker, listener, router running" in text
        metrics = requests.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert "teaminbox_webhook_outbox_pending 0.0" in metrics.text
        assert requests.get(f"{base}/signin/", timeout=10).status_code == 200

        # The processes: gunicorn's master and 2 workers, the webhook worker, the listener,
        # the emulator.
        processes = _children(launcher.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes]
        assert sum(b"gunicorn" in c for c in commands) == 3, commands
        assert sum(b"deliver_webhooks" in c for c in commands) == 1
        assert sum(b"salesforce_listen" in c for c in commands) == 1
        assert sum(b"salesforce_emulator" in c for c in commands) == 1

        launcher.send_signal(signal.SIGINT)  # Ctrl-C
        assert launcher.wait(90) == 0, log.read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(10)
    time.sleep(0.5)
    assert [pid for pid in processes if _alive(pid)] == []
    assert not port_open("127.0.0.1", port)
    assert "== stopping" in log.read_text()
