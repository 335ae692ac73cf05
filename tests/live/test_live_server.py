"""Issue 22, N1: the live connection under ASGI (the production server) and its proxy rule."""

from __future__ import annotations

import asyncio

import pytest
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

    opening, replayed = asyncio.run(main())
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
