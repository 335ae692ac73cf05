"""Metrics on vs off (issue 25, V2): the bench's lookup figures with Prometheus recording on
and off, on the production shape (bench/stack.py through ops.stack: gunicorn, PostgreSQL,
Redis, the emulator; multiprocess metrics files).

One stack; gunicorn is restarted with ``METRICS_ENABLED=1`` / ``0`` between rounds, and the
rounds alternate (on, off, off, on, ...) so the shared box's load hits both alike. Each round
measures bench/run.py's figures 1 (warm sidebar vs plain page) and 2 (cold sidebar), and
/metrics is scraped once per "on" round. Writes the ``metrics`` section of bench/RESULTS.md.

    .venv/bin/python bench/metrics_overhead.py [-n SAMPLES] [--rounds 4] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HX, Timer, cold_vs_direct, machine, ms, warm_vs_plain, write_section  # noqa: E402
from stack import EXACT_EMAILS, THREADS, WORKERS, Stack  # noqa: E402

LIMIT = 1.05


def restart_with_metrics(stack: Stack, on: bool) -> None:
    stack.launcher.env["METRICS_ENABLED"] = "1" if on else "0"
    stack._stop_gunicorn()
    stack._start_gunicorn()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="samples per figure per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per mode (alternating)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    info = machine()
    figures: dict[bool, dict[str, list[float]]] = {
        mode: {"plain": [], "warm": [], "cold": []} for mode in (True, False)
    }
    scrape_ms: list[float] = []
    order = [(r % 2 == 0) == (i == 0) for r in range(args.rounds) for i in range(2)]
    with Stack() as stack:
        contacts = stack.contact_ids(EXACT_EMAILS)
        for number, on in enumerate(order, 1):
            restart_with_metrics(stack, on)
            agent = stack.session("agent@acme.test")
            t = Timer(agent, stack.base)
            for pk in contacts:  # warm-up of this gunicorn's workers
                t.get(f"/w/acme/contacts/{pk}/")
                t.get(f"/w/acme/contacts/{pk}/panels/salesforce/", HX, "View in Salesforce")
            print(f"== round {number}/{len(order)}: metrics {'on' if on else 'off'}", flush=True)
            warm = warm_vs_plain(stack, t, contacts, args.n)
            cold = cold_vs_direct(stack, t, contacts, max(20, args.n // 2))
            figures[on]["plain"].append(warm["plain"]["median"])
            figures[on]["warm"].append(warm["warm"]["median"])
            figures[on]["cold"].append(cold["cold"]["median"])
            if on:
                start = time.perf_counter()
                scraped = requests.get(f"{stack.base}/metrics", timeout=30)
                scrape_ms.append((time.perf_counter() - start) * 1000)
                if "teaminbox_salesforce_calls_total" not in scraped.text:
                    raise RuntimeError("metrics on, but /metrics has no Salesforce calls")
        notes = stack.notes
    rows, worst = [], 0.0
    for figure, label in (
        ("plain", "plain contact page"),
        ("warm", "warm sidebar (cache hit)"),
        ("cold", "cold sidebar (one SOQL query)"),
    ):
        on = statistics.median(figures[True][figure])
        off = statistics.median(figures[False][figure])
        ratio = on / off
        worst = max(worst, ratio)
        rows.append(f"| {label} | {ms(off)} | {ms(on)} | {ratio:.3f} |")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""## Metrics on vs off (issue 25, V2)

Taken {stamp} at commit {info["commit"]} on a **shared 2-core box** ({info["cpu"]}, {info["ram"]},
load average before {info["load"]}); `.venv/bin/python bench/metrics_overhead.py -n {args.n}
--rounds {args.rounds}`: gunicorn {WORKERS} gthread workers x {THREADS} threads, PostgreSQL,
Redis, the emulator, `PROMETHEUS_MULTIPROC_DIR` set; gunicorn restarted with
`METRICS_ENABLED=1` or `0` for each of {len(order)} alternating rounds. Each cell: the median
over the rounds of each round's median ({args.n} warm and plain samples, {max(20, args.n // 2)}
cold ones per round). Target: on / off no worse than {LIMIT}.

| figure (median, ms) | metrics off | metrics on | on / off |
|---|---|---|---|
{chr(10).join(rows)}

Worst ratio {worst:.3f}: {"within" if worst <= LIMIT else "ABOVE"} the {LIMIT} target. A
`/metrics` scrape (multiprocess files of every worker, plus the database and cache state) took
{", ".join(f"{x:.0f}" for x in scrape_ms)} ms.{(" Notes: " + "; ".join(notes)) if notes else ""}
"""
    print()
    print(text)
    if not args.no_write:
        write_section("metrics", text)
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
