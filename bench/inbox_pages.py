"""Page times under the two production servers (issue 22, N10): gthread (WSGI, before) and
uvicorn workers (ASGI, since the live Inbox). `make bench-inbox` runs it after bench/inbox.py.

One stack (bench/stack.py: PostgreSQL, Redis, the emulator) serves the same database with both:
its ASGI gunicorn and a second gunicorn with 4 gthread workers x 8 threads on another port.
Requests alternate between the two, so the shared machine's load weighs on both alike: each page
``-n`` times per server one after another (median), then 400 requests by 8 concurrent clients per
server, twice, alternating (requests a second). The goal: no page slower than 1.1x under ASGI.
Writes its section of bench/RESULTS.md.

    .venv/bin/python bench/inbox_pages.py [-n 100] [--no-write]

``--before COMMIT`` compares code instead of servers: the same ASGI server runs COMMIT's tree
(``git archive``, same environment and database, the static files of this tree) beside this
tree's, requests alternating; it prints its table and writes no section.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

os.environ.setdefault("BENCH_DB_NAME", "bench_inbox_live")
os.environ.setdefault("BENCH_REDIS_DB", "4")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, write_section  # noqa: E402
from stack import EXACT_EMAILS, PY, ROOT, THREADS, WORKERS, Stack, free_port  # noqa: E402


def pages_of(stack: Stack) -> dict[str, str]:
    conversation = stack.conversation_ids()[0]
    contact = stack.contact_ids(EXACT_EMAILS)[0]
    return {
        "Inbox list": "/w/acme/inbox/",
        "conversation page": f"/w/acme/inbox/{conversation}/",
        "Contacts list": "/w/acme/contacts/",
        "contact page": f"/w/acme/contacts/{contact}/",
    }


@contextlib.contextmanager
def _serving(process: subprocess.Popen, port: int):
    """The server ``process`` started on ``port``: its base URL once it answers; stopped after."""
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/signin/", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(30)


@contextlib.contextmanager
def gthread_beside(stack: Stack):
    """The former server on another port, same environment (database, Redis, settings)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            str(Path(PY).parent / "gunicorn"),
            "config.wsgi",
            "--worker-class", "gthread",
            "--workers", str(WORKERS),
            "--threads", str(THREADS),
            "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ],
        cwd=ROOT, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with _serving(process, port) as base:
        yield base


@contextlib.contextmanager
def commit_beside(stack: Stack, commit: str):
    """The same ASGI server on another port, running ``commit``'s tree (same environment)."""
    tree = Path(tempfile.mkdtemp(prefix="bench-before."))
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", commit],
        cwd=ROOT,
        capture_output=True,
        check=True,  # noqa: S607
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)  # noqa: S603, S607
    (tree / "staticfiles").symlink_to(ROOT / "staticfiles")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            str(Path(PY).parent / "gunicorn"),
            "config.asgi",
            "--worker-class", "config.workers.UvicornWorker",
            "--workers", str(WORKERS),
            "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ],
        cwd=tree, env={**stack.env, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with _serving(process, port) as base:
            yield base
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def timed(http, url: str) -> float:
    start = time.perf_counter()
    http.get(url, timeout=30).raise_for_status()
    return time.perf_counter() - start


def throughput(base: str, cookies, paths: list[str]) -> float:
    def one(i: int) -> None:
        path = paths[i % len(paths)]
        requests.get(base + path, cookies=cookies, timeout=30).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(400)))
    return 400 / (time.perf_counter() - start)


def measure(n: int, before: str | None = None) -> dict:
    with (
        Stack() as stack,
        commit_beside(stack, before) if before else gthread_beside(stack) as other,
    ):
        servers = {"gthread": other, "asgi": stack.base}
        http = stack.session()  # one session cookie serves both (same database)
        pages = pages_of(stack)
        for base in servers.values():
            for path in pages.values():
                for _ in range(5):
                    timed(http, base + path)
        results = {name: {"times": {}, "throughput": []} for name in servers}
        for page, path in pages.items():
            samples = {name: [] for name in servers}
            for _ in range(n):
                for name, base in servers.items():
                    samples[name].append(timed(http, base + path))
            for name in servers:
                results[name]["times"][page] = statistics.median(samples[name]) * 1000
            print("   " + page + ": " + ", ".join(
                f"{name} {results[name]['times'][page]:.1f} ms" for name in servers
            ))  # fmt: skip
        for _ in range(2):
            for name, base in servers.items():
                results[name]["throughput"].append(
                    throughput(base, http.cookies, list(pages.values()))
                )
        for name in servers:
            results[name]["throughput"] = statistics.mean(results[name]["throughput"])
            print(f"   {name} 8 concurrent clients: {results[name]['throughput']:.0f} requests/s")
        results["load"] = os.getloadavg()[0]
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--before", metavar="COMMIT", help="compare with COMMIT's code (ASGI)")
    args = parser.parse_args()
    info = machine()
    results = measure(args.n, args.before)
    before, after = results["gthread"], results["asgi"]
    rows, worst = [], 0.0
    for name, ms in before["times"].items():
        ratio = after["times"][name] / ms
        worst = max(worst, ratio)
        rows.append(f"| {name} | {ms:.1f} | {after['times'][name]:.1f} | {ratio:.2f} |")
    tp = before["throughput"] / after["throughput"]
    text = f"""## Issue 22: page times, gthread vs ASGI (N10)

`bench/inbox_pages.py` at {info["commit"]} (run by `make bench-inbox`): one stack, one database,
served at once by {WORKERS} gunicorn gthread workers x {THREADS} threads (the server before issue
22) and {WORKERS} uvicorn workers (ASGI, the server since), requests alternating between the two
so the shared machine's load (load {info["load"]} at the start, {results["load"]:.1f} at the end)
weighs on both alike. One signed-in agent, {args.n} sequential requests per page and server
(median ms), then 400 requests from 8 concurrent clients per server, twice.

| page | gthread, ms | ASGI, ms | ASGI / gthread (goal ≤ 1.1) |
|---|---|---|---|
{chr(10).join(rows)}
| 8 concurrent clients, requests/s | {before["throughput"]:.0f} | {after["throughput"]:.0f} | {tp:.2f} (time per request) |
"""
    if args.before:
        text = (
            text.replace("gthread, ms", f"{args.before} (before), ms")
            .replace("ASGI, ms", f"{info['commit']} (after), ms")
            .replace("ASGI / gthread (goal ≤ 1.1)", "after / before")
        )
        print("| page |" + text.split("| page |", 1)[1])
        return 0
    print(text)
    if not args.no_write:
        write_section("inbox-pages", text)
    return 0 if worst <= 1.1 and tp <= 1.1 else 1


if __name__ == "__main__":
    sys.exit(main())
