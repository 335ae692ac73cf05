"""Bounded load with faults (issue 6), `make load`.

Starts the stack (bench/stack.py), runs locust headless with 50 agents browsing Inbox and
Contacts with their Salesforce sidebars for 60 s (bench/locustfile.py), and injects faults from a
thread: emulator latency 2 s at 30 s, then HTTP 503 at 45 s. Reports requests/s, p95, errors
(the target: no 5xx from the product) and Salesforce calls per phase, and writes its section of
bench/RESULTS.md.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--cache-seconds 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, p95, write_section  # noqa: E402
from stack import ACME_ORG_ID, THREADS, WORKERS, Stack  # noqa: E402

HERE = Path(__file__).resolve().parent


def fault_schedule(stack: Stack, t0: float, seconds: float, marks: dict, stop: threading.Event):
    """Latency 2 s from half-way, HTTP 503 from three quarters (30 s and 45 s of a 60-s run)."""
    emulator = stack.emulator
    steps = [
        (seconds * 0.5, "latency 2 s", lambda: emulator.set_fault("latency", org_id=ACME_ORG_ID, value=2.0)),
        (seconds * 0.75, "HTTP 503", lambda: (emulator.clear_faults(), emulator.set_fault("http_503", org_id=ACME_ORG_ID))),
    ]  # fmt: skip
    for at, label, action in steps:
        if stop.wait(max(0.0, t0 + at - time.time())):
            return
        action()
        marks[label] = time.time()
        print(f"== {at:.0f} s: Salesforce fault: {label}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--cache-seconds",
        type=int,
        default=60,
        help="SALESFORCE_CACHE_SECONDS for the product (default: the product's 60)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    info = machine()
    command = "python bench/load.py" + (
        f" --cache-seconds {args.cache_seconds}" if args.cache_seconds != 60 else ""
    )
    env_extra = {"SALESFORCE_CACHE_SECONDS": str(args.cache_seconds)}
    with Stack(extra_env=env_extra) as stack:
        conversations = stack.sql(
            "SELECT v.id, v.contact_id FROM inbox_conversation v JOIN workspace_workspace w "
            "ON w.id = v.workspace_id WHERE w.slug = 'acme' ORDER BY v.id"
        )
        contacts = stack.all_contact_ids()
        record = Path(tempfile.mktemp(prefix="bench-load.", suffix=".tsv"))
        env = {
            **os.environ,
            "BENCH_CONVERSATIONS": ",".join(f"{a}:{b}" for a, b in conversations),
            "BENCH_CONTACTS": ",".join(str(c) for c in contacts),
            "BENCH_CONTACT_PAGES": str((len(contacts) + 24) // 25),
            "BENCH_REQUEST_RECORD": str(record),
        }
        stack.emulator.reset_log()
        marks: dict[str, float] = {}
        stop = threading.Event()
        cmd = [
            str(Path(sys.executable).parent / "locust"),
            "-f", str(HERE / "locustfile.py"),
            "--headless", "-u", str(args.users), "-r", str(args.spawn_rate),
            "-t", f"{args.seconds}s", "--stop-timeout", "10",
            "--host", stack.base, "--only-summary", "--loglevel", "WARNING",
        ]  # fmt: skip
        print("== " + " ".join(cmd[1:]).replace(str(HERE) + "/", "bench/"), flush=True)
        t0 = time.time()
        faults = threading.Thread(
            target=fault_schedule, args=(stack, t0, args.seconds, marks, stop), daemon=True
        )
        faults.start()
        locust = subprocess.run(cmd, env=env, cwd=HERE.parent, check=False)
        t_end = time.time()
        stop.set()
        stack.emulator.clear_faults()
        sf_log = stack.emulator.request_log(ACME_ORG_ID)
        rss = stack.worker_peak_rss_kib()
        gunicorn_errors = [
            line
            for line in stack.gunicorn_log.read_text().splitlines()
            if "Traceback" in line or "[CRITICAL]" in line or "WORKER TIMEOUT" in line
        ]
        notes = stack.notes
    rows = []
    for line in record.read_text().splitlines():
        ts, name, rt, status, state = line.split("\t")
        rows.append((float(ts), name, float(rt), int(status), state))
    record.unlink()
    text = report(rows, sf_log, marks, t0, t_end, args, info, command, rss, gunicorn_errors, notes)
    print(text)
    if not args.no_write:
        write_section(f"load-{args.cache_seconds}", text)
    five_xx = sum(1 for r in rows if r[3] >= 500 or r[3] == 0)
    return 1 if five_xx or locust.returncode not in (0, 1) else 0


def report(rows, sf_log, marks, t0, t_end, args, info, command, rss, gunicorn_errors, notes):
    phases = [("0 s: no fault", t0)]
    if "latency 2 s" in marks:
        phases.append((f"{marks['latency 2 s'] - t0:.0f} s: latency 2 s", marks["latency 2 s"]))
    if "HTTP 503" in marks:
        phases.append((f"{marks['HTTP 503'] - t0:.0f} s: HTTP 503", marks["HTTP 503"]))
    bounds = [(label, start, phases[i + 1][1] if i + 1 < len(phases) else t_end) for i, (label, start) in enumerate(phases)]  # fmt: skip

    def figures(selected, start, end):
        times = [r[2] for r in selected]
        statuses = Counter(r[3] for r in selected)
        five = sum(n for s, n in statuses.items() if s >= 500 or s == 0)
        other = sum(n for s, n in statuses.items() if 400 <= s < 500)
        return {
            "n": len(selected),
            "rps": len(selected) / max(0.001, end - start),
            "median": sorted(times)[len(times) // 2] if times else 0,
            "p95": p95(times) if times else 0,
            "5xx": five,
            "4xx": other,
        }

    def sf_calls(start, end):
        entries = [e for e in sf_log if start <= e["ts"] < end]
        return len(entries), Counter(e["status"] for e in entries)

    lines = [
        "| phase | requests | req/s | median ms | p95 ms | 5xx (or no answer) | 4xx | sidebar p95 ms | sidebar states | Salesforce calls (by status) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    browsing = [r for r in rows if not r[1].startswith("/signin/")]
    for label, start, end in [*bounds, ("**whole run**", t0, t_end)]:
        selected = [r for r in browsing if start <= r[0] < end]
        f = figures(selected, start, end)
        side = [r for r in selected if "panels/salesforce" in r[1]]
        states = Counter(r[4] for r in side)
        side_p95 = p95([r[2] for r in side]) if side else 0
        n_sf, by_status = sf_calls(start, end)
        lines.append(
            f"| {label} | {f['n']} | {f['rps']:.1f} | {f['median']:.0f} | {f['p95']:.0f} | "
            f"{f['5xx']} | {f['4xx']} | {side_p95:.0f} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(states.items()))} | "
            f"{n_sf} ({', '.join(f'{k}: {v}' for k, v in sorted(by_status.items()))}) |"
        )
    per_name: dict[str, list] = defaultdict(list)
    for r in rows:
        per_name[r[1]].append(r)
    by_page = [
        "| request | count | median ms | p95 ms | 5xx |",
        "|---|---|---|---|---|",
    ]
    for name, selected in sorted(per_name.items()):
        times = sorted(r[2] for r in selected)
        by_page.append(
            f"| `{name}` | {len(selected)} | {times[len(times) // 2]:.0f} | {p95(times):.0f} | "
            f"{sum(1 for r in selected if r[3] >= 500 or r[3] == 0)} |"
        )
    total_5xx = sum(1 for r in rows if r[3] >= 500 or r[3] == 0)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cache_note = (
        "the product's default 60-s Salesforce cache"
        if args.cache_seconds == 60
        else f"`SALESFORCE_CACHE_SECONDS={args.cache_seconds}` (shorter than the default 60 s so "
        "that cache entries expire during the faults and lookups really meet the slow and "
        "failing Salesforce)"
    )
    return f"""## Load with faults (issue 6), cache window {args.cache_seconds} s

Taken {stamp} on a **shared 2-core box** (locust, gunicorn, PostgreSQL, Redis and the emulator
all on the same 2 CPUs; other engineers' tests may have run at the same time; load average at the
start: {info["load"]}), commit `{info["commit"]}`; {info["nproc"]} CPUs ({info["cpu"]}),
{info["ram"]} RAM.

- Command: `{command}` (locust {args.users} users, spawn rate {args.spawn_rate}/s,
  {args.seconds} s; gunicorn {WORKERS} gthread workers x {THREADS} threads, PostgreSQL, Redis,
  emulator on loopback; {cache_note}). {"; ".join(notes)}
- Each simulated agent signs in, then repeatedly (0.5-1.5 s think time): Inbox list +
  conversation + its contact's sidebar partial; Contacts list page + its badges; a contact page
  + its sidebar partial. {len({r[1] for r in rows})} request kinds over the workspace's
  conversations and {args.users} users.
- Faults (emulator control API, from a thread): latency 2 s for the Acme org at ~{args.seconds * 0.5:.0f} s,
  then HTTP 503 for every API call at ~{args.seconds * 0.75:.0f} s, cleared at the end.
- **5xx from the product: {total_5xx}** (target 0: {"met" if total_5xx == 0 else "**missed**"}).
  gunicorn log: {len(gunicorn_errors)} tracebacks / worker timeouts.
  Peak RSS per worker after the run: {", ".join(f"{v / 1024:.0f} MiB" for v in rss.values())}.

{chr(10).join(lines)}

Phases count browsing requests (sign-in excluded: each agent signs in once while users spawn,
and password hashing at 10 sign-ins/s on 2 cores dominates that first p95; see the table below).
Sidebar states are the panel's `data-state`: `result` (record or no-match shown), `error` (a
specific message), `+stale` when the last good data is shown beside the error (B2).

{chr(10).join(by_page)}
"""


if __name__ == "__main__":
    sys.exit(main())
