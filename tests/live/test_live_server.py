"""Issue 22, N1: the live connection under ASGI (the production server) and its proxy rule."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse

from config.asgi import TrustedProxies
from live import bus


@pytest.mark.django_db(transaction=True)
def test_n1_the_stream_under_asgi_replays_forwards_and_needs_membership(
    settings, acme, agent, outsider, conversation
):
    settings.LIVE_REDIS_URL = ""
    settings.LIVE_HEARTBEAT_SECONDS = 0.05
    first = bus.publish(acme.pk, "message", message=1)
    second = bus.publish(acme.pk, "message", message=2)
    url = reverse("live:events", args=["acme"]) + f"?conversation={conversation.pk}"
    member, stranger = AsyncClient(), AsyncClient()
    member.force_login(agent)
    stranger.force_login(outsider)

    async def main():
        assert (await stranger.get(url)).status_code == 404
        response = await member.get(url, headers={"Last-Event-ID": first["id"]})
        assert response.status_code == 200
        stream = aiter(response.streaming_content)
        chunks = [await anext(stream), await anext(stream)]
        await asyncio.to_thread(bus.publish, acme.pk, "conversation", conversation=77)
        while b'"conversation":77' not in (chunk := await anext(stream)):
            assert chunk.startswith((b":", b"id:"))  # heartbeats and presence meanwhile
        await stream.aclose()
        return chunks

    async def close_connections():
        # The views ran in asgiref's one thread for thread-sensitive code: its database
        # connection is closed there (the test client skips request_finished's cleanup).
        await sync_to_async(connections.close_all)()

    try:
        opening, replayed = asyncio.run(main())
    finally:
        asyncio.run(close_connections())
    assert opening.startswith(b"retry: ")
    assert replayed.startswith(f"id: {second['id']}\n".encode())


@pytest.mark.parametrize(
    "count,forwarded,expected",
    [
        (1, b"203.0.113.9", "203.0.113.9"),
        (2, b"198.51.100.7, 203.0.113.9", "198.51.100.7"),
        (2, b"203.0.113.9", "10.0.0.1"),  # fewer hops than trusted proxies: a forged header
    ],
)
def test_n1_asgi_client_address_comes_from_the_trusted_proxy(count, forwarded, expected):
    seen = {}

    async def inner(scope, receive, send):
        seen["client"] = scope["client"][0]

    app = TrustedProxies(inner, count)
    scope = {
        "type": "http",
        "client": ("10.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", forwarded)],
    }
    asyncio.run(app(scope, None, None))
    assert seen["client"] == expected


def test_n1_asgi_bounds_the_requests_inside_views_but_not_open_streams():
    """Under ASGI a burst of requests waits for a slot instead of opening a database connection
    each; a stream that has started leaves its slot."""
    from config.asgi import BoundedViews

    inside, peak, release = 0, 0, None

    async def app(scope, receive, send):
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.01)  # the view's work
        inside -= 1
        await send({"type": "http.response.start", "status": 200})
        if scope["path"] == "/stream":
            await release.wait()  # a live connection: held open long after it started
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        pass

    async def main():
        nonlocal release
        release = asyncio.Event()
        bounded = BoundedViews(app, 3)
        streams = [
            asyncio.create_task(bounded({"type": "http", "path": "/stream"}, None, send))
            for _ in range(5)
        ]
        pages = [bounded({"type": "http", "path": "/page"}, None, send) for _ in range(20)]
        await asyncio.wait_for(asyncio.gather(*pages), 5)  # five open streams block nothing
        release.set()
        await asyncio.gather(*streams)

    asyncio.run(main())
    assert peak == 3
