"""The agent's Salesforce tools (issue 23), `make bench-agent-tools`: exactly-once logging (A5) and
the cost of routing by owner (A6), counted at the emulator.

- A5: ROUNDS conversations, each clicked "Log to Salesforce" by 50 threads at once (PostgreSQL,
  one connection per thread); then conversations whose create Salesforce saves but answers after
  the client's timeout (the emulator's ``hang_after_write`` fault). Counted: Task POSTs and Tasks
  in Salesforce per conversation (exactly 1 each is the target).
- A6: new conversations from new contacts, routed by the worker's function: Salesforce calls per
  new contact (at most 1) and per contact the shared cache already holds (0).

Runs on this machine's PostgreSQL and Redis under its own names (DATABASE_URL defaults to the
``wt23`` database, CACHE_URL to Redis db 6) with an in-process emulator. Not part of make test.

    .venv/bin/python bench/agent_tools.py [--rounds 10] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wt23")
os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from cryptography.fernet import Fernet  # noqa: E402

os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())


def _ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


_ensure_database()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from run import machine, write_section  # noqa: E402

from salesforce_emulator.testing import running_emulator  # noqa: E402

JANE = "0035g00000Con01AAB"
ROUTED_EMAILS = [
    "jane.cooper@northwind.example",
    "marcus.reed@contoso.example",
    "evan@tailspin.example",
    "fatima.khan@contoso.example",
    "diego.lopez@contoso.example",
    "hannah.schmidt@contoso.example",
    "yusuf.demir@tailspin.example",
    "grace.okafor@tailspin.example",
    "tom.becker@wide.example",
    "aisha.rahman@globex.example",
    "nobody-1@nowhere.example",
    "nobody-2@nowhere.example",
]


def _setup(emu):
    from inbox.models import Conversation
    from integrations.salesforce import services
    from tests.salesforce_support import connect_workspace
    from workspace.models import Membership, Role, User, Workspace

    settings.SALESFORCE_LOGIN_URL = emu.login_url
    settings.SALESFORCE_CLIENT_ID = emu.client_id
    settings.SALESFORCE_CLIENT_SECRET = emu.client_secret
    settings.SALESFORCE_CALLBACK_URL = "http://127.0.0.1:8000/integrations/salesforce/callback/"
    settings.SALESFORCE_TIMEOUT = 2.0
    settings.SALESFORCE_CONNECT_TIMEOUT = 1.0
    stamp = dt.datetime.now(dt.UTC).strftime("%H%M%S%f")
    workspace = Workspace.objects.create(name=f"Bench {stamp}", slug=f"bench-{stamp}")
    agent = User.objects.create_user(email=f"agent-{stamp}@bench.test", password="x")
    ada = User.objects.filter(email="ada.admin@acme-corp.example").first() or (
        User.objects.create_user(email="ada.admin@acme-corp.example", password="x")
    )
    Membership.objects.create(user=agent, workspace=workspace, role=Role.AGENT)
    Membership.objects.create(user=ada, workspace=workspace, role=Role.AGENT)
    connection = connect_workspace(workspace, login_url=emu.login_url)
    services.set_activity_logging(connection, on=True, actor=None)
    return workspace, agent, connection, Conversation


def _conversation(workspace, n: int):
    from contacts.models import Contact
    from inbox.models import Conversation, Message

    contact = Contact.objects.create(
        workspace=workspace, name=f"Jane {n}", email="jane.cooper@northwind.example"
    )
    conversation = Conversation.objects.create(
        workspace=workspace, contact=contact, subject=f"Bench {n}"
    )
    Message.objects.create(conversation=conversation, direction="in", body=f"Message {n}")
    return conversation


def _tasks(emu, connection, marker: str) -> int:
    import requests

    response = requests.get(
        f"{connection.instance_url}/services/data/v62.0/query",
        params={"q": f"SELECT Id FROM Task WHERE Subject LIKE '%[{marker}]%'"},
        headers={"Authorization": f"Bearer {connection.access_token}"},
        timeout=5,
    )
    return response.json()["totalSize"]


def bench_concurrent(emu, workspace, agent, connection, rounds: int) -> dict:
    from integrations.salesforce.activity import log_conversation
    from integrations.salesforce.models import SalesforceActivityLog, SalesforceConnection
    from tests.conftest import run_threads

    posts_per, tasks_per, states, seconds = [], [], {}, []
    for n in range(rounds):
        conversation = _conversation(workspace, n)
        emu.reset_log()
        before = len([w for w in emu.writes() if w["sobject"] == "Task" and w["method"] == "POST"])

        def click(i, conversation=conversation):
            return log_conversation(
                connection=SalesforceConnection.objects.get(pk=connection.pk),
                conversation=type(conversation).objects.get(pk=conversation.pk),
                actor=agent,
                who_id=JANE,
            ).state

        started = time.monotonic()
        results, failures = run_threads(50, click)
        seconds.append(time.monotonic() - started)
        assert not failures, failures
        for state in results:
            states[state] = states.get(state, 0) + 1
        marker = SalesforceActivityLog.objects.get(conversation=conversation).marker
        posts = [w for w in emu.writes() if w["sobject"] == "Task" and w["method"] == "POST"]
        posts_per.append(len(posts) - before)
        tasks_per.append(_tasks(emu, connection, marker))
    return {"posts": posts_per, "tasks": tasks_per, "states": states, "seconds": seconds}


def bench_timeouts(emu, workspace, agent, connection, count: int) -> dict:
    from integrations.salesforce.activity import log_conversation
    from integrations.salesforce.models import SalesforceActivityLog

    posts_per, tasks_per, states, lookups = [], [], {}, 0
    emu.set_fault("hang_after_write", value=settings.SALESFORCE_TIMEOUT + 1.5)
    try:
        for n in range(count):
            conversation = _conversation(workspace, 1000 + n)
            emu.reset_log()
            before = len(
                [w for w in emu.writes() if w["sobject"] == "Task" and w["method"] == "POST"]
            )
            outcome = log_conversation(
                connection=connection, conversation=conversation, actor=agent, who_id=JANE
            )
            states[outcome.state] = states.get(outcome.state, 0) + 1
            marker = SalesforceActivityLog.objects.get(conversation=conversation).marker
            posts = [w for w in emu.writes() if w["sobject"] == "Task" and w["method"] == "POST"]
            posts_per.append(len(posts) - before)
            lookups += len([e for e in emu.request_log() if "FROM Task" in (e["query"] or "")])
            tasks_per.append(_tasks(emu, connection, marker))
    finally:
        emu.set_fault("hang_after_write", value=None)
    return {"posts": posts_per, "tasks": tasks_per, "states": states, "lookups": lookups}


def bench_routing(emu, workspace, connection) -> dict:
    from api.inbound import Sender, receive_message
    from integrations.salesforce import lookup, services
    from integrations.salesforce.routing import route_due

    services.set_owner_routing(
        connection, on=True, priority_field="Customer_Tier__c", priority_value="T1", actor=None
    )
    connection.refresh_from_db()

    def queries() -> int:
        return len([e for e in emu.request_log() if "/query" in e["path"]])

    def arrive(email: str, key: str):
        receive_message(
            workspace=workspace,
            api_key=None,
            external_id=key,
            channel="email",
            sender=Sender(name=email, email=email),
            text="Hello",
            sent_at=None,
        )

    cache.clear()
    emu.reset_log()
    for i, email in enumerate(ROUTED_EMAILS):
        arrive(email, f"new-{i}")
    inbound_calls = queries()
    while route_due(batch=50):
        pass
    new_calls = queries() - inbound_calls
    # Cached: the sidebar looked these contacts up first (same single query, same fields).
    cache.clear()
    services.set_owner_routing(
        connection, on=False, priority_field="", priority_value="", actor=None
    )
    services.set_owner_routing(
        connection, on=True, priority_field="Customer_Tier__c", priority_value="T1", actor=None
    )
    connection.refresh_from_db()
    for email in ROUTED_EMAILS:
        lookup.find_contact(connection, email=email)
    from inbox.models import Conversation

    Conversation.objects.filter(workspace=workspace, channel="email").update(status="closed")
    emu.reset_log()
    for i, email in enumerate(ROUTED_EMAILS):
        arrive(email, f"again-{i}")
    while route_due(batch=50):
        pass
    cached_calls = queries()
    return {
        "contacts": len(ROUTED_EMAILS),
        "inbound_calls": inbound_calls,
        "new_calls": new_calls,
        "cached_calls": cached_calls,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="conversations x 50 clicks")
    parser.add_argument("--timeouts", type=int, default=5, help="timeout-after-save attempts")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    call_command("migrate", "--noinput", verbosity=0)
    with running_emulator() as emu:
        workspace, agent, connection, _ = _setup(emu)
        concurrent = bench_concurrent(emu, workspace, agent, connection, args.rounds)
        timeouts = bench_timeouts(emu, workspace, agent, connection, args.timeouts)
        routing = bench_routing(emu, workspace, connection)
    info = machine()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    c, t, r = concurrent, timeouts, routing
    secs = sorted(c["seconds"])
    text = "\n".join(
        [
            "## The agent's Salesforce tools (issue 23: A5 exactly-once log, A6 routing cost)",
            "",
            f"`python bench/agent_tools.py --rounds {args.rounds} --timeouts {args.timeouts}` on "
            f"{when}, commit {info['commit']}, load average {info['load']} (shared 2-core box); "
            "PostgreSQL and Redis on loopback, the emulator in process; counted at the emulator.",
            "",
            "| # | measurement | target | measured |",
            "|---|---|---|---|",
            f"| A5 | {args.rounds} conversations x 50 concurrent clicks: Task POSTs per "
            f"conversation | exactly 1 | {sorted(set(c['posts']))} (total {sum(c['posts'])}) |",
            f"| A5 | same: Tasks in Salesforce per conversation | exactly 1 | "
            f"{sorted(set(c['tasks']))} |",
            f'| A5 | same: what the 50 clickers were told | one "logged" | {c["states"]} |',
            f"| A5 | same: wall time of 50 clicks (median / max) | | {secs[len(secs) // 2]:.2f} s / "
            f"{secs[-1]:.2f} s |",
            f"| A5 | {args.timeouts} creates saved but answered after the client's "
            f"{settings.SALESFORCE_TIMEOUT:g} s timeout: Task POSTs per conversation | exactly 1 | "
            f"{sorted(set(t['posts']))} |",
            f"| A5 | same: Tasks in Salesforce per conversation | exactly 1 | "
            f"{sorted(set(t['tasks']))}; outcomes {t['states']}; {t['lookups']} lookups by "
            "marker |",
            f"| A6 | {r['contacts']} messages from new contacts: Salesforce calls in the inbound "
            f"requests | 0 | {r['inbound_calls']} |",
            f"| A6 | routing them (worker): Salesforce calls per new contact | <= 1 | "
            f"{r['new_calls']} for {r['contacts']} ({r['new_calls'] / r['contacts']:.2f}) |",
            f"| A6 | routing contacts the shared cache holds: Salesforce calls | 0 | "
            f"{r['cached_calls']} for {r['contacts']} |",
        ]
    )
    print(text)
    if not args.no_write:
        write_section("agent-tools", text)
    ok = (
        set(c["posts"]) == {1}
        and set(c["tasks"]) == {1}
        and set(t["posts"]) == {1}
        and set(t["tasks"]) == {1}
        and r["inbound_calls"] == 0
        and r["new_calls"] <= r["contacts"]
        and r["cached_calls"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
