"""Issue 22, N1 and N6 in chromium: two people, each in their own browser context, on the live
Inbox served by runserver (the in-process fallback, as under ``make run``)."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from .conftest import AGENT, MANAGER, OWNER, PASSWORD, _csrf

AGENT_NAME, MANAGER_NAME = "Ari Agent", "Max Manager"


@pytest.fixture(scope="module")
def api_key(live_app) -> str:
    path = Path(tempfile.mkdtemp(prefix="e2e-key-")) / "key"
    live_app.manage("seed_demo", "--api-key-file", str(path))
    return path.read_text().strip()


@pytest.fixture
def post_message(live_app, api_key):
    # Named to sort after the demo contacts: the Contacts list's first page (25 by name) that
    # the badge test reads stays the demo's own, whichever order the e2e files run in.
    def post(text: str, *, email: str, name: str = "Visitor Live") -> dict:
        response = requests.post(
            live_app.url("/api/v1/w/acme/messages"),
            headers={"Authorization": f"Bearer {api_key}"},
            json={
                "external_id": f"e2e-{uuid.uuid4().hex}",
                "channel": "whatsapp",
                "from": {"name": name, "email": email},
                "text": text,
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    return post


def _customer() -> str:
    return f"live-{uuid.uuid4().hex[:8]}@example.com"


def _open(context, path: str):
    page = context.new_page()
    page.goto(path)
    # The page's one live connection is open (the server has sent its first chunk).
    expect(page.locator("#live-inbox")).to_have_attribute("data-state", "open")
    page.evaluate("window.__noReload = true")
    return page


def _not_reloaded(page) -> None:
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def test_n1_an_inbound_message_appears_in_the_open_list_and_conversation(new_context, post_message):
    email = _customer()
    first = post_message("My parcel never came", email=email)
    agent = new_context(AGENT)
    manager = new_context(MANAGER)
    thread = _open(agent, f"/w/acme/inbox/{first['conversation_id']}/")
    inbox = _open(manager, "/w/acme/inbox/")
    open_count = inbox.locator("#inbox-views a", has_text="Open").locator(".count")
    opened_before = int(open_count.inner_text())

    post_message("It was due on Monday", email=email)  # same customer: same conversation
    expect(thread.locator("#messages")).to_contain_text("It was due on Monday", timeout=3000)

    other = post_message("Can I change my address?", email=_customer(), name="Newly Arrived")
    row = inbox.locator(f"#conversation-row-{other['conversation_id']}")
    expect(row).to_contain_text("Newly Arrived", timeout=3000)
    # The views' counts follow (one more open conversation), without a reload.
    expect(open_count).to_have_text(str(opened_before + 1), timeout=3000)
    # Newest activity first: the new conversation heads the open list.
    expect(inbox.locator("#conversation-list li").first).to_have_id(
        f"conversation-row-{other['conversation_id']}"
    )
    _not_reloaded(thread)
    _not_reloaded(inbox)


def test_n5_a_long_unread_thread_offers_a_jump_to_its_new_line(new_context, post_message):
    """A thread opens at its newest message; when the "New" line is above the view, a button
    goes back to it (the helper's 41-unread thread put it ~6,000 px up with no way back)."""
    email = _customer()
    conversation = post_message("Unread 1 of a long thread", email=email)["conversation_id"]
    for n in range(2, 31):
        post_message(f"Unread {n} of a long thread, with enough words to take a line.", email=email)
    page = new_context(AGENT).new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"/w/acme/inbox/{conversation}/")
    expect(page.locator("#messages .message").last).to_be_in_viewport()
    jump = page.get_by_role("button", name="Jump to the first unread message")
    expect(jump).to_be_visible()
    jump.click()
    expect(page.locator("#new-marker")).to_be_in_viewport()
    expect(page.locator("#messages .message").first).to_contain_text("Unread 1 of a long thread")
    expect(jump).to_be_hidden()


def test_n5_a_live_message_keeps_the_readers_place_in_a_long_thread(new_context, post_message):
    """At 1366 px the thread scrolls in its own box. A message arriving live shows at the bottom
    when the agent was reading the newest; an agent reading further up stays where they were
    (the swap used to put a 30-message thread back at its first message)."""
    email = _customer()
    conversation = post_message("Message 1 of a long thread", email=email)["conversation_id"]
    for n in range(2, 31):
        post_message(
            f"Message {n} of a long thread, with enough words to take a line.", email=email
        )
    page = new_context(AGENT).new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"/w/acme/inbox/{conversation}/")
    expect(page.locator("#live-inbox")).to_have_attribute("data-state", "open")
    thread = page.locator("#messages")
    expect(thread.locator(".message").last).to_be_in_viewport()

    post_message("Arrived while reading the newest", email=email)
    newest = thread.locator(".message", has_text="Arrived while reading the newest")
    expect(newest).to_be_in_viewport(timeout=3000)

    thread.evaluate("el => { el.scrollTop = 400; }")
    post_message("Arrived while reading further up", email=email)
    expect(thread).to_contain_text("Arrived while reading further up", timeout=3000)
    page.wait_for_timeout(200)  # the swap's scroll restore runs right after it
    assert abs(thread.evaluate("el => el.scrollTop") - 400) <= 2


def test_n1_a_teammates_reply_and_assignment_appear(new_context, post_message):
    conversation = post_message("Is anyone there?", email=_customer())["conversation_id"]
    path = f"/w/acme/inbox/{conversation}/"
    agent_page = _open(new_context(AGENT), path)
    manager_page = _open(new_context(MANAGER), path)

    manager_page.locator("#reply-form textarea").fill("Yes, Max here: looking into it.")
    manager_page.get_by_role("button", name="Send reply").click()
    expect(agent_page.locator("#messages")).to_contain_text(
        "Yes, Max here: looking into it.", timeout=3000
    )
    manager_page.locator("#conversation-header summary").click()  # "More" holds the assignee
    assignee = "#conversation-header select[name=assignee]"
    manager_page.locator(assignee).select_option(label=MANAGER_NAME)
    manager_page.get_by_role("button", name="Assign", exact=True).click()
    expect(agent_page.locator(f"{assignee} option:checked")).to_have_text(
        MANAGER_NAME, timeout=3000
    )
    _not_reloaded(agent_page)


def test_n6_collision_notices_and_the_stale_reply_guard(new_context, post_message, console):
    # The held reply answers 409 Conflict (the page shows why); chromium logs any 4xx.
    console.allow(r"status of 409 \(Conflict\) \(http://[^)]+/reply/\)")
    email = _customer()
    conversation = post_message("I need a refund", email=email)["conversation_id"]
    path = f"/w/acme/inbox/{conversation}/"
    agent_page = _open(new_context(AGENT), path)
    manager_page = _open(new_context(MANAGER), path)

    expect(agent_page.locator("#live-presence")).to_contain_text(
        f"{MANAGER_NAME} is viewing", timeout=2000
    )
    expect(manager_page.locator("#live-presence")).to_contain_text(
        f"{AGENT_NAME} is viewing", timeout=2000
    )
    manager_page.locator("#reply-form textarea").press_sequentially("Refund is on")
    expect(agent_page.locator("#live-presence")).to_contain_text(
        f"{MANAGER_NAME} is replying…", timeout=2000
    )

    # The agent writes too; meanwhile the manager's reply goes out and the customer writes.
    agent_page.locator("#reply-form textarea").fill("We cannot refund this order.")
    manager_page.locator("#reply-form textarea").fill("Refund is on its way.")
    manager_page.get_by_role("button", name="Send reply").click()
    # The manager's reply is saved (and pushed to the agent's open page) before the customer
    # writes: without this wait a slow reply request could be saved after the agent's send.
    expect(agent_page.locator("#messages")).to_contain_text("Refund is on its way.", timeout=3000)
    post_message("Thanks Max!", email=email)
    expect(agent_page.locator("#messages")).to_contain_text("Thanks Max!", timeout=3000)
    agent_page.get_by_role("button", name="Send reply").click()

    notice = agent_page.locator("#stale-reply")
    expect(notice).to_contain_text("2 new messages arrived while you were replying")
    expect(notice).to_contain_text("Refund is on its way.")
    expect(notice).to_contain_text("Thanks Max!")
    expect(agent_page.locator("#reply-form textarea")).to_have_value("We cannot refund this order.")
    expect(manager_page.locator("#messages")).not_to_contain_text("We cannot refund")
    agent_page.get_by_role("button", name="Send anyway").click()
    expect(agent_page.locator("#messages")).to_contain_text("We cannot refund this order.")
    expect(manager_page.locator("#messages")).to_contain_text(
        "We cannot refund this order.", timeout=3000
    )


class CuttableProxy:
    """A TCP proxy in front of the live server whose connections the test can cut, like a
    dropped network: open ones are closed and new ones refused until ``restore``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = False
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        self.refusing = True
        with self.lock:
            sockets, self.open = self.open, set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.refusing = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(live_app):
    running = CuttableProxy(int(live_app.base_url.rsplit(":", 1)[1]))
    yield running
    running.close()


def test_n1_after_a_dropped_connection_the_page_catches_up(
    new_context, post_message, proxy, console
):
    # Chromium logs the refused reconnections while the network is "down".
    console.allow(r"ERR_CONNECTION_|ERR_EMPTY_RESPONSE|net::")
    email = _customer()
    conversation = post_message("Hello?", email=email)["conversation_id"]
    context = new_context(AGENT)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{proxy.port}/w/acme/inbox/{conversation}/")
    expect(page.locator("#live-inbox")).to_have_attribute("data-state", "open")
    page.evaluate("window.__noReload = true")

    proxy.cut()
    expect(page.locator("#live-inbox")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#live-status")).to_be_visible()
    post_message("Sent while you were offline", email=email)
    page.wait_for_timeout(1500)
    expect(page.locator("#messages")).not_to_contain_text("Sent while you were offline")

    proxy.restore()
    expect(page.locator("#messages")).to_contain_text("Sent while you were offline", timeout=8000)
    expect(page.locator("#live-inbox")).to_have_attribute("data-state", "open")
    expect(page.locator("#live-status")).to_be_hidden()
    _not_reloaded(page)


def test_n1_an_open_page_of_a_removed_member_closes_its_stream_and_shows_sign_in(
    new_context, live_app, console
):
    """Access as for the pages: the Owner removes an agent whose Inbox is open; the page's
    live connection closes, its reconnect is refused, and the page reloads to the sign-in."""
    # A refused reconnect and the page's probe are logged by chromium.
    console.allow(r"EventSource|text/event-stream|status of 40[34]|ERR_")
    email = f"live-removed-{uuid.uuid4().hex[:6]}@acme.test"
    member_id = (
        live_app.manage(
            "shell",
            "-c",
            "from workspace.models import Membership, Role, User, Workspace\n"
            f"u = User.objects.create_user({email!r}, password={PASSWORD!r})\n"
            "m = Membership.objects.create(user=u, workspace=Workspace.objects.get(slug='acme'), "
            "role=Role.AGENT)\n"
            "print(m.pk)",
        )
        .strip()
        .splitlines()[-1]
    )
    page = _open(new_context(email), "/w/acme/inbox/")

    owner = live_app.http(OWNER)
    confirm = owner.get(live_app.url(f"/w/acme/settings/members/{member_id}/remove/"), timeout=10)
    owner.post(
        live_app.url(f"/w/acme/settings/members/{member_id}/remove/"),
        data={"csrfmiddlewaretoken": _csrf(confirm.text)},
        timeout=10,
    ).raise_for_status()

    page.wait_for_url("**/signin/**", timeout=8000)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
