"""The one launcher of the product's processes (V4; issue 20's Q7): ``make prod``, the
benchmarks (bench/stack.py) and the end-to-end tests (tests/e2e/conftest.py) all start
"product + emulator" through :class:`Stack`.

A stack is: optionally the Salesforce emulator (a child process on free or given ports), the
database prepared (migrate; the database cache's table; static files; the demo seed when
asked), the web server (gunicorn with N uvicorn (ASGI) workers, the production shape, or
``runserver`` for the browser tests), and beside it the webhook worker
(``deliver_webhooks``) and the live-updates listener (``salesforce_listen``). Everything
started is stopped again, in reverse order: by :meth:`Stack.stop`, on leaving the ``with``
block, or, from the command line, on one Ctrl-C (or SIGTERM).

Under gunicorn every process of the stack shares a fresh ``PROMETHEUS_MULTIPROC_DIR``, so
``/metrics`` adds up the web workers, the webhook worker and the listener (V2).

    python -m ops.stack [--workers 4] [--port 8000] [--emulator] [--seed-demo]

reads ``DATABASE_URL`` and ``CACHE_URL`` (default: PostgreSQL and Redis on this machine).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/teaminbox"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/0"
# The long-running processes beside the web server, by the name the stack knows them.
COMMANDS = {
    "worker": ("deliver_webhooks",),
    "listener": ("salesforce_listen",),
    "router": ("route_conversations",),  # A6: routes new conversations by Salesforce owner
}
STOP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def ensure_database(database_url: str) -> bool:
    """Create a PostgreSQL database named by ``database_url`` when it is missing (True if made)."""
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        return False
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path | None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 4000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-chars:]


class Stack:
    """Start in :meth:`start` (or ``with``), stop everything started in :meth:`stop`."""

    def __init__(
        self,
        *,
        database_url: str,
        cache_url: str,
        server: str = "gunicorn",
        workers: int = 4,
        threads: int = 8,
        worker_class: str = "uvicorn",
        host: str = "127.0.0.1",
        port: int = 0,
        processes: Iterable[str] = ("worker", "listener"),
        emulator=None,
        emulator_options: dict | None = None,
        base_env: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        prepare: Iterable[str] = ("migrate", "createcachetable", "collectstatic"),
        seed_demo: bool = False,
        log_dir: Path | str | None = None,
        python: str = sys.executable,
        metrics_dir: bool = True,
        ready_timeout: float = 60.0,
        log: Callable[[str], None] = print,
    ) -> None:
        if server not in ("gunicorn", "runserver"):
            raise ValueError(f"unknown server {server!r}")
        self.database_url, self.cache_url = database_url, cache_url
        self.server, self.workers, self.threads = server, workers, threads
        self.worker_class = worker_class
        self.host, self.port = host, port or free_port()
        self.base = f"http://{host}:{self.port}"
        self.process_names = tuple(processes)
        # True: spawn one (emulator_options go to spawn_emulator); an object: use that one.
        self.emulator = None if emulator is True else emulator
        self._spawn_emulator = emulator is True
        self.emulator_options = emulator_options or {}
        self.base_env = base_env
        self.extra_env = env or {}
        self.prepare_steps = tuple(prepare)
        self.seed_demo = seed_demo
        self.log_dir = Path(log_dir) if log_dir else None
        self.python = python
        self.metrics_dir = metrics_dir
        self.ready_timeout = ready_timeout
        self.log = log
        self.env: dict[str, str] = {}
        self.web: Process | None = None
        self.processes: dict[str, Process] = {}
        self._cleanup: list[Callable[[], None]] = []

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Stack:
        try:
            self._start_emulator()
            self.env = self.environment()
            self.prepare()
            self.start_web()
            for name in self.process_names:
                self.start_process(name)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what was started, newest first (web before the worker, the emulator last)."""
        while self._cleanup:
            with contextlib.suppress(Exception):
                self._cleanup.pop()()

    # --- pieces ------------------------------------------------------------------------------
    def _start_emulator(self) -> None:
        if not self._spawn_emulator:
            return
        from salesforce_emulator.testing import spawn_emulator

        self.emulator = spawn_emulator(python=self.python, **self.emulator_options)
        self._cleanup.append(self.emulator.terminate)
        self.log(f"== Salesforce emulator on {self.emulator.login_url}")

    def environment(self) -> dict[str, str]:
        """The processes' environment: the caller's (or ours, without test and Django
        variables), then the stack's database, cache and emulator, then ``env``."""
        if self.base_env is not None:
            base = dict(self.base_env)
        else:
            base = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DJANGO_", "PYTEST_")) and k != "PROMETHEUS_MULTIPROC_DIR"
            }
        paths = [str(ROOT), *filter(None, [base.get("PYTHONPATH")])]
        env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url,
            "CACHE_URL": self.cache_url,
            # Links in emails and the OAuth callback point at this stack (``env`` may say else).
            "SITE_URL": self.base,
        }
        if self.emulator is not None:
            env.update(
                SALESFORCE_LOGIN_URL=self.emulator.login_url,
                SALESFORCE_CLIENT_ID=self.emulator.client_id,
                SALESFORCE_CLIENT_SECRET=self.emulator.client_secret,
                SALESFORCE_CALLBACK_URL=f"{self.base}/integrations/salesforce/callback/",
            )
            if self.emulator.pubsub_target:
                env["SALESFORCE_PUBSUB_URL"] = f"http://{self.emulator.pubsub_target}"
        scratch = Path(tempfile.mkdtemp(prefix="teaminbox-stack-"))
        self._cleanup.append(lambda: shutil.rmtree(scratch, ignore_errors=True))
        # Heartbeat files of this stack's worker and listener, never another stack's.
        env["OPS_HEARTBEAT_DIR"] = str(scratch / "heartbeats")
        if self.server == "gunicorn" and self.metrics_dir:
            (scratch / "metrics").mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(scratch / "metrics")
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(  # noqa: S603 - our interpreter, our manage.py
            [self.python, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def prepare(self) -> None:
        steps = {
            "migrate": ("migrate", "--noinput", "-v0"),
            "createcachetable": ("createcachetable",),
            "collectstatic": ("collectstatic", "--noinput", "-v0"),
        }
        for step in self.prepare_steps:
            if step == "createcachetable" and not self.cache_url.startswith("dbcache"):
                continue
            self.log(f"== manage.py {step}")
            self.manage(*steps[step])
        if self.seed_demo:
            self.log("== manage.py seed_demo")
            self.log(self.manage("seed_demo").strip())

    def _popen(self, name: str, argv: list[str]) -> Process:
        log = None
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"{name}.log"
            out = log.open("ab")
        popen = subprocess.Popen(  # noqa: S603
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            # Its own process group: one Ctrl-C reaches the launcher, which stops the
            # processes in order, and a stop reaches a process's children too.
            start_new_session=True,
        )
        if out is not None:
            out.close()
        return Process(name, popen, log)

    def web_command(self) -> list[str]:
        if self.server == "runserver":
            return [self.python, "manage.py", "runserver", f"{self.host}:{self.port}", "--noreload"]
        if self.worker_class == "gthread":  # the former WSGI shape, kept for comparisons
            app = ["config.wsgi", "--worker-class", "gthread", "--threads", str(self.threads)]
        else:  # the production server since issue 22: ASGI, so live connections cost no thread
            app = ["config.asgi", "--worker-class", "config.workers.UvicornWorker"]
        return [
            self.python, "-m", "gunicorn", *app,
            "-c", "python:ops.gunicorn_conf",
            "--workers", str(self.workers),
            "--bind", f"{self.host}:{self.port}",
            "--log-level", "warning",
        ]  # fmt: skip

    def start_web(self) -> None:
        shape = (
            (
                f"gunicorn {self.workers} gthread workers x {self.threads} threads"
                if self.worker_class == "gthread"
                else f"gunicorn {self.workers} uvicorn (ASGI) workers"
            )
            if self.server == "gunicorn"
            else "runserver"
        )
        self.log(f"== {shape} on {self.base}")
        self.web = self._popen("web", self.web_command())
        self._cleanup.append(self.stop_web)
        self.wait_ready()
        if self.server == "gunicorn":  # every worker forked, so a benchmark measures them all
            deadline = time.monotonic() + self.ready_timeout
            while len(self.web_pids()) < self.workers and time.monotonic() < deadline:
                time.sleep(0.1)

    def stop_web(self) -> None:
        if self.web is not None:
            _stop(self.web)

    def start_process(self, name: str, *args: str) -> Process:
        """Start the ``worker`` or the ``listener`` (or any management command by its name)."""
        argv = [self.python, "manage.py", *COMMANDS.get(name, (name,)), *args]
        process = self._popen(name, argv)
        self.processes[name] = process
        self._cleanup.append(lambda: _stop(process))
        return process

    def stop_process(self, name: str) -> None:
        process = self.processes.get(name)
        if process is not None:
            _stop(process)

    def wait_ready(self) -> None:
        """Until /readyz answers 200 (database, migrations, cache), or the server died."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if not self.web.alive():
                raise RuntimeError(f"the web server exited:\n{self.web.tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the web server was not ready in {self.ready_timeout:g} s:\n{self.web.tail()}"
                )
            time.sleep(0.1)

    # --- looking at it -----------------------------------------------------------------------
    def web_pids(self) -> list[int]:
        """gunicorn's worker processes (the master's children)."""
        pid = self.web.popen.pid
        with contextlib.suppress(OSError):
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return []

    def all_processes(self) -> list[Process]:
        return [p for p in [self.web, *self.processes.values()] if p is not None]

    def run_until_stopped(self) -> int:
        """The command line's loop: until Ctrl-C or SIGTERM (exit 0), or until a process
        dies (exit 1); everything is stopped either way."""
        stopping = {"signal": None}

        def on_signal(signum, frame):
            stopping["signal"] = signum

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while stopping["signal"] is None:
                dead = [p for p in self.all_processes() if not p.alive()]
                if dead:
                    for process in dead:
                        self.log(f"== {process.name} exited ({process.popen.returncode})")
                    return 1
                time.sleep(0.2)
            self.log("== stopping")
            return 0
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _stop(process: Process) -> None:
    """SIGTERM (gunicorn, the worker and the listener finish what they are doing), then
    SIGKILL to the whole process group after STOP_SECONDS."""
    popen = process.popen
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)


# --- make prod --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.stack",
        description="The production shape on one machine: gunicorn, the webhook worker, the "
        "live-updates listener (and optionally the Salesforce emulator). Ctrl-C stops all.",
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 4)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", 8)))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--emulator", action="store_true", help="Start the Salesforce emulator.")
    parser.add_argument("--emulator-port", type=int, default=0)
    parser.add_argument("--pubsub-port", type=int, default=0)
    parser.add_argument("--seed-demo", action="store_true", help="Seed the demo workspaces.")
    parser.add_argument(
        "--no-collectstatic",
        action="store_true",
        help="Static files already collected, or served by finders (WHITENOISE_USE_FINDERS).",
    )
    parser.add_argument("--no-worker", action="store_true")
    parser.add_argument("--no-listener", action="store_true")
    parser.add_argument("--no-router", action="store_true")
    args = parser.parse_args(argv)

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    cache_url = os.environ.get("CACHE_URL") or DEFAULT_CACHE_URL
    if ensure_database(database_url):
        print(f"== created database {urlsplit(database_url).path.lstrip('/')}", flush=True)
    processes = [
        name
        for name, off in (
            ("worker", args.no_worker),
            ("listener", args.no_listener),
            ("router", args.no_router),
        )
        if not off
    ]
    stack = Stack(
        database_url=database_url,
        cache_url=cache_url,
        workers=args.workers,
        threads=args.threads,
        host=args.host,
        port=args.port,
        processes=processes,
        emulator=args.emulator or None,
        emulator_options={
            "port": args.emulator_port,
            "pubsub_port": args.pubsub_port,
            "instance_port": args.emulator_port + 1 if args.emulator_port else None,
        },
        seed_demo=args.seed_demo,
        env={"SITE_URL": os.environ["SITE_URL"]} if os.environ.get("SITE_URL") else None,
        prepare=("migrate", "createcachetable")
        if args.no_collectstatic
        else ("migrate", "createcachetable", "collectstatic"),
        log=lambda line: print(line, flush=True),
    )
    try:
        stack.start()
    except KeyboardInterrupt:
        return 130
    db, cache = urlsplit(database_url), urlsplit(cache_url)  # never print a password
    print(
        f"== ready: {stack.base}/ (health {stack.base}/readyz, metrics {stack.base}/metrics); "
        f"database {db.hostname}:{db.port or 5432}{db.path}, cache {cache.hostname}{cache.path}; "
        f"{', '.join(processes) or 'no worker, no listener, no router'} running. Ctrl-C stops all.",
        flush=True,
    )
    return stack.run_until_stopped()


if __name__ == "__main__":
    sys.exit(main())
