"""Salesforce's Pub/Sub API (gRPC, ``eventbus.v1.PubSub``) over the emulator's state.

GetTopic, GetSchema and Subscribe for the Change Data Capture channels (``change_events``).
Every call authenticates with the metadata ``accesstoken``, ``instanceurl`` and ``tenantid``,
checked against the same token store as the REST API. Errors end the call with a gRPC status, the
message ending in ``rpcId: <id>``, and the trailers ``error-code`` (Salesforce's custom code) and
``rpc-id``. Subscribe is pull-based: the server sends at most the events requested so far
(``num_requested``, at most 100 a request), in FetchResponses of one or more events, and an empty
FetchResponse carrying ``latest_replay_id`` when nothing was sent for the keepalive interval.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from salesforce_pubsub import pubsub_api_pb2 as pb
from salesforce_pubsub import pubsub_api_pb2_grpc as pb_grpc

from . import change_events
from .state import State
from .stores.events import position_of, replay_id

logger = logging.getLogger(__name__)

MAX_REQUESTED = 100  # Salesforce caps the outstanding num_requested of a stream at 100 in total
# gRPC's default server ping policy (and, we assume, Salesforce's front end: unconfirmed): a
# client that pings more often than every 5 minutes without data collects strikes, and after 2
# the server closes the connection with GOAWAY "too_many_pings".
DEFAULT_MIN_PING_SECONDS = 300.0
MAX_PING_STRIKES = 2

# Salesforce's custom error codes (the ``error-code`` trailer); see the README for which are
# confirmed by Salesforce's documentation and which are not.
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.topic.notfound"
SCHEMA_NOT_FOUND = "sfdc.platform.eventbus.grpc.schema.notfound"
REPLAY_ID_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
REPLAY_ID_INVALID = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
TOPIC_CHANGED = "sfdc.platform.eventbus.grpc.subscription.topic.mismatch"
LIMIT_EXCEEDED = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded"


class PubSubError(Exception):
    """Ends a call with a gRPC status and Salesforce's error code."""

    def __init__(self, status: grpc.StatusCode, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _abort(context: grpc.ServicerContext, rpc_id: str, error: PubSubError) -> None:
    context.set_trailing_metadata((("error-code", error.error_code), ("rpc-id", rpc_id)))
    context.abort(error.status, f"{error.message} rpcId: {rpc_id}")


def _not_selected(topic: str) -> PubSubError:
    return PubSubError(
        grpc.StatusCode.NOT_FOUND,
        TOPIC_NOT_FOUND,
        f"Topic {topic!r} not found or you don't have access to it: the object is not selected "
        "for Change Data Capture.",
    )


def _topic_entities(topic: str) -> frozenset[str]:
    if topic == change_events.ALL_CHANGES_TOPIC:
        return frozenset(change_events.ENTITIES)
    entity = change_events.TOPICS.get(topic)
    if entity is None:
        raise PubSubError(
            grpc.StatusCode.NOT_FOUND,
            TOPIC_NOT_FOUND,
            f"Topic {topic!r} not found or you don't have access to it.",
        )
    return frozenset({entity})


class PubSubService(pb_grpc.PubSubServicer):
    def __init__(self, state: State) -> None:
        self.state = state

    # -- auth
    def _org(self, context: grpc.ServicerContext) -> tuple[str, str]:
        """(org id, access token) of a call whose metadata names a live session of that org."""
        metadata = {k.lower(): v for k, v in context.invocation_metadata()}
        token = metadata.get("accesstoken", "")
        tenant = metadata.get("tenantid", "")
        grant = self.state.tokens.access(token) if token else None
        if grant is None or not metadata.get("instanceurl") or tenant[:15] != grant["org_id"][:15]:
            raise PubSubError(
                grpc.StatusCode.UNAUTHENTICATED,
                AUTH_ERROR,
                "The session is invalid or expired, or the tenant id does not match it.",
            )
        return grant["org_id"], token

    def _still_valid(self, org_id: str, token: str) -> None:
        grant = self.state.tokens.access(token)
        if grant is None or grant["org_id"] != org_id:
            raise PubSubError(
                grpc.StatusCode.UNAUTHENTICATED, AUTH_ERROR, "The session is invalid or expired."
            )

    # -- unary calls
    def GetTopic(self, request: pb.TopicRequest, context: grpc.ServicerContext) -> pb.TopicInfo:
        rpc_id = str(uuid.uuid4())
        self.state.events.count_call("GetTopic")
        try:
            org_id, _ = self._org(context)
            entities = _topic_entities(request.topic_name)
            if not self.state.events.is_selected(org_id, entities):
                raise _not_selected(request.topic_name)
        except PubSubError as error:
            _abort(context, rpc_id, error)
        single = next(iter(entities)) if len(entities) == 1 else None
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=org_id,
            can_publish=False,  # change events are published by Salesforce only
            can_subscribe=True,
            schema_id=change_events.schema_id(single) if single else "",
            rpc_id=rpc_id,
        )

    def GetSchema(self, request: pb.SchemaRequest, context: grpc.ServicerContext) -> pb.SchemaInfo:
        rpc_id = str(uuid.uuid4())
        self.state.events.count_call("GetSchema")
        try:
            self._org(context)
            schema_json = change_events.schemas().get(request.schema_id)
            if schema_json is None:
                raise PubSubError(
                    grpc.StatusCode.NOT_FOUND,
                    SCHEMA_NOT_FOUND,
                    f"Schema {request.schema_id!r} not found.",
                )
        except PubSubError as error:
            _abort(context, rpc_id, error)
        return pb.SchemaInfo(schema_json=schema_json, schema_id=request.schema_id, rpc_id=rpc_id)

    # -- Subscribe
    def Subscribe(
        self, request_iterator: Iterator[pb.FetchRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.FetchResponse]:
        rpc_id = str(uuid.uuid4())
        self.state.events.count_call("Subscribe")
        try:
            yield from _Subscription(self, request_iterator, context, rpc_id).run()
        except PubSubError as error:
            _abort(context, rpc_id, error)


class _Subscription:
    """One Subscribe stream: its topic, its read position and what the client still wants."""

    def __init__(
        self,
        service: PubSubService,
        requests: Iterator[pb.FetchRequest],
        context: grpc.ServicerContext,
        rpc_id: str,
    ) -> None:
        self.service = service
        self.events = service.state.events
        self.requests = requests
        self.context = context
        self.rpc_id = rpc_id
        self.pending = 0
        self.error: PubSubError | None = None
        self.closed = False
        self.topic = ""

    def _request_more(self, request: pb.FetchRequest) -> None:
        with self.events.condition:
            if request.topic_name and request.topic_name != self.topic:
                self.error = PubSubError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    TOPIC_CHANGED,
                    "The topic of a FetchRequest must match the subscription's topic.",
                )
            elif request.num_requested > 0:
                # The cap is on the total outstanding, not per request (unconfirmed: whether
                # Salesforce refuses more or, as here, ignores the excess).
                self.pending = min(self.pending + request.num_requested, MAX_REQUESTED)
            self.events.condition.notify_all()

    def _read_requests(self) -> None:
        try:
            for request in self.requests:
                self._request_more(request)
        except Exception:  # noqa: BLE001 - the client went away; the stream ends with it
            logger.debug("Subscribe request stream ended", exc_info=True)
        with self.events.condition:
            self.closed = not self.context.is_active()
            self.events.condition.notify_all()

    def _stop(self) -> None:
        with self.events.condition:
            self.closed = True
            self.events.condition.notify_all()

    def _start_position(self, first: pb.FetchRequest, org_id: str) -> int:
        dropped, oldest_valid, latest = self.events.bounds(org_id)
        if first.replay_preset == pb.EARLIEST:
            return dropped
        if first.replay_preset == pb.CUSTOM:
            if not first.replay_id:
                raise PubSubError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    REPLAY_ID_INVALID,
                    "A CUSTOM replay preset needs a replay_id.",
                )
            position = position_of(first.replay_id)
            if position is None or position < oldest_valid or position > latest:
                raise PubSubError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    REPLAY_ID_CORRUPTED,
                    "The replay ID validation failed: it is not valid, or it is older than the "
                    "retention window.",
                )
            return position
        return latest

    def run(self) -> Iterator[pb.FetchResponse]:
        org_id, token = self.service._org(self.context)
        first = next(self.requests, None)
        if first is None:
            return
        self.topic = first.topic_name
        entities = _topic_entities(first.topic_name)
        if not self.events.is_selected(org_id, entities):
            raise _not_selected(first.topic_name)
        position = self._start_position(first, org_id)
        self.stalls_at_open = self.events.stall_count(org_id)
        if self.events.allocation_spent(org_id):
            raise _limit_error()
        self.pending = min(max(first.num_requested, 0), MAX_REQUESTED)
        self.context.add_callback(self._stop)
        threading.Thread(target=self._read_requests, daemon=True).start()
        self.events.stream_opened(org_id, 1)
        try:
            yield from self._deliver(org_id, token, entities, position)
        finally:
            self.events.stream_opened(org_id, -1)

    def _deliver(
        self, org_id: str, token: str, entities: frozenset[str], position: int
    ) -> Iterator[pb.FetchResponse]:
        last_sent = time.monotonic()
        idle_since: float | None = None  # when the client last had nothing requested
        condition = self.events.condition
        while True:
            with condition:
                if self.error:
                    raise self.error
                if self.closed or not self.context.is_active():
                    return
                wanted, seen = self.pending, self.events.version
            if self.events.stall_count(org_id) > self.stalls_at_open:
                # A stalled stream: nothing more, not even keepalives, until the client leaves.
                with condition:
                    if not self.closed:
                        condition.wait(1.0)
                continue
            now = time.monotonic()
            idle_since = (idle_since or now) if wanted <= 0 else None
            if idle_since is not None and now - idle_since >= self.events.idle_close_seconds:
                return  # nothing requested for ~70 s: Salesforce closes the stream
            self.service._still_valid(org_id, token)
            batch, read_to = self.events.after(org_id, position, entities, wanted)
            quiet_for = time.monotonic() - last_sent
            if not batch and quiet_for < self.events.keepalive_seconds:
                timeout = self.events.keepalive_seconds - quiet_for
                if idle_since is not None:
                    timeout = min(timeout, self.events.idle_close_seconds)
                with condition:
                    if (
                        self.events.version == seen
                        and self.pending == wanted
                        and not self.error
                        and not self.closed
                    ):
                        condition.wait(timeout)
                continue
            if batch:
                granted = self.events.take_allocation(org_id, len(batch))
                if granted == 0:
                    raise _limit_error()
                batch = batch[:granted]
                read_to = batch[-1]["position"]
            position = read_to
            with condition:
                self.pending -= len(batch)
                pending = self.pending
            yield pb.FetchResponse(
                events=[
                    pb.ConsumerEvent(
                        event=pb.ProducerEvent(
                            id=e["id"], schema_id=e["schema_id"], payload=e["payload"]
                        ),
                        replay_id=replay_id(e["position"]),
                    )
                    for e in batch
                ],
                latest_replay_id=replay_id(position),
                rpc_id=self.rpc_id,
                pending_num_requested=pending,
            )
            last_sent = time.monotonic()


def _limit_error() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        LIMIT_EXCEEDED,
        "You have exceeded the event delivery limit for your org.",
    )


class PubSubServer:
    """The gRPC listener; ``port=0`` picks a free port. ``target`` is ``host:port``."""

    def __init__(
        self,
        state: State,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        min_ping_seconds: float = DEFAULT_MIN_PING_SECONDS,
    ) -> None:
        self.state = state
        # The ping policy written out (these are gRPC's defaults), so tests can shrink the time.
        options = [
            ("grpc.http2.min_ping_interval_without_data_ms", int(min_ping_seconds * 1000)),
            ("grpc.http2.max_ping_strikes", MAX_PING_STRIKES),
        ]
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=options)
        pb_grpc.add_PubSubServicer_to_server(PubSubService(state), self.server)
        bound = self.server.add_insecure_port(f"{host}:{port}")
        if not bound:
            raise OSError(f"cannot listen on {host}:{port}")
        shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
        self.target = f"{shown}:{bound}"
        state.pubsub_target = self.target

    def start(self) -> PubSubServer:
        self.server.start()
        return self

    def stop(self, grace: float | None = 1.0) -> None:
        self.state.events.notify()
        self.server.stop(grace).wait(5)


def metadata(access_token: str, instance_url: str, org_id: str) -> tuple[tuple[str, Any], ...]:
    """The call metadata Salesforce's Pub/Sub API authenticates with."""
    return (("accesstoken", access_token), ("instanceurl", instance_url), ("tenantid", org_id))
