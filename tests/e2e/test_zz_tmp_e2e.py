import re
import pytest
from playwright.sync_api import expect
from .test_inbox_e2e import agent_page, conversation_path, workday, WIDE  # noqa: F401
from .test_agent_screen_e2e import SMALL_LAPTOP

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("vp", [WIDE, SMALL_LAPTOP])
def test_tmp_unread(live_app, new_context, console, workday, vp):  # noqa: F811
    page = agent_page(new_context, vp)
    reqs = []
    page.on(
        "request",
        lambda r: reqs.append(
            (
                r.method,
                r.url,
                dict(r.headers).get("x-live-refresh"),
                dict(r.headers).get("hx-request"),
            )
        ),
    )
    page.goto("/w/acme/inbox/")
    page.locator(f"#conversation-row-{workday['unread']} a").click()
    page.wait_for_timeout(1500)
    reqs.clear()
    page.locator(".more-menu summary").click()
    page.get_by_role("button", name="Mark as unread").click()
    page.wait_for_timeout(3000)
    for r in reqs:
        print(r)
    print(page.url)
    link = page.locator(f"#conversation-row-{workday['unread']} a")
    print(link.get_attribute("aria-label"), link.inner_text())
