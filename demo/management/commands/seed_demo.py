"""Demo data: two workspaces, four people, ~30 contacts and 15 conversations each (idempotent).

The first contacts of Acme are written to line up with the Salesforce emulator's demo org
(salesforce_emulator/demo_data.json): exact matches, a case-only difference, a formatting-only
near miss, two Salesforce Contacts sharing an email, HTML in a field, and a Lead-only email.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey, WebhookEndpoint
from api.webhooks import new_secret
from contacts.models import Contact
from inbox.models import Conversation, Message
from workspace.emails import email_key
from workspace.models import Membership, Role, User, Workspace

DEMO_PASSWORD = "demo-pass-123"
DEMO_KEY_NAME = "Demo key (seed_demo)"

PEOPLE = [
    ("owner@acme.test", "Olivia Owner", "acme", Role.OWNER),
    ("manager@acme.test", "Max Manager", "acme", Role.MANAGER),
    ("agent@acme.test", "Ari Agent", "acme", Role.AGENT),
    ("agent@globex.test", "Gus Agent", "globex", Role.AGENT),
]

WORKSPACES = {
    "acme": ("Acme Support", "Europe/London"),
    "globex": ("Globex Help", "America/New_York"),
}

# (name, email, phone): aligned with the emulator's demo org.
SALESFORCE_DEMO_CONTACTS = [
    ("Jane Cooper", "jane.cooper@northwind.example", ""),
    ("Liam O'Brien", "o'brien@example.com", ""),
    ("Priya Shah", "", "+15550102000"),
    ("Marcus Reed", "marcus.reed@contoso.example", ""),
    ("Fabrikam Support", "support@fabrikam.example", ""),
    ("Evan Script", "evan@tailspin.example", ""),
    ("Lena Lead", "lena.lead@example.org", ""),
    ("Omar Haddad", "", "+1 (555) 010-3000"),
    ("Sofia Rossi", "", "555-010-4000"),
    ("Kim Lee", "kim.lee@example.net", ""),
    ("Noah Nomatch", "noah@nowhere.example", ""),
    # Phones as messaging channels deliver them (E.164) against the spellings the org holds
    # (P6): a near-match hint in exact mode, a match in "Same number in any format".
    ("Grace Hopper", "", "+14155550123"),  # Salesforce: (415) 555-0123
    ("Alan Turing", "", "+44 20 7946 0958"),  # Salesforce: 020 7946 0958 (UK national)
    ("Margaret Hamilton", "", "+1 617-555-0199 ext. 123"),  # Salesforce: (617) 555-0199 x123
    ("Ada Byron", "", "(415) 555-0188"),  # Salesforce mobile: 415.555.0188
    ("Katherine Johnson", "", "+442079460999"),  # Salesforce: +44 20 7946 0999
]

FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Elena",
    "Farah",
    "George",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lucia",
    "Mateo",
    "Nina",
    "Oscar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
LAST = [
    "Adams",
    "Baker",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Patel",
    "Quint",
    "Rossi",
]
SUBJECTS = [
    "Order hasn't arrived",
    "Invoice question",
    "Can't sign in",
    "Upgrade our plan",
    "Refund request",
    "Feature request: exports",
    "Billing address change",
    "API rate limits",
    "Welcome call follow-up",
    "Shipping to Canada",
    "Password reset email missing",
    "Cancel subscription",
    "Bulk discount",
    "Wrong item delivered",
    "Data export",
]
CUSTOMER_LINES = [
    "Hi, could you help me with this? Thanks!",
    "I tried again this morning and it still doesn't work.",
    "Any update on this? It's becoming urgent for us.",
    "Thanks for the quick answer, that solved part of it.",
]
TEAM_LINES = [
    "Thanks for reaching out! I'm looking into it now.",
    "Could you send me the order number so I can check?",
    "I've escalated this to our billing team; expect an answer today.",
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo workspaces, people, contacts and conversations."

    def add_arguments(self, parser):
        parser.add_argument(
            "--api-key-file",
            help="Write a new Acme API key here (the previous demo key is revoked); O7.",
        )
        parser.add_argument(
            "--webhook-url", help="Send Acme's agent replies to this URL (e.g. make receiver)."
        )
        parser.add_argument(
            "--webhook-secret-file",
            help="Acme's webhook signing secret: read from this file, or written to it if missing.",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        rng = random.Random(42)  # the same demo every time
        workspaces = {}
        for key, (name, tz) in WORKSPACES.items():
            ws, _ = Workspace.objects.update_or_create(
                slug=key, defaults={"name": name, "time_zone": tz, "phone_region": "US"}
            )
            workspaces[key] = ws
        users = {}
        for email, full_name, ws_key, role in PEOPLE:
            user, created = User.objects.get_or_create(
                email=email, defaults={"full_name": full_name}
            )
            if created or not user.check_password(DEMO_PASSWORD):
                user.set_password(DEMO_PASSWORD)
                user.save()
            Membership.objects.update_or_create(
                user=user, workspace=workspaces[ws_key], defaults={"role": role}
            )
            users.setdefault(ws_key, []).append(user)

        for key, ws in workspaces.items():
            self._contacts(ws, key, rng)
            self._conversations(ws, users[key], rng)

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(
            f"Sign in at http://127.0.0.1:8000/ with any of these (password {DEMO_PASSWORD}):"
        )
        for email, _, ws_key, role in PEOPLE:
            self.stdout.write(f"  {email:22} {role.label:8} {WORKSPACES[ws_key][0]}")
        if options.get("api_key_file"):
            self._demo_api_key(workspaces["acme"], options["api_key_file"])
        if options.get("webhook_url"):
            self._demo_webhook(
                workspaces["acme"], options["webhook_url"], options.get("webhook_secret_file")
            )

    def _demo_api_key(self, ws: Workspace, path: str) -> None:
        """A fresh demo key each run (only its hash is stored, so it cannot be shown again)."""
        for old in ApiKey.objects.filter(workspace=ws, name=DEMO_KEY_NAME, revoked_at=None):
            api_key_revoke(api_key=old, revoked_by=None)
        created = api_key_create(workspace=ws, name=DEMO_KEY_NAME, created_by=None)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(created.secret + "\n")
        target.chmod(0o600)
        self.stdout.write(f"Demo API key for Acme Support (also in {path}):")
        self.stdout.write(f"  {created.secret}")

    def _demo_webhook(self, ws: Workspace, url: str, secret_path: str | None) -> None:
        secret = ""
        if secret_path and Path(secret_path).is_file():
            secret = Path(secret_path).read_text().strip()
        if not secret:
            secret = new_secret()
            if secret_path:
                Path(secret_path).parent.mkdir(parents=True, exist_ok=True)
                Path(secret_path).write_text(secret + "\n")
                Path(secret_path).chmod(0o600)
        WebhookEndpoint.objects.update_or_create(
            workspace=ws, defaults={"url": url, "secret": secret}
        )
        self.stdout.write(f"Acme's agent replies go to {url} (signing secret in {secret_path}).")

    def _contacts(self, ws: Workspace, key: str, rng: random.Random) -> None:
        rows = list(SALESFORCE_DEMO_CONTACTS) if key == "acme" else SALESFORCE_DEMO_CONTACTS[:2]
        domain = f"{key}-customers.example"
        i = 0
        while len(rows) < 30:
            first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
            i += 1
            email = f"{first}.{last}@{domain}".lower()
            phone = f"+44 20 7946 {1000 + i:04d}" if i % 3 else ""
            rows.append((f"{first} {last}", email, phone))
        for name, email, phone in rows:
            # H8: found again by a stable key (its email's identity, else its phone), never by
            # name: agents and the inbound API add contacts with the same names as the demo's,
            # and a second `make run` must not trip over them.
            mine = Contact.objects.filter(workspace=ws).order_by("id")
            if email:
                contact = mine.filter(email_key=email_key(email)).first()
            else:
                contact = mine.filter(email="", phone=phone).first()
            if contact is None:
                Contact.objects.create(workspace=ws, name=name, email=email, phone=phone)
            elif (contact.name, contact.email, contact.phone) != (name, email, phone):
                contact.name, contact.email, contact.phone = name, email, phone
                contact.save(update_fields=["name", "email", "phone", "updated_at"])

    def _conversations(self, ws: Workspace, members: list[User], rng: random.Random) -> None:
        if Conversation.objects.filter(workspace=ws).count() >= 15:
            return
        contacts = list(Contact.objects.filter(workspace=ws).order_by("id")[:15])
        now = timezone.now()
        for n, contact in enumerate(contacts):
            started = now - timedelta(hours=rng.randint(1, 240))
            conv = Conversation.objects.create(
                workspace=ws,
                contact=contact,
                subject=SUBJECTS[n % len(SUBJECTS)],
                status=Conversation.Status.CLOSED if n % 5 == 4 else Conversation.Status.OPEN,
                assignee=members[n % len(members)] if n % 3 else None,
                last_activity_at=started,
            )
            at = started - timedelta(hours=rng.randint(1, 48))
            for m in range(rng.randint(2, 5)):
                inbound = m % 2 == 0
                Message.objects.create(
                    conversation=conv,
                    direction=Message.Direction.IN if inbound else Message.Direction.OUT,
                    body=rng.choice(CUSTOMER_LINES if inbound else TEAM_LINES),
                    author=None if inbound else members[m % len(members)],
                    created_at=at,
                )
                at += timedelta(minutes=rng.randint(5, 300))
            conv.last_activity_at = at
            conv.save(update_fields=["last_activity_at"])
