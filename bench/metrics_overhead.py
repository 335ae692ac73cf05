"""Metrics on vs off (issue 25, V2): the bench's lookup figures with Prometheus recording on
and off, on the production shape (bench/stack.py through ops.stack: gunicorn, PostgreSQL,
Redis, the emulator; multiprocess metrics files).

Two gunicorns side by side on the same database, cache and emulator: the stack's own and a
second one started here, one with ``METRICS_ENABLED=1`` and one with ``0``, swapped after half
the samples (a difference between the two servers cancels out). Samples are
taken in pairs, one from each, in alternating order, so the shared box's load (it swings a lot)
hits both alike: the plain contact page (no metrics code: the control), the warm sidebar (a
cache hit: single-flight counter and the lookup histogram) and the cold sidebar (one SOQL
query: the call counter and its log line too). Writes the ``metrics`` section of
bench/RESULTS.md.

    .venv/bin/python bench/metrics_overhead.py [-n SAMPLES] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HX, Timer, machine, ms, summary, write_section  # noqa: E402
from stack import EXACT_EMAILS, THREADS, WORKERS, Stack  # noqa: E402

from ops.stack import ROOT, free_port  # noqa: E402

LIMIT = 1.05


def start_twin(stack: Stack, *, metrics: bool, port: int) -> tuple[subprocess.Popen, str]:
    """A second gunicorn like the stack's, on another port."""
    command = stack.launcher.web_command()
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = {**stack.env, "METRICS_ENABLED": "1" if metrics else "0"}
    twin = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return twin, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    twin.kill()
    raise RuntimeError("the metrics-off gunicorn did not start")


COST_CODE = """
import logging, os, time, django
django.setup()
from ops import metrics
logging.getLogger("ops.salesforce").setLevel(logging.WARNING)  # the line, not its output
n = 20000
start = time.perf_counter()
for _ in range(n):
    with metrics.lookup("sidebar"):
        metrics.cache_request("miss")
        with metrics.salesforce_call("query"):
            pass
print((time.perf_counter() - start) / n * 1e6)
"""


def recording_cost(stack_env: dict | None = None) -> dict[str, float]:
    """Microseconds of recording per cold lookup (histogram, cache miss, call counter),
    multiprocess files on, vs METRICS_ENABLED=0: CPU time, not the box's noise."""
    import os
    import tempfile

    found = {}
    for on in (True, False):
        with tempfile.TemporaryDirectory() as directory:
            env = {
                **os.environ,
                **(stack_env or {}),
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "SECRET_KEY": "metrics-cost-0123456789-abcdefghijklmnopqrstuvwxyz",
                "PROMETHEUS_MULTIPROC_DIR": directory,
                "METRICS_ENABLED": "1" if on else "0",
            }
            done = subprocess.run(  # noqa: S603
                [sys.executable, "-c", COST_CODE],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            found["on" if on else "off"] = float(done.stdout.split()[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="sample pairs per figure")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    info = machine()
    cost = recording_cost()
    times = {(figure, on): [] for figure in ("plain", "warm", "cold") for on in (True, False)}
    twin_port = free_port()
    with Stack() as stack:
        twin = None
        try:
            contacts = stack.contact_ids(EXACT_EMAILS)
            # Half the pairs with the stack's gunicorn on and the twin off, then swapped: a
            # difference between the two servers themselves cancels out.
            for half, stack_on in enumerate((True, False)):
                stack.launcher.env["METRICS_ENABLED"] = "1" if stack_on else "0"
                if half:
                    stack._stop_gunicorn()
                    stack._start_gunicorn()
                    twin.terminate()
                    twin.wait(30)
                twin, twin_base = start_twin(stack, metrics=not stack_on, port=twin_port)
                bases = {stack_on: stack.base, not stack_on: twin_base}
                timers = {on: Timer(stack.session("agent@acme.test"), bases[on]) for on in bases}
                print(f"== warm-up (half {half + 1})", flush=True)
                for t in timers.values():
                    for pk in contacts:
                        t.get(f"/w/acme/contacts/{pk}/")
                        t.get(f"/w/acme/contacts/{pk}/panels/salesforce/", HX, "View in Salesforce")
                print(f"== {args.n // 2} pairs per figure", flush=True)
                for i in range(args.n // 2):
                    pk = contacts[i % len(contacts)]
                    panel = f"/w/acme/contacts/{pk}/panels/salesforce/"
                    for on in (True, False) if i % 2 == 0 else (False, True):
                        stack.clear_salesforce_cache()
                        times["cold", on].append(timers[on].get(panel, HX, "View in Salesforce"))
                        times["warm", on].append(timers[on].get(panel, HX, "View in Salesforce"))
                        times["plain", on].append(timers[on].get(f"/w/acme/contacts/{pk}/"))
            metrics_base = bases[True]
            start = time.perf_counter()
            scraped = requests.get(f"{metrics_base}/metrics", timeout=30)
            scrape_ms = (time.perf_counter() - start) * 1000
            if "teaminbox_salesforce_calls_total" not in scraped.text:
                raise RuntimeError("metrics on, but /metrics has no Salesforce calls")
        finally:
            if twin is not None:
                twin.terminate()
                twin.wait(30)
        notes = stack.notes
    rows, worst = [], 0.0
    control = summary(times["plain", True])["median"] / summary(times["plain", False])["median"]
    for figure, label in (
        ("plain", "plain contact page (control: no metrics code)"),
        ("warm", "warm sidebar (cache hit)"),
        ("cold", "cold sidebar (one SOQL query)"),
    ):
        on, off = summary(times[figure, True]), summary(times[figure, False])
        ratio = on["median"] / off["median"]
        if figure != "plain":
            worst = max(worst, ratio)
        rows.append(
            f"| {label} | {ms(off['median'])} / {ms(off['p95'])} | "
            f"{ms(on['median'])} / {ms(on['p95'])} | {ratio:.3f} | {ratio / control:.3f} |"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""## Metrics on vs off (issue 25, V2)

Taken {stamp} at commit {info["commit"]} on a **shared 2-core box** ({info["cpu"]}, {info["ram"]},
load average before {info["load"]}) with `.venv/bin/python bench/metrics_overhead.py -n {args.n}`
(`make bench-metrics`): two gunicorns ({WORKERS} gthread workers x {THREADS} threads each) on
the same PostgreSQL, Redis and emulator, `PROMETHEUS_MULTIPROC_DIR` set, one with
`METRICS_ENABLED=1`, one with `0`, swapped (both restarted) after half the samples; {args.n}
sample pairs per figure, the two servers asked in alternating order. Target: on / off no worse
than {LIMIT}.

| figure (ms, median / p95) | metrics off | metrics on | on / off (median) | ÷ control's |
|---|---|---|---|---|
{chr(10).join(rows)}

Recording itself, timed in-process (`recording_cost`: a lookup's histogram, cache-miss and
call counters with multiprocess files, 20,000 times): {cost["on"]:.1f} µs per cold lookup with
metrics on, {cost["off"]:.1f} µs off, against a median cold sidebar of {ms(summary(times["cold", False])["median"])} ms.

Worst ratio of the instrumented figures {worst:.3f}: {"within" if worst <= LIMIT else "ABOVE"} the
{LIMIT} target. One `/metrics` scrape afterwards (every worker's multiprocess files, plus the
database and cache state) took {scrape_ms:.0f} ms.{(" Notes: " + "; ".join(notes)) if notes else ""}
"""
    print()
    print(text)
    if not args.no_write:
        write_section("metrics", text)
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
