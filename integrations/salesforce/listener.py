"""The live-updates listener (issue 15, F2, F3): ``manage.py salesforce_listen`` runs this.

One :class:`Listener` per process. Every heartbeat it

1. reads the connections with live updates on (``selectors.live_connections``);
2. leads the ones it can: a lease per connection in the cache (``cache.add`` to take it, renewed
   every beat by its owner); another replica takes over when a dead leader's lease lapses
   (``SALESFORCE_LISTENER_LEASE_SECONDS``), so several replicas run safely, one active each;
3. runs one :class:`TopicStream` thread per topic of each connection it leads (Contact, plus
   Case, Opportunity and Lead when the sidebar shows them) and stops the ones no longer needed;
4. beats the heartbeat of each connection it leads (healthy when every topic is subscribed).

A topic stream subscribes over gRPC from the stored replay id (CUSTOM) or from now (LATEST);
on each batch it drops the cached lookups the events touch (:func:`invalidate`), then stores the
replay id. Salesforce refusing the stored id (older than its retention) means changes may have
been missed: the connection's whole cache goes (generation bump) and the stream starts at LATEST.
UNAUTHENTICATED refreshes the token through ``tokens.current_access_token``, the sidebar's
single-flight refresh, then resubscribes; other errors back off (1 s doubling to a minute).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from core.cache import CacheLock
from ops import heartbeat, metrics

from . import live, selectors, services, tokens
from .caching import live_key
from .errors import ReconnectNeeded, SalesforceError
from .models import SalesforceConnection
from .pubsub import (
    AuthFailed,
    Batch,
    ChangeEvent,
    PubSubError,
    ReplayRefused,
    Subscriber,
    TopicRefused,
    open_channel,
)

logger = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# Event fields naming the Contact (or Opportunity) a related record hangs off (F3).
PARENT_ID_FIELDS = ("ContactId", "WhoId", "OpportunityId", "ConvertedContactId")
PHONE_FIELDS = ("Phone", "MobilePhone")
# E3: a person account's Opportunities hang off its Account, which its lookup depends on (the
# person contact's AccountId): a new deal there names only the Account.
PERSON_ACCOUNT_PARENTS = {"Opportunity": "AccountId"}


# --- what an event invalidates (F3) -----------------------------------------------------------
def invalidate(connection: SalesforceConnection, events: Iterable[ChangeEvent]) -> int:
    """Drop the cached lookups these events could touch; no Salesforce call. Returns marks set.

    By record id (covers the old values: a lookup that found the record depends on its id), by
    the parent a related record names (a new Case of a Contact), and by the new email and phone
    values (a lookup that found nothing, or someone else, for them). A gap event says changes
    happened without saying which: the connection's whole cache goes.
    """
    ids, emails, phones, gap = set(), set(), set(), False
    for event in events:
        gap = gap or event.is_gap
        ids.update(event.record_ids)
        ids.update(v for k in PARENT_ID_FIELDS if isinstance(v := event.values.get(k), str) and v)
        parent = PERSON_ACCOUNT_PARENTS.get(event.entity) if connection.person_accounts else None
        if parent and isinstance(v := event.values.get(parent), str) and v:
            ids.add(v)
        if isinstance(email := event.values.get("Email"), str):
            emails.add(email)
        phones.update(v for k in PHONE_FIELDS if isinstance(v := event.values.get(k), str))
    if gap:
        services.drop_cached_answers(connection)
        logger.info("Salesforce gap event for connection %s: cache dropped", connection.pk)
    return live.mark_changed(connection, record_ids=ids, emails=emails, phones=phones)


# --- leases -----------------------------------------------------------------------------------
class Lease:
    """One active listener per connection: a cache key holding its owner's id, with a TTL."""

    def __init__(self, owner: str) -> None:
        self.owner = owner

    def _lock(self, connection_id: int) -> CacheLock:
        return CacheLock(
            live_key(connection_id, "lease"),
            seconds=settings.SALESFORCE_LISTENER_LEASE_SECONDS,
            owner=self.owner,
        )

    def hold(self, connection_id: int) -> bool:
        """Take or renew the lease; False when another listener holds it."""
        return self._lock(connection_id).renew()

    def release(self, connection_id: int) -> None:
        self._lock(connection_id).release()


# --- one topic of one connection --------------------------------------------------------------
class TopicStream(threading.Thread):
    """Subscribe to one topic for one connection until stopped; reconnect with back-off."""

    def __init__(
        self,
        connection_id: int,
        topic: str,
        *,
        pubsub_url: str | None = None,
        optional_topics: frozenset[str] = frozenset(),
    ):
        super().__init__(name=f"sf-listen-{connection_id}-{topic}", daemon=True)
        self.connection_id, self.topic, self.pubsub_url = connection_id, topic, pubsub_url
        self.optional_topics = optional_topics
        self.state, self.reason = live.State.STARTING, "Subscribing."
        # E6: a stream counts as healthy only after its first response, and a stream without
        # any response (event or keepalive) for SALESFORCE_PUBSUB_STALL_SECONDS has failed.
        self.last_response = 0.0
        self.stalls = 0
        self.unselected = False  # an optional topic Salesforce refused (not selected for CDC)
        self._stalled = threading.Event()
        self._halt = threading.Event()
        self._subscriber: Subscriber | None = None
        self._backoff = BACKOFF_FIRST
        self._auth_retry = False

    # -- control
    def stop(self) -> None:
        self._halt.set()
        if self._subscriber is not None:
            self._subscriber.cancel()

    @property
    def healthy(self) -> bool:
        return self.state == live.State.HEALTHY

    def _set(self, state: str, reason: str = "") -> None:
        self.state, self.reason = state, reason

    def _wait(self, seconds: float) -> None:
        self._halt.wait(seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter

    def _back_off(self, reason: str) -> None:
        self._set(live.State.UNHEALTHY, reason)
        logger.warning(
            "Salesforce listener %s %s: %s (retry in %.0f s)",
            self.connection_id,
            self.topic,
            reason,
            self._backoff,
        )
        self._wait(self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    # -- the loop
    def run(self) -> None:
        channel = open_channel(self.pubsub_url)
        try:
            while not self._halt.is_set():
                connection = (
                    SalesforceConnection.objects.select_related("workspace")
                    .filter(pk=self.connection_id)
                    .first()
                )
                if connection is None or not connection.is_connected:
                    self._set(live.State.UNHEALTHY, "Salesforce is not connected.")
                    self._wait(settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS)
                    continue
                token = connection.access_token
                try:
                    self._subscribe(channel, connection, token)
                except AuthFailed as exc:
                    if self._auth_retry:  # the renewed session was refused too: slow down
                        self._back_off(f"Salesforce refused the session: {exc.detail}")
                    self._auth_retry = True
                    self._refresh(connection, token)
                except ReplayRefused as exc:
                    self._replay_refused(connection, exc)
                except TopicRefused as exc:
                    if self.topic in self.optional_topics:
                        self._not_selected(exc)
                        continue
                    self._back_off(
                        f"Salesforce refused {self.topic}: {exc.detail}. Select the object for "
                        "Change Data Capture and give the user View All on it."
                    )
                except PubSubError as exc:
                    self._back_off(exc.detail)
                except DatabaseError as exc:  # the position or a mark could not be saved
                    self._back_off(f"Database unavailable: {type(exc).__name__}")
                else:
                    if self._stalled.is_set():
                        self._back_off(
                            "No response from Salesforce for "
                            f"{settings.SALESFORCE_PUBSUB_STALL_SECONDS:g} s: resubscribing "
                            "from the stored position."
                        )
                    elif not self._halt.is_set():
                        self._back_off("The stream closed.")
                finally:
                    close_old_connections()
        except Exception:  # a bug must not end the process silently; the next beat restarts it
            logger.exception("Salesforce listener %s %s stopped", self.connection_id, self.topic)
            self._set(live.State.UNHEALTHY, "The listener failed; see its log.")
        finally:
            channel.close()
            connections.close_all()

    def _subscribe(self, channel, connection: SalesforceConnection, token: str) -> None:
        self._subscriber = Subscriber(
            channel,
            access_token=token,
            instance_url=connection.instance_url,
            org_id=connection.org_id,
        )
        self._subscriber.get_topic(self.topic)  # auth, topic and CDC selection, answered at once
        replay_id = selectors.replay_id(connection.pk, self.topic)
        self._stalled.clear()
        self.last_response = time.monotonic()
        watchdog = threading.Thread(
            target=self._watch, args=(self._subscriber,), name=f"{self.name}-watch", daemon=True
        )
        watchdog.start()
        try:
            for batch in self._subscriber.subscribe(self.topic, replay_id=replay_id):
                self.last_response = time.monotonic()
                self._subscribed()  # E6: healthy on a response, never on a timer
                self._handle(connection, batch)
                if self._halt.is_set():
                    return
        finally:
            self._subscriber.cancel()  # ends the watchdog too
            watchdog.join(timeout=5)

    def _watch(self, subscriber: Subscriber) -> None:
        """E6: a stream that goes silent without closing is cancelled (then resubscribed)."""
        limit = settings.SALESFORCE_PUBSUB_STALL_SECONDS
        while not subscriber.closed and not self._halt.is_set():
            silent = time.monotonic() - self.last_response
            if silent > limit:
                self.stalls += 1
                self._stalled.set()
                logger.warning(
                    "Salesforce listener %s %s: no response for %.0f s; resubscribing",
                    self.connection_id,
                    self.topic,
                    silent,
                )
                subscriber.cancel()
                return
            self._halt.wait(min(1.0, max(0.05, limit - silent)))

    def _not_selected(self, exc: TopicRefused) -> None:
        """An optional topic (a parent's names) Salesforce refused: not an outage (E6)."""
        if not self.unselected:
            logger.info(
                "Salesforce listener %s: %s not available (%s); its names follow the 60 s rule",
                self.connection_id,
                self.topic,
                exc.detail,
            )
        self.unselected = True
        self._set(live.State.STARTING, "Not selected for Change Data Capture.")
        # Asked again now and then: an admin may select the object later.
        self._wait(max(60.0, settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS))

    def _subscribed(self) -> None:
        if not self._halt.is_set() and self.state != live.State.HEALTHY:
            self._set(live.State.HEALTHY, "")
            self.unselected = False
            self._backoff, self._auth_retry = BACKOFF_FIRST, False
            logger.info("Salesforce listener %s subscribed to %s", self.connection_id, self.topic)

    def _handle(self, connection: SalesforceConnection, batch: Batch) -> None:
        """Invalidate first, then remember the position (a crash in between replays, never skips)."""
        received = datetime.now(tz=UTC)
        if batch.events:
            invalidate(connection, batch.events)
            newest = batch.events[-1]
            lag = (received - newest.commit_at).total_seconds() if newest.commit_at else None
            metrics.listener_events(self.topic, len(batch.events), lag)
            services.record_replay_position(
                connection.pk,
                self.topic,
                replay_id=newest.replay_id,
                last_event_at=newest.commit_at,
                received_at=received,
            )
        elif batch.latest_replay_id:  # a keep-alive: nothing for us up to there
            services.record_replay_position(
                connection.pk, self.topic, replay_id=batch.latest_replay_id
            )

    def _refresh(self, connection: SalesforceConnection, stale: str) -> None:
        """UNAUTHENTICATED: one refresh for everyone (the sidebar's lock), then resubscribe."""
        self._set(live.State.STARTING, "Renewing the Salesforce session.")
        try:
            tokens.current_access_token(connection, stale=stale)
        except ReconnectNeeded:
            self._set(live.State.UNHEALTHY, "Salesforce needs to be reconnected.")
            self._wait(settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS)
        except SalesforceError as exc:
            self._back_off(f"Session renewal failed: {exc.detail or exc.user_message}")

    def _replay_refused(self, connection: SalesforceConnection, exc: ReplayRefused) -> None:
        """The stored position is gone: changes may have been missed, so the cache goes too."""
        logger.warning(
            "Salesforce refused the stored replay id of connection %s on %s (%s): "
            "resubscribing from now and dropping the connection's cache",
            connection.pk,
            self.topic,
            exc.detail,
        )
        services.drop_replay_position(connection.pk, self.topic)
        services.drop_cached_answers(connection)


# --- the process ------------------------------------------------------------------------------
class Listener:
    """Leads what it can, runs its topic streams, beats per connection (see the module)."""

    def __init__(self, *, pubsub_url: str | None = None, owner: str | None = None) -> None:
        self.pubsub_url = pubsub_url
        self.lease = Lease(owner or uuid.uuid4().hex)
        self.streams: dict[tuple[int, str], TopicStream] = {}
        self.led: set[int] = set()
        self.signatures: dict[int, tuple] = {}  # what the running streams subscribed as
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                started = time.monotonic()
                self.step()
                beat = settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS
                self._halt.wait(max(0.0, beat - (time.monotonic() - started)))
        finally:
            self.shutdown()
            connections.close_all()

    def step(self) -> None:
        """One beat: leases, streams, heartbeats."""
        heartbeat.beat("listener")  # V1: the process is alive (`manage.py probe listener`)
        close_old_connections()
        wanted = {c.pk: c for c in selectors.live_connections()}
        for connection_id in list(self.led):
            if connection_id not in wanted or not self.lease.hold(connection_id):
                self._drop(connection_id)
        for connection_id, connection in wanted.items():
            if connection_id not in self.led and self.lease.hold(connection_id):
                logger.info("Salesforce listener leads connection %s", connection_id)
                self.led.add(connection_id)
            if connection_id in self.led:
                self._run_topics(connection)
                self._beat(connection)

    def _run_topics(self, connection: SalesforceConnection) -> None:
        topics = live.topics_for(connection)
        # A reconnect (maybe to another org) restarts the streams with the new credentials.
        signature = (connection.org_id, connection.instance_url, connection.connected_at)
        renewed = self.signatures.get(connection.pk, signature) != signature
        self.signatures[connection.pk] = signature
        for (connection_id, topic), stream in list(self.streams.items()):
            if connection_id != connection.pk:
                continue
            if renewed or topic not in topics or not stream.is_alive():
                stream.stop()
                del self.streams[(connection_id, topic)]
        for topic in topics:
            if (connection.pk, topic) not in self.streams:
                stream = TopicStream(
                    connection.pk,
                    topic,
                    pubsub_url=self.pubsub_url,
                    optional_topics=frozenset(live.parent_topics(connection)),
                )
                self.streams[(connection.pk, topic)] = stream
                stream.start()

    def _beat(self, connection: SalesforceConnection) -> None:
        everything = [s for (cid, _), s in self.streams.items() if cid == connection.pk]
        unselected = [s.topic for s in everything if s.unselected and not s.healthy]
        mine = [s for s in everything if s.topic not in unselected]
        subscribed = [s.topic for s in mine if s.healthy]
        troubled = [s for s in mine if s.state == live.State.UNHEALTHY]
        if troubled:
            state, reason = live.State.UNHEALTHY, "; ".join(s.reason for s in troubled)
        elif len(subscribed) == len(mine) and mine:
            state, reason = live.State.HEALTHY, ""
        else:
            state, reason = live.State.STARTING, "Subscribing."
        live.beat(
            connection.pk, state=state, reason=reason, topics=subscribed, unselected=unselected
        )

    def _drop(self, connection_id: int) -> None:
        for key in [k for k in self.streams if k[0] == connection_id]:
            self.streams.pop(key).stop()
        self.led.discard(connection_id)
        self.signatures.pop(connection_id, None)
        self.lease.release(connection_id)
        logger.info("Salesforce listener no longer leads connection %s", connection_id)

    def shutdown(self) -> None:
        """Stop every stream and hand the leases back (another replica takes over at once)."""
        streams = list(self.streams.values())
        for connection_id in list(self.led):
            self._drop(connection_id)
        for stream in streams:
            stream.stop()
            stream.join(timeout=5)
