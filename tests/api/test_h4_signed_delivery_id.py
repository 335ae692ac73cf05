"""H4: the webhook signature covers the delivery id, and the README's example checks it."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from api import receiver as demo_receiver
from api import webhooks
from api.models import WebhookDelivery
from inbox.actions import conversation_reply
from tests.api.conftest import WEBHOOK_SECRET

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example():
    text = README.read_text()
    marker = text.index("<!-- webhook-verification-example")
    code = re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["accept_delivery"]


def _headers(delivery_id: str, timestamp: str, signature: str) -> dict:
    return {
        "X-Inbox-Delivery": delivery_id,
        "X-Inbox-Timestamp": timestamp,
        "X-Inbox-Signature": signature,
    }


@pytest.mark.django_db
def test_h4_a_sent_delivery_verifies_only_with_its_own_id(conversation, agent, endpoint, receiver):
    message = conversation_reply(conversation=conversation, author=agent, body="On its way!")
    webhooks.deliver_due()
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    delivery = WebhookDelivery.objects.get(message=message)
    assert headers["x-inbox-delivery"] == str(delivery.pk)
    assert headers["x-inbox-signature"].startswith("v2=")
    args = (WEBHOOK_SECRET, headers["x-inbox-timestamp"])
    body, signature = request["body"], headers["x-inbox-signature"]
    assert webhooks.verify(*args, str(delivery.pk), body, signature)
    assert not webhooks.verify(*args, "00000000-0000-0000-0000-000000000000", body, signature)


def test_h4_the_readme_example_refuses_a_replay_under_a_new_id_and_a_repeat():
    accept = _readme_example()
    body = b'{"event":"message.reply"}'
    ts = str(int(time.time()))
    signature = webhooks.sign("whsec_x", ts, "id-1", body)
    seen: set = set()
    assert accept("whsec_x", _headers("id-1", ts, signature), body, seen)
    assert not accept("whsec_x", _headers("id-1", ts, signature), body, seen)  # a repeat
    assert not accept("whsec_x", _headers("id-2", ts, signature), body, seen)  # a new id
    assert not accept(
        "whsec_y", _headers("id-3", ts, webhooks.sign("whsec_x", ts, "id-3", body)), body, seen
    )
    old = str(int(time.time()) - 301)
    assert not accept(
        "whsec_x", _headers("id-4", old, webhooks.sign("whsec_x", old, "id-4", body)), body, seen
    )
    assert seen == {"id-1"}


def test_h4_the_demo_receiver_answers_401_to_a_replay_under_a_new_id():
    state = demo_receiver.State("whsec_demo", fail_rate=0.0, quiet=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), demo_receiver.make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    try:
        body = json.dumps({"event": "message.reply"}).encode()
        ts = str(int(time.time()))
        signature = webhooks.sign("whsec_demo", ts, "d-1", body)
        first = requests.post(url, data=body, headers=_headers("d-1", ts, signature), timeout=5)
        replay = requests.post(url, data=body, headers=_headers("d-2", ts, signature), timeout=5)
        assert (first.status_code, replay.status_code) == (200, 401)
        assert state.stats()["delivery_ids"] == ["d-1"]
    finally:
        server.shutdown()
        server.server_close()
