"""The production-shaped stack for benchmarks and load: PostgreSQL, Redis, emulator, gunicorn.

- PostgreSQL and Redis: the machine's on loopback when they answer (like ``.ci/run``), otherwise
  private ones started here and stopped afterwards. The bench owns database ``bench_inbox``
  (dropped and re-created) and Redis db 3 (flushed).
- The emulator and gunicorn (4 ``gthread`` workers x 8 threads, DEBUG=0, Redis cache,
  PostgreSQL) are started and stopped by ``ops.stack``, the launcher ``make prod`` and the e2e
  tests use too (issue 25, V4).
- Acme is connected to the emulator through the product's own views over HTTP (sign-in, Connect,
  the emulator's login and consent pages, the callback), as an admin's browser does it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops.stack import Stack as Launcher  # noqa: E402
from ops.stack import free_port, port_open  # noqa: E402
from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID  # noqa: E402
from salesforce_emulator.testing import consent  # noqa: E402

PY = sys.executable
PASSWORD = "demo-pass-123"
DB_NAME = os.environ.get("BENCH_DB_NAME", "bench_inbox")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "3"))
WORKERS = 4
THREADS = 8
# "asgi": gunicorn + uvicorn workers (production, issue 22); "gthread": the WSGI server before it.
SERVER = os.environ.get("BENCH_SERVER", "asgi")

# Product contacts added for the benchmark: emails of Salesforce Contacts in the emulator's demo
# org that match exactly one Contact (one SOQL query per lookup, no near-miss query).
EXACT_EMAILS = [
    "alex.garcia@contoso.example",
    "maria.nguyen@adventure.example",
    "chen.wang@adventure.example",
    "fatima.khan@contoso.example",
    "diego.lopez@contoso.example",
    "hannah.schmidt@contoso.example",
    "yusuf.demir@tailspin.example",
    "grace.okafor@tailspin.example",
    "tom.becker@wide.example",
    "aisha.rahman@globex.example",
    "lucas.silva@northwind.example",
    "mei.tanaka@northwind.example",
    "noor.haddad@fabrikam.example",
    "oliver.jensen@northwind.example",
    "ines.moreau@contoso.example",
    "ravi.patel@adventure.example",
    "sara.novak@litware.example",
    "jonas.berg@contoso.example",
    "elena.ivanova@litware.example",
    "kwame.mensah@wide.example",
    "zoe.clarke@contoso.example",
    "mateo.ruiz@litware.example",
    "leah.levi@northwind.example",
    "hiro.sato@litware.example",
    "clara.fischer@fabrikam.example",
    "dev.iyer@tailspin.example",
    "nina.kowalski@globex.example",
    "paul.dubois@contoso.example",
    "rosa.costa@globex.example",
    "sam.baker@fabrikam.example",
]

ADD_CONTACTS = """
from contacts.models import Contact
from workspace.models import Workspace
ws = Workspace.objects.get(slug="acme")
for email in {emails!r}:
    name = "Bench " + email.split("@")[0].replace(".", " ").title()
    Contact.objects.update_or_create(workspace=ws, email=email, defaults={{"name": name, "phone": ""}})
"""


def _tcp_open(port: int) -> bool:
    return port_open("127.0.0.1", port)


class Stack:
    """Start everything in ``__enter__``, stop what was started in ``__exit__``."""

    def __init__(self, *, log=print, extra_env: dict[str, str] | None = None) -> None:
        self.log = log
        self.extra_env = extra_env or {}
        self._cleanup: list = []
        self.pg_port = 5432
        self.redis_port = 6379
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.launcher: Launcher | None = None
        self.gunicorn: subprocess.Popen | None = None
        self.emulator = None
        self.env: dict[str, str] = {}
        self.notes: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self._postgres()
            self._redis()
            self._launch()
            self._add_bench_contacts()
            self.connect_salesforce()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        while self._cleanup:
            with contextlib.suppress(Exception):
                self._cleanup.pop()()

    # --- services ----------------------------------------------------------------------------
    def _postgres(self) -> None:
        if subprocess.run(  # noqa: PLW1510
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False
        ).returncode:
            self._private_postgres()
        admin = f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')

        def drop():
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

        if not os.environ.get("BENCH_KEEP_DB"):
            self._cleanup.append(drop)

    def _private_postgres(self) -> None:
        self.log("== PostgreSQL on 127.0.0.1:5432 does not answer: starting a private one")
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        pgbin = bins[-1].parent
        data = tempfile.mkdtemp(prefix="bench-pg.")
        shutil.chown(data, "postgres")
        self.pg_port = free_port()
        subprocess.run(
            ["su", "postgres", "-c", f"{pgbin}/initdb -A trust -U postgres -D {data}"],
            check=True,
            capture_output=True,
        )
        opts = f"-p {self.pg_port} -k /tmp -c listen_addresses=127.0.0.1"
        subprocess.run(
            ["su", "postgres", "-c", f"{pgbin}/pg_ctl -D {data} -o '{opts}' -w start"],
            check=True,
            capture_output=True,
        )
        self._cleanup.append(
            lambda: subprocess.run(
                ["su", "postgres", "-c", f"{pgbin}/pg_ctl -D {data} -m fast stop"],
                check=False,
                capture_output=True,
            )
        )
        self.notes.append(f"private PostgreSQL on port {self.pg_port}")

    def _redis(self) -> None:
        if not _tcp_open(6379):
            self.log("== Redis on 127.0.0.1:6379 does not answer: starting a private one")
            self.redis_port = free_port()
            pidfile = tempfile.mktemp(prefix="bench-redis.", suffix=".pid")
            subprocess.run(
                ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port",
                 str(self.redis_port), "--save", "", "--appendonly", "no", "--pidfile", pidfile],
                check=True, capture_output=True,
            )  # fmt: skip
            for _ in range(50):
                if Path(pidfile).exists():
                    break
                time.sleep(0.1)
            pid = int(Path(pidfile).read_text())
            self._cleanup.append(lambda: os.kill(pid, signal.SIGTERM))
            self.notes.append(f"private Redis on port {self.redis_port}")
        self.redis = redis.Redis(host="127.0.0.1", port=self.redis_port, db=REDIS_DB)
        self.redis.flushdb()
        self._cleanup.append(self.redis.flushdb)

    def _environment(self) -> dict[str, str]:
        """What the bench sets on top of the launcher's environment (database, cache, emulator)."""
        return {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_COOKIES": "0",
            "SECURE_HSTS_SECONDS": "0",
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            **self.extra_env,
        }

    def _launch(self) -> None:
        """The emulator, migrate, collectstatic, seed_demo, then gunicorn (ops.stack)."""
        base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SALESFORCE_"))
        }
        base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.launcher = Launcher(
            database_url=f"postgres://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}",
            cache_url=f"redis://127.0.0.1:{self.redis_port}/{REDIS_DB}",
            workers=WORKERS,
            threads=THREADS,
            worker_class="gthread" if SERVER == "gthread" else "uvicorn",
            port=self.port,
            processes=(),  # each benchmark starts the worker or the listener it measures
            emulator=True,
            base_env=base_env,
            env=self._environment(),
            prepare=("migrate", "collectstatic"),
            seed_demo=True,
            log_dir=tempfile.mkdtemp(prefix="bench-logs."),
            python=PY,
            log=self.log,
        )
        self._cleanup.append(self.launcher.stop)
        self.launcher.start()
        self.emulator = self.launcher.emulator
        self.env = self.launcher.env
        self.gunicorn = self.launcher.web.popen
        self.gunicorn_log = self.launcher.web.log

    def manage(self, *args: str) -> str:
        return self.launcher.manage(*args)

    def _add_bench_contacts(self) -> None:
        self.log("== bench contacts")
        self.manage("shell", "-c", ADD_CONTACTS.format(emails=EXACT_EMAILS))

    def _start_gunicorn(self) -> None:
        self.launcher.start_web()
        self.gunicorn = self.launcher.web.popen

    def _stop_gunicorn(self) -> None:
        self.launcher.stop_web()

    @staticmethod
    def _kill_leftovers(pids: list[int]) -> None:
        """Workers still alive after their master stopped (one killed mid-shutdown) go too."""
        for pid in pids:
            with contextlib.suppress(OSError):
                if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)

    # --- helpers -----------------------------------------------------------------------------
    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.gunicorn.pid}/task/{self.gunicorn.pid}/children")
        with contextlib.suppress(OSError):
            return [int(p) for p in children.read_text().split()]
        return []

    def worker_peak_rss_kib(self) -> dict[int, int]:
        """VmHWM (peak resident set) of each gunicorn worker, in KiB."""
        peaks = {}
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
                if match:
                    peaks[pid] = int(match.group(1))
        return peaks

    def session(self, email: str = "agent@acme.test") -> requests.Session:
        """A signed-in browser session (the product's own sign-in form)."""
        http = requests.Session()
        http.get(f"{self.base}/signin/", timeout=10).raise_for_status()
        answer = http.post(
            f"{self.base}/signin/",
            data={
                "username": email,
                "password": PASSWORD,
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in as {email} answered {answer.status_code}")
        return http

    def connect_salesforce(self) -> None:
        """Owner connects Acme to the emulator's Acme Corporation org, through the views."""
        self.log("== connect Acme to the emulator (product views + emulator consent pages)")
        owner = self.session("owner@acme.test")
        answer = owner.post(
            f"{self.base}/w/acme/settings/integrations/salesforce/connect/",
            data={
                "login_choice": self.emulator.login_url,
                "csrfmiddlewaretoken": owner.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"Connect answered {answer.status_code}: {answer.text[:300]}")
        callback = consent(answer.headers["Location"], username=ACME_ADMIN)
        done = owner.get(callback, timeout=20)
        done.raise_for_status()
        page = owner.get(f"{self.base}/w/acme/settings/integrations/salesforce/", timeout=10)
        if ACME_ORG_ID not in page.text:
            raise RuntimeError("Acme does not show as connected after the callback")
        self.emulator.reset_log()

    def sql(self, query: str, *params) -> list[tuple]:
        url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"
        with psycopg.connect(url) as conn:
            return conn.execute(query, params).fetchall()

    def contact_ids(self, emails: list[str]) -> list[int]:
        rows = self.sql(
            "SELECT c.id, c.email FROM contacts_contact c JOIN workspace_workspace w "
            "ON w.id = c.workspace_id WHERE w.slug = 'acme' AND c.email = ANY(%s)",
            emails,
        )
        by_email = {email: pk for pk, email in rows}
        return [by_email[e] for e in emails]

    def conversation_ids(self) -> list[int]:
        rows = self.sql(
            "SELECT v.id FROM inbox_conversation v JOIN workspace_workspace w "
            "ON w.id = v.workspace_id WHERE w.slug = 'acme' ORDER BY v.id"
        )
        return [r[0] for r in rows]

    def all_contact_ids(self) -> list[int]:
        rows = self.sql(
            "SELECT c.id FROM contacts_contact c JOIN workspace_workspace w "
            "ON w.id = c.workspace_id WHERE w.slug = 'acme' ORDER BY c.id"
        )
        return [r[0] for r in rows]

    def clear_salesforce_cache(self) -> int:
        """Delete the product's cached Salesforce lookups, badges and locks (sessions are in PG)."""
        keys = list(self.redis.scan_iter(match="*salesforce:*", count=1000))
        if keys:
            self.redis.delete(*keys)
        return len(keys)

    def salesforce_token(self) -> tuple[str, str]:
        """(instance_url, access_token) of Acme's connection, read the way the product reads it."""
        code = (
            "from integrations.salesforce.models import SalesforceConnection as C;"
            "c = C.objects.get(workspace__slug='acme');"
            "print('@@', c.instance_url, c.access_token)"
        )
        line = next(x for x in self.manage("shell", "-c", code).splitlines() if x.startswith("@@"))
        _, instance, token = line.split()
        return instance, token

    def set_related_lists(self, names: list[str]) -> None:
        """Switch Acme's related lists (R2) in the database; a new cache generation."""
        self.sql(
            "UPDATE salesforce_salesforceconnection SET related_lists = %s::jsonb, "
            "cache_generation = cache_generation + 1 WHERE workspace_id = "
            "(SELECT id FROM workspace_workspace WHERE slug = 'acme') RETURNING id",
            json.dumps(names),
        )

    def salesforce_soql(self, email: str) -> str:
        """The exact SOQL the product sends for a contact with this email (no phone)."""
        code = (
            "from integrations.salesforce.models import SalesforceConnection as C;"
            "from integrations.salesforce.matching import MatchValues as V;"
            "from integrations.salesforce.soql import lookup_query, selected_fields;"
            "c = C.objects.select_related('workspace').get(workspace__slug='acme');"
            f"v = V.for_connection(c, {email!r}, '');"
            "print('@@', lookup_query(selected_fields(c), v, related=c.related_lists))"
        )
        out = self.manage("shell", "-c", code).splitlines()
        return next(x for x in out if x.startswith("@@ "))[3:]
