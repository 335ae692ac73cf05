"""O6: agent replies out through signed webhooks, from a durable outbox, with retries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from api import webhooks
from api.models import WebhookDelivery
from api.urlsafety import UnsafeWebhookUrl, check_webhook_url
from inbox.actions import conversation_reply
from inbox.models import Message
from tests.api.conftest import WEBHOOK_SECRET
from tests.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]


def _reply(conversation, author, body="On its way!"):
    return conversation_reply(conversation=conversation, author=author, body=body)


def _run_due():
    webhooks.deliver_due()


@pytest.mark.django_db
def test_o6_reply_and_its_delivery_row_are_written_together(conversation, agent, endpoint):
    message = _reply(conversation, agent)
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.payload["message"]["text"] == "On its way!"
    assert delivery.give_up_at - delivery.created_at == timedelta(hours=24)


@pytest.mark.django_db
def test_o6_failing_outbox_write_rolls_the_reply_back(conversation, agent, endpoint):
    before = Message.objects.count()
    with (
        mock.patch("api.webhooks.WebhookDelivery.save", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        _reply(conversation, agent)
    assert Message.objects.count() == before
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_o6_no_webhook_url_means_no_delivery_row(conversation, agent):
    message = _reply(conversation, agent)
    assert not WebhookDelivery.objects.filter(message=message).exists()


@pytest.mark.django_db
def test_o6_delivery_is_signed_and_carries_the_message_and_channel_ids(
    conversation, agent, endpoint, receiver, contact
):
    conversation.channel = "whatsapp"
    conversation.save()
    message = _reply(conversation, agent)
    _run_due()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    delivery = WebhookDelivery.objects.get(message=message)
    assert headers["x-inbox-delivery"] == str(delivery.pk)
    assert headers["x-inbox-event"] == "message.reply"
    assert headers["content-type"] == "application/json"
    timestamp = headers["x-inbox-timestamp"]
    assert abs(int(timestamp) - time.time()) < 30
    delivery_id = headers["x-inbox-delivery"]
    signature = headers["x-inbox-signature"]
    assert webhooks.verify(WEBHOOK_SECRET, timestamp, delivery_id, request["body"], signature)
    assert not webhooks.verify("another-secret", timestamp, delivery_id, request["body"], signature)
    assert not webhooks.verify(
        WEBHOOK_SECRET, timestamp, delivery_id, request["body"] + b" ", signature
    )
    payload = json.loads(request["body"])
    assert payload["delivery_id"] == str(delivery.pk)
    assert payload["message"]["id"] == message.pk
    assert payload["message"]["text"] == "On its way!"
    assert payload["conversation"]["channel"] == "whatsapp"
    assert payload["contact"] == {
        "id": contact.pk,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
    }
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SENT and delivery.attempts == 1


def test_o6_signature_outside_the_five_minute_replay_window_is_rejected():
    body = b'{"x":1}'
    ts = str(int(time.time()) - 301)
    assert not webhooks.verify("s", ts, "d", body, webhooks.sign("s", ts, "d", body))
    ts = str(int(time.time()) - 299)
    assert webhooks.verify("s", ts, "d", body, webhooks.sign("s", ts, "d", body))


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 503, 429])
def test_o6_5xx_and_429_are_retried_first_within_15_s(
    conversation, agent, endpoint, receiver, status
):
    receiver.statuses = [status]
    message = _reply(conversation, agent)
    started = timezone.now()
    _run_due()
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.is_retrying
    assert delivery.last_error == f"The receiver answered HTTP {status}."
    assert started < delivery.next_attempt_at <= started + timedelta(seconds=16)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    _run_due()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SENT and delivery.attempts == 2
    ids = {r["headers"]["X-Inbox-Delivery"] for r in receiver.requests}
    assert ids == {str(delivery.pk)}  # a retry carries the same delivery id


@pytest.mark.django_db
def test_o6_network_errors_are_retried(conversation, agent, endpoint):
    endpoint.url = "http://127.0.0.1:9/closed"  # discard port: nothing listens
    endpoint.save()
    message = _reply(conversation, agent)
    _run_due()
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.is_retrying
    assert delivery.last_error == "Could not connect to the receiver."


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_o6_other_4xx_give_up_at_once(conversation, agent, endpoint, receiver, status):
    receiver.statuses = [status]
    message = _reply(conversation, agent)
    _run_due()
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.last_error == f"The receiver answered HTTP {status}."
    _run_due()
    assert len(receiver.requests) == 1


def test_o6_back_off_doubles_from_15_s_and_stays_under_an_hour():
    assert 12 <= webhooks.retry_delay(1) <= 15
    assert 24 <= webhooks.retry_delay(2) <= 30
    assert 48 <= webhooks.retry_delay(3) <= 60
    assert webhooks.retry_delay(30) <= 3600


@pytest.mark.django_db
def test_o6_retries_stop_after_the_24_hour_horizon(conversation, agent, endpoint, receiver):
    receiver.default_status = 503
    message = _reply(conversation, agent)
    WebhookDelivery.objects.filter(message=message).update(
        give_up_at=timezone.now() + timedelta(seconds=5)
    )
    _run_due()
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.last_error.startswith("Gave up after 1 attempts")


@pytest.mark.django_db
def test_o6_agent_sees_each_replys_state_and_retries_by_hand(
    client, conversation, agent, endpoint, receiver
):
    receiver.statuses = [404, 503]
    failed = _reply(conversation, agent, "first")
    _run_due()
    retrying = _reply(conversation, agent, "second")
    _run_due()
    sent = _reply(conversation, agent, "third")
    _run_due()
    client_for(client, agent)
    url = f"/w/acme/inbox/{conversation.pk}/"
    page = client.get(url).content.decode()
    assert "Failed" in page and "The receiver answered HTTP 404." in page
    assert "Retrying" in page and "The receiver answered HTTP 503." in page
    assert "Sent" in page
    assert page.count("Retry now") == 2
    d_failed = WebhookDelivery.objects.get(message=failed)
    response = client.post(url + "retry-delivery/", {"delivery": str(d_failed.pk)})
    assert response.status_code == 302
    d_failed.refresh_from_db()
    assert d_failed.status == WebhookDelivery.Status.PENDING
    _run_due()
    d_failed.refresh_from_db()
    assert d_failed.status == WebhookDelivery.Status.SENT
    # A sent reply is not sent again by hand; another workspace's delivery id is not found.
    d_sent = WebhookDelivery.objects.get(message=sent)
    client.post(url + "retry-delivery/", {"delivery": str(d_sent.pk)})
    assert WebhookDelivery.objects.get(pk=d_sent.pk).attempts == 1
    assert client.post(url + "retry-delivery/", {"delivery": "nope"}).status_code == 302
    assert retrying  # kept for the page above


@pytest.mark.django_db
def test_o6_a_claimed_row_goes_to_one_worker_only(conversation, agent, endpoint):
    _reply(conversation, agent)
    first = webhooks.claim_due()
    second = webhooks.claim_due()
    assert len(first) == 1 and second == []


@pytest.mark.django_db
def test_o6_a_dead_workers_lease_expires_and_the_row_is_sent_again(
    conversation, agent, endpoint, receiver
):
    message = _reply(conversation, agent)
    claimed = webhooks.claim_due()
    assert claimed  # ... and this worker dies before recording anything
    WebhookDelivery.objects.filter(message=message).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    _run_due()
    assert WebhookDelivery.objects.get(message=message).status == WebhookDelivery.Status.SENT


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
        "ftp://example.com/",
    ],
)
def test_o6_webhook_urls_must_be_https_and_public(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url(url)


def test_o6_public_https_url_is_accepted_and_the_switch_lifts_the_rules(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with mock.patch("socket.getaddrinfo", return_value=[(2, 1, 6, "", ("93.184.215.14", 443))]):
        check_webhook_url("https://hooks.example.com/inbox")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    check_webhook_url("http://127.0.0.1:9000/hook")


@pytest.mark.django_db
def test_o6_resolved_address_is_checked_again_at_delivery(
    settings, conversation, agent, endpoint, receiver
):
    endpoint.url = "https://rebinding.example/hook"
    endpoint.save()
    message = _reply(conversation, agent)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with mock.patch("socket.getaddrinfo", return_value=[(2, 1, 6, "", ("10.1.2.3", 443))]):
        _run_due()
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "private" in delivery.last_error
    assert receiver.requests == []


def _worker_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        if db.get("PASSWORD"):
            env["DATABASE_URL"] = env["DATABASE_URL"].replace(
                f"//{db['USER']}@", f"//{db['USER']}:{db['PASSWORD']}@"
            )
    from django.conf import settings

    env["FIELD_ENCRYPTION_KEY"] = ",".join(settings.FIELD_ENCRYPTION_KEY)
    env["WEBHOOK_ALLOW_PRIVATE_URLS"] = "1"
    env["CACHE_URL"] = "locmemcache://"
    return env


@pytest.mark.django_db(transaction=True)
def test_o6_worker_process_delivers_retries_and_stops_cleanly(
    conversation, agent, endpoint, receiver
):
    receiver.statuses = [503]
    message = _reply(conversation, agent)
    WebhookDelivery.objects.filter(message=message).update(next_attempt_at=timezone.now())
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_webhooks", "--poll", "0.2"],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not receiver.requests:
            time.sleep(0.1)
        assert len(receiver.requests) == 1  # the 503
        delivery = WebhookDelivery.objects.get(message=message)
        assert delivery.is_retrying
        # Bring the retry forward rather than wait up to 15 s.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        while time.time() < deadline and len(receiver.requests) < 2:
            time.sleep(0.1)
        time.sleep(0.5)
        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.SENT
        assert len(receiver.requests) == 2
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0].decode()
    assert worker.returncode == 0, output
    assert WEBHOOK_SECRET not in output
