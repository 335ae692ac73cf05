"""Issue 22's README screenshots: the Inbox at 1440, 1024 and 390 px.

This file's name sorts first in the package, so the screenshots show the demo data as
``make run`` seeds it, before other tests add their own conversations to the shared app.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import AGENT, shot
from .test_agent_screen_e2e import PHONE, SMALL_LAPTOP, loaded
from .test_inbox_e2e import WIDE

pytestmark = pytest.mark.e2e


def test_n9_readme_screenshots_at_1440_1024_and_390(live_app, new_context, console):
    live_app.ensure_connected()
    page = new_context(AGENT).new_page()
    page.set_viewport_size(WIDE)
    page.goto("/w/acme/inbox/")
    page.locator("#conversation-list li.conversation a", has_text="Jane Cooper").first.click()
    expect(page).to_have_url(re.compile(r"/w/acme/inbox/\d+/$"))
    url = page.url
    for viewport, name in [(WIDE, "1440"), (SMALL_LAPTOP, "1024"), (PHONE, "390")]:
        page.set_viewport_size(viewport)
        page.goto(url)
        loaded(page)
        expect(page.locator("#panel-salesforce")).to_contain_text("Northwind Traders")
        expect(page.locator("#messages .message").last).to_be_in_viewport()
        shot(page, f"inbox-{name}", keep=True)
