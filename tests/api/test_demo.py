"""O7: the demo's API key and webhook from seed_demo, and the tiny receiver."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from api import receiver as demo_receiver
from api import webhooks
from api.keys import api_key_authenticate
from api.models import WebhookEndpoint
from inbox.actions import conversation_reply
from inbox.models import Conversation

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_o7_seed_demo_prints_a_working_acme_key_and_revokes_the_previous_one(tmp_path):
    key_file = tmp_path / "demo_api_key"
    out = StringIO()
    call_command("seed_demo", "--api-key-file", str(key_file), stdout=out)
    first = key_file.read_text().strip()
    assert first in out.getvalue()
    assert api_key_authenticate(first).workspace.slug == "acme"
    call_command("seed_demo", "--api-key-file", str(key_file), stdout=StringIO())
    second = key_file.read_text().strip()
    assert second != first
    assert api_key_authenticate(first) is None
    assert api_key_authenticate(second) is not None


@pytest.mark.django_db
def test_o7_seed_demo_points_acme_replies_at_the_receiver_with_a_kept_secret(tmp_path):
    secret_file = tmp_path / "secret"
    call_command(
        "seed_demo",
        "--webhook-url",
        "http://127.0.0.1:8025/webhook",
        "--webhook-secret-file",
        str(secret_file),
        stdout=StringIO(),
    )
    secret = secret_file.read_text().strip()
    endpoint = WebhookEndpoint.objects.get(workspace__slug="acme")
    assert (endpoint.url, endpoint.secret) == ("http://127.0.0.1:8025/webhook", secret)
    call_command(
        "seed_demo",
        "--webhook-url",
        "http://127.0.0.1:8025/webhook",
        "--webhook-secret-file",
        str(secret_file),
        stdout=StringIO(),
    )
    assert WebhookEndpoint.objects.get(workspace__slug="acme").secret == secret


def test_o7_receiver_checks_the_signature_and_the_replay_window():
    body = b'{"a":1}'
    now = str(int(time.time()))
    assert demo_receiver.signature_ok("s", now, "d1", body, webhooks.sign("s", now, "d1", body))
    assert not demo_receiver.signature_ok("s", now, "d1", body, webhooks.sign("t", now, "d1", body))
    old = str(int(time.time()) - 301)
    assert not demo_receiver.signature_ok("s", old, "d1", body, webhooks.sign("s", old, "d1", body))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_o7_receiver_process_prints_a_signed_reply_once(acme, agent, conversation, settings):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.receiver", "--port", str(port), "--secret", "whsec_demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/stats", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        WebhookEndpoint.objects.create(
            workspace=acme, url=f"http://127.0.0.1:{port}/webhook", secret="whsec_demo"
        )
        Conversation.objects.filter(pk=conversation.pk).update(channel="whatsapp")
        conversation.refresh_from_db()
        message = conversation_reply(conversation=conversation, author=agent, body="Shipped!")
        webhooks.deliver_due()
        # The same delivery again (as after a lost lease): the receiver drops the repeat.
        delivery = message.webhook_delivery
        endpoint = WebhookEndpoint.objects.get()
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        ts = str(int(time.time()))
        requests.post(
            endpoint.url,
            data=body,
            headers={
                "X-Inbox-Delivery": str(delivery.pk),
                "X-Inbox-Timestamp": ts,
                "X-Inbox-Signature": webhooks.sign("whsec_demo", ts, str(delivery.pk), body),
            },
            timeout=5,
        )
        stats = requests.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
        assert stats["unique_deliveries"] == 1 and stats["repeats_dropped"] == 1
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert output.count("Shipped!") == 1
    assert "[whatsapp] to Jane Cooper <jane.cooper@northwind.example>: Shipped!" in output
