"""Issue 14 in chromium: an Owner invites an agent, who follows the emailed link (read from the
email outbox) and lands in the Inbox; the API docs page works under the strict CSP."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from playwright.sync_api import expect

from .conftest import OWNER, shot


def _outbox(live_app) -> Path:
    return Path(live_app.env["EMAIL_FILE_PATH"])


def _email_to(live_app, address: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folder = _outbox(live_app)
        for path in sorted(folder.glob("*.log")) if folder.exists() else []:
            text = path.read_text()
            if f"To: {address}" in text:
                return text
        time.sleep(0.2)
    raise AssertionError(f"no email to {address} in {_outbox(live_app)}")


def test_o2_owner_invites_an_agent_who_joins_from_the_email_link(live_app, new_context, console):
    address = f"new.agent.{secrets.token_hex(3)}@example.com"
    owner = new_context(OWNER).new_page()
    owner.goto("/w/acme/settings/members/")
    owner.locator("#invite-form #id_email").fill(address)
    owner.locator("#invite-form #id_role").select_option("agent")
    owner.get_by_role("button", name="Send invitation").click()
    expect(owner.locator(".flash")).to_contain_text(f"Invitation sent to {address}")
    expect(owner.locator("#pending-invitations")).to_contain_text(address)
    shot(owner, "invite-member")

    email = _email_to(live_app, address)
    link = re.search(r"http://127\.0\.0\.1:\d+/invitations/\S+", email).group(0)

    invitee = new_context().new_page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Join Acme Support")).to_be_visible()
    invitee.locator("#id_full_name").fill("Nia New")
    invitee.locator("#id_new_password1").fill("correct-horse-battery-42")
    invitee.locator("#id_new_password2").fill("correct-horse-battery-42")
    invitee.get_by_role("button", name="Create account and join").click()
    expect(invitee).to_have_url(re.compile(r"/w/acme/inbox/$"))
    expect(invitee.locator(".nav-user")).to_contain_text("Nia New")

    # The link worked once (the used link answers 404, as expected).
    console.allow(r"status of 404 .*/invitations/")
    again = new_context().new_page()
    again.goto(link)
    expect(again.get_by_role("heading", name="This invitation link is not valid")).to_be_visible()
    owner.reload()
    expect(owner.locator(".audit")).to_contain_text(f"Joined: {address}")


def test_o5_api_docs_page_renders_under_the_strict_csp(live_app, new_context, console):
    page = new_context().new_page()
    page.goto("/api/v1/docs")
    expect(page.get_by_text("/api/v1/w/{slug}/messages")).to_be_visible()
    expect(page.get_by_text("Receive a customer message")).to_be_visible()
