"""Issue 14, O8: real traffic in and out under faults (`make load`, `make load-inbound`).

Inbound: 50 concurrent senders post 5,000 customer messages to the API, 10% of them sent again
(the same external_id), while gunicorn is stopped and started once. A sender retries a message
on a connection error, a 5xx or a 429 (with the same external_id: the API is idempotent).
Checked in PostgreSQL afterwards: every message stored exactly once (0 lost, 0 duplicated), and
no 5xx answered.

Outbound: agents post replies through the product's reply form while a receiver on loopback
fails 30% of requests (HTTP 503) and is down (connection refused) for 20 s; two
`deliver_webhooks` workers deliver them. The receiver dedupes on X-Inbox-Delivery: every reply
must reach it once, none lost.

    .venv/bin/python bench/load_inbound.py [--messages 5000] [--senders 50] [--replies 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, p95, write_section  # noqa: E402
from stack import PY, ROOT, THREADS, WORKERS, Stack  # noqa: E402

sys.path.insert(0, str(ROOT))
from api.receiver import State, make_handler  # noqa: E402

SECRET = "whsec_load-bench-secret"
MAKE_KEYS = """
import json
from api.keys import api_key_create
from workspace.models import Workspace
ws = Workspace.objects.get(slug="acme")
print("@@" + json.dumps([api_key_create(workspace=ws, name=f"sender {{i}}", created_by=None).secret
                         for i in range({n})]))
"""
SET_WEBHOOK = """
from api.models import WebhookEndpoint
from workspace.models import Workspace
WebhookEndpoint.objects.update_or_create(
    workspace=Workspace.objects.get(slug="acme"), defaults={{"url": {url!r}, "secret": {secret!r}}})
"""


# --- inbound ---------------------------------------------------------------------------------


class Inbound:
    def __init__(self, base: str, keys: list[str], messages: int, repeat_share: float):
        self.base = base
        self.keys = keys
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.latencies: list[float] = []
        self.retries = 0
        self.accepted: dict[str, dict] = {}  # external_id -> the answer's body
        self.mismatched_repeats = 0
        self.sent = 0
        rng = random.Random(14)
        originals = [f"load-{i:05d}" for i in range(messages)]
        repeats = rng.sample(originals, round(messages * repeat_share))
        # Each sender has its own key and customers; repeats come a little later, some at once.
        plan: list[list[str]] = [[] for _ in keys]
        for i, external_id in enumerate(originals):
            plan[i % len(keys)].append(external_id)
        for external_id in repeats:
            sender = int(external_id.split("-")[1]) % len(keys)
            queue = plan[sender]
            at = min(len(queue), queue.index(external_id) + rng.randint(0, 20))
            queue.insert(at, external_id)
        self.plan = plan
        self.total_posts = messages + len(repeats)

    def body(self, external_id: str) -> bytes:
        n = int(external_id.split("-")[1])
        customer = n % 400  # 400 customers: new contacts early, appends to open ones later
        return json.dumps(
            {
                "external_id": external_id,
                "channel": ("whatsapp", "sms", "webchat")[customer % 3],
                "from": {
                    "name": f"Load Customer {customer}",
                    "email": f"customer{customer}@load.example",
                },
                "text": f"Message {external_id}",
            }
        ).encode()

    def post(self, http: requests.Session, key: str, external_id: str) -> None:
        for attempt in range(60):
            started = time.perf_counter()
            try:
                answer = http.post(
                    f"{self.base}/api/v1/w/acme/messages",
                    data=self.body(external_id),
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                    timeout=30,
                )
            except requests.RequestException as exc:
                with self.lock:
                    self.errors[type(exc).__name__] += 1
                    self.retries += 1
                time.sleep(min(0.1 * 2**attempt, 2))
                continue
            elapsed = time.perf_counter() - started
            with self.lock:
                self.statuses[answer.status_code] += 1
                self.latencies.append(elapsed)
            if answer.status_code in (200, 201):
                data = answer.json()
                with self.lock:
                    first = self.accepted.setdefault(external_id, data)
                    if first != data:
                        self.mismatched_repeats += 1
                    self.sent += 1
                return
            if answer.status_code == 429 or answer.status_code >= 500:
                with self.lock:
                    self.retries += 1
                wait = float(answer.headers.get("Retry-After", "0.5"))
                time.sleep(min(wait, 5))
                continue
            raise RuntimeError(f"{external_id}: HTTP {answer.status_code} {answer.text[:200]}")
        raise RuntimeError(f"{external_id}: gave up after 60 attempts")

    def sender(self, index: int) -> None:
        http = requests.Session()
        for external_id in self.plan[index]:
            self.post(http, self.keys[index], external_id)


def run_inbound(stack: Stack, args) -> dict:
    keys = json.loads(
        next(
            line[2:]
            for line in stack.manage("shell", "-c", MAKE_KEYS.format(n=args.senders)).splitlines()
            if line.startswith("@@")
        )
    )
    load = Inbound(stack.base, keys, args.messages, 0.10)
    before = stack.sql("SELECT count(*) FROM inbox_message")[0][0]
    print(f"== inbound: {args.senders} senders, {load.total_posts} posts", flush=True)
    restart = {}

    def restarter():
        while load.sent < load.total_posts * 0.4:
            time.sleep(0.05)
        print("== restarting gunicorn (stop, start) at 40% of the posts", flush=True)
        t = time.time()
        stack._stop_gunicorn()
        stopped = time.time()
        stack._start_gunicorn()
        restart.update(stop_seconds=stopped - t, down_seconds=time.time() - stopped)
        print(f"== gunicorn back after {time.time() - t:.1f} s", flush=True)

    t0 = time.time()
    watcher = threading.Thread(target=restarter, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(max_workers=args.senders) as pool:
        list(pool.map(load.sender, range(args.senders)))
    seconds = time.time() - t0
    watcher.join(timeout=120)

    stored = stack.sql(
        "SELECT r.external_id, count(m.id) FROM api_inboundmessage r "
        "LEFT JOIN inbox_message m ON m.id = r.message_id "
        "WHERE r.external_id LIKE 'load-%%' GROUP BY r.external_id"
    )
    bodies = stack.sql(
        "SELECT body, count(*) FROM inbox_message WHERE body LIKE 'Message load-%%' GROUP BY body"
    )
    after = stack.sql("SELECT count(*) FROM inbox_message")[0][0]
    expected = {f"load-{i:05d}" for i in range(args.messages)}
    stored_ids = {row[0] for row in stored if row[1] == 1}
    duplicates = sum(count - 1 for _, count in bodies if count > 1)
    contacts = stack.sql(
        "SELECT count(*), count(DISTINCT lower(email)) FROM contacts_contact "
        "WHERE email LIKE '%%@load.example'"
    )[0]
    return {
        "posts": load.total_posts,
        "messages": args.messages,
        "repeats": load.total_posts - args.messages,
        "senders": args.senders,
        "seconds": seconds,
        "statuses": dict(load.statuses),
        "errors": dict(load.errors),
        "retries": load.retries,
        "five_xx": sum(n for s, n in load.statuses.items() if s >= 500),
        "lost": len(expected - stored_ids),
        "duplicated": duplicates,
        "new_messages": after - before,
        "mismatched_repeats": load.mismatched_repeats,
        "p50": sorted(load.latencies)[len(load.latencies) // 2],
        "p95": p95(load.latencies),
        "restart": restart,
        "contacts": contacts,
    }


# --- outbound --------------------------------------------------------------------------------


class FlakyReceiver:
    """api.receiver's handler in this process, so its dedupe state survives the 20-s outage."""

    def __init__(self, fail_rate: float):
        self.state = State(SECRET, fail_rate, quiet=True)
        self.server = self._serve(0)
        self.port = self.server.server_address[1]

    def _serve(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(self.state))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def down_for(self, seconds: float) -> None:
        self.server.shutdown()
        self.server.server_close()
        time.sleep(seconds)
        self.server = self._serve(self.port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_outbound(stack: Stack, args) -> dict:
    receiver = FlakyReceiver(0.30)
    url = f"http://127.0.0.1:{receiver.port}/webhook"
    stack.manage("shell", "-c", SET_WEBHOOK.format(url=url, secret=SECRET))
    workers = [
        subprocess.Popen(  # noqa: S603
            [PY, "manage.py", "deliver_webhooks", "--poll", "0.5"],
            cwd=ROOT,
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    conversations = stack.conversation_ids()
    agents = [stack.session("agent@acme.test") for _ in range(5)]
    print(f"== outbound: {args.replies} replies, receiver fails 30%, down 20 s", flush=True)
    posted = Counter()
    lock = threading.Lock()

    def reply(i: int) -> None:
        http = agents[i % len(agents)]
        conv = conversations[i % len(conversations)]
        answer = http.post(
            f"{stack.base}/w/acme/inbox/{conv}/reply/",
            data={"body": f"Reply load-{i:04d}", "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        with lock:
            posted[answer.status_code] += 1

    t0 = time.time()
    outage = threading.Thread(target=lambda: (time.sleep(5), receiver.down_for(20)), daemon=True)
    outage.start()

    def kill_a_worker():
        # A worker killed mid-work (SIGKILL: no clean-up): its claimed rows wait out their lease
        # and another worker sends them, with the same delivery id.
        time.sleep(10)
        workers[0].kill()
        workers[0].wait()
        workers.append(
            subprocess.Popen(  # noqa: S603
                [PY, "manage.py", "deliver_webhooks", "--poll", "0.5"],
                cwd=ROOT,
                env=stack.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        print("== killed a webhook worker (SIGKILL) and started another", flush=True)

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(reply, range(args.replies)))
    outage.join()
    killer.join()
    deadline = time.time() + args.drain_seconds
    sql_pending = (
        "SELECT count(*) FROM api_webhookdelivery d JOIN inbox_message m ON m.id = d.message_id "
        "WHERE m.body LIKE 'Reply load-%%' AND d.status <> 'sent'"
    )
    while time.time() < deadline and stack.sql(sql_pending)[0][0]:
        time.sleep(1)
    drained = time.time() - t0
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)
    rows = stack.sql(
        "SELECT d.id::text, d.status, d.attempts FROM api_webhookdelivery d "
        "JOIN inbox_message m ON m.id = d.message_id WHERE m.body LIKE 'Reply load-%%'"
    )
    stats = receiver.state.stats()
    receiver.close()
    delivered_ids = set(stats["delivery_ids"])
    reply_ids = {r[0] for r in rows}
    return {
        "replies": args.replies,
        "posted": dict(posted),
        "rows": len(rows),
        "sent": sum(1 for r in rows if r[1] == "sent"),
        "failed": sum(1 for r in rows if r[1] == "failed"),
        "pending": sum(1 for r in rows if r[1] == "pending"),
        "max_attempts": max((r[2] for r in rows), default=0),
        "attempts": sum(r[2] for r in rows),
        "receiver_requests": stats["requests"],
        "failed_on_purpose": stats["failed_on_purpose"],
        "bad_signatures": stats["bad_signatures"],
        "unique_at_receiver": len(delivered_ids & reply_ids),
        "lost": len(reply_ids - delivered_ids),
        "repeats_dropped": stats["repeats_dropped"],
        "drain_seconds": drained,
    }


def report(inb: dict, out: dict, info: dict) -> str:
    ok_in = inb["lost"] == 0 and inb["duplicated"] == 0 and inb["five_xx"] == 0
    ok_out = out["lost"] == 0 and out["unique_at_receiver"] == out["replies"]
    r = inb["restart"]
    return f"""## Inbound API and webhooks under faults (issue 14, O8)

Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {info["nproc"]} CPUs ({info["cpu"]}),
{info["ram"]}, load average before {info["load"]}; gunicorn {WORKERS} gthread workers x {THREADS}
threads, PostgreSQL, Redis; `bench/load_inbound.py`.

**Inbound** ({inb["senders"]} concurrent senders, one API key each; {inb["messages"]:,} messages +
{inb["repeats"]} repeats of an `external_id`; gunicorn stopped and started once at 40% of the posts:
stop {r.get("stop_seconds", 0):.1f} s, back after {r.get("down_seconds", 0):.1f} s):

| measurement | result | target |
|---|---|---|
| messages lost | {inb["lost"]} | 0 |
| messages duplicated | {inb["duplicated"]} | 0 |
| 5xx answers | {inb["five_xx"]} | 0 |
| new messages stored / sent | {inb["new_messages"]:,} / {inb["messages"]:,} | equal |
| repeats answered with a different body | {inb["mismatched_repeats"]} | 0 |
| contacts created / distinct customers | {inb["contacts"][0]} / {inb["contacts"][1]} | equal |
| answers by status | {", ".join(f"{k}: {v}" for k, v in sorted(inb["statuses"].items()))} | |
| client retries (connection refused/reset during the restart, 429) | {inb["retries"]} ({", ".join(f"{k} {v}" for k, v in inb["errors"].items()) or "none"}) | |
| throughput | {inb["posts"] / inb["seconds"]:.0f} posts/s over {inb["seconds"]:.0f} s | |
| latency median / p95 | {inb["p50"] * 1000:.0f} / {inb["p95"] * 1000:.0f} ms | |

**Outbound** ({out["replies"]} agent replies through the reply form; the receiver answers 503 to 30%
of requests and is down, connection refused, for 20 s from 5 s in; 2 `deliver_webhooks` workers, one of them killed with SIGKILL 10 s in and replaced):

| measurement | result | target |
|---|---|---|
| replies lost (failed, never reached the receiver) | {out["failed"]} | 0 |
| replies not yet at the receiver when the run ended | {out["lost"]} | 0 |
| replies the receiver saw, deduplicated by delivery id | {out["unique_at_receiver"]} / {out["replies"]} | all, once |
| repeats the receiver dropped (at-least-once) | {out["repeats_dropped"]} | |
| deliveries sent / failed / still pending | {out["sent"]} / {out["failed"]} / {out["pending"]} | all sent |
| receiver requests (of which failed on purpose) | {out["receiver_requests"]} ({out["failed_on_purpose"]}) | |
| attempts in all / most for one reply | {out["attempts"]} / {out["max_attempts"]} | |
| bad signatures | {out["bad_signatures"]} | 0 |
| time until every reply was delivered | {out["drain_seconds"]:.0f} s | |

The long tail is the back-off by design: 15 s, 30 s, 1 min, ... doubling to at most 1 h; a reply that failed 7 times in a row (the outage, then 503s at 30% each) waits about 16 min before its 8th try.

Verdict: inbound {"PASS" if ok_in else "FAIL"}, outbound {"PASS" if ok_out else "FAIL"}.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--drain-seconds", type=int, default=2700)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    info = machine()
    with Stack(extra_env={"WEBHOOK_ALLOW_PRIVATE_URLS": "1"}) as stack:
        inbound = run_inbound(stack, args)
        print(json.dumps({k: v for k, v in inbound.items()}, default=str), flush=True)
        outbound = run_outbound(stack, args)
        print(json.dumps(outbound, default=str), flush=True)
    text = report(inbound, outbound, info)
    print(text)
    if not args.no_write:
        write_section("load-inbound", text)
    ok = (
        inbound["lost"] == inbound["duplicated"] == inbound["five_xx"] == 0
        and outbound["lost"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
