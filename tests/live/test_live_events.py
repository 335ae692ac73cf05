"""Issue 22, N1: the live bus (in-process and Redis), replay, events from every write, the stream's
access and its idle cost. N6 presence and the stale-reply guard are in test_live_presence.py."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.urls import reverse
from django.utils import timezone

from api.inbound import Sender, receive_message
from api.models import WebhookDelivery, WebhookEndpoint
from api.webhooks import Outcome, record, retry_now
from inbox.actions import conversation_assign, conversation_reply, conversation_set_status
from inbox.models import Conversation
from live import bus
from live.stream import LiveConnection
from tests.conftest import client_for

# The run's own Redis when it has one (CI's production stack, which may have started a private
# Redis), else the machine's; the keys carry a per-test prefix and are deleted afterwards.
REDIS_URL = (
    os.environ["CACHE_URL"]
    if os.environ.get("CACHE_URL", "").startswith("redis://")
    else "redis://127.0.0.1:6379/4"
)


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def memory_bus(settings):
    settings.LIVE_REDIS_URL = ""
    settings.LIVE_REPLAY_EVENTS = 3
    backend = bus.backend()
    assert backend.name == "memory"
    return backend


@pytest.fixture
def redis_bus(settings):
    if not _redis_up():
        pytest.skip(f"Redis is not answering at {REDIS_URL}")
    prefix = f"test-live-{uuid.uuid4().hex[:8]}"
    settings.LIVE_REDIS_URL = REDIS_URL
    settings.LIVE_PREFIX = prefix
    settings.LIVE_REPLAY_EVENTS = 3
    backend = bus.backend()
    assert backend.name == "redis"
    yield backend
    backend.stop()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def any_bus(request):
    return request.getfixturevalue(f"{request.param}_bus")


def _drain(sub, *, wait: float = 2.0) -> list[dict]:
    found = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        event = sub.get(0.05)
        if event is not None:
            found.append(event)
        elif found:
            break
    return found


# --- fan-out ----------------------------------------------------------------------------------
def test_n1_events_fan_out_to_every_connection_of_the_workspace_only(any_bus):
    any_bus.start()
    first, second, other = bus.subscribe(1), bus.subscribe(1), bus.subscribe(2)
    try:
        event = bus.publish(1, "message", conversation=7, message=70)
        assert event["kind"] == "message" and event["conversation"] == 7
        for sub in (first, second):
            assert [e["id"] for e in _drain(sub)] == [event["id"]]
        assert _drain(other, wait=0.3) == []
    finally:
        for sub in (first, second, other):
            bus.unsubscribe(sub)


def test_n1_redis_carries_events_between_processes(redis_bus, settings):
    """Another web process or the webhook worker publishes on its own connection: an event it
    writes reaches the connections this process serves."""
    other_process = bus.RedisBackend(
        bus.Hub(), url=REDIS_URL, prefix=settings.LIVE_PREFIX, size=10, seconds=60
    )
    redis_bus.start()
    sub = bus.subscribe(5)
    try:
        sent = other_process.publish(5, {"kind": "conversation", "conversation": 9})
        assert _drain(sub) == [sent]
    finally:
        bus.unsubscribe(sub)


def test_n1_redis_channels_carry_the_settings_prefix(redis_bus, settings):
    assert redis_bus.channel(3) == f"{settings.LIVE_PREFIX}:ws:3"
    listener = redis.Redis.from_url(REDIS_URL).pubsub()
    listener.subscribe(f"{settings.LIVE_PREFIX}:ws:3")
    listener.get_message(timeout=1)  # the subscribe confirmation
    bus.publish(3, "message", conversation=1)
    message = listener.get_message(timeout=2)
    listener.close()
    assert message and message["type"] == "message"


def test_n1_asyncio_connections_receive_events_published_from_threads(any_bus):
    """ASGI: a connection waits on the event loop while writes happen in other threads."""

    async def main():
        await asyncio.to_thread(any_bus.start)
        sub = bus.subscribe(4, loop=asyncio.get_running_loop())
        try:
            thread = threading.Thread(
                target=bus.publish, args=(4, "message"), kwargs={"message": 1}
            )
            thread.start()
            event = await sub.aget(2)
            thread.join()
            return event
        finally:
            bus.unsubscribe(sub)

    event = asyncio.run(main())
    assert event is not None and event["kind"] == "message"


# --- replay -----------------------------------------------------------------------------------
def test_n1_replay_returns_what_was_missed_after_an_event_id(any_bus):
    first = bus.publish(1, "message", message=1)
    second = bus.publish(1, "message", message=2)
    third = bus.publish(1, "message", message=3)
    replay = any_bus.replay(1, first["id"])
    assert replay.complete and [e["id"] for e in replay.events] == [second["id"], third["id"]]
    assert any_bus.replay(1, third["id"]) == bus.Replay([], True)
    assert any_bus.replay(1, None) == bus.Replay([], True)  # a first connection: nothing owed


def test_n1_replay_asks_for_a_reload_when_events_may_be_lost(any_bus):
    first = bus.publish(1, "message", message=1)
    for n in range(4):  # the buffer keeps 3 (LIVE_REPLAY_EVENTS in the fixture)
        bus.publish(1, "message", message=2 + n)
    assert not any_bus.replay(1, first["id"]).complete
    # An id from another epoch (a restarted process, a flushed Redis) or from the future.
    assert not any_bus.replay(1, "0000-1").complete
    assert not any_bus.replay(1, first["id"].rsplit("-", 1)[0] + "-999").complete
    assert bus.parse_id("garbage") is None


def test_n1_a_publish_failure_never_breaks_the_write(settings, caplog):
    settings.LIVE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert bus.publish(1, "message", message=1) is None
    assert "Live event not published" in caplog.text


# --- every write is an event ------------------------------------------------------------------
@pytest.fixture
def published(memory_bus, django_capture_on_commit_callbacks):
    """Capture the events the writes publish (after their transaction commits)."""
    memory_bus.start()

    class Recorder:
        def __init__(self):
            self.subs = {}

        def writes(self):
            return django_capture_on_commit_callbacks(execute=True)

        def watch(self, workspace):
            self.subs[workspace.pk] = bus.subscribe(workspace.pk)

        def events(self, workspace):
            return _drain(self.subs[workspace.pk], wait=0.3)

    recorder = Recorder()
    yield recorder
    for sub in recorder.subs.values():
        bus.unsubscribe(sub)


@pytest.mark.django_db
def test_n1_inbound_message_publishes_conversation_and_message_events(acme, published):
    published.watch(acme)
    with published.writes():
        result = receive_message(
            workspace=acme,
            api_key=None,
            external_id="wa-1",
            channel="whatsapp",
            sender=Sender(name="Ann", email="ann@example.com", phone=""),
            text="Hello",
            sent_at=None,
        )
    kinds = {(e["kind"], e.get("conversation")) for e in published.events(acme)}
    assert ("conversation", result.conversation_id) in kinds
    assert ("message", result.conversation_id) in kinds


@pytest.mark.django_db
def test_n1_nothing_is_published_for_a_rolled_back_write(acme, contact, published):
    from django.db import transaction

    published.watch(acme)
    with published.writes(), pytest.raises(RuntimeError), transaction.atomic():
        Conversation.objects.create(workspace=acme, contact=contact, subject="Never")
        raise RuntimeError
    assert published.events(acme) == []


@pytest.mark.django_db
def test_n1_reply_assignment_and_status_publish_events(
    acme, globex, conversation, agent, published
):
    published.watch(acme)
    published.watch(globex)
    with published.writes():
        message = conversation_reply(conversation=conversation, author=agent, body="On its way")
        conversation_assign(conversation=conversation, assignee=agent)
        conversation_set_status(conversation=conversation, status="closed")
    events = published.events(acme)
    assert {"kind": "message", "conversation": conversation.pk, "message": message.pk} in [
        {k: v for k, v in e.items() if k != "id"} for e in events
    ]
    assert [e["kind"] for e in events].count("conversation") == 2
    assert published.events(globex) == []  # another workspace hears nothing


@pytest.mark.django_db
def test_n1_delivery_state_changes_publish_events(acme, conversation, agent, published):
    WebhookEndpoint.objects.create(workspace=acme, url="https://example.com/hook", secret="s")
    message = conversation_reply(conversation=conversation, author=agent, body="Hi")
    delivery = WebhookDelivery.objects.get(message=message)
    published.watch(acme)
    # The worker's lease, then a failed attempt (Retrying), a manual retry, a success (Sent).
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery.refresh_from_db()
    with published.writes():
        record(delivery, Outcome(False, True, "The receiver answered HTTP 503.", 503))
        retry_now(delivery=delivery)
        delivery.refresh_from_db()
        record(delivery, Outcome(True, False, status_code=200))
    events = [e for e in published.events(acme) if e["kind"] == "delivery"]
    assert len(events) == 3
    assert all(e["message"] == message.pk and e["conversation"] == conversation.pk for e in events)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SENT


@pytest.mark.django_db
def test_n1_a_lost_lease_publishes_nothing(acme, conversation, agent, published):
    WebhookEndpoint.objects.create(workspace=acme, url="https://example.com/hook", secret="s")
    message = conversation_reply(conversation=conversation, author=agent, body="Hi")
    delivery = WebhookDelivery.objects.get(message=message)
    published.watch(acme)
    delivery.next_attempt_at = timezone.now() - timedelta(hours=1)  # another worker's claim
    with published.writes():
        record(delivery, Outcome(True, False, status_code=200))
    assert [e for e in published.events(acme) if e["kind"] == "delivery"] == []


# --- the stream: access, replay, idle cost ----------------------------------------------------
def _url(conversation=None, slug="acme"):
    url = reverse("live:events", args=[slug])
    return f"{url}?conversation={conversation.pk}" if conversation is not None else url


@pytest.mark.django_db
def test_n1_stream_access_is_the_pages(client, agent, outsider, conversation, globex, contact):
    client_for(client, outsider)
    assert client.get(_url()).status_code == 404  # not a member of Acme
    assert client.get(_url(slug="no-such")).status_code == 404
    client.logout()
    assert client.get(_url()).status_code == 302  # sign in first
    client_for(client, agent)
    theirs = Conversation.objects.create(workspace=globex, contact=_globex_contact(globex))
    assert client.get(_url(theirs)).status_code == 404  # another workspace's conversation
    assert client.get(_url() + "?conversation=x").status_code == 404
    assert client.post(_url()).status_code == 405
    response = client.get(_url(conversation))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert (
        response["Cache-Control"].startswith("no-cache") or "no-cache" in response["Cache-Control"]
    )
    _close(response)


def _close(response):
    """Close the stream the way a finished request does (the test client's wrapper keeps the
    test's database connection open; response.close() alone would close it)."""
    response._iterator.close()


def _globex_contact(globex):
    from contacts.models import Contact

    return Contact.objects.create(workspace=globex, name="Gus", email="gus@example.com")


@pytest.mark.django_db
def test_n1_stream_sends_events_and_idle_heartbeats_without_queries(
    client, agent, acme, memory_bus, settings, django_assert_num_queries
):
    settings.LIVE_HEARTBEAT_SECONDS = 0.05
    client_for(client, agent)
    response = client.get(_url())
    chunks = iter(response.streaming_content)
    assert next(chunks).decode().startswith("retry: ")
    with django_assert_num_queries(0):
        for _ in range(5):  # idle: heartbeats from memory only
            assert next(chunks).decode() == ": heartbeat\n\n"
        event = bus.publish(acme.pk, "message", conversation=3, message=4)
        while (chunk := next(chunks).decode()).startswith(":"):
            pass
    assert chunk.startswith(f"id: {event['id']}\ndata: ")
    assert '"kind":"message"' in chunk
    _close(response)


@pytest.mark.django_db
def test_n1_stream_replays_after_last_event_id_or_resets(client, agent, acme, memory_bus):
    client_for(client, agent)
    first = bus.publish(acme.pk, "message", message=1)
    second = bus.publish(acme.pk, "conversation", conversation=2)
    response = client.get(_url(), HTTP_LAST_EVENT_ID=first["id"])
    chunks = iter(response.streaming_content)
    next(chunks)
    assert next(chunks).decode().startswith(f"id: {second['id']}\n")
    _close(response)
    # The page's own reconnect hands the id over in the URL; a gap means "reset".
    response = client.get(_url() + "?last=ffff-1")
    chunks = iter(response.streaming_content)
    next(chunks)
    assert next(chunks).decode() == 'data: {"kind":"reset"}\n\n'
    _close(response)


def test_n1_async_stream_replays_and_forwards(any_bus, settings):
    """The ASGI serving of the same stream (no database: the view took what it needed)."""
    settings.LIVE_HEARTBEAT_SECONDS = 0.05
    first = bus.publish(8, "message", message=1)
    second = bus.publish(8, "message", message=2)
    live = LiveConnection(
        workspace_id=8, user_id=1, user_name="A", conversation_id=None, last_id=first["id"]
    )

    async def main():
        stream = live.aevents()
        chunks = [await anext(stream), await anext(stream)]
        assert await anext(stream) == ": heartbeat\n\n"
        await asyncio.to_thread(bus.publish, 8, "conversation", conversation=5)
        while (chunk := await anext(stream)).startswith(":"):
            pass
        await stream.aclose()
        return chunks, chunk

    (opening, replayed), forwarded = asyncio.run(main())
    assert opening.startswith("retry: ") and f"id: {second['id']}" in replayed
    assert '"conversation":5' in forwarded
    assert bus.hub.count() == 0  # the connection left the hub when it closed


def test_n1_without_redis_the_relay_carries_another_processes_events(settings):
    """make run: the webhook worker (another process) publishes; the runserver's pages hear it
    through the shared cache, read once a second by the serving process."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r"}
    }
    worker = bus.MemoryBackend(bus.Hub(), size=10, seconds=60, relay=True)
    server_hub = bus.Hub()
    server = bus.MemoryBackend(server_hub, size=10, seconds=60, relay=True)
    server.RELAY_SECONDS = 0.05
    server.start()
    sub = bus.Subscription(6)
    server_hub.add(sub)
    try:
        time.sleep(0.2)  # the reader has taken its first look
        worker.publish(6, {"kind": "delivery", "conversation": 1, "message": 2})
        server.publish(6, {"kind": "message", "conversation": 1, "message": 3})
        kinds, deadline = [], time.monotonic() + 3
        while len(kinds) < 2 and time.monotonic() < deadline:
            if (event := sub.get(0.05)) is not None:
                kinds.append(event["kind"])
        kinds += [e["kind"] for e in _drain(sub, wait=0.3)]  # nothing more (no echo)
        # The worker's event arrives once; the server's own is not read back a second time.
        assert sorted(kinds) == ["delivery", "message"]
        assert server.replay(6, f"{server.epoch}-0").complete
    finally:
        server.stop()
        worker.stop()
