"""End-to-end fixtures: the product served by a live server in its own process, the Salesforce
emulator beside it, and Debian's chromium driven by Playwright's sync API.

Nothing here touches the ORM in-process: the live server has its own SQLite file and its own
database cache (never pytest-django's test database, never an inherited DATABASE_URL or
CACHE_URL), set up by ``manage.py`` subprocesses. State between tests (connected or not) is
arranged over HTTP with a ``requests`` session that signs in like a browser does.

Screenshots go to ``test-results/e2e/``; with ``E2E_SCREENSHOTS=docs/screenshots`` the key
screens are also written there (the committed ones are regenerated that way).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from ops.stack import Stack
from salesforce_emulator import demo_names
from salesforce_emulator.testing import consent, spawn_emulator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
RESULTS = ROOT / "test-results" / "e2e"
PASSWORD = "demo-pass-123"
OWNER = "owner@acme.test"
MANAGER = "manager@acme.test"
AGENT = "agent@acme.test"
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 10_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    """Every test in this package is an e2e test; skip them all when chromium is missing."""
    here = Path(__file__).parent
    missing = not Path(CHROMIUM).exists()
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if missing:
                item.add_marker(
                    pytest.mark.skip(reason=f"{CHROMIUM} missing: apt-get install chromium")
                )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveApp:
    base_url: str
    emu: object
    env: dict
    log: Path
    _sessions: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def manage(self, *args: str) -> str:
        return _manage(self.env, *args)

    # -- state over HTTP (what a browser would do, without a browser)
    def http(self, email: str) -> requests.Session:
        """A requests session signed in as ``email`` (cached per person)."""
        if email not in self._sessions:
            s = requests.Session()
            page = s.get(self.url("/signin/"), timeout=10)
            s.post(
                self.url("/signin/"),
                data={
                    "csrfmiddlewaretoken": _csrf(page.text),
                    "username": email,
                    "password": PASSWORD,
                },
                timeout=10,
            ).raise_for_status()
            assert "sessionid" in s.cookies, f"could not sign in as {email}"
            self._sessions[email] = s
        return self._sessions[email]

    def manage_page(self) -> str:
        response = self.http(OWNER).get(self.url(MANAGE_PATH), timeout=10)
        response.raise_for_status()
        return response.text

    def is_connected(self) -> bool:
        return bool(re.search(r'id="sf-status-label">\s*Connected\s*<', self.manage_page()))

    def disconnect(self) -> None:
        page = self.manage_page()
        if "Disconnect Salesforce" not in page:
            return
        s = self.http(OWNER)
        s.post(
            self.url(MANAGE_PATH + "disconnect/"),
            data={"csrfmiddlewaretoken": _csrf(page)},
            timeout=10,
        ).raise_for_status()
        assert not self.is_connected()

    def connect(self, username: str = demo_names.ACME_ADMIN) -> None:
        page = self.manage_page()
        s = self.http(OWNER)
        response = s.post(
            self.url(MANAGE_PATH + "connect/"),
            data={
                "csrfmiddlewaretoken": _csrf(page),
                "login_choice": self.emu.login_url.rstrip("/"),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text[:500]
        callback = consent(response.headers["Location"], username=username)
        s.get(callback, timeout=10).raise_for_status()
        assert self.is_connected()

    def ensure_connected(self) -> None:
        if not self.is_connected():
            self.disconnect()  # e.g. "reconnect needed" left over
            self.connect()

    def fresh_connection(self) -> None:
        """Connected, with every cached lookup gone (disconnect drops the cache, S14)."""
        self.disconnect()
        self.connect()


MANAGE_PATH = "/w/acme/settings/integrations/salesforce/"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _app_env(db_file: Path, port: int, emu) -> dict:
    # Start from a clean slate: CI sets DATABASE_URL/CACHE_URL for the pytest run (PostgreSQL,
    # Redis); the live server must not share them with pytest-django's test database.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "CACHE_", "SALESFORCE_", "DJANGO_", "PYTEST_"))
        and k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{db_file}",
        CACHE_URL="dbcache://django_cache",
        DEBUG="0",
        SECURE_COOKIES="0",
        SECURE_HSTS_SECONDS="0",
        SECURE_SSL_REDIRECT="0",
        SECRET_KEY="e2e-" + Fernet.generate_key().decode(),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        SALESFORCE_LOGIN_URL=emu.login_url,
        SALESFORCE_CLIENT_ID=emu.client_id,
        SALESFORCE_CLIENT_SECRET=emu.client_secret,
        SALESFORCE_CALLBACK_URL=f"http://127.0.0.1:{port}/integrations/salesforce/callback/",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        WHITENOISE_USE_FINDERS="1",
        STATICFILES_STORAGE="django.contrib.staticfiles.storage.StaticFilesStorage",
        AXES_FAILURE_LIMIT="50",
        PYTHONUNBUFFERED="1",
        # Emails (invitations, issue 14) land as files the tests read: the email outbox.
        EMAIL_URL="filemail://",
        EMAIL_FILE_PATH=str(db_file.parent / "outbox"),
        SITE_URL=f"http://127.0.0.1:{port}",
    )
    return env


@contextlib.contextmanager
def serve_app(emu, *, env: dict | None = None, workers: tuple[str, ...] = ()):
    """The product (runserver, threaded, own SQLite file) beside ``emu``; ``env`` adds settings,
    ``workers`` are management commands run beside the server (their logs: ``<name>.log``).

    Started and stopped by ``ops.stack``, the launcher ``make prod`` and the benchmarks use."""
    tmp = Path(tempfile.mkdtemp(prefix="e2e-"))
    port = _free_port()
    app_env = {**_app_env(tmp / "e2e.sqlite3", port, emu), **(env or {})}
    stack = Stack(
        database_url=app_env["DATABASE_URL"],
        cache_url=app_env["CACHE_URL"],
        server="runserver",
        port=port,
        processes=workers,
        base_env=app_env,
        prepare=("migrate", "createcachetable"),
        seed_demo=True,
        log_dir=tmp,
        ready_timeout=30,
        log=lambda line: None,
    )
    try:
        stack.start()
        yield LiveApp(stack.base, emu, stack.env, stack.web.log)
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="package")
def live_app():
    """The product and the emulator, for this package."""
    emu = spawn_emulator()
    try:
        with serve_app(emu) as app:
            yield app
    finally:
        emu.terminate()


@pytest.fixture(scope="package")
def browser():
    """Debian's chromium, headless; Playwright is stopped when the package's tests are done."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


class ConsoleLog:
    """Console errors, uncaught page errors and CSP violations on the product's own pages."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_console(self, msg) -> None:
        if msg.type not in ("error", "warning"):
            return
        url = (msg.location or {}).get("url") or (msg.page.url if msg.page else "")
        text = msg.text
        csp = "Content Security Policy" in text or "Refused to" in text
        if csp or (msg.type == "error" and url.startswith(self.base_url)):
            self.errors.append(f"{msg.type}: {text} ({url})")

    def on_weberror(self, error) -> None:
        self.errors.append(f"uncaught: {error.error}")

    def problems(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def assert_clean(self) -> None:
        assert self.problems() == [], "console errors or CSP violations:\n" + "\n".join(
            self.problems()
        )


@pytest.fixture
def console(live_app) -> ConsoleLog:
    return ConsoleLog(live_app.base_url)


@pytest.fixture
def new_context(browser, live_app, console):
    """Make fresh browser contexts (one per person); each checks the console when closed."""
    contexts = []

    def make(email: str | None = None):
        context = browser.new_context(viewport=VIEWPORT, base_url=live_app.base_url, locale="en-GB")
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", console.on_console)
        context.on("weberror", console.on_weberror)
        if email:
            # Reuse the requests sign-in: the session cookie is all a signed-in browser has.
            cookie = live_app.http(email).cookies.get("sessionid")
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_app.base_url}])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    console.assert_clean()


@pytest.fixture
def as_agent(new_context):
    return new_context(AGENT).new_page()


def shot(page, name: str, *, keep: bool = False, **options) -> None:
    """Screenshot to test-results/e2e/; key screens (``keep``) also to $E2E_SCREENSHOTS."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), **options)
    target = os.environ.get("E2E_SCREENSHOTS")
    if keep and target:
        out = Path(target)
        if not out.is_absolute():
            out = ROOT / out
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / f"{name}.png"), **options)
