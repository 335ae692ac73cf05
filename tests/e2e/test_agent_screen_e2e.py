"""Issue 13, the agent's screen, in Debian's chromium: layout boxes at 1366, 1024 and 390 px (U1),
Retry (U2), badges without a connection (U3), confirmations (U4), the connect form (U5), progress
(U7) and axe-core's WCAG 2.1 AA rules on the key pages (U8).

axe-core comes from npm (``make test`` runs ``npm ci``; see package.json). It is injected as an
init script, which the page's strict CSP does not apply to, so the pages run under their real
policy while they are checked.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from salesforce_emulator.demo_names import ACME_ORG_ID

from .conftest import AGENT, MANAGE_PATH, OWNER, ROOT, _csrf, shot
from .test_salesforce_e2e import consent_in_tab, open_contact, sf_panel, sign_in

pytestmark = pytest.mark.e2e

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1366, "height": 768}
SMALL_LAPTOP = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


def axe_violations(page: Page) -> list[dict]:
    """Serious and critical WCAG 2.1 A/AA violations axe-core finds on the page as it is now."""
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_AA,
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def axe_context(new_context):
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `make test` (it runs npm ci) or `npm ci`")

    def make(email: str | None = None, viewport: dict | None = None):
        context = new_context(email)
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        return context, page

    return make


def loaded(page: Page) -> None:
    """htmx has filled every lazy part of the page (panels, badges)."""
    page.wait_for_load_state("networkidle")
    expect(page.locator(".panel-body [hx-trigger='load']")).to_have_count(0)


def first_conversation(page: Page, name: str = "Jane Cooper") -> str:
    page.goto("/w/acme/inbox/")
    page.locator("li.conversation a", has_text=name).first.click()
    expect(page).to_have_url(re.compile(r"/w/acme/inbox/\d+/$"))
    return page.url


def key_pages(live_app, page: Page) -> dict[str, str]:
    """The pages agents and admins use, by name (ids are read from the app, never assumed)."""
    conversation = first_conversation(page)
    open_contact(page, "Jane Cooper")
    contact = page.url
    return {
        "inbox": "/w/acme/inbox/",
        "conversation": conversation,
        "contacts": "/w/acme/contacts/",
        "contact": contact,
        "new contact": "/w/acme/contacts/new/",
        "delete contact": contact.rstrip("/") + "/delete/",
        "settings": "/w/acme/settings/general/",
        "members": "/w/acme/settings/members/",
        "integrations": "/w/acme/settings/integrations/",
        "salesforce": MANAGE_PATH,
        "fields": MANAGE_PATH + "fields/",
        "disconnect": MANAGE_PATH + "disconnect/",
        "api": "/w/acme/settings/api/",
        "405": conversation.rstrip("/") + "/reply/",
    }


# --- U8: axe-core on the key pages ------------------------------------------------------------
def test_u8_key_pages_have_no_serious_or_critical_axe_violations(
    live_app, axe_context, new_context, console
):
    live_app.ensure_connected()
    console.allow(r"status of 405")
    context, page = axe_context(OWNER)
    pages = key_pages(live_app, page)
    found: dict[str, list] = {}
    for name, url in pages.items():
        page.goto(url)
        loaded(page)
        violations = axe_violations(page)
        if violations:
            found[name] = violations
    # The sign-in page, signed out.
    _, anonymous = axe_context()
    anonymous.goto("/signin/")
    if violations := axe_violations(anonymous):
        found["sign in"] = violations
    assert len(pages) + 1 >= 8
    assert found == {}, json.dumps(found, indent=1)


def test_u8_panel_settles_aria_busy_and_links_say_new_tab(live_app, as_agent, console):
    live_app.ensure_connected()
    page = as_agent
    open_contact(page, "Jane Cooper")
    panel = sf_panel(page)
    body = page.locator("#panel-salesforce .panel-body")
    expect(body).to_have_attribute("aria-busy", "false")
    expect(body).to_have_attribute("aria-live", "polite")
    link = panel.get_by_role("link", name=re.compile("View in Salesforce"))
    expect(link).to_have_accessible_name("View in Salesforce (opens a new tab)")
    # Focus is visible on the dark navigation: the ring colour differs from the background.
    page.locator("#workspace-switcher").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "() => getComputedStyle(document.activeElement).outlineColor + '|' +"
        " getComputedStyle(document.activeElement).outlineStyle"
    )
    assert ring == "rgb(255, 215, 94)|solid", ring


# --- U1: real boxes at 1366, 1024 and 390 px ----------------------------------------------------
def _add_replies(live_app, conversation_url: str, n: int) -> None:
    session = live_app.http(AGENT)
    page = session.get(conversation_url, timeout=10).text
    for i in range(n):
        session.post(
            conversation_url.rstrip("/") + "/reply/",
            data={"csrfmiddlewaretoken": _csrf(page), "body": f"Follow-up {i + 1}: " + "x " * 40},
            timeout=10,
        ).raise_for_status()


def _in_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return bool(
        box
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"] + 0.5
        and box["y"] + box["height"] <= size["height"] + 0.5
    )


def test_u1_three_columns_hold_at_1366_with_a_long_thread(live_app, new_context, console):
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    page.set_viewport_size(DESKTOP)
    url = first_conversation(page, "Omar Haddad")
    _add_replies(live_app, url, 14)
    page.goto(url)
    loaded(page)
    thread = page.locator(".messages")
    thread.evaluate("el => el.scrollTo(0, el.scrollHeight)")
    expect(page.locator(".message").last).to_be_in_viewport()
    # Navigation, sidebar and composer stay on screen while the thread scrolls.
    for selector in [
        ".nav-user button",
        "#panel-salesforce .panel-title",
        ".reply button[type=submit]",
    ]:
        assert _in_viewport(page, selector), selector
    assert page.evaluate("() => document.scrollingElement.scrollTop") == 0
    shot(page, "u1-conversation-1366", keep=True)


def _wraps_inside(card, part) -> bool:
    """``part`` ends inside ``card`` and its text needs no sideways scroll (U1)."""
    outer, box = card.bounding_box(), part.bounding_box()
    fits = box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5
    return fits and part.evaluate("(el) => el.scrollWidth <= el.clientWidth")


def test_u1_a_long_salesforce_value_wraps_inside_the_sidebar_card(live_app, new_context, console):
    """A value with no space to break at (a long title, a URL, an id list) wraps inside the
    panel at 1366 px instead of running out of the card; the email keeps its own rule."""
    jane, usual = "0035g00000Con01AAB", "Head of Operations"
    long_title = "CustomerSuccessOperationsAndSupportEnablementLeadForEMEAandAPAC"
    live_app.ensure_connected()
    live_app.emu.update_record("Contact", jane, Title=long_title)
    try:
        live_app.fresh_connection()  # no cached answer holds the usual title
        page = new_context(AGENT).new_page()
        page.set_viewport_size(DESKTOP)
        open_contact(page, "Jane Cooper")
        panel = sf_panel(page)
        title = panel.locator('dl.sf-fields dd[data-field="Title"]')
        expect(title).to_contain_text(long_title)
        assert _wraps_inside(panel, title) and _wraps_inside(panel, panel.locator(".sf-subline"))
        assert page.evaluate("() => document.documentElement.scrollWidth") <= DESKTOP["width"]
        console.assert_clean()
    finally:
        live_app.emu.update_record("Contact", jane, Title=usual)
        live_app.fresh_connection()


def test_u1_a_long_email_without_a_match_wraps_inside_the_sidebar_card(
    live_app, new_context, console
):
    """The no-match sentence names the contact's email; a long one wraps inside the card."""
    email = "bartholomew.maximilian.featherstonehaugh-worthington@logistics.example"
    live_app.manage(
        "shell",
        "-c",
        "from contacts.models import Contact; from workspace.models import Workspace; "
        "Contact.objects.get_or_create(workspace=Workspace.objects.get(slug='acme'), "
        f"email='{email}', defaults={{'name': 'Zed Longaddress'}})",
    )
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    page.set_viewport_size(DESKTOP)
    open_contact(page, "Zed Longaddress")
    panel = sf_panel(page)
    sentence = panel.locator(".sf-none")
    expect(sentence).to_contain_text(email)
    assert _wraps_inside(panel, sentence)
    console.assert_clean()


def test_u1_salesforce_panel_is_in_view_at_1024(live_app, new_context, console):
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    page.set_viewport_size(SMALL_LAPTOP)
    first_conversation(page)
    loaded(page)
    expect(sf_panel(page)).to_contain_text("Northwind Traders")
    assert _in_viewport(page, "#panel-salesforce .panel-title")
    box = page.locator("#panel-salesforce").bounding_box()
    assert box["x"] > page.locator(".messages").bounding_box()["x"]  # beside, not below
    assert _in_viewport(page, ".reply button[type=submit]")
    shot(page, "u1-conversation-1024", keep=True)


def test_u1_no_page_scrolls_sideways_at_390_and_the_sidebar_opens_with_one_tap(
    live_app, new_context, console
):
    live_app.ensure_connected()
    console.allow(r"status of 405")
    page = new_context(OWNER).new_page()
    page.set_viewport_size(PHONE)
    pages = key_pages(live_app, page)
    too_wide = {}
    for name, url in pages.items():
        page.goto(url)
        loaded(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[name] = width
    assert too_wide == {}

    page.goto("/w/acme/contacts/")
    loaded(page)
    shot(page, "u1-contacts-390", keep=True)
    page.goto(pages["conversation"])
    loaded(page)
    sidebar = page.locator("#contact-sidebar")
    expect(sidebar).not_to_be_in_viewport()
    toggle = page.get_by_role("button", name="Contact & Salesforce")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    shot(page, "u1-conversation-390", keep=True)
    toggle.click()
    expect(sidebar).to_be_in_viewport()
    expect(sf_panel(page)).to_contain_text("Northwind Traders")
    expect(page.locator("#panel-salesforce .panel-title")).to_be_in_viewport(ratio=1)
    shot(page, "u1-sidebar-390", keep=True)
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()
    expect(toggle).to_have_attribute("aria-expanded", "false")


# --- U2: Retry -----------------------------------------------------------------------------------
def test_u2_retry_recovers_in_the_browser(live_app, as_agent, console):
    live_app.fresh_connection()
    live_app.emu.set_fault("http_503", org_id=ACME_ORG_ID)
    try:
        page = as_agent
        open_contact(page, "Jane Cooper")
        panel = sf_panel(page)
        expect(panel.get_by_role("alert")).to_contain_text("Salesforce is not answering right now")
        expect(panel).not_to_contain_text("HTTP")
        shot(page, "u2-error-with-retry", keep=True)
    finally:
        live_app.emu.clear_faults(org_id=ACME_ORG_ID)
    page.get_by_role("button", name="Retry").click()
    expect(field(page, "Email")).to_have_text("jane.cooper@northwind.example")


def field(page: Page, path: str):
    return page.locator(f'#panel-salesforce dl.sf-fields dd[data-field="{path}"]')


# --- U3: no Salesforce column without a connection -------------------------------------------------
def test_u3_contacts_list_has_no_salesforce_column_when_not_connected(live_app, as_agent, console):
    live_app.disconnect()
    page = as_agent
    page.goto("/w/acme/contacts/")
    expect(page.locator("#contact-table")).to_be_visible()
    expect(page.locator("#contact-table th", has_text="Salesforce")).to_have_count(0)
    live_app.connect()
    page.reload()
    expect(page.locator("#sf-column")).to_be_visible()
    expect(page.locator("#contact-table .badge.match").first).to_be_visible()


# --- U4: Delete contact asks first ------------------------------------------------------------------
def test_u4_delete_contact_asks_first_in_the_browser(live_app, as_agent, console):
    page = as_agent
    page.goto("/w/acme/contacts/new/")
    page.get_by_label("Name").fill("Temp Person")
    page.get_by_label("Email").fill("temp.person@example.com")
    page.get_by_role("button", name=re.compile("Save|Create|Add")).click()
    expect(page.get_by_role("heading", level=1, name="Temp Person")).to_be_visible()
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete Temp Person?")).to_be_visible()
    expect(page.locator(".confirm")).to_contain_text("cannot be undone")
    shot(page, "confirm-delete-contact", keep=True)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", level=1, name="Temp Person")).to_be_visible()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete Temp Person").click()
    expect(page.get_by_text("Temp Person was deleted.")).to_be_visible()


# --- U5: the connect form ---------------------------------------------------------------------------
def test_u5_connect_errors_stay_in_this_tab_and_a_good_form_opens_one_tab(
    live_app, new_context, console
):
    live_app.disconnect()
    console.allow(r"status of 422")
    context = new_context(OWNER)
    page = context.new_page()
    page.goto(MANAGE_PATH)
    page.get_by_label("My Domain", exact=True).check()
    page.locator("#sf-connect-form").get_by_label("My Domain URL").fill("https://evil.example.com")
    page.get_by_role("button", name="Connect Salesforce").click()
    expect(page.locator("#sf-connect-form .form-error").first).to_be_visible()
    page.wait_for_timeout(300)
    assert len(context.pages) == 1  # no tab opened for a refused form
    shot(page, "u5-connect-error-in-this-tab", keep=True)

    page.locator("#sf-connect-form").get_by_label("My Domain URL").fill("")
    page.locator("#sf-connect-form input[type=radio]").first.check()
    with context.expect_page() as new_tab:
        page.get_by_role("button", name="Connect Salesforce").click()
    tab = new_tab.value
    expect(page.locator("#sf-pending")).to_contain_text("Waiting for Salesforce since")
    assert len(context.pages) == 2
    # The admin gives up in the consent tab, then stops waiting in the first.
    tab.close()
    page.get_by_role("button", name="Stop waiting").click()
    expect(page.locator("#sf-pending")).to_have_count(0)
    # A denied consent is reported in the first tab: Activity and the failure notice.
    with context.expect_page() as new_tab:
        page.get_by_role("button", name="Connect Salesforce").click()
    consent_in_tab(new_tab.value, "admin@acme-corp.example", decision="Deny")
    console.allow(r"status of 400")
    page.bring_to_front()
    page.reload()
    expect(page.locator("#sf-connect-failed")).to_contain_text("You declined access")
    expect(page.locator("#sf-events")).to_contain_text("Connect failed")
    live_app.connect()


def test_u5_consent_tab_flow_still_connects(live_app, new_context, console):
    live_app.disconnect()
    context = new_context(OWNER)
    page = context.new_page()
    page.goto(MANAGE_PATH)
    with context.expect_page() as new_tab:
        page.get_by_role("button", name="Connect Salesforce").click()
    consent_in_tab(new_tab.value, "admin@acme-corp.example")
    expect(new_tab.value.locator("#sf-status-label")).to_have_text("Connected")


# --- U7: buttons disabled in flight, the 405 page ----------------------------------------------------
def test_u7_reply_button_is_disabled_while_sending_and_405_leads_back(live_app, as_agent, console):
    console.allow(r"status of 405")
    page = as_agent
    url = first_conversation(page)
    held = []  # the reply's request waits here until the button has been checked
    page.route(re.compile(r".*/reply/$"), lambda route: held.append(route))
    # What the button is while the request is in flight, kept across the navigation.
    page.evaluate(
        """() => document.addEventListener('submit', () => setTimeout(() =>
             sessionStorage.setItem('inFlight', String(
               document.querySelector('.reply button[type=submit]').disabled)), 30))"""
    )
    page.get_by_label("Reply").fill("Checking on this now.")
    page.get_by_role("button", name="Send reply").click(no_wait_after=True)
    page.wait_for_timeout(300)
    assert held, "the reply was not sent"
    held[0].continue_()
    page.unroute(re.compile(r".*/reply/$"))
    expect(page.locator(".message-body", has_text="Checking on this now.")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('inFlight')") == "true"
    expect(page.get_by_role("button", name="Send reply")).to_be_enabled()  # the new page's
    page.goto(url.rstrip("/") + "/reply/")
    expect(page.get_by_role("heading", name="Nothing to show here")).to_be_visible()
    page.get_by_role("link", name="Go to the page it belongs to").click()
    expect(page).to_have_url(url)


def test_u1_sign_in_page_fits_at_390(live_app, new_context, console):
    page = new_context().new_page()
    page.set_viewport_size(PHONE)
    sign_in(page, AGENT)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
