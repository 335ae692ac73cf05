"""Issue 22, the Inbox a team works in all day, in Debian's chromium: unread rows (N2), the triage
list at 1366x768 (N3), the thread (N5), the keyboard (N8), one screen from 1280 px (N9), axe-core
on the new pages, and the README's screenshots at 1440, 1024 and 390 px.

The conversations these tests change are their own ("Workday ..." contacts, made with
``manage.py shell`` in the live server's database), so the demo's conversations that other
e2e tests open stay as they were.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import AGENT, MANAGER, shot
from .test_agent_screen_e2e import AXE, DESKTOP, PHONE, SMALL_LAPTOP, axe_violations, loaded

pytestmark = pytest.mark.e2e

WIDE = {"width": 1440, "height": 900}

SEED = r"""
import json
from datetime import timedelta
from django.utils import timezone
from workspace.models import Workspace
from contacts.models import Contact
from inbox.models import Conversation, Message

ws = Workspace.objects.get(slug="acme")
now = timezone.now()
out = {}
LONG = "Could you check the delivery address on my order? It still shows the old one. " * 2

def make(key, name, texts, minutes, channel="webchat"):
    contact = Contact.objects.create(workspace=ws, name=name, email=key + "@workday.example")
    at = now - timedelta(minutes=minutes)
    conv = Conversation.objects.create(
        workspace=ws, contact=contact, subject="Workday " + key, channel=channel,
        last_activity_at=at,
    )
    for i, text in enumerate(texts):
        Message.objects.create(
            conversation=conv, direction="in" if i % 2 == 0 else "out", body=text,
            created_at=at - timedelta(seconds=10 * (len(texts) - i)),
        )
    out[key] = conv.pk

make("long", "Workday Long", [f"Message {i + 1}: " + LONG for i in range(15)], 1, "whatsapp")
make("short", "Workday Short", ["Hi", "Hello! How can I help?", "Where is my parcel?", "Ok"], 2)
make("unread", "Workday Unread", ["First", "Second from the customer"], 3, "sms")
for n in range(4):
    make(f"keys{n}", f"Workday Keys {n}", [f"Keyboard case {n}"], 4 + n, "email")
make("swap", "Workday Swap", ["Swap me in place"], 9)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def workday(live_app) -> dict[str, int]:
    """This module's own conversations (contact "Workday ..."), newest activity in the Inbox."""
    return json.loads(live_app.manage("shell", "-c", SEED).strip().splitlines()[-1])


def conversation_path(pk: int, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/w/acme/inbox/{pk}/" + (f"?{query}" if query else "")


def agent_page(new_context, viewport: dict) -> Page:
    page = new_context(AGENT).new_page()
    page.set_viewport_size(viewport)
    return page


def fully_visible(page: Page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return bool(
        box
        and box["y"] >= 0
        and box["x"] >= 0
        and box["y"] + box["height"] <= size["height"] + 0.5
        and box["x"] + box["width"] <= size["width"] + 0.5
    )


def mark_page(page: Page) -> None:
    """A flag that a full page load would wipe out."""
    page.evaluate("() => { window.__samePage = true; }")


def same_page(page: Page) -> bool:
    return page.evaluate("() => window.__samePage === true")


# --- N3 / N2: the list ---------------------------------------------------------------------------
def test_n3_twelve_triage_rows_fit_at_1366x768(live_app, new_context, console, workday):
    page = agent_page(new_context, DESKTOP)
    page.goto("/w/acme/inbox/?filter=all")
    rows = page.locator("#conversation-list li.conversation")
    expect(rows.first).to_be_visible()
    visible = [i for i in range(rows.count()) if fully_visible(page, rows.nth(i))]
    assert len(visible) >= 12, f"{len(visible)} rows fully visible"
    row = page.locator(f"#conversation-row-{workday['long']}")
    expect(row.locator(".who")).to_have_text("Workday Long")
    expect(row.locator(".channel")).to_have_text("whatsapp")
    expect(row.locator(".preview")).to_contain_text("Message 15:")
    expect(row.locator(".assignee")).to_have_text("Unassigned")
    expect(row.locator(".when")).not_to_be_empty()
    expect(page.get_by_role("navigation", name="Inbox views")).to_contain_text("Unassigned")
    shot(page, "n3-inbox-list-1366", keep=True)


def test_n2_unread_row_is_bold_opening_reads_it_and_mark_as_unread_undoes(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, DESKTOP)
    page.goto("/w/acme/inbox/")
    link = page.locator(f"#conversation-row-{workday['unread']} a")
    expect(link).to_have_accessible_name(re.compile(r"\b2 unread\b"))
    weight = link.locator(".who").evaluate("el => getComputedStyle(el).fontWeight")
    assert int(weight) >= 700
    link.click()
    expect(page.locator("#conversation-header h1")).to_have_text("Workday unread")
    page.goto("/w/acme/inbox/")
    expect(link).not_to_have_accessible_name(re.compile("unread"))
    assert int(link.locator(".who").evaluate("el => getComputedStyle(el).fontWeight")) < 700

    page.goto(conversation_path(workday["unread"]))
    page.locator(".more-menu summary").click()
    page.get_by_role("button", name="Mark as unread").click()
    expect(page).to_have_url(re.compile(r"/w/acme/inbox/$"))
    expect(link).to_have_accessible_name(re.compile(r"\b1 unread\b"))
    # The other agents' own state is theirs: the manager still has both messages unread.


# --- N5: the thread ------------------------------------------------------------------------------
@pytest.mark.parametrize("viewport", [DESKTOP, WIDE, PHONE], ids=["1366", "1440", "390"])
def test_n7_the_more_menu_opens_in_view_and_on_top(
    live_app, new_context, console, workday, viewport
):
    """More (Mark as unread, Snooze, Assign to...) opens inside the thread's column and the
    window, and nothing covers it: a click on its first button reaches that button."""
    page = agent_page(new_context, viewport)
    page.goto(conversation_path(workday["short"]))  # ("long" stays unread for N5)
    page.locator(".more-menu summary").click()
    menu = page.locator(".more-menu .menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    column = page.locator("#main").bounding_box()
    assert box["x"] >= max(column["x"], 0) - 0.5, (box, column)
    assert box["x"] + box["width"] <= min(column["x"] + column["width"], viewport["width"]) + 0.5
    button = menu.get_by_role("button", name="Mark as unread")
    on_top = button.evaluate(
        "b => { const r = b.getBoundingClientRect();"
        " return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }"
    )
    assert on_top, "something covers the menu"


def test_n7_at_sign_in_the_composer_suggests_teammates_and_the_note_marks_them(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, DESKTOP)
    page.goto(conversation_path(workday["short"]))
    composer = page.get_by_label("Reply")
    composer.press_sequentially("Can you approve this, @ma")
    choices = page.get_by_role("listbox", name="Teammates to mention")
    expect(choices).to_be_visible()
    expect(choices.get_by_role("option").first).to_contain_text("Max Manager")
    expect(composer).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Enter")  # takes the suggestion, no new line
    expect(choices).to_have_count(0)
    expect(composer).to_have_value(re.compile(r"^Can you approve this, @max $"))
    composer.press_sequentially("please?")
    page.get_by_role("button", name="Add internal note").click()
    expect(page.locator("#messages .message.note").last).to_contain_text("@max please?")

    manager = new_context(MANAGER).new_page()
    manager.set_viewport_size(DESKTOP)
    manager.goto("/w/acme/inbox/?filter=all")
    mark = manager.locator(f"#conversation-row-{workday['short']} .mention-mark")
    expect(mark).to_be_visible()
    expect(mark).to_have_attribute("title", "You were mentioned")
    console.assert_clean()


def test_n5_thread_opens_at_the_newest_and_a_sent_reply_shows_without_a_reload(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, DESKTOP)
    page.goto(conversation_path(workday["long"]))
    loaded(page)
    newest = page.locator("#messages .message").last
    expect(newest).to_contain_text("Message 15:")
    expect(newest).to_be_in_viewport()
    assert page.locator("#messages").evaluate("el => el.scrollTop") > 0
    expect(page.locator("#new-marker")).to_have_count(1)  # never read: "New" at the first

    mark_page(page)
    page.get_by_label("Reply").fill("We have updated the address.")
    page.get_by_role("button", name="Send reply").click()
    sent = page.locator("#messages .message.out").last
    expect(sent).to_contain_text("We have updated the address.")
    expect(sent).to_be_in_viewport()
    expect(page.get_by_label("Reply")).to_have_value("")
    expect(page.locator("#reply-form [role=status]")).to_have_text("Reply sent.")
    assert same_page(page)
    expect(page.locator("#new-marker")).to_have_count(0)

    # Message cards fit their text: a one-word message is a small card, not a tall empty box.
    page.goto(conversation_path(workday["short"]))
    card = page.locator("#messages .message", has_text="Hi").first
    box = card.bounding_box()
    text_width = card.evaluate(
        """el => Math.max(...Array.from(el.children).map(child => {
             const range = document.createRange();
             range.selectNodeContents(child);
             return range.getBoundingClientRect().width;
           }))"""
    )
    assert box["height"] < 80, box
    assert box["width"] <= text_width + 30, (box, text_width)  # padding and border only


def test_n5_at_390_the_newest_message_is_never_under_the_composer(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, PHONE)
    for key in ("short", "long"):
        page.goto(conversation_path(workday[key]))
        loaded(page)
        newest = page.locator("#messages .message").last
        expect(newest).to_be_in_viewport()
        composer = page.locator("#reply-form").bounding_box()
        box = newest.bounding_box()
        assert box["y"] + box["height"] <= composer["y"] + 1, (box, composer)
    # The fixed contact button never covers the composer's buttons.
    toggle = page.get_by_role("button", name="Contact & Salesforce").bounding_box()
    for name in ("Send reply", "Add internal note"):
        button = page.get_by_role("button", name=name).bounding_box()
        assert button["y"] + button["height"] <= toggle["y"] or (
            button["x"] + button["width"] <= toggle["x"]
        ), (name, button, toggle)
    shot(page, "n5-thread-390", keep=True)


# --- N8: the keyboard ----------------------------------------------------------------------------
def test_n8_keyboard_moves_opens_replies_assigns_closes_and_lists_shortcuts(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, DESKTOP)
    page.goto("/w/acme/inbox/")
    page.keyboard.press("/")
    expect(page.locator("#inbox-q")).to_be_focused()
    page.keyboard.type("Workday Keys")
    page.keyboard.press("Escape")  # Esc leaves the box: the next letter is a shortcut again
    expect(page.locator("#inbox-q")).not_to_be_focused()
    page.keyboard.press("/")
    expect(page.locator("#inbox-q")).to_be_focused()
    page.keyboard.type("Workday Keys")  # (Esc in a search box also empties it)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"q=Workday\+Keys"))
    rows = page.locator("#conversation-list li.conversation")
    expect(rows).to_have_count(4)
    for key in ["j", "j", "k"]:
        page.keyboard.press(key)
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("j")
    expect(rows.nth(1).locator("a")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-header h1")).to_have_text("Workday keys1")

    page.keyboard.press("r")
    expect(page.get_by_label("Reply")).to_be_focused()
    page.keyboard.type("Sent with the keyboard")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#messages .message.out").last).to_contain_text("Sent with the keyboard")

    page.locator("#conversation-header h1").click()  # out of the composer
    page.keyboard.press("a")
    expect(page.locator("#conversation-header")).to_contain_text("assigned to you")

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Assign it to me")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("e")
    # Closed, and on to the next open conversation of the same search.
    expect(page.locator("#conversation-header h1")).to_have_text("Workday keys0")
    assert "q=Workday" in page.url
    page.goto(conversation_path(workday["keys1"]))
    expect(page.locator("#conversation-header .badge.status-closed")).to_have_text("Closed")


def test_n8_below_1024_focus_stays_in_the_open_contact_panel_until_esc(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, PHONE)
    page.goto(conversation_path(workday["short"]))
    loaded(page)
    page.get_by_role("button", name="Contact & Salesforce").click()
    sidebar = page.locator("#contact-sidebar")
    expect(sidebar).to_be_in_viewport()
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "() => document.getElementById('contact-sidebar').contains(document.activeElement)"
        )
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(
        "() => document.getElementById('contact-sidebar').contains(document.activeElement)"
    )
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()


# --- N9: one screen from 1280 px -----------------------------------------------------------------
def test_n9_list_thread_and_sidebar_side_by_side_and_rows_swap_in_place(
    live_app, new_context, console, workday
):
    page = agent_page(new_context, WIDE)
    page.goto(conversation_path(workday["short"]))
    loaded(page)
    pane, main, side = (
        page.locator(".list-pane"),
        page.locator("#main"),
        page.locator("#contact-sidebar"),
    )
    boxes = [loc.bounding_box() for loc in (page.locator(".nav"), pane, main, side)]
    assert [b["x"] for b in boxes] == sorted(b["x"] for b in boxes), boxes
    assert boxes[0]["width"] < 120  # the navigation is a rail
    for loc in (pane, main, side):
        assert fully_visible(page, loc)
    expect(page.locator(f"#conversation-row-{workday['short']}")).to_have_class(
        re.compile(r"\bcurrent\b")
    )

    mark_page(page)
    page.locator(f"#conversation-row-{workday['swap']} a").click()
    expect(page).to_have_url(re.compile(rf"/w/acme/inbox/{workday['swap']}/$"))
    expect(page.locator("#conversation-header h1")).to_have_text("Workday swap")
    expect(page.locator(".sidebar-contact")).to_have_text("Workday Swap")
    expect(page.locator("#messages")).to_contain_text("Swap me in place")
    expect(page.locator(f"#conversation-row-{workday['swap']}")).to_have_class(
        re.compile(r"\bcurrent\b")
    )
    assert same_page(page)
    loaded(page)  # the new sidebar's panels load themselves
    expect(page.locator("#panel-details")).to_contain_text("swap@workday.example")

    page.go_back()
    expect(page).to_have_url(re.compile(rf"/w/acme/inbox/{workday['short']}/$"))
    expect(page.locator("#conversation-header h1")).to_have_text("Workday short")
    # Last: a screenshot leaves marks in the DOM that htmx's history snapshot would carry.
    loaded(page)
    shot(page, "n9-inbox-1440", keep=True)


def test_n9_below_1280_the_pages_are_todays(live_app, new_context, console, workday):
    page = agent_page(new_context, SMALL_LAPTOP)
    page.goto(conversation_path(workday["long"]))
    loaded(page)
    expect(page.locator(".list-pane")).to_be_hidden()
    expect(page.locator("#messages .message").last).to_be_in_viewport()
    shot(page, "n9-inbox-1024", keep=True)
    page.set_viewport_size(PHONE)
    page.goto("/w/acme/inbox/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "n3-inbox-list-390", keep=True)


# --- axe-core on the new pages -------------------------------------------------------------------
def test_n_inbox_pages_have_no_serious_or_critical_axe_violations(
    live_app, new_context, console, workday
):
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `make test` (it runs npm ci) or `npm ci`")
    context = new_context(AGENT)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    found = {}
    for viewport in (WIDE, PHONE):
        page.set_viewport_size(viewport)
        for name, url in {
            "list": "/w/acme/inbox/?filter=all",
            "search": "/w/acme/inbox/?q=Workday",
            "conversation": conversation_path(workday["long"]),
        }.items():
            page.goto(url)
            loaded(page)
            if violations := axe_violations(page):
                found[f"{name} at {viewport['width']}"] = violations
    page.set_viewport_size(WIDE)
    page.goto(conversation_path(workday["long"]))
    page.keyboard.press("?")
    if violations := axe_violations(page):
        found["shortcuts"] = violations
    assert found == {}, json.dumps(found, indent=1)
