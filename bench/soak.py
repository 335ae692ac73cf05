"""Token soak (issue 9), `make soak`: refresh token rotation with short sessions, production shape.

Starts the stack (bench/stack.py: gunicorn 4 gthread workers, PostgreSQL, Redis, the emulator),
switches the emulator's External Client App to refresh token rotation with a 2 s session
lifetime, and has 20 agents (each a signed-in browser session in its own thread) open cold
Salesforce sidebars for 60 s. Every few requests the session has expired, so the product's
workers keep meeting expired sessions at the same moment.

Prints the four figures of the issue and writes its section of bench/RESULTS.md:
- reconnect-needed: connections marked "Reconnect needed" during the run (target 0);
- reuses: rotated-out refresh tokens presented to Salesforce (target 0);
- refresh grants per expiry: refresh grants / sessions that expired and were renewed (target 1);
- sidebar errors: sidebars that did not show the Salesforce Contact (target 0).

    .venv/bin/python bench/soak.py [--agents 20] [--seconds 60] [--session-seconds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, write_section  # noqa: E402
from stack import ACME_ORG_ID, EXACT_EMAILS, THREADS, WORKERS, Stack  # noqa: E402

HX = {"HX-Request": "true"}


def agent_loop(browser, stack: Stack, email_ids: list[int], stop: threading.Event, out, seed: int):
    i = seed
    while not stop.is_set():
        pk = email_ids[i % len(email_ids)]
        i += 7
        started = time.time()
        try:
            answer = browser.get(
                f"{stack.base}/w/acme/contacts/{pk}/panels/salesforce/", headers=HX, timeout=30
            )
            ok = answer.status_code == 200 and 'data-state="result"' in answer.text
            state = "result" if ok else _state(answer)
        except Exception as exc:  # noqa: BLE001 - counted as an error
            ok, state = False, type(exc).__name__
        out.append((started, ok, state))


def _state(answer) -> str:
    marker = 'data-state="'
    if marker in answer.text:
        return answer.text.split(marker, 1)[1].split('"', 1)[0]
    return f"HTTP {answer.status_code}"


def refresh_grants(log: list[dict]) -> list[dict]:
    return [
        e
        for e in log
        if e["path"].endswith("/oauth2/token") and e.get("grant_type") == "refresh_token"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--session-seconds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    command = "make soak" if os.environ.get("MAKELEVEL") else "python bench/soak.py"
    info = machine()
    # A 1-s cache: nearly every sidebar is cold, so nearly every one calls Salesforce.
    with Stack(extra_env={"SALESFORCE_CACHE_SECONDS": "1"}) as stack:
        emulator = stack.emulator
        emulator.set_token_policy(
            refresh_token_rotation=True, session_timeout_seconds=args.session_seconds
        )
        ids = stack.contact_ids(EXACT_EMAILS)
        emulator.expire_sessions(ACME_ORG_ID)  # start on the new clock
        emulator.reset_log()
        stop, results = threading.Event(), []
        # Signed in before the clock starts: 20 password hashes at once are not the subject.
        browsers = [stack.session("agent@acme.test") for _ in range(args.agents)]
        threads = [
            threading.Thread(target=agent_loop, args=(browser, stack, ids, stop, results, n))
            for n, browser in enumerate(browsers)
        ]
        t0 = time.time()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join(60)
        t_end = time.time()
        log = emulator.request_log()
        status = stack.sql(
            "SELECT s.status FROM salesforce_salesforceconnection s JOIN workspace_workspace w "
            "ON w.id = s.workspace_id WHERE w.slug = 'acme'"
        )[0][0]
        reconnect_events = stack.sql(
            "SELECT count(*) FROM salesforce_salesforceevent WHERE kind = 'reconnect_needed'"
        )[0][0]

    grants = refresh_grants(log)
    reuses = [e for e in log if e.get("reuse_detected")]
    expired_401 = [e for e in log if e.get("status") == 401 and "/services/data/" in e["path"]]
    # One grant per expiry: a grant within the session lifetime of the previous one renewed a
    # session that had not expired (a second grant for the same expiry).
    times = sorted(e["ts"] for e in grants)
    early = sum(1 for a, b in zip(times, times[1:], strict=False) if b - a < args.session_seconds)
    expiries = len(grants) - early
    per_expiry = len(grants) / expiries if expiries else float("nan")
    errors = [r for r in results if not r[1]]
    states = Counter(r[2] for r in errors)
    figures = {
        "reconnect_needed": int(status != "connected") + reconnect_events,
        "reuses": len(reuses),
        "grants_per_expiry": per_expiry,
        "sidebar_errors": len(errors),
    }
    text = report(args, info, command, results, grants, expired_401, expiries, states, figures)
    text += f"\n\nRun: {t_end - t0:.0f} s.\n"
    print(text)
    if not args.no_write:
        write_section("soak", text)
    bad = (figures["reconnect_needed"] or figures["reuses"] or figures["sidebar_errors"]) or not (
        0.99 < per_expiry < 1.01
    )
    return 1 if bad else 0


def report(args, info, command, results, grants, expired_401, expiries, states, figures) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Token soak: rotation on, short sessions (issue 9)",
        "",
        f"`{command}` on {when}, commit {info['commit']}: {info['nproc']} cores ({info['cpu']}), "
        f"{info['ram']}, Python {info['python']}, load before the run {info['load']}. "
        f"gunicorn {WORKERS} gthread workers x {THREADS} threads, PostgreSQL, Redis; the "
        f"emulator's app with refresh token rotation and a {args.session_seconds} s session "
        f"lifetime; {args.agents} agents opening sidebars for {args.seconds} s with a 1 s "
        "Salesforce cache (nearly every sidebar cold).",
        "",
        "| figure | target | measured |",
        "|---|---|---|",
        f"| connections marked reconnect-needed | 0 | {figures['reconnect_needed']} |",
        f"| rotated-out refresh tokens presented (reuse) | 0 | {figures['reuses']} |",
        f"| refresh grants per session expiry | 1 | {figures['grants_per_expiry']:.2f} "
        f"({len(grants)} grants, {expiries} expiries) |",
        f"| sidebar errors | 0 | {figures['sidebar_errors']} of {len(results)} sidebars |",
        "",
        f"Salesforce answered 401 (expired session) {len(expired_401)} times; each expiry was "
        "renewed by one refresh grant while the other requests meeting it waited for that grant "
        "and reused its token.",
    ]
    if states:
        lines.append(f"Sidebar states other than a result: {dict(states)}.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
