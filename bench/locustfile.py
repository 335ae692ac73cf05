"""Agents browsing Inbox and Contacts with their Salesforce sidebars (issue 6 load test).

Run through bench/load.py, which starts the stack and passes the ids of the workspace's
conversations and contacts in BENCH_CONVERSATIONS / BENCH_CONTACTS ("id:contact_id,..." and
"id,..."). Each simulated agent signs in once, then does what the pages make a browser do: a page,
then the lazy requests it triggers (the sidebar partial, the list badges).
"""

from __future__ import annotations

import html
import os
import random
import re
import time
from pathlib import Path

from locust import HttpUser, between, events, task


def badge_path(list_html: str) -> str:
    """The badges URL the Contacts page asks for (with the ids of the contacts it shows)."""
    found = re.search(r'hx-get="([^"]*/salesforce/badges/[^"]*)"', list_html)
    return html.unescape(found.group(1)) if found else "/w/acme/contacts/?missing-badges"


HX = {"HX-Request": "true"}
STATE = re.compile(r'class="sf-panel" data-state="([a-z_]+)"')
CONVERSATIONS = [
    tuple(int(x) for x in pair.split(":"))
    for pair in os.environ.get("BENCH_CONVERSATIONS", "").split(",")
    if pair
]
CONTACTS = [int(x) for x in os.environ.get("BENCH_CONTACTS", "").split(",") if x]
PAGES = int(os.environ.get("BENCH_CONTACT_PAGES", "1"))
AGENTS = ["agent@acme.test", "manager@acme.test", "owner@acme.test"]


class Agent(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.get("/signin/", name="/signin/")
        token = self.client.cookies.get("csrftoken", "")
        self.client.post(
            "/signin/",
            data={
                "username": random.choice(AGENTS),
                "password": "demo-pass-123",
                "csrfmiddlewaretoken": token,
            },
            name="/signin/ (POST)",
        )

    def sidebar(self, contact: int) -> None:
        with self.client.get(
            f"/w/acme/contacts/{contact}/panels/salesforce/",
            headers=HX,
            name="/w/acme/contacts/[id]/panels/salesforce/",
            catch_response=True,
        ) as answer:
            if answer.status_code >= 400:
                answer.failure(f"HTTP {answer.status_code}")
            elif "Traceback" in answer.text:
                answer.failure("stack trace in the sidebar")
            else:
                answer.success()

    @task(3)
    def conversation(self) -> None:
        self.client.get("/w/acme/inbox/", name="/w/acme/inbox/")
        conv, contact = random.choice(CONVERSATIONS)
        self.client.get(f"/w/acme/inbox/{conv}/", name="/w/acme/inbox/[id]/")
        self.sidebar(contact)

    @task(2)
    def contacts_list(self) -> None:
        page = random.randint(1, PAGES)
        listing = self.client.get(
            f"/w/acme/contacts/?page={page}", name="/w/acme/contacts/?page=[n]"
        )
        self.client.get(
            badge_path(listing.text),
            headers=HX,
            name="/w/acme/settings/integrations/salesforce/badges/",
        )

    @task(3)
    def contact(self) -> None:
        contact = random.choice(CONTACTS)
        self.client.get(f"/w/acme/contacts/{contact}/", name="/w/acme/contacts/[id]/")
        self.sidebar(contact)


# --- per-request record for bench/load.py (per-phase figures, sidebar states) ----------------
RECORD = os.environ.get("BENCH_REQUEST_RECORD")
_rows: list[str] = []


@events.request.add_listener
def _record(request_type, name, response_time, response, exception, **kwargs) -> None:
    if not RECORD:
        return
    status = getattr(response, "status_code", 0) or 0
    state = ""
    if "panels/salesforce" in name and status == 200:
        match = STATE.search(response.text or "")
        state = match.group(1) if match else "?"
        if 'class="muted stale"' in (response.text or ""):
            state += "+stale"
    _rows.append(f"{time.time():.3f}\t{name}\t{response_time:.1f}\t{status}\t{state}")


@events.quitting.add_listener
def _dump(environment, **kwargs) -> None:
    if RECORD:
        Path(RECORD).write_text("\n".join(_rows) + "\n")
