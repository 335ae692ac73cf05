"""One open page's live connection: Server-Sent Events (issue 22, N1, N6).

The stream first replays what the page missed (``Last-Event-ID``), then forwards the
workspace's events as they come. While nothing happens it writes a comment every
``LIVE_HEARTBEAT_SECONDS`` from memory alone: an idle connection costs no database query.
A conversation page's connection also says "NAME is viewing" for as long as it is open.

Access is the pages' (``workspace_view``) when the connection opens; after that, without a
query: an ``access`` event for this person (removed, another role, sessions ended, signed out
in this session, another password) closes it at once, and so does the session's own end (T8's
absolute and idle timeouts, looked at on each heartbeat). The browser's reconnect then meets
the pages' checks again. ``to`` events (another person's read marker, access) are dropped.

Served as a generator in a thread (runserver, WSGI) or as an async generator on the event loop
(ASGI: uvicorn workers under gunicorn in production), where a held connection costs no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field

from django.conf import settings

from workspace.middleware import session_over

from . import bus
from .events import ACCESS, PRESENCE

VIEWING, REPLYING = "viewing", "replying"


def sse(event: dict) -> str:
    lines = []
    if event.get("id"):
        lines.append(f"id: {event['id']}")
    lines.append(f"data: {json.dumps(event, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


@dataclass
class LiveConnection:
    """What the stream needs, taken from the request before it starts (no ORM after that)."""

    workspace_id: int
    user_id: int
    user_name: str
    conversation_id: int | None
    last_id: str | None
    session_tag: str = ""  # events.session_tag of the request's session
    auth_tag: str = ""  # events.auth_tag of the user when the connection opened
    ends_at: float | None = None  # when the session ends (workspace.middleware.session_ends_at)
    key: str = field(default_factory=lambda: secrets.token_hex(6))

    # --- access: whether an event is for this connection, or ends it ------------------------
    def shown(self, event: dict) -> bool:
        to = event.get("to")
        return event.get("kind") != ACCESS and (to is None or to == self.user_id)

    def ended_by(self, event: dict) -> bool:
        if event.get("kind") != ACCESS or event.get("to") != self.user_id:
            return False
        if "session" in event:  # signed out: that session's connections only
            return event["session"] == self.session_tag
        if "auth" in event:  # a new password: the sessions opened under the old one
            return event["auth"] != self.auth_tag
        return True

    def expired(self) -> bool:
        return session_over(self.ends_at)

    # --- presence: a conversation page is "viewing" while its connection lasts -------------
    def _viewing(self) -> None:
        if self.conversation_id is None:
            return
        ttl = 3 * settings.LIVE_HEARTBEAT_SECONDS
        entry = {
            "user": self.user_id,
            "name": self.user_name,
            "state": VIEWING,
            "until": time.time() + ttl,
        }
        bus.backend().presence_set(
            self.workspace_id, self.conversation_id, f"{self.user_id}:{self.key}", entry
        )

    def join(self) -> None:
        if self.conversation_id is not None:
            with contextlib.suppress(Exception):
                self._viewing()
                bus.publish(
                    self.workspace_id,
                    PRESENCE,
                    conversation=self.conversation_id,
                    user=self.user_id,
                )

    def beat(self) -> None:
        with contextlib.suppress(Exception):
            self._viewing()

    def leave(self) -> None:
        if self.conversation_id is not None:
            with contextlib.suppress(Exception):
                bus.backend().presence_remove(
                    self.workspace_id, self.conversation_id, f"{self.user_id}:{self.key}"
                )
                bus.publish(
                    self.workspace_id,
                    PRESENCE,
                    conversation=self.conversation_id,
                    user=self.user_id,
                )

    def opening(self) -> list[str]:
        """The first chunks: reconnect delay, then the replay (or a reset when it has a gap)."""
        # Spread out: after a deploy every open page reconnects, not all in the same second.
        retry = settings.LIVE_RETRY_MILLISECONDS * (1 + 2 * secrets.SystemRandom().random())
        chunks = [f"retry: {int(retry)}\n: connected\n\n"]
        try:
            replay = bus.backend().replay(self.workspace_id, self.last_id)
        except Exception:  # noqa: BLE001 - Redis unreachable: the page reloads what it shows
            replay = bus.Replay([], False)
        if not replay.complete:
            chunks.append(sse({"kind": bus.RESET}))
        # An ``access`` event in the replay is older than this connection's own check.
        chunks += [sse(e) for e in replay.events if self.shown(e)]
        return chunks

    # --- the two servings --------------------------------------------------------------------
    def events(self):
        """For a thread (runserver, WSGI)."""
        bus.backend().start()
        sub = bus.subscribe(self.workspace_id)
        try:
            opening = self.opening()
            self.join()
            yield from opening
            while True:
                event = sub.get(settings.LIVE_HEARTBEAT_SECONDS)
                if self.expired() or (event is not None and self.ended_by(event)):
                    return  # the browser's reconnect meets the pages' checks
                if event is None:
                    self.beat()
                    yield ": heartbeat\n\n"
                elif self.shown(event):
                    yield sse(event)
        finally:
            bus.unsubscribe(sub)
            self.leave()

    async def aevents(self):
        """For the event loop (ASGI): Redis calls go to a thread, never block the loop."""
        await asyncio.to_thread(bus.backend().start)
        sub = bus.subscribe(self.workspace_id, loop=asyncio.get_running_loop())
        try:
            opening = await asyncio.to_thread(self.opening)
            await asyncio.to_thread(self.join)
            for chunk in opening:
                yield chunk
            while True:
                event = await sub.aget(settings.LIVE_HEARTBEAT_SECONDS)
                if self.expired() or (event is not None and self.ended_by(event)):
                    return  # the browser's reconnect meets the pages' checks
                if event is None:
                    await asyncio.to_thread(self.beat)
                    yield ": heartbeat\n\n"
                elif self.shown(event):
                    yield sse(event)
        finally:
            bus.unsubscribe(sub)
            # Cancelled (the page went away): a thread still runs the goodbye.
            await asyncio.shield(asyncio.to_thread(self.leave))
