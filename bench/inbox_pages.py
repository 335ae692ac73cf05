"""Page times under the two production servers (issue 22, N10): gthread (WSGI, before) and
uvicorn workers (ASGI, since the live Inbox). `make bench-inbox` runs it after bench/inbox.py.

For each server the stack of bench/stack.py is started afresh (same data: seed_demo plus the
bench contacts), the pages are warmed, then each page is fetched ``-n`` times one after another
(median) and 400 times by 8 concurrent clients (requests a second). The goal: no page slower than
1.1x under ASGI. Writes its section of bench/RESULTS.md.

    .venv/bin/python bench/inbox_pages.py [-n 100] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("BENCH_DB_NAME", "bench_inbox_live")
os.environ.setdefault("BENCH_REDIS_DB", "4")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, write_section  # noqa: E402
from stack import EXACT_EMAILS, WORKERS, Stack  # noqa: E402


def pages_of(stack: Stack) -> dict[str, str]:
    conversation = stack.conversation_ids()[0]
    contact = stack.contact_ids(EXACT_EMAILS)[0]
    return {
        "Inbox list": "/w/acme/inbox/",
        "conversation page": f"/w/acme/inbox/{conversation}/",
        "Contacts list": "/w/acme/contacts/",
        "contact page": f"/w/acme/contacts/{contact}/",
    }


def measure(server: str, n: int) -> dict:
    stack = Stack()
    stack.server = server
    with stack:
        http = stack.session()
        pages = pages_of(stack)
        for path in pages.values():
            for _ in range(10):
                http.get(stack.base + path, timeout=30).raise_for_status()
        medians = {}
        for name, path in pages.items():
            times = []
            for _ in range(n):
                start = time.perf_counter()
                http.get(stack.base + path, timeout=30).raise_for_status()
                times.append(time.perf_counter() - start)
            medians[name] = statistics.median(times) * 1000
            print(f"   {server} {name}: {medians[name]:.1f} ms")
        cookies = http.cookies

        def one(i: int) -> None:
            import requests

            path = list(pages.values())[i % len(pages)]
            requests.get(stack.base + path, cookies=cookies, timeout=30).raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(400)))
        throughput = 400 / (time.perf_counter() - start)
        print(f"   {server} 8 concurrent clients: {throughput:.0f} requests/s")
        return {"medians": medians, "throughput": throughput, "rss": stack.worker_peak_rss_kib()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    info = machine()
    results = {}
    for server in ("gthread", "asgi"):
        print(f"== {server}")
        results[server] = measure(server, args.n)
    before, after = results["gthread"], results["asgi"]
    rows, worst = [], 0.0
    for name, ms in before["medians"].items():
        ratio = after["medians"][name] / ms
        worst = max(worst, ratio)
        rows.append(f"| {name} | {ms:.1f} | {after['medians'][name]:.1f} | {ratio:.2f} |")
    tp = after["throughput"] / before["throughput"]
    rss_b = max(before["rss"].values()) / 1024
    rss_a = max(after["rss"].values()) / 1024
    text = f"""## Issue 22: page times, gthread vs ASGI (N10)

`bench/inbox_pages.py` at {info["commit"]} (run by `make bench-inbox`): the same stack started
twice, {WORKERS} gunicorn workers each time, gthread (8 threads, the server before issue 22) and
uvicorn (ASGI, the server since); one signed-in agent, {args.n} sequential requests per page
(median ms), then 400 requests from 8 concurrent clients. Machine: {info["nproc"]} cores, load
{info["load"]} at the start, shared with other engineers' work, so single figures move by
10-20% between runs.

| page | gthread, ms | ASGI, ms | ASGI / gthread (goal ≤ 1.1) |
|---|---|---|---|
{chr(10).join(rows)}
| 8 concurrent clients, requests/s | {before["throughput"]:.0f} | {after["throughput"]:.0f} | {1 / tp:.2f} (time per request) |
| peak RSS of the largest worker, MiB | {rss_b:.0f} | {rss_a:.0f} | |
"""
    print(text)
    if not args.no_write:
        write_section("inbox-pages", text)
    return 0 if worst <= 1.1 else 1


if __name__ == "__main__":
    sys.exit(main())
