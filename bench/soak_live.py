"""Soak of the live-updates listener against the emulator (issue 24, E6): `make soak-live`.

One connection with live updates on, the listener (``integrations.salesforce.listener``) running
in this process with the product's own settings (keepalive pings every
SALESFORCE_PUBSUB_KEEPALIVE_SECONDS, stall check after SALESFORCE_PUBSUB_STALL_SECONDS), against
an emulator process with Salesforce's timings: keepalive within 270 s, a stream with nothing
requested closed after 70 s, and gRPC's default server ping policy (pings closer than 5 minutes
earn strikes; after 2, GOAWAY "too_many_pings"). For ``--minutes`` (default 30):

- a Contact edit every ``--edit-every`` seconds (control endpoint: a CDC event, no API use),
  sparse on purpose so the stream spends minutes with nothing but keepalives;
- halfway, every open stream of the org stalls (silent, never closed);

and it reports: streams that ended with GOAWAY (or any other failure), the stall's detection and
recovery times (target: within 5 minutes), and edits whose change mark never reached the cache
(target: none). Database: a temporary SQLite file; cache: Redis db ``SOAK_REDIS_DB`` (7) under
its own key prefix, flushed at the end. ``--client-keepalive 60`` reproduces the old setting.

    .venv/bin/python bench/soak_live.py [--minutes 30] [--edit-every 150] [--client-keepalive S]
        [--scale N]   (every timing N times shorter: Salesforce's, gRPC's and the product's)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salesforce_emulator.testing import consent, spawn_emulator  # noqa: E402

ACME = "00D5g000004AcmEEAS"
CALLBACK = "http://127.0.0.1:8000/integrations/salesforce/callback/"
CONTACTS = ["0035g00000Con01AAB", "0035g00000Con02AAB", "0035g00000Con03AAB"]


def configure(emulator, tmp: Path, args) -> None:
    from cryptography.fernet import Fernet

    redis_db = os.environ.get("SOAK_REDIS_DB", "7")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "soak-live-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": "http://127.0.0.1:8000",
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{tmp / 'soak.sqlite3'}",
            "CACHE_URL": f"redis://127.0.0.1:6379/{redis_db}?key_prefix=soak-live-{os.getpid()}",
            "SALESFORCE_LOGIN_URL": emulator.login_url,
            "SALESFORCE_CLIENT_ID": emulator.client_id,
            "SALESFORCE_CLIENT_SECRET": emulator.client_secret,
            "SALESFORCE_PUBSUB_URL": f"http://{emulator.pubsub_target}",
            "SALESFORCE_LISTENER_HEARTBEAT_SECONDS": "5",
        }
    )
    keepalive = args.client_keepalive or float(
        os.environ.get("SALESFORCE_PUBSUB_KEEPALIVE_SECONDS", 330)
    )
    stall = float(os.environ.get("SALESFORCE_PUBSUB_STALL_SECONDS", 285))
    # --scale N shortens every Salesforce and product timing N times (a quick run).
    os.environ["SALESFORCE_PUBSUB_KEEPALIVE_SECONDS"] = str(keepalive / args.scale)
    os.environ["SALESFORCE_PUBSUB_STALL_SECONDS"] = str(stall / args.scale)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def connect():
    """A workspace connected to the emulator's Acme org, live updates on."""
    from integrations.salesforce import oauth, services
    from integrations.salesforce.models import SalesforceConnection
    from workspace.models import Workspace

    login = os.environ["SALESFORCE_LOGIN_URL"]
    workspace = Workspace.objects.create(name="Soak", slug="soak")
    request = oauth.authorization_request(login_url=login, redirect_uri=CALLBACK)
    location = consent(request.url, username="admin@acme-corp.example")
    code = parse_qs(urlsplit(location).query)["code"][0]
    tokens = oauth.exchange_code(
        login_url=login, code=code, code_verifier=request.code_verifier, redirect_uri=CALLBACK
    )
    connection = SalesforceConnection.objects.create(
        workspace=workspace,
        status=SalesforceConnection.Status.CONNECTED,
        login_url=login,
        org_id=ACME,
        instance_url=tokens.instance_url,
        identity_url=tokens.identity_url,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        related_lists=[],
        field_names=["Name", "Email", "Title"],
    )
    services.set_live_updates(connection, on=True, actor=None)
    return connection


def run(args) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="soak-live-") as tmp,
        spawn_emulator(
            pubsub_port=0,
            pubsub_keepalive=270 / args.scale,
            pubsub_min_ping_seconds=300 / args.scale,
            pubsub_idle_close=70 / args.scale,
        ) as emulator,
    ):
        configure(emulator, Path(tmp), args)
        from django.conf import settings
        from django.core.cache import cache

        from integrations.salesforce import live
        from integrations.salesforce.listener import Listener, TopicStream

        failures: list[tuple[float, str]] = []
        original = TopicStream._back_off

        def recording(self, reason):
            failures.append((time.monotonic(), reason))
            original(self, reason)

        TopicStream._back_off = recording
        connection = connect()
        listener = Listener()
        thread = threading.Thread(target=listener.run, daemon=True)
        started = time.monotonic()
        thread.start()
        end = started + args.minutes * 60
        stall_at = started + args.minutes * 60 * args.stall_at
        edits: list[tuple[float, float, str]] = []  # (monotonic, wall clock, record id)
        stall_mono = detected = recovered = None
        next_edit = started + 30
        stream_stalls = 0
        print(
            f"soak-live: {args.minutes:g} min, timings / {args.scale:g}, client keepalive "
            f"{settings.SALESFORCE_PUBSUB_KEEPALIVE_SECONDS:g} s, stall check "
            f"{settings.SALESFORCE_PUBSUB_STALL_SECONDS:g} s, edit every {args.edit_every:g} s",
            flush=True,
        )
        try:
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_edit:
                    record = CONTACTS[len(edits) % len(CONTACTS)]
                    emulator.update_record("Contact", record, Title=f"Soak edit {len(edits)}")
                    edits.append((now, time.time(), record))
                    next_edit = now + args.edit_every
                if stall_mono is None and now >= stall_at:
                    emulator.stall_pubsub(ACME)
                    stall_mono = now
                    print(f"  {now - started:7.0f} s: stream stalled", flush=True)
                streams = list(listener.streams.values())
                count = sum(s.stalls for s in streams)
                if count > stream_stalls:
                    stream_stalls = count
                    if stall_mono is not None and detected is None:
                        detected = now
                        print(f"  {now - started:7.0f} s: stall detected", flush=True)
                if (
                    detected
                    and recovered is None
                    and streams
                    and all(s.healthy for s in streams)
                    and any(s.last_response > detected for s in streams)
                ):
                    recovered = now
                    print(f"  {now - started:7.0f} s: resubscribed and healthy", flush=True)
                time.sleep(0.5)
            time.sleep(10)  # the last edit's event
            missed = []
            for _, wall, record in edits:
                key = live.change_keys(connection, record_ids=[record])[0]
                marked = cache.get(key) or 0
                if marked < wall - live.CLOCK_MARGIN_SECONDS:
                    missed.append(record)
            # Marks of one record overwrite each other: an edit counts as seen when a mark at
            # or after it exists; the event count below checks every single edit.
            stats = emulator.pubsub_stats()
        finally:
            listener.stop()
            thread.join(timeout=15)
            cache.clear()
    goaway = [r for _, r in failures if "ping" in r.lower() or "goaway" in r.lower()]
    other = [r for _, r in failures if r not in goaway and "No response" not in r]
    # 5 minutes, scaled; the listener's first back-off (1 s) and its 1 s check do not scale.
    target = 300 / args.scale + (0 if args.scale == 1 else 2.5)
    detect_s = (detected - stall_mono) if detected and stall_mono else None
    recover_s = (recovered - stall_mono) if recovered and stall_mono else None
    print()
    print(f"minutes: {args.minutes:g}")
    print(f"Subscribe calls: {stats['calls'].get('Subscribe', 0)}")
    print(f"events delivered: {stats['delivered'].get(ACME, 0)} (edits made: {len(edits)})")
    print(f"streams ended by GOAWAY too_many_pings: {len(goaway)}")
    print(f"other stream failures: {len(other)} {other[:3]}")
    print(
        f"stall: detected after {detect_s and round(detect_s)} s, healthy again after "
        f"{recover_s and round(recover_s)} s (target <= {target:g} s)"
    )
    print(f"edits without a change mark: {len(missed)}")
    ok = (
        not goaway
        and recover_s is not None
        and recover_s <= target
        and not missed
        and stats["delivered"].get(ACME, 0) >= len(edits)
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--edit-every", type=float, default=150.0)
    parser.add_argument("--stall-at", type=float, default=0.5, help="fraction of the run")
    parser.add_argument("--client-keepalive", type=float, default=None)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="divide every timing by this (quick runs)"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
