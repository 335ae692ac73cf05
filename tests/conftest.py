"""Shared fixtures: workspaces, people in each role, contacts and conversations."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from contacts.models import Contact
from inbox.models import Conversation, Message
from workspace.models import Membership, Role, User, Workspace

PASSWORD = "correct-horse-battery"
TEST_FIELD_KEY = Fernet.generate_key().decode()


def pytest_configure(config):
    from django.conf import settings

    # WhiteNoise warns when STATIC_ROOT is missing; tests serve static files through finders.
    settings.STATIC_ROOT.mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The default cache is Django's database cache: its table lives in the test database too.
    with django_db_blocker.unblock():
        call_command("createcachetable", verbosity=0)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.FIELD_ENCRYPTION_KEY = [TEST_FIELD_KEY]
    # Webhook receivers in tests listen on loopback over http (docs/decisions.md: the suite sets it).
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.SECURE_COOKIES = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clear_cache(request):
    """Each test starts with an empty cache (Redis or locmem survive between tests)."""
    from django.core.cache import cache

    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        with contextlib.suppress(Exception):  # a test may break the cache on purpose
            cache.clear()
    yield


def make_user(email: str, **extra) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, **extra)


@pytest.fixture
def acme(db) -> Workspace:
    return Workspace.objects.create(name="Acme Support", slug="acme", time_zone="Europe/London")


@pytest.fixture
def globex(db) -> Workspace:
    return Workspace.objects.create(name="Globex Help", slug="globex")


def _member(workspace: Workspace, email: str, role: str) -> User:
    user = make_user(email)
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


@pytest.fixture
def owner(acme) -> User:
    return _member(acme, "owner@acme.test", Role.OWNER)


@pytest.fixture
def manager(acme) -> User:
    return _member(acme, "manager@acme.test", Role.MANAGER)


@pytest.fixture
def agent(acme) -> User:
    return _member(acme, "agent@acme.test", Role.AGENT)


@pytest.fixture
def outsider(globex) -> User:
    """A member of Globex only: every Acme URL must answer 404 to them (W2)."""
    return _member(globex, "agent@globex.test", Role.AGENT)


@pytest.fixture
def contact(acme) -> Contact:
    return Contact.objects.create(
        workspace=acme, name="Jane Cooper", email="jane.cooper@northwind.example", phone=""
    )


@pytest.fixture
def conversation(acme, contact) -> Conversation:
    conv = Conversation.objects.create(workspace=acme, contact=contact, subject="Order late")
    Message.objects.create(conversation=conv, direction=Message.Direction.IN, body="Where is it?")
    return conv


def client_for(client, user):
    client.force_login(user)
    return client


# --- Salesforce: the live emulator and a connected workspace (integration and hardening tests) --
@pytest.fixture(scope="session")
def emulator():
    """One live emulator (real HTTP on loopback) for the whole test session."""
    from salesforce_emulator.testing import running_emulator

    with running_emulator() as server:
        yield server


@pytest.fixture
def sf(emulator, settings, monkeypatch):
    """The emulator, reset, with the product's settings pointed at it."""
    from tests.salesforce_support import CALLBACK

    emulator.reset()
    # What config/settings.py does when SALESFORCE_LOGIN_URL is a loopback http URL.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    settings.SALESFORCE_LOGIN_URL = emulator.login_url
    settings.SALESFORCE_LOGIN_URLS = []
    settings.SALESFORCE_CLIENT_ID = emulator.client_id
    settings.SALESFORCE_CLIENT_SECRET = emulator.client_secret
    settings.SALESFORCE_CALLBACK_URL = CALLBACK  # registered in the emulator's Connected App
    settings.SALESFORCE_TIMEOUT = 3.0
    settings.SALESFORCE_CONNECT_TIMEOUT = 1.0
    yield emulator
    emulator.reset()


@pytest.fixture
def connection(sf, acme, owner):
    """Acme connected to the emulator's Acme Corporation org as admin@acme-corp.example."""
    from tests.salesforce_support import connect_workspace

    conn = connect_workspace(acme, login_url=sf.login_url, user=owner)
    sf.reset_log()
    return conn


@pytest.fixture
def other_process_env(sf, settings):
    """Environment for a separate Python process on this test's database, cache and emulator.

    Needs ``django_db(transaction=True)``: another process sees only committed rows.
    """
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
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "SALESFORCE_CLIENT_ID": settings.SALESFORCE_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": settings.SALESFORCE_CLIENT_SECRET,
        "SALESFORCE_LOGIN_URL": settings.SALESFORCE_LOGIN_URL,
        "SECRET_KEY": settings.SECRET_KEY,
    }


def run_threads(n: int, target) -> tuple[list, list]:
    """``target(i)`` in ``n`` threads started together; returns (results, failures).

    Each thread closes its database connections: a test database with open sessions cannot be
    dropped at the end of the run.
    """
    import threading

    from django.db import connections

    barrier = threading.Barrier(n)
    results, failures = [None] * n, []

    def work(i):
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, failures


def run_processes(argv: list[str], env: dict, n: int, *, timeout: float = 90) -> list[str]:
    """``argv`` in ``n`` processes at once (from the project root); their outputs, all exit 0."""
    import subprocess
    from pathlib import Path

    runs = [
        subprocess.Popen(  # noqa: S603 - the tests' own commands
            argv,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outputs = [run.communicate(timeout=timeout) for run in runs]
    assert [run.returncode for run in runs] == [0] * n, outputs
    return [out for out, _ in outputs]


@pytest.fixture
def cache_refused(settings):
    """The cache is Redis on a port where nothing listens (connection refused at once): an
    outage for the code under test (outages degrade, never an error)."""
    import socket

    from django.core.cache import cache

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever redis-py raises
        cache.get("probe")
    return port
