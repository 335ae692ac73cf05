"""The live Inbox's event bus (issue 22, N1, N6): publish, fan out, replay, presence.

An event is a small dict: ``{"id": "<epoch>-<seq>", "kind": ..., "conversation": ..., ...}``.
It carries ids, never rendered HTML or message text: a page that receives one re-fetches what it
shows through the normal views, so access and per-viewer state are exactly the pages'.

Two backends, one interface:

- **Redis** (``LIVE_REDIS_URL``; by default the cache's URL when the cache is Redis): a Lua
  script gives each event its per-workspace sequence number, appends it to a short replay buffer
  (a sorted set) and PUBLISHes it, atomically, so every process sees one order. Each process
  runs one subscriber thread (PSUBSCRIBE on ``<LIVE_PREFIX>:ws:*``) that hands events to the
  connections it serves. Presence is a hash per conversation with expiry times.
- **Memory** (no Redis, e.g. ``make run``): the same, inside one process.

The epoch in an event id names the sequence it belongs to (a process start for memory, the
Redis data set for Redis): a page resuming with an id of another epoch, or from before the
buffer's oldest event, is told to ``reset`` (reload what it shows) instead of missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed

logger = logging.getLogger(__name__)

RESET = "reset"


def parse_id(value: str | None) -> tuple[str, int] | None:
    """``"<epoch>-<seq>"`` → (epoch, seq); None for anything else."""
    if not value:
        return None
    epoch, _, seq = value.strip().rpartition("-")
    if not epoch or not seq.isdigit() or len(value) > 64:
        return None
    return epoch, int(seq)


# --- the connections one process serves -------------------------------------------------------
class Subscription:
    """One live connection's inbox of events; filled from any thread.

    A thread-served connection (runserver, WSGI) waits on a ``queue.Queue``; an asyncio-served one
    (ASGI) on an ``asyncio.Queue`` filled through its loop.
    """

    MAX_PENDING = 1000

    def __init__(self, workspace_id: int, *, loop: asyncio.AbstractEventLoop | None = None):
        self.workspace_id = workspace_id
        self._loop = loop
        self._queue: queue.Queue | asyncio.Queue = (
            asyncio.Queue(self.MAX_PENDING) if loop else queue.Queue(self.MAX_PENDING)
        )

    def put(self, event: dict) -> None:
        if self._loop is None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(event)
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: the page has gone
            self._loop.call_soon_threadsafe(self._put_async, event)

    def _put_async(self, event: dict) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(event)

    def get(self, timeout: float) -> dict | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    async def aget(self, timeout: float) -> dict | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None


class Hub:
    """The live connections of this process, by workspace."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, set[Subscription]] = defaultdict(set)

    def add(self, sub: Subscription) -> None:
        with self._lock:
            self._subs[sub.workspace_id].add(sub)

    def remove(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.workspace_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.workspace_id]

    def dispatch(self, workspace_id: int, event: dict) -> None:
        with self._lock:
            subs = list(self._subs.get(workspace_id, ()))
        for sub in subs:
            sub.put(event)

    def dispatch_all(self, event: dict) -> None:
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
        for sub in subs:
            sub.put(event)

    def count(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._subs.values())


@dataclass(frozen=True)
class Replay:
    events: list[dict]
    complete: bool  # False: events may have been missed; the page must reload what it shows


# --- presence (N6) ----------------------------------------------------------------------------
def _present(entries: dict[str, dict], now: float) -> list[dict]:
    """One line per person: replying wins over viewing; expired entries left out."""
    people: dict[int, dict] = {}
    for entry in entries.values():
        if entry["until"] <= now:
            continue
        seen = people.get(entry["user"])
        if seen is None or (entry["state"] == "replying" and seen["state"] != "replying"):
            people[entry["user"]] = dict(entry)
        elif entry["state"] == seen["state"]:
            seen["until"] = max(seen["until"], entry["until"])
    return sorted(people.values(), key=lambda e: (e["name"].lower(), e["user"]))


# --- backends ---------------------------------------------------------------------------------
class MemoryBackend:
    """Everything in this process: the fallback that needs nothing (``make run`` without Redis).

    With ``relay`` (``LIVE_RELAY=1``, set by ``make run``) events also cross processes through
    Django's shared cache (the database cache there): each publish writes the event under a
    counter, and a process that serves live pages reads the counter once a second (one query a
    second for the process, whatever the number of pages), so the webhook worker's delivery
    states reach the runserver's pages.
    """

    name = "memory"
    RELAY_SEQ = "live-relay-seq"
    RELAY_SECONDS = 1.0

    def __init__(self, hub: Hub, *, size: int, seconds: float, relay: bool = False) -> None:
        self.hub = hub
        self.epoch = secrets.token_hex(4)
        self._size, self._seconds = size, seconds
        self._lock = threading.Lock()
        self._seq: dict[int, int] = defaultdict(int)
        self._buffer: dict[int, deque] = defaultdict(lambda: deque(maxlen=self._size))
        self._presence: dict[tuple[int, int], dict[str, dict]] = defaultdict(dict)
        self.relay = relay
        self._origin = secrets.token_hex(6)
        self._relay_thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if not self.relay:
            return
        with self._lock:
            if self._relay_thread is not None:
                return
            self._relay_thread = threading.Thread(
                target=self._read_relay, name="live-relay", daemon=True
            )
            self._relay_thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _write_relay(self, workspace_id: int, fields: dict) -> None:
        from django.core.cache import cache

        cache.add(self.RELAY_SEQ, 0, None)
        n = cache.incr(self.RELAY_SEQ)
        cache.set(
            f"live-relay:{n}", {"origin": self._origin, "ws": workspace_id, "fields": fields}, 120
        )

    def _read_relay(self) -> None:
        from django.core.cache import cache
        from django.db import close_old_connections

        last = None
        while not self._stop.wait(self.RELAY_SECONDS):
            try:
                current = cache.get(self.RELAY_SEQ) or 0
                if last is None or current < last:
                    last = current  # first look, or the cache was cleared: start from here
                    continue
                if current > last:
                    keys = [f"live-relay:{n}" for n in range(last + 1, current + 1)]
                    found = cache.get_many(keys)
                    for key in keys:
                        item = found.get(key)
                        if item and item["origin"] != self._origin:
                            self._publish_here(item["ws"], item["fields"])
                    last = current
            except Exception as exc:  # noqa: BLE001 - the relay is best effort; try again
                logger.warning("Live events: relay read failed (%s)", type(exc).__name__)
            finally:
                close_old_connections()

    def publish(self, workspace_id: int, fields: dict) -> dict:
        event = self._publish_here(workspace_id, fields)
        if self.relay:
            try:
                self._write_relay(workspace_id, fields)
            except Exception as exc:  # noqa: BLE001 - never fail the write
                logger.warning("Live events: relay write failed (%s)", type(exc).__name__)
        return event

    def _publish_here(self, workspace_id: int, fields: dict) -> dict:
        with self._lock:
            self._seq[workspace_id] += 1
            seq = self._seq[workspace_id]
            event = {"id": f"{self.epoch}-{seq}", **fields}
            self._buffer[workspace_id].append((seq, time.monotonic(), event))
            # Dispatched under the lock, so every connection sees the sequence's order.
            self.hub.dispatch(workspace_id, event)
        return event

    def replay(self, workspace_id: int, last_id: str | None) -> Replay:
        last = parse_id(last_id)
        if last is None:
            return Replay([], True)
        epoch, seq = last
        with self._lock:
            current = self._seq.get(workspace_id, 0)
            buffered = [
                (s, at, e)
                for s, at, e in self._buffer.get(workspace_id, ())
                if time.monotonic() - at <= self._seconds
            ]
        if epoch != self.epoch or seq > current:
            return Replay([], False)
        events = [e for s, _, e in buffered if s > seq]
        oldest = buffered[0][0] if buffered else current + 1
        return Replay(events, seq >= current or oldest <= seq + 1)

    def presence_set(self, workspace_id: int, conversation_id: int, key: str, entry: dict):
        with self._lock:
            self._presence[(workspace_id, conversation_id)][key] = entry

    def presence_remove(self, workspace_id: int, conversation_id: int, key: str) -> None:
        with self._lock:
            entries = self._presence.get((workspace_id, conversation_id))
            if entries is not None:
                entries.pop(key, None)
                if not entries:
                    del self._presence[(workspace_id, conversation_id)]

    def presence(self, workspace_id: int, conversation_id: int) -> list[dict]:
        now = time.time()
        with self._lock:
            entries = self._presence.get((workspace_id, conversation_id), {})
            for key in [k for k, e in entries.items() if e["until"] <= now]:
                del entries[key]
            return _present(entries, now)


# KEYS: seq, buffer, epoch, channel. ARGV: event fields as JSON without its opening brace,
# buffer size, buffer seconds, a new epoch (used only when Redis has none, e.g. after a flush).
_PUBLISH = """
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', KEYS[3], epoch)
end
local seq = redis.call('INCR', KEYS[1])
local event = '{"id":"' .. epoch .. '-' .. seq .. '",' .. ARGV[1]
redis.call('ZADD', KEYS[2], seq, event)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[4], event)
return event
"""


class RedisBackend:
    """Across processes and machines, through Redis pub/sub (production)."""

    name = "redis"

    def __init__(self, hub: Hub, *, url: str, prefix: str, size: int, seconds: float) -> None:
        import redis

        self.hub = hub
        self.prefix = prefix
        self._size, self._seconds = size, int(seconds)
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30
        )
        self._url = url
        self._script = self._redis.register_script(_PUBLISH)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._started = threading.Lock()
        self.listening = threading.Event()

    def _key(self, *parts) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def channel(self, workspace_id: int) -> str:
        return self._key("ws", workspace_id)

    # The subscriber thread: one Redis connection per process, whatever the number of pages.
    def start(self) -> None:
        with self._started:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen, name="live-redis", daemon=True)
            self._thread.start()
        self.listening.wait(2)

    def stop(self) -> None:
        self._stop.set()

    def _listen(self) -> None:
        import redis

        pattern = self._key("ws", "*")
        backoff = 0.5
        first = True
        while not self._stop.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(
                    self._url, socket_connect_timeout=1, socket_timeout=None
                )
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(pattern)
                self.listening.set()
                if not first:
                    # Events published while this process was not subscribed never reach it:
                    # every page it serves reloads what it shows.
                    self.hub.dispatch_all({"kind": RESET})
                first, backoff = False, 0.5
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()
                    workspace = channel.rpartition(":")[2]
                    if workspace.isdigit():
                        self.hub.dispatch(int(workspace), json.loads(message["data"]))
            except Exception as exc:  # noqa: BLE001 - any Redis failure: back off, resubscribe
                self.listening.clear()
                logger.warning("Live events: Redis subscriber failed (%s)", type(exc).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()

    def publish(self, workspace_id: int, fields: dict) -> dict:
        body = json.dumps(fields, separators=(",", ":"), sort_keys=True)
        event = self._script(
            keys=[
                self._key("seq", workspace_id),
                self._key("buffer", workspace_id),
                self._key("epoch"),
                self.channel(workspace_id),
            ],
            args=[body[1:], self._size, self._seconds, secrets.token_hex(4)],
        )
        return json.loads(event)

    def replay(self, workspace_id: int, last_id: str | None) -> Replay:
        last = parse_id(last_id)
        if last is None:
            return Replay([], True)
        epoch, seq = last
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self._key("epoch"))
        pipe.get(self._key("seq", workspace_id))
        pipe.zrange(self._key("buffer", workspace_id), 0, -1, withscores=True)
        stored_epoch, current, buffered = pipe.execute()
        current = int(current or 0)
        if stored_epoch is None or stored_epoch.decode() != epoch or seq > current:
            return Replay([], False)
        events = [json.loads(e) for e, s in buffered if int(s) > seq]
        oldest = int(buffered[0][1]) if buffered else current + 1
        return Replay(events, seq >= current or oldest <= seq + 1)

    def _presence_key(self, workspace_id: int, conversation_id: int) -> str:
        return self._key("presence", workspace_id, conversation_id)

    def presence_set(self, workspace_id: int, conversation_id: int, key: str, entry: dict):
        name = self._presence_key(workspace_id, conversation_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(name, key, json.dumps(entry))
        pipe.expire(name, max(60, int(entry["until"] - time.time()) + 5))
        pipe.execute()

    def presence_remove(self, workspace_id: int, conversation_id: int, key: str) -> None:
        self._redis.hdel(self._presence_key(workspace_id, conversation_id), key)

    def presence(self, workspace_id: int, conversation_id: int) -> list[dict]:
        name = self._presence_key(workspace_id, conversation_id)
        raw = self._redis.hgetall(name)
        now = time.time()
        entries = {k.decode(): json.loads(v) for k, v in raw.items()}
        expired = [k for k, e in entries.items() if e["until"] <= now]
        if expired:
            self._redis.hdel(name, *expired)
        return _present(entries, now)


# --- the process's backend --------------------------------------------------------------------
_lock = threading.Lock()
_backend: MemoryBackend | RedisBackend | None = None
hub = Hub()


def backend() -> MemoryBackend | RedisBackend:
    global _backend
    with _lock:
        if _backend is None:
            size, seconds = settings.LIVE_REPLAY_EVENTS, settings.LIVE_REPLAY_SECONDS
            if settings.LIVE_REDIS_URL:
                _backend = RedisBackend(
                    hub,
                    url=settings.LIVE_REDIS_URL,
                    prefix=settings.LIVE_PREFIX,
                    size=size,
                    seconds=seconds,
                )
            else:
                _backend = MemoryBackend(hub, size=size, seconds=seconds, relay=settings.LIVE_RELAY)
        return _backend


def reset_backend(**kwargs) -> None:
    """Forget the backend (tests change the settings it was built from)."""
    global _backend
    if kwargs and not kwargs.get("setting", "").startswith("LIVE_"):
        return
    with _lock:
        if _backend is not None:
            _backend.stop()
        _backend = None


setting_changed.connect(reset_backend)


def publish(workspace_id: int, kind: str, **ids) -> dict | None:
    """Send one event to every live page of the workspace; never fails the caller's write."""
    fields = {"kind": kind, **{k: v for k, v in ids.items() if v is not None}}
    try:
        return backend().publish(workspace_id, fields)
    except Exception as exc:  # noqa: BLE001 - a write must not fail because Redis did
        logger.warning("Live event not published (%s): %s", type(exc).__name__, fields)
        return None


def subscribe(workspace_id: int, *, loop=None) -> Subscription:
    """Register a connection; call ``backend().start()`` first (it may wait for Redis)."""
    sub = Subscription(workspace_id, loop=loop)
    hub.add(sub)
    return sub


def unsubscribe(sub: Subscription) -> None:
    hub.remove(sub)
