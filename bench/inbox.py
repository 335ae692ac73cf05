"""The live Inbox on the production shape (issue 22, N10), `make bench-inbox`.

Starts the stack of bench/stack.py (PostgreSQL, Redis, the emulator, gunicorn with 4 uvicorn
workers: the production server) and measures:

1. Arrival: an agent's conversation page open in chromium (Debian's, headless, through
   Playwright); ``--messages`` customer messages are posted with the inbound API, one at a time
   at a human pace. Each is timed from the API's 201 to the message's text in the page's
   ``#messages`` (a MutationObserver in the page stamps the moment; one clock: same machine).
   Goal p95 <= 1 s.
2. The same with ``--idle`` (500) idle agents connected: headless clients (asyncio sockets, no
   library) each holding one live connection as an open Inbox page does, half on the list and
   half on conversation pages (they announce "viewing"). Every event reaches all of them.
   Goal p95 <= 2 s on the shared 2-core machine.
3. What an idle connection costs: server memory (RSS of the workers with the idle agents minus
   without, per connection), and database queries per idle agent per minute over ``--idle-minutes``
   with nothing happening (PostgreSQL's transactions of the bench database, every autocommit
   query being one, less those of the same window before the agents connected). Goal 0.
   Also the PostgreSQL connections the idle agents hold.

Database ``bench_inbox_live`` and Redis db 4 by default (BENCH_DB_NAME, BENCH_REDIS_DB override);
both are dropped / flushed at the start and the end. Not part of ``make test``.

    .venv/bin/python bench/inbox.py [--messages 50] [--idle 500] [--idle-minutes 1] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

os.environ.setdefault("BENCH_DB_NAME", "bench_inbox_live")
os.environ.setdefault("BENCH_REDIS_DB", "4")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, p95, write_section  # noqa: E402
from stack import DB_NAME, SERVER, WORKERS, Stack  # noqa: E402

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CUSTOMER = "bench.live@example.com"

# Stamps, in the page, when each awaited text first shows in #messages.
WATCH = """
() => {
  window.__seen = {};
  window.__want = new Set();
  const check = () => {
    const box = document.getElementById("messages");
    if (!box) return;
    const text = box.textContent;
    for (const marker of window.__want) {
      if (text.includes(marker)) { window.__seen[marker] = Date.now(); window.__want.delete(marker); }
    }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


class InboxStack(Stack):
    def api_key(self) -> str:
        path = Path(tempfile.mkdtemp(prefix="bench-key-")) / "key"
        self.manage("seed_demo", "--api-key-file", str(path))
        return path.read_text().strip()

    def worker_rss_kib(self) -> int:
        total = 0
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    def transactions(self) -> int:
        rows = self.sql(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", DB_NAME
        )
        return int(rows[0][0])

    def backends(self) -> int:
        return int(
            self.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", DB_NAME)[0][0]
        )


def post(base: str, key: str, text: str) -> tuple[requests.Response, float]:
    answer = requests.post(
        f"{base}/api/v1/w/acme/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "external_id": f"bench-{uuid.uuid4().hex}",
            "channel": "whatsapp",
            "from": {"name": "Bench Live", "email": CUSTOMER},
            "text": text,
        },
        timeout=30,
    )
    return answer, time.time()


def arrival(page, base: str, key: str, count: int, label: str, log=print) -> list[float]:
    """Seconds from each 201 to the text in the open conversation page."""
    latencies = []
    for n in range(count):
        marker = f"{label}-{n}-{uuid.uuid4().hex[:6]}"
        page.evaluate("m => window.__want.add(m)", marker)
        answer, at = post(base, key, f"Bench message {marker}")
        if answer.status_code != 201:
            raise RuntimeError(f"inbound API answered {answer.status_code}: {answer.text}")
        deadline = time.monotonic() + 20
        seen = None
        while time.monotonic() < deadline:
            seen = page.evaluate("m => window.__seen[m] || null", marker)
            if seen:
                break
            page.wait_for_timeout(20)
        if not seen:
            raise RuntimeError(f"{marker} did not show within 20 s")
        latencies.append(max(0.0, seen / 1000 - at))
        page.wait_for_timeout(300)  # a human pace: the next message a moment later
    log(f"   {label}: p50 {statistics.median(latencies):.3f} s, p95 {p95(latencies):.3f} s")
    return latencies


class IdleAgents:
    """``count`` live connections held by one asyncio loop in a thread (headless clients)."""

    def __init__(self, port: int, cookie: str, paths: list[str]) -> None:
        self.port, self.cookie, self.paths = port, cookie, paths
        self.loop = asyncio.new_event_loop()
        self.connected = 0
        self.events = 0
        self.failed: list[str] = []
        self._writers = []
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 120) -> None:
        self.thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"only {self.connected} idle agents connected in {timeout} s")
        if self.failed:
            raise RuntimeError(f"idle agents failed: {self.failed[:3]}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(self._agent(path)) for path in self.paths]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _agent(self, path: str) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self._writers.append(writer)
            writer.write(
                (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    f"Cookie: sessionid={self.cookie}\r\nAccept: text/event-stream\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(status.decode(errors="replace").strip())
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            self.connected += 1
            if self.connected == len(self.paths):
                self._ready.set()
            while line := await reader.readline():
                if line.startswith(b"data:") or b"data: " in line:
                    self.events += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported by start()
            self.failed.append(f"{type(exc).__name__}: {exc}")
            self._ready.set()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--idle-minutes", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    info = machine()
    prefix = f"bench-inbox-{uuid.uuid4().hex[:6]}"
    with InboxStack(extra_env={"LIVE_PREFIX": prefix}) as stack:
        key = stack.api_key()
        first, _ = post(stack.base, key, "Hello, is this the bench?")
        conversation = first.json()["conversation_id"]
        http = stack.session()
        cookie = http.cookies["sessionid"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(base_url=stack.base)
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": stack.base}])
            page = context.new_page()
            page.goto(f"/w/acme/inbox/{conversation}/")
            page.wait_for_selector("#live-inbox[data-state=open]", state="attached")
            page.evaluate(WATCH)
            print(f"== arrival: {args.messages} messages, no other agent connected")
            alone = arrival(page, stack.base, key, args.messages, "alone")

            conversations = [c for c in stack.conversation_ids() if c != conversation][:50]
            paths = [
                "/w/acme/live/events/"
                + (f"?conversation={conversations[i % len(conversations)]}" if i % 2 else "")
                for i in range(args.idle)
            ]
            # Control: the same window with no idle agent (the measuring queries, anything else).
            page.goto("about:blank")
            time.sleep(2)
            c0 = stack.transactions()
            time.sleep(args.idle_minutes * 60)
            control = stack.transactions() - c0
            page.goto(f"/w/acme/inbox/{conversation}/")
            page.wait_for_selector("#live-inbox[data-state=open]", state="attached")
            page.evaluate(WATCH)
            rss_before, backends_before = stack.worker_rss_kib(), stack.backends()
            print(f"== {args.idle} idle agents connecting")
            agents = IdleAgents(stack.port, cookie, paths)
            started = time.monotonic()
            agents.start()
            connect_seconds = time.monotonic() - started
            time.sleep(3)
            rss_after, backends_after = stack.worker_rss_kib(), stack.backends()
            print(f"   connected in {connect_seconds:.1f} s; RSS +{rss_after - rss_before} KiB")

            print(f"== idle for {args.idle_minutes} min: database transactions")
            # The chromium agent steps away (its sidebar polls); only the idle agents stay.
            page.goto("about:blank")
            time.sleep(2)  # statistics of the last requests reach pg_stat_database
            t0 = stack.transactions()
            time.sleep(args.idle_minutes * 60)
            t1 = stack.transactions()
            page.goto(f"/w/acme/inbox/{conversation}/")
            page.wait_for_selector("#live-inbox[data-state=open]", state="attached")
            page.evaluate(WATCH)
            held = stack.sql(
                "SELECT state, left(query, 60) FROM pg_stat_activity WHERE datname = %s", DB_NAME
            )
            print(f"   PostgreSQL connections with the idle agents: {held}")
            # Less the control window's count (the measuring queries themselves).
            idle_queries = max(0, (t1 - t0) - control)
            events_before = agents.events
            print(f"== arrival: {args.messages} messages with {args.idle} idle agents")
            crowded = arrival(page, stack.base, key, args.messages, "crowded")
            events_fanned = agents.events - events_before
            still = agents.connected - len(agents.failed)
            agents.stop()
            browser.close()
        workers_rss = stack.worker_peak_rss_kib()

    per_connection = (rss_after - rss_before) / args.idle
    per_agent_minute = idle_queries / args.idle / args.idle_minutes
    alone_ok, crowded_ok = p95(alone) <= 1.0, p95(crowded) <= 2.0
    text = f"""## Issue 22: the live Inbox (N10)

`make bench-inbox` (bench/inbox.py) at {info["commit"]}: gunicorn with {WORKERS} {"uvicorn (ASGI)" if SERVER != "gthread" else "gthread"} workers, PostgreSQL, Redis (live events over pub/sub), the emulator; one agent's conversation page open in headless chromium, customer messages posted with the inbound API one at a time (about 3 a second at most). Machine: {info["nproc"]} cores ({info["cpu"]}), {info["ram"]}, load {info["load"]} at the start, shared with other engineers' work.

| measurement | result | goal |
|---|---|---|
| API 201 → message visible in the open conversation, {len(alone)} messages, no other agent | p50 {statistics.median(alone):.3f} s, p95 {p95(alone):.3f} s, max {max(alone):.3f} s | p95 ≤ 1 s {"✓" if alone_ok else "✗"} |
| the same with {args.idle} idle agents connected (half on the list, half on conversations) | p50 {statistics.median(crowded):.3f} s, p95 {p95(crowded):.3f} s, max {max(crowded):.3f} s | p95 ≤ 2 s {"✓" if crowded_ok else "✗"} |
| server memory per idle connection (workers' RSS with / without them) | {per_connection:.1f} KiB ({(rss_after - rss_before) / 1024:.1f} MiB for {args.idle}) | |
| database queries per idle agent per minute: transactions of the bench database in {args.idle_minutes:g} min with the idle agents ({t1 - t0}) less the same window without them ({control}) | {per_agent_minute:.3f} | 0 |
| PostgreSQL connections held while {args.idle} agents are connected (before / with them) | {backends_before} / {backends_after} | |
| time to connect the {args.idle} idle agents | {connect_seconds:.1f} s | |
| events delivered to the idle agents during the second run | {events_fanned} ({still} connections still open) | |
| peak RSS per worker at the end | {", ".join(f"{v / 1024:.0f}" for v in workers_rss.values())} MiB | |

An idle connection's heartbeat (every 15 s) is written from memory; a conversation page's
"viewing" presence is renewed in Redis, not the database. Each event is published once
(a Lua script: sequence number, replay buffer, PUBLISH) and fanned out by one subscriber thread
per worker to the connections it holds; the page then fetches its own fragment once.
"""
    print(text)
    if not args.no_write:
        write_section("inbox-live", text)
    return 0 if alone_ok and crowded_ok and per_agent_minute == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
