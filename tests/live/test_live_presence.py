"""Issue 22, N6: "NAME is viewing" / "NAME is replying..." and the stale-reply guard."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from inbox.models import Message
from live import bus
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def memory_bus(settings):
    settings.LIVE_REDIS_URL = ""
    return bus.backend()


def _presence(client, conversation):
    url = reverse("live:presence", args=["acme"])
    return client.get(url, {"conversation": conversation.pk})


def _open_stream(client, conversation):
    url = reverse("live:events", args=["acme"]) + f"?conversation={conversation.pk}"
    response = client.get(url)
    chunks = iter(response.streaming_content)
    next(chunks)  # the opening: the connection is now "viewing"
    return response


def test_n6_an_open_conversation_page_shows_as_viewing_to_the_others(
    client, agent, manager, conversation, acme
):
    client_for(client, manager)
    sub = bus.subscribe(acme.pk)
    stream = _open_stream(client, conversation)
    try:
        event = sub.get(2)
        assert event["kind"] == "presence" and event["conversation"] == conversation.pk
        client_for(client, agent)
        page = _presence(client, conversation).content.decode()
        assert f"{manager.display_name} is viewing" in page
        client_for(client, manager)  # nobody is told about themselves
        assert "is viewing" not in _presence(client, conversation).content.decode()
    finally:
        stream._iterator.close()
        bus.unsubscribe(sub)
    client_for(client, agent)
    assert "is viewing" not in _presence(client, conversation).content.decode()


def test_n6_typing_shows_as_replying_and_lapses(client, agent, manager, conversation, settings):
    settings.LIVE_REPLYING_SECONDS = 0.5
    client_for(client, manager)
    url = reverse("live:presence", args=["acme"])
    assert client.post(url, {"conversation": conversation.pk}).status_code == 204
    client_for(client, agent)
    page = _presence(client, conversation).content.decode()
    assert f"{manager.display_name} is replying…" in page
    assert 'data-refresh-in="1"' in page  # the page asks again when the line lapses
    time.sleep(0.6)
    assert "is replying" not in _presence(client, conversation).content.decode()


def test_n6_presence_access_is_the_pages(client, outsider, agent, conversation):
    url = reverse("live:presence", args=["acme"])
    client_for(client, outsider)
    assert client.get(url, {"conversation": conversation.pk}).status_code == 404
    assert client.post(url, {"conversation": conversation.pk}).status_code == 404
    client_for(client, agent)
    assert client.get(url, {"conversation": 999999}).status_code == 404
    assert client.get(url).status_code == 400


# --- the stale-reply guard --------------------------------------------------------------------
def _reply(client, conversation, body, last_seen):
    url = reverse("inbox:reply", args=["acme", conversation.pk])
    return client.post(url, {"body": body, "last_seen": last_seen})


def _last_seen(client, conversation) -> str:
    page = client.get(reverse("inbox:detail", args=["acme", conversation.pk])).content.decode()
    marker = 'name="last_seen" value="'
    return page[page.index(marker) + len(marker) :].split('"', 1)[0]


def test_n6_reply_to_a_conversation_that_got_a_customer_message_asks_first(
    client, agent, conversation
):
    client_for(client, agent)
    seen = _last_seen(client, conversation)
    assert seen == str(conversation.messages.last().pk)
    Message.objects.create(conversation=conversation, direction="in", body="Actually, cancel it")
    response = _reply(client, conversation, "Your order ships today", seen)
    assert response.status_code == 409
    page = response.content.decode()
    assert "A new message arrived while you were replying" in page
    assert "Actually, cancel it" in page and "Send anyway" in page
    assert "Your order ships today" in page  # the draft is kept
    assert not conversation.messages.filter(body="Your order ships today").exists()
    # "Send anyway" posts the form again, now with the newest message as seen.
    newest = _last_seen(client, conversation)
    assert newest == str(conversation.messages.last().pk) and newest != seen
    response = _reply(client, conversation, "Your order ships today", newest)
    assert response.status_code == 302
    assert conversation.messages.filter(body="Your order ships today", author=agent).exists()


def test_n6_a_teammates_reply_counts_the_agents_own_does_not(client, agent, manager, conversation):
    client_for(client, agent)
    seen = _last_seen(client, conversation)
    Message.objects.create(conversation=conversation, direction="out", body="Mine", author=agent)
    assert _reply(client, conversation, "Second", seen).status_code == 302
    seen = _last_seen(client, conversation)
    Message.objects.create(
        conversation=conversation, direction="out", body="Refund issued", author=manager
    )
    response = _reply(client, conversation, "Third", seen)
    assert response.status_code == 409
    assert "Refund issued" in response.content.decode()


def test_n6_a_form_without_last_seen_is_not_held(client, agent, conversation):
    client_for(client, agent)
    url = reverse("inbox:reply", args=["acme", conversation.pk])
    assert client.post(url, {"body": "Hello"}).status_code == 302
