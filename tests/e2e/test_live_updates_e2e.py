"""Issue 15, F5 in chromium: an open sidebar shows an edit made in Salesforce without a reload.

Its own stack (module scope): the emulator with its Pub/Sub API, the product (runserver) and
``manage.py salesforce_listen`` as three processes, on their own SQLite file and database cache.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from salesforce_emulator.demo_names import ACME_ORG_ID
from salesforce_emulator.testing import spawn_emulator

from .conftest import (
    AGENT,
    MANAGE_PATH,
    OWNER,
    LiveApp,
    _csrf,
    serve_app,
    shot,
)

pytestmark = pytest.mark.e2e
JANE_ID = "0035g00000Con01AAB"


def _wait(condition, what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def live_app():
    """Overrides the package's live_app: the same product, plus Pub/Sub and the listener."""
    emu = spawn_emulator(pubsub_port=0, pubsub_keepalive=0.5)
    try:
        live = {
            "SALESFORCE_PUBSUB_URL": f"http://{emu.pubsub_target}",
            "SALESFORCE_LISTENER_HEARTBEAT_SECONDS": "0.5",
            "SALESFORCE_LISTENER_LEASE_SECONDS": "3",
        }
        with serve_app(emu, env=live, workers=("salesforce_listen",)) as app:
            yield app
    finally:
        emu.terminate()


def _turn_live_updates_on(app: LiveApp) -> None:
    page = app.manage_page()
    if re.search(r'id="live-updates"[^>]*checked', page):
        return
    app.http(OWNER).post(
        app.url(MANAGE_PATH + "live-updates/"),
        data={"csrfmiddlewaretoken": _csrf(page), "live_updates": "on"},
        timeout=10,
    ).raise_for_status()


def test_f5_open_sidebar_shows_a_salesforce_edit_without_reload(live_app, new_context, console):
    live_app.ensure_connected()
    _turn_live_updates_on(live_app)
    _wait(lambda: 'data-state="healthy"' in live_app.manage_page(), "a healthy listener")
    # Subscribed at LATEST: only events published after the stream is open reach it, so the
    # edit waits for the emulator to hold the listener's stream (a healthy heartbeat can
    # precede a stream restarted for a new connection).
    _wait(
        lambda: live_app.emu.pubsub_stats().get("open_streams", {}).get(ACME_ORG_ID, 0) >= 1,
        "the listener's open stream",
    )

    page = new_context(AGENT).new_page()
    page.goto("/w/acme/contacts/")
    page.get_by_label("Search contacts").fill("Jane Cooper")
    page.get_by_role("button", name="Search").click()
    page.locator("#contact-table").get_by_role("link", name="Jane Cooper", exact=True).click()
    panel = page.locator("#panel-salesforce .sf-panel")
    title = panel.locator('dl.sf-fields dd[data-field="Title"]')
    expect(title).to_have_text("Head of Operations")
    expect(panel.locator("[data-sf-live]")).to_be_attached()
    loads = []
    page.on("framenavigated", lambda frame: loads.append(frame.url))

    live_app.emu.update_record("Contact", JANE_ID, Title="Chief Operating Officer")

    # The panel's change check sees the event's invalidation and re-renders in place, the
    # changed field marked (M7).
    try:
        expect(title).to_contain_text("Chief Operating Officer", timeout=15_000)
        expect(title).to_contain_text("changed in Salesforce just now")
    except AssertionError:
        print(
            "listener log:\n" + (live_app.log.parent / "salesforce_listen.log").read_text()[-4000:]
        )
        raise
    assert loads == []  # no navigation: the page was never reloaded
    shot(page, "live-update-sidebar")
    console.assert_clean()
