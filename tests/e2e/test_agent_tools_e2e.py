"""Issue 23, the agent's Salesforce tools, in Debian's chromium: A1 (boxes at 1366x768), A2 (pick
and link), A3 (Search Salesforce, debounced, linkable) and A5 (Log to Salesforce, once)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import AGENT, MANAGE_PATH, OWNER, _csrf, shot
from .test_salesforce_e2e import field, open_contact, sf_panel

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1366, "height": 768}


def open_conversation(page: Page, name: str) -> None:
    page.goto("/w/acme/inbox/")
    page.locator("li.conversation a", has_text=name).first.click()
    expect(page).to_have_url(re.compile(r"/w/acme/inbox/\d+/$"))


def set_switch(live_app, path: str, field_name: str, on: bool) -> None:
    s = live_app.http(OWNER)
    page = live_app.manage_page()
    data = {"csrfmiddlewaretoken": _csrf(page)}
    if on:
        data[field_name] = "on"
    s.post(live_app.url(MANAGE_PATH + path), data=data, timeout=10).raise_for_status()


def unlink_all(live_app, page: Page) -> None:
    unlink = page.locator("#panel-salesforce .sf-unlink")
    if unlink.count():
        unlink.click()
        expect(page.locator("#panel-salesforce .sf-unlink")).to_have_count(0)


def test_a1_first_screen_at_1366x768(live_app, new_context, console):
    live_app.fresh_connection()
    page = new_context(AGENT).new_page()
    page.set_viewport_size(DESKTOP)
    open_conversation(page, "Jane Cooper")
    panel = sf_panel(page)
    expect(panel).to_have_attribute("data-matched", "true")
    name = panel.locator(".sf-head .sf-name")
    view = panel.locator(".sf-head").get_by_role("link", name="View in Salesforce")
    expect(name).to_have_text("Jane Cooper")
    expect(panel.locator(".sf-subline")).to_contain_text("Head of Operations")
    expect(panel.locator(".sf-subline")).to_contain_text("Northwind Traders")
    expect(panel.locator(".sf-subline")).to_contain_text("owner")
    first_list = panel.locator("section.sf-related").first
    for element in (name, view, panel.locator(".sf-subline"), first_list):
        expect(element).to_be_in_viewport()
    name_box, view_box = name.bounding_box(), view.bounding_box()
    list_box = first_list.bounding_box()
    # View in Salesforce beside the name (same line), the first related list within 768 px
    assert (
        abs((name_box["y"] + name_box["height"] / 2) - (view_box["y"] + view_box["height"] / 2))
        < 12
    )
    assert view_box["y"] + view_box["height"] <= 768 and list_box["y"] < 768
    first_row = first_list.locator("li").first
    row_box = first_row.bounding_box()
    assert row_box["y"] + row_box["height"] <= 768, row_box
    # Our own Contact card: one line while Salesforce matched
    details = page.locator("#panel-details")
    expect(details.locator(".contact-oneline")).to_be_visible()
    expect(details.locator(".contact-card-full")).to_be_hidden()
    assert details.bounding_box()["height"] < 48
    # Emails and phones never wrap mid-string; their full value is on hover/focus; Copy
    for path in ("Email", "Phone"):
        value = field(panel, path).locator(".sf-value-text")
        expect(value).to_have_attribute("title", re.compile(r"\S"))
        for part in value.locator(".nowrap").all():
            assert part.evaluate("e => e.getClientRects().length") == 1, path
        expect(field(panel, path).get_by_role("button", name=re.compile("^Copy "))).to_be_visible()
    expect(field(panel, "Email")).to_have_text("jane.cooper@northwind.example")
    # ...and at 1366 px an ordinary email and phone are shown whole (Copy takes no width)
    for path in ("Email", "Phone"):
        for part in field(panel, path).locator(".nowrap").all():
            assert part.evaluate("e => e.scrollWidth <= e.clientWidth"), (path, part.inner_text())
    print(  # noqa: T201 - the measured boxes, for the report
        f"A1 boxes at 1366x768: name y={name_box['y']:.0f}, View in Salesforce "
        f"y={view_box['y']:.0f}-{view_box['y'] + view_box['height']:.0f}, first related list "
        f"y={list_box['y']:.0f}, its first row ends y={row_box['y'] + row_box['height']:.0f}, "
        f"Contact card height {details.bounding_box()['height']:.0f}"
    )
    shot(page, "agent-tools-compact-panel", keep=True)
    console.assert_clean()


def test_a1_long_email_ends_in_an_ellipsis_not_a_break(live_app, new_context, console):
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    page.set_viewport_size(DESKTOP)
    open_contact(page, "Jane Cooper")
    panel = sf_panel(page)
    part = field(panel, "Email").locator(".nowrap").last
    # Whatever the width, each part stays on one line (clipped, never broken)
    page.set_viewport_size({"width": 1024, "height": 768})
    assert part.evaluate("e => e.getClientRects().length") == 1
    assert part.evaluate("e => getComputedStyle(e).textOverflow") == "ellipsis"
    console.assert_clean()


def test_a2_pick_and_link_then_unlink(live_app, new_context, console):
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    open_contact(page, "Fabrikam Support")
    panel = sf_panel(page)
    unlink_all(live_app, page)
    panel = sf_panel(page)
    choices = panel.locator("li.sf-choice")
    expect(choices).to_have_count(2)
    shown = field(panel, "Name").inner_text()
    other = choices.nth(1)
    other_name = other.locator("strong").inner_text()
    assert other_name != shown
    expect(other).to_contain_text("owner")
    other.get_by_role("button", name=re.compile("This is the customer")).click()
    panel = sf_panel(page)
    expect(panel.locator(".sf-linked")).to_contain_text("Linked by")
    expect(field(panel, "Name")).to_have_text(other_name)  # the linked record comes first
    expect(panel.locator("li.sf-choice")).to_have_count(0)
    shot(page, "agent-tools-linked", keep=True)
    page.reload()
    expect(field(sf_panel(page), "Name")).to_have_text(other_name)  # stored, not a page state
    sf_panel(page).locator(".sf-unlink").click()
    expect(sf_panel(page).locator("li.sf-choice")).to_have_count(2)
    console.assert_clean()


def test_a3_search_salesforce_debounced_and_linkable(live_app, new_context, console):
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    open_contact(page, "Kim Lee")  # a near miss only: the email has spaces in Salesforce
    panel = sf_panel(page)
    unlink_all(live_app, page)
    panel = sf_panel(page)
    expect(panel.locator(".sf-search summary")).to_have_text("Search Salesforce")
    requests_seen = []
    page.on(
        "request", lambda r: requests_seen.append(r.url) if "/salesforce/search/" in r.url else None
    )
    box = panel.get_by_role("searchbox", name=re.compile("Search Salesforce"))
    box.fill("")
    box.press_sequentially("Liam O'Brien", delay=30)  # typed fast: one request, not twelve
    hits = panel.locator(".sf-search-hits li.sf-choice")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text("Liam O'Brien")
    assert 1 <= len(requests_seen) <= 2, requests_seen
    writes_before = len(live_app.emu.writes())
    hits.first.get_by_role("button", name=re.compile("^Link")).click()
    panel = sf_panel(page)
    expect(panel.locator(".sf-linked")).to_contain_text("Linked by")
    expect(field(panel, "Name")).to_have_text("Liam O'Brien")
    assert len(live_app.emu.writes()) == writes_before  # nothing written to Salesforce
    shot(page, "agent-tools-search", keep=True)
    panel.locator(".sf-unlink").click()
    expect(sf_panel(page).locator(".sf-search")).to_be_visible()
    console.assert_clean()


def test_a5_log_to_salesforce_once(live_app, new_context, console):
    live_app.ensure_connected()
    set_switch(live_app, "activity-logging/", "log_activities", True)
    try:
        page = new_context(AGENT).new_page()
        open_conversation(page, "Jane Cooper")
        panel = sf_panel(page)
        log = panel.locator(".sf-log")
        before = [w for w in live_app.emu.writes() if w["sobject"] == "Task"]
        if log.locator(".sf-log-update").count() == 0:
            button = log.get_by_role("button", name="Log to Salesforce")
            # A double click: the second lands while the first is in flight (or after it)
            button.dblclick()
            expect(panel.locator(".sf-logged")).to_contain_text("Logged by")
        task_link = panel.locator(".sf-logged").get_by_role("link", name="View task")
        expect(task_link).to_have_attribute("href", re.compile(r"/lightning/r/Task/00T\w+/view$"))
        panel.locator(".sf-log-update").click()
        expect(panel.locator(".sf-log-outcome")).to_have_text(
            re.compile("already holds every message|Log updated")
        )
        posts = [
            w
            for w in live_app.emu.writes()
            if w["sobject"] == "Task" and w["method"] == "POST" and w not in before
        ]
        assert len(posts) <= 1
        page.reload()
        expect(sf_panel(page).locator(".sf-logged")).to_contain_text("Logged by")
        shot(page, "agent-tools-logged", keep=True)
    finally:
        set_switch(live_app, "activity-logging/", "log_activities", False)
    console.assert_clean()
