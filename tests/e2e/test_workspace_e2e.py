"""Issue 26 in chromium: settings that keep every change (M1), members and profiles (M3), and
revoke/delete that ask first with Copy buttons for the show-once secrets (M5).

State is arranged over HTTP (``live_app.http``) or through the pages themselves; every page is
also checked with axe-core (serious and critical WCAG 2.1 A/AA violations) and for console errors
and CSP violations (the ``console`` fixture).
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from .conftest import MANAGE_PATH, OWNER, PASSWORD, ROOT, shot

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _page(new_context, email: str | None) -> Page:
    context = new_context(email)
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `make test` (it runs npm ci) or `npm ci`")
    context.add_init_script(path=str(AXE))
    return context.new_page()


def _no_axe_violations(page: Page) -> None:
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_AA,
    )
    bad = [
        (v["id"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"axe on {page.url}: {bad}"


# --- M1 -----------------------------------------------------------------------------------------
def test_m1_manage_page_saves_phone_and_lead_matching_with_one_button(
    live_app, new_context, console
):
    live_app.ensure_connected()
    page = _page(new_context, OWNER)
    page.goto(MANAGE_PATH)
    any_format = page.get_by_label("Same number in any format")
    leads = page.get_by_label("Also look for a Lead when no Contact matches")
    try:
        any_format.check()
        leads.check()
        page.get_by_role("button", name="Save Salesforce settings").click()
        expect(page.locator(".flash")).to_contain_text("phone matching, Lead matching")
        page.reload()
        expect(page.get_by_label("Same number in any format")).to_be_checked()
        expect(page.get_by_label("Also look for a Lead when no Contact matches")).to_be_checked()
        _no_axe_violations(page)
    finally:
        page.goto(MANAGE_PATH)
        page.get_by_label("Exact (character for character)").check()
        page.get_by_label("Also look for a Lead when no Contact matches").uncheck()
        page.get_by_role("button", name="Save Salesforce settings").click()
        expect(page.locator(".flash")).to_be_visible()
    console.assert_clean()


def test_m1_saving_one_section_or_leaving_warns_about_unsaved_changes(
    live_app, new_context, console
):
    page = _page(new_context, OWNER)
    page.goto("/w/acme/settings/api/")
    page.get_by_label("Webhook URL").fill("https://hooks.example.com/not-saved")
    page.get_by_label("Key name").fill("Bridge")
    dialogs: list[tuple[str, str]] = []

    def dismiss(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("Webhook URL")).to_have_value("https://hooks.example.com/not-saved")
    assert dialogs and dialogs[0][0] == "confirm"
    assert "Webhook URL" in dialogs[0][1] and "lost" in dialogs[0][1]
    assert "Bridge" not in live_app.http(OWNER).get(live_app.url("/w/acme/settings/api/")).text

    # Leaving the page with changes asks too (the browser's own dialog); dismissed, we stay.
    page.get_by_role("link", name="Members").click()
    page.wait_for_timeout(300)
    assert any(kind == "beforeunload" for kind, _ in dialogs)
    expect(page).to_have_url(re.compile(r"/settings/api/$"))
    expect(page.get_by_label("Key name")).to_have_value("Bridge")
    page.remove_listener("dialog", dismiss)

    # Accepting goes ahead: the key is created; the unsaved URL is dropped knowingly.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("Bridge")
    shot(page, "api-key-created", keep=True)
    console.assert_clean()


# --- M5 -----------------------------------------------------------------------------------------
def test_m5_copy_buttons_and_revoke_and_remove_ask_first(live_app, new_context, console):
    context = new_context(OWNER)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.base_url)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.goto("/w/acme/settings/api/")
    page.get_by_label("Key name").fill("Copy test key")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-value").inner_text().strip()
    page.get_by_role("button", name="Copy key").click()
    expect(page.locator(".copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _no_axe_violations(page)

    # Revoke: the link asks first; Cancel changes nothing; the button revokes.
    page.goto("/w/acme/settings/api/")
    row = page.locator("tr", has_text="Copy test key")
    row.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", name="Revoke the API key “Copy test key”?")).to_be_visible()
    _no_axe_violations(page)
    shot(page, "api-key-revoke-confirm", keep=True)
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("tr", has_text="Copy test key")).to_contain_text("Revoke")
    page.locator("tr", has_text="Copy test key").get_by_role(
        "link", name=re.compile("Revoke")
    ).click()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.locator(".flash")).to_contain_text("revoked")
    expect(page.locator("tr", has_text="Copy test key")).to_contain_text("Revoked")

    # The webhook: its secret has a Copy button; removing it asks first.
    page.get_by_label("Webhook URL").fill("https://93.184.215.14/e2e-hook")
    page.get_by_role("button", name="Save webhook URL").click()
    # Saved (the demo may have had one already): a new secret is shown once either way.
    page.get_by_role("button", name="New signing secret").click()
    webhook_secret = page.locator("#new-secret-value").inner_text().strip()
    page.get_by_role("button", name="Copy secret").click()
    expect(page.locator(".copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == webhook_secret
    page.get_by_role("link", name="Remove webhook…").click()
    expect(page.get_by_role("heading", name="Remove the outgoing webhook?")).to_be_visible()
    page.get_by_role("button", name="Remove webhook").click()
    expect(page.locator(".flash")).to_contain_text("Webhook removed")
    console.assert_clean()


# --- M3 (and M4 in the browser) -----------------------------------------------------------------
def _new_member(live_app, email: str) -> None:
    """An Agent of Acme without a name (as `createworkspace` or an old invitation leaves one)."""
    live_app.manage(
        "shell",
        "-c",
        "from workspace.models import Membership, User, Workspace; "
        f"u = User.objects.create_user(email={email!r}, password={PASSWORD!r}); "
        "Membership.objects.create(user=u, workspace=Workspace.objects.get(slug='acme'), "
        "role='agent')",
    )


def test_m3_named_at_sign_in_then_promoted_removed_and_signed_out(live_app, new_context, console):
    email = f"temp.{secrets.token_hex(3)}@acme.test"
    _new_member(live_app, email)
    member = _page(new_context, None)
    member.goto("/signin/")
    member.get_by_label("Email").fill(email)
    member.get_by_label("Password").fill(PASSWORD)
    member.get_by_role("button", name="Sign in").click()
    expect(member.get_by_role("heading", name="What is your name?")).to_be_visible()
    _no_axe_violations(member)
    shot(member, "welcome-name", keep=True)
    member.get_by_label("Your name").fill("Tess Temp")
    member.get_by_role("button", name="Continue").click()
    expect(member).to_have_url(re.compile(r"/w/acme/inbox/$"))
    expect(member.locator(".nav-user")).to_contain_text("Tess Temp")

    owner = _page(new_context, OWNER)
    owner.goto("/w/acme/settings/members/")
    row = owner.locator("#members tr", has_text=email)
    row.get_by_label("Role of Tess Temp").select_option("manager")
    row.get_by_role("button", name="Save the role of Tess Temp").click()
    expect(owner.locator(".flash")).to_contain_text("Tess Temp is now Manager")
    expect(owner.locator("#member-activity")).to_contain_text(f"{email}: Agent → Manager")
    _no_axe_violations(owner)
    shot(owner, "members", keep=True)

    owner.locator("#members tr", has_text=email).get_by_role(
        "link", name=re.compile(r"^Remove")
    ).click()
    expect(owner.get_by_role("heading", name=re.compile("Remove Tess Temp"))).to_be_visible()
    _no_axe_violations(owner)
    owner.get_by_role("button", name="Remove Tess Temp").click()
    expect(owner.locator(".flash")).to_contain_text("was removed from Acme Support and signed out")
    expect(owner.locator("#members")).not_to_contain_text(email)
    expect(owner.locator("#member-activity")).to_contain_text(f"Member removed: {email}")

    # The removed member's open tab: the next click lands on the sign-in page.
    member.get_by_role("link", name="Contacts").click()
    expect(member).to_have_url(re.compile(r"/signin/"))
    expect(member.get_by_role("heading", name="Sign in to Team Inbox")).to_be_visible()
    console.assert_clean()


def test_m3_m4_profile_page_and_a_refused_password_in_the_browser(live_app, new_context, console):
    console.allow(r"status of 400")
    page = _page(new_context, OWNER)
    page.goto("/w/acme/inbox/")
    page.locator(".nav-user").get_by_role("link", name=re.compile("your profile")).click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    # M4: the rules are on the page before anything is submitted.
    expect(page.locator("#id_new_password1_helptext")).to_contain_text("at least 8 characters")
    _no_axe_violations(page)
    shot(page, "profile", keep=True)
    page.locator("#id_old_password").fill(PASSWORD)
    page.locator("#id_new_password1").fill("password123")
    page.locator("#id_new_password2").fill("password123")
    page.get_by_role("button", name="Change password").click()
    summary = page.locator("#password-form .error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("too common")
    expect(page.locator("#id_new_password1_error")).to_contain_text("too common")
    expect(page.locator("#id_new_password2_error")).to_have_count(0)
    _no_axe_violations(page)
    shot(page, "profile-password-error", keep=True)
    summary.get_by_role("link").first.click()
    expect(page.locator("#id_new_password1")).to_be_focused()

    # Name and time zone save; the time zone shows on the page's dates.
    page.get_by_label("Your time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator(".flash")).to_contain_text("Profile saved")
    expect(page.get_by_label("Your time zone")).to_have_value("Asia/Tokyo")
    page.get_by_label("Your time zone").select_option("")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator(".flash")).to_contain_text("Profile saved")
    console.assert_clean()
