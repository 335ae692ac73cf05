"""Scale bench (issue 16, L5): list and search pages at 1,000 rows and at 1,000,000 rows
(with issue 22's Inbox search: five messages per conversation, so 5,000,000 messages).

On the production shape (``stack.Stack``: gunicorn, PostgreSQL, Redis, emulator):

1. Acme is seeded to SMALL contacts and SMALL conversations (PostgreSQL ``generate_series``) and
   every page below is timed (the "empty database" column);
2. Acme grows to LARGE contacts and LARGE conversations;
3. Globex is seeded to SMALL, and the same pages are timed for Globex (small) and Acme (large)
   with their requests alternating, so the shared machine's load falls on both sides alike. The
   ratio is large / small from this step.

Method: one signed-in agent per workspace, sequential requests over kept-alive sessions; per page
WARMUP untimed requests, then ROUNDS timed ones; medians. Deep pages are keyset links whose cursor
points at the middle of the list (the product's own cursor encoding).

    make bench-scale                      # 1,000 vs 1,000,000
    .venv/bin/python bench/scale.py --large 50000 --rounds 15   # a dry run
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import RESULTS, write_section  # noqa: E402
from stack import DB_NAME, Stack  # noqa: E402

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Donald",
    "Kimberly",
    "Steven",
    "Emily",
    "Paul",
    "Donna",
    "Andrew",
    "Michelle",
    "Joshua",
    "Carol",
    "Kenneth",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Deborah",
    "George",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Ronald",
    "Sharon",
    "Edward",
    "Laura",
    "Jason",
    "Cynthia",
    "Jeffrey",
    "Kathleen",
    "Ryan",
    "Amy",
    "Jacob",
    "Angela",
    "Gary",
    "Shirley",
    "Nicholas",
    "Anna",
    "Eric",
    "Brenda",
    "Jonathan",
    "Pamela",
    "Stephen",
    "Emma",
    "Larry",
    "Nicole",
    "Justin",
    "Helen",
    "Scott",
    "Samantha",
    "Brandon",
    "Katherine",
    "Benjamin",
    "Christine",
    "Samuel",
    "Debra",
    "Gregory",
    "Rachel",
    "Alexander",
    "Carolyn",
    "Frank",
    "Janet",
    "Patrick",
    "Catherine",
    "Raymond",
    "Maria",
    "Jack",
    "Heather",
    "Dennis",
    "Diane",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
]

# Rows numbered lo..hi; names, emails and phones are functions of the number, so the seed is the
# same every run. First and last names are drawn independently (two hashes of the number) from
# 120 each, so a first or a last name is shared by ~1/120 of the contacts; emails and phones are
# unique. ``email_key`` (H1's identity) of these plain ASCII lower-case addresses is the address.
SEED_CONTACTS = """
INSERT INTO contacts_contact (workspace_id, name, email, email_key, phone, created_at, updated_at)
SELECT %(ws)s,
       f.v || ' ' || l.v,
       e.v,
       e.v,
       '+1 ' || lpad((200 + i / 10000000)::text, 3, '0') || ' ' || lpad((i %% 10000000)::text, 7, '0'),
       now(), now()
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
CROSS JOIN LATERAL (SELECT (%(first)s::text[])[1 + abs(hashint8(i * 31 + 7)) %% %(nf)s] AS v) f
CROSS JOIN LATERAL (SELECT (%(last)s::text[])[1 + abs(hashint8(i)) %% %(nl)s] AS v) l
CROSS JOIN LATERAL (SELECT lower(f.v) || '.' || lower(l.v) || '.' || i || '@'
    || (ARRAY['mail.example', 'shop.example', 'corp.example'])[1 + i %% 3] AS v) e
"""

# About a fifth open, the rest closed; a quarter assigned to the bench agent; last activity spread
# over a year; each conversation belongs to one of the workspace's contacts.
SEED_CONVERSATIONS = """
WITH c AS (SELECT array_agg(id ORDER BY id) AS ids FROM contacts_contact WHERE workspace_id = %(ws)s)
INSERT INTO inbox_conversation
    (workspace_id, contact_id, subject, channel, status, assignee_id, priority, last_activity_at,
     created_at)
SELECT %(ws)s,
       c.ids[1 + (i * 7919) %% cardinality(c.ids)],
       'Order question #' || i,
       (ARRAY['whatsapp', 'email', 'sms', 'webchat'])[1 + i %% 4],
       CASE WHEN i %% 5 = 0 THEN 'open' ELSE 'closed' END,
       CASE WHEN i %% 4 = 0 THEN %(agent)s END,
       false,
       now() - ((i * 104729) %% 31536000) * interval '1 second' - i * interval '1 microsecond',
       now() - interval '1 year'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i, c
"""

# N4 (issue 22): MESSAGES_PER conversation messages, bodies drawn from WORDS by hashes of the
# number, so a word is in ~1/len(WORDS) of the messages; "zephyr<i>" is a word of one message only.
SEED_MESSAGES = """
INSERT INTO inbox_message (conversation_id, direction, body, created_at)
SELECT v.id,
       CASE WHEN m %% 2 = 0 THEN 'in' ELSE 'out' END,
       'Hello, about order ' || v.id || ': the ' || w1.v || ' is ' || w2.v
           || ' again, please ' || w3.v || ' it. ref zephyr' || (v.id * 10 + m),
       v.last_activity_at - (%(per)s - m) * interval '1 minute'
FROM (SELECT id, last_activity_at FROM inbox_conversation
      WHERE workspace_id = %(ws)s AND id > %(after)s) v
CROSS JOIN generate_series(1, %(per)s) AS m
CROSS JOIN LATERAL (SELECT (%(words)s::text[])[1 + abs(hashint8(v.id * 13 + m)) %% %(nw)s] AS v) w1
CROSS JOIN LATERAL (SELECT (%(words)s::text[])[1 + abs(hashint8(v.id * 17 + m)) %% %(nw)s] AS v) w2
CROSS JOIN LATERAL (SELECT (%(words)s::text[])[1 + abs(hashint8(v.id * 19 + m)) %% %(nw)s] AS v) w3
"""
WORDS = [
    "parcel", "invoice", "refund", "delivery", "password", "account", "subscription", "screen",
    "battery", "charger", "warranty", "address", "payment", "discount", "voucher", "login",
    "update", "cable", "printer", "router", "ticket", "booking", "seat", "luggage", "order",
    "label", "courier", "receipt", "contract", "upgrade", "downgrade", "invoice-copy", "bill",
    "card", "bank", "transfer", "app", "email", "phone", "sms", "chat", "refill", "size", "colour",
    "return", "exchange", "damaged", "missing", "late", "broken",
]  # fmt: skip
MESSAGES_PER = 5

TABLES = ("contacts_contact", "inbox_conversation", "inbox_message")


def seed(stack: Stack, slug: str, agent_email: str, size: int, log=print) -> float:
    """Grow a workspace to ``size`` contacts and ``size`` conversations; seconds taken.

    The usual bulk-load recipe: secondary indexes are dropped, rows inserted, the same indexes
    rebuilt from their own definitions (pg_indexes), then VACUUM ANALYZE.
    """
    started = time.monotonic()
    contacts = conversations = size
    (ws,) = stack.sql("SELECT id FROM workspace_workspace WHERE slug = %s", slug)[0]
    (agent,) = stack.sql("SELECT id FROM workspace_user WHERE email = %s", agent_email)[0]
    have_contacts = stack.sql("SELECT count(*) FROM contacts_contact WHERE workspace_id = %s", ws)
    have_convs = stack.sql("SELECT count(*) FROM inbox_conversation WHERE workspace_id = %s", ws)
    url = f"postgresql://postgres@127.0.0.1:{stack.pg_port}/{DB_NAME}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)",
            [list(TABLES)],
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        lo = have_contacts[0][0] + 1
        if contacts >= lo:
            conn.execute(
                SEED_CONTACTS,
                {"ws": ws, "lo": lo, "hi": contacts, "first": FIRST, "last": LAST,
                 "nf": len(FIRST), "nl": len(LAST)},
            )  # fmt: skip
        log(f"   contacts inserted: {time.monotonic() - started:.0f} s")
        lo = have_convs[0][0] + 1
        (after,) = conn.execute(
            "SELECT coalesce(max(id), 0) FROM inbox_conversation WHERE workspace_id = %s", [ws]
        ).fetchone()
        if conversations >= lo:
            conn.execute(
                SEED_CONVERSATIONS, {"ws": ws, "lo": lo, "hi": conversations, "agent": agent}
            )
        log(f"   conversations inserted: {time.monotonic() - started:.0f} s")
        conn.execute(
            SEED_MESSAGES,
            {"ws": ws, "after": after, "per": MESSAGES_PER, "words": WORDS, "nw": len(WORDS)},
        )
        log(f"   messages inserted: {time.monotonic() - started:.0f} s")
        for _, definition in indexes:
            conn.execute(definition)
        log(f"   {len(indexes)} indexes rebuilt: {time.monotonic() - started:.0f} s")
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


CURSORS = """
from core.keyset import KeysetPaginator
from contacts.selectors import ORDERING as CONTACT_ORDER, PAGE_SIZE as CONTACT_PAGE
from contacts.models import Contact
from inbox.models import Conversation
from inbox.selectors import ORDERING as INBOX_ORDER, PAGE_SIZE as INBOX_PAGE
contacts = Contact.objects.filter(workspace__slug={slug!r})
convs = Conversation.objects.filter(workspace__slug={slug!r})
mid = contacts.count() // 2
c = contacts.order_by(*CONTACT_ORDER)[mid]
print("@@contacts", KeysetPaginator(contacts, CONTACT_ORDER, CONTACT_PAGE).cursor_for(c, mid + 1))
mid = convs.count() // 2
v = convs.order_by(*INBOX_ORDER)[mid]
print("@@inbox", KeysetPaginator(convs, INBOX_ORDER, INBOX_PAGE).cursor_for(v, mid + 1))
probe = contacts.order_by("id")[contacts.count() // 2]
print("@@email", probe.email)
print("@@phone", probe.phone)
rare = convs.order_by("id")[convs.count() // 2]
print("@@rare", "zephyr" + str(rare.pk * 10 + 3))
"""


def pages(stack: Stack, slug: str) -> dict[str, str]:
    """The pages to time, as paths (deep links and search targets from the current data)."""
    found = {}
    for line in stack.manage("shell", "-c", CURSORS.format(slug=slug)).splitlines():
        if line.startswith("@@"):
            key, value = line[2:].split(" ", 1)
            found[key] = value
    inbox, contacts = f"/w/{slug}/inbox/", f"/w/{slug}/contacts/"
    return {
        "Inbox, open": f"{inbox}?filter=open",
        "Inbox, closed": f"{inbox}?filter=closed",
        "Inbox, mine": f"{inbox}?filter=mine",
        "Inbox, all": f"{inbox}?filter=all",
        "Inbox, all, middle page (keyset)": f"{inbox}?{urlencode({'filter': 'all', 'after': found['inbox']})}",
        "Contacts, page 1": contacts,
        "Contacts, middle page (keyset)": f"{contacts}?{urlencode({'after': found['contacts']})}",
        'Contacts search "smith"': f"{contacts}?q=smith",
        'Contacts search "arcia" (part of a last name)': f"{contacts}?q=arcia",
        'Contacts search "william" (first names, together in name order)': f"{contacts}?q=william",
        "Contacts search for one email": f"{contacts}?{urlencode({'q': found['email']})}",
        "Contacts search for one phone": f"{contacts}?{urlencode({'q': found['phone']})}",
        "Contacts search for part of an email": f"{contacts}?{urlencode({'q': found['email'].split('@')[0]})}",
        # N4 (issue 22): the Inbox's search, in the All view (every conversation).
        'Inbox search "refund" (a common message word)': f"{inbox}?filter=all&q=refund",
        'Inbox search "refund damaged" (two words)': f"{inbox}?{urlencode({'filter': 'all', 'q': 'refund damaged'})}",
        "Inbox search for a word in one message": f"{inbox}?{urlencode({'filter': 'all', 'q': found['rare']})}",
        'Inbox search "smith" (contact names)': f"{inbox}?filter=all&q=smith",
        "Inbox search for one email": f"{inbox}?{urlencode({'filter': 'all', 'q': found['email']})}",
        'Inbox, open, search "refund"': f"{inbox}?q=refund",
    }


def check(answer, label: str) -> None:
    if answer.status_code != 200 or "<html" not in answer.text:
        raise RuntimeError(f"{label}: {answer.url} answered {answer.status_code}")


def time_pages(stack: Stack, sides: dict, rounds: int, warmup: int) -> dict[str, dict]:
    """Median ms per page for each side; the sides' requests alternate, so load hits both alike.

    ``sides``: name -> (signed-in session, {label: path}).
    """
    medians: dict[str, dict] = {name: {} for name in sides}
    labels = next(iter(sides.values()))[1]
    for label in labels:
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(warmup):
            for http, paths in sides.values():
                check(http.get(stack.base + paths[label], timeout=60), label)
        for r in range(rounds):
            order = list(sides.items()) if r % 2 == 0 else list(reversed(sides.items()))
            for name, (http, paths) in order:
                t0 = time.perf_counter()
                answer = http.get(stack.base + paths[label], timeout=60)
                times[name].append((time.perf_counter() - t0) * 1000)
                check(answer, label)
        for name in sides:
            medians[name][label] = statistics.median(times[name])
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="rows at the small size")
    parser.add_argument("--large", type=int, default=1_000_000, help="rows at the large size")
    parser.add_argument("--rounds", type=int, default=25, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    load0 = os.getloadavg()
    command = "make bench-scale" if os.environ.get("MAKELEVEL") else "python bench/scale.py"
    command = " ".join(
        [f"{k}={os.environ[k]}" for k in ("BENCH_DB_NAME", "BENCH_REDIS_DB") if k in os.environ]
        + [command]
        + sys.argv[1:]
    )
    with Stack() as stack:
        acme = stack.session("agent@acme.test")
        print(f"== 1. Acme at {args.small:,} contacts and {args.small:,} conversations")
        seed(stack, "acme", "agent@acme.test", args.small)
        alone = time_pages(stack, {"acme": (acme, pages(stack, "acme"))}, args.rounds, args.warmup)
        print(f"== 2. Acme grows to {args.large:,} contacts and {args.large:,} conversations")
        took = seed(stack, "acme", "agent@acme.test", args.large)
        print(f"   seeded in {took:.0f} s")
        print(f"== 3. Globex at {args.small:,}; both timed, requests alternating")
        seed(stack, "globex", "agent@globex.test", args.small)
        globex = stack.session("agent@globex.test")
        both = time_pages(
            stack,
            {"small": (globex, pages(stack, "globex")), "large": (acme, pages(stack, "acme"))},
            args.rounds,
            args.warmup,
        )
    small, large, before = both["small"], both["large"], alone["acme"]
    load = os.getloadavg()
    lines = [
        f"## Scale (issues 16 and 22): {args.small:,} vs {args.large:,} contacts and conversations "
        f"({MESSAGES_PER} messages each: {args.small * MESSAGES_PER:,} vs "
        f"{args.large * MESSAGES_PER:,})",
        "",
        f"Taken {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on a **shared {os.cpu_count()}-core "
        f"box**, commit `{commit()}`, load average at the end {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} (at the start {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}). Command: "
        f"`{command}`. Seeding {args.large:,} contacts + {args.large:,} conversations + "
        f"{args.large * MESSAGES_PER:,} messages took {took:.0f} s (generate_series, indexes "
        "rebuilt).",
        "",
        f"Median of {args.rounds} requests per page after {args.warmup} untimed; one agent per "
        "workspace, sequential requests, gunicorn + PostgreSQL + Redis. Ratio = large / small "
        "from the alternating columns (Globex small, Acme large, requests interleaved).",
        "",
        f"| page | {args.small:,} rows (empty database) | {args.small:,} rows (alternating) "
        f"| {args.large:,} rows (alternating) | ratio |",
        "|---|---|---|---|---|",
    ]
    worst = 0.0
    for label in small:
        ratio = large[label] / small[label]
        worst = max(worst, ratio)
        lines.append(
            f"| {label} | {before[label]:.1f} ms | {small[label]:.1f} ms | {large[label]:.1f} ms "
            f"| **{ratio:.2f}** |"
        )
    lines += ["", f"Worst ratio **{worst:.2f}** (goal <= 3)."]
    text = "\n".join(lines)
    print()
    print(text)
    if not args.no_write:
        write_section("scale", text)
        print(f"written to {RESULTS}")
    return 0 if worst <= 3 else 1


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
