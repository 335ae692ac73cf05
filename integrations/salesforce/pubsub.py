"""The only code that talks to Salesforce's Pub/Sub API (gRPC), for the live-updates listener.

Endpoint: ``SALESFORCE_PUBSUB_URL`` (``https://api.pubsub.salesforce.com:7443``, TLS, the global
endpoint Salesforce documents); ``http://`` (plaintext) is refused unless the host is loopback
(the emulator). Every call carries the connection's ``accesstoken``, ``instanceurl`` and
``tenantid`` (the org id) metadata. gRPC failures become the few exceptions below, so the
listener decides on kinds (refresh the token, fall back to LATEST, back off), never on codes.
Tokens are never logged: the metadata stays inside this module.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import grpc
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.hosts import is_loopback_host
from salesforce_pubsub import avro
from salesforce_pubsub import pubsub_api_pb2 as pb
from salesforce_pubsub import pubsub_api_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

BATCH = 100  # FetchRequest.num_requested: the most Salesforce allows
RPC_TIMEOUT = 10.0  # GetTopic, GetSchema


class PubSubError(Exception):
    """A Pub/Sub API failure; ``detail`` is safe to log and show (never a token)."""

    def __init__(self, detail: str, *, code: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class AuthFailed(PubSubError):
    """UNAUTHENTICATED: the access token expired or was revoked (refresh, then resubscribe)."""


class ReplayRefused(PubSubError):
    """The stored replay id is not valid any more (older than the retention, another org)."""


class TopicRefused(PubSubError):
    """The topic is unknown, not selected for Change Data Capture, or not readable by the user."""


class StreamFailed(PubSubError):
    """Anything else: unavailable, allocation spent, the stream closed (back off and retry)."""


@dataclass(frozen=True)
class Endpoint:
    target: str  # host:port
    secure: bool


def endpoint(url: str | None = None) -> Endpoint:
    """``SALESFORCE_PUBSUB_URL`` read: TLS for https, plaintext only on loopback."""
    url = url or settings.SALESFORCE_PUBSUB_URL
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ImproperlyConfigured(f"SALESFORCE_PUBSUB_URL must be https://host:port, not {url!r}.")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ImproperlyConfigured(
            "SALESFORCE_PUBSUB_URL may use plaintext http only on loopback (the emulator); "
            "Salesforce's endpoint is https://api.pubsub.salesforce.com:7443."
        )
    port = parts.port or (7443 if parts.scheme == "https" else 80)
    return Endpoint(f"{host}:{port}", parts.scheme == "https")


def channel_options() -> list[tuple[str, int]]:
    """E6: HTTP/2 keepalive pings no closer than a default gRPC server accepts (5 minutes).

    A 60 s keepalive had the stream closed with GOAWAY "too_many_pings" every few minutes. A
    dead stream is found by the listener's stall check (no response for longer than
    Salesforce's 270 s keepalive), not by pings.
    """
    return [
        ("grpc.keepalive_time_ms", int(settings.SALESFORCE_PUBSUB_KEEPALIVE_SECONDS * 1000)),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
    ]


def open_channel(url: str | None = None) -> grpc.Channel:
    point = endpoint(url)
    options = channel_options()
    if point.secure:
        return grpc.secure_channel(point.target, grpc.ssl_channel_credentials(), options)
    return grpc.insecure_channel(point.target, options)


def _error_code(error: grpc.RpcError) -> str:
    try:
        for key, value in error.trailing_metadata() or ():
            if key == "error-code":
                return value if isinstance(value, str) else value.decode()
    except Exception:  # noqa: BLE001 - a call without trailers
        return ""
    return ""


def translate(error: grpc.RpcError) -> PubSubError:
    """gRPC status and Salesforce's ``error-code`` trailer → one of our exceptions."""
    status = error.code() if hasattr(error, "code") else None
    code = _error_code(error)
    details = (error.details() if hasattr(error, "details") else "") or ""
    detail = f"{status.name if status else 'UNKNOWN'}: {details[:200]}"
    if code:
        detail += f" ({code})"
    if status == grpc.StatusCode.UNAUTHENTICATED or ".auth." in code:
        return AuthFailed(detail, code=code)
    if "replayid" in code.lower() or "replay id" in details.lower():
        return ReplayRefused(detail, code=code)
    if status in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED) or (
        ".topic." in code
    ):
        return TopicRefused(detail, code=code)
    return StreamFailed(detail, code=code)


@dataclass(frozen=True)
class ChangeEvent:
    """One decoded Change Data Capture event: what the listener needs to invalidate."""

    topic: str
    replay_id: bytes
    entity: str
    change_type: str  # CREATE, UPDATE, DELETE, UNDELETE, GAP_*, GAP_OVERFLOW
    record_ids: tuple[str, ...]
    changed_fields: tuple[str, ...]
    values: dict  # the event's non-null top-level field values (new values only)
    commit_at: datetime | None

    @property
    def is_gap(self) -> bool:
        return self.change_type.startswith("GAP_")


@dataclass(frozen=True)
class Batch:
    """One FetchResponse: its events and the newest replay id Salesforce has for the topic."""

    events: tuple[ChangeEvent, ...]
    latest_replay_id: bytes


class Subscriber:
    """Pub/Sub calls for one connection's credentials over one channel."""

    def __init__(self, channel: grpc.Channel, *, access_token: str, instance_url: str, org_id):
        self._stub = pb_grpc.PubSubStub(channel)
        self._metadata = (
            ("accesstoken", access_token),
            ("instanceurl", instance_url),
            ("tenantid", org_id),
        )
        self._schemas: dict[str, str] = {}
        self._call = None
        self._closed = threading.Event()

    def get_topic(self, topic: str) -> pb.TopicInfo:
        try:
            return self._stub.GetTopic(
                pb.TopicRequest(topic_name=topic), metadata=self._metadata, timeout=RPC_TIMEOUT
            )
        except grpc.RpcError as exc:
            raise translate(exc) from None

    def schema(self, schema_id: str) -> str:
        if schema_id not in self._schemas:
            try:
                info = self._stub.GetSchema(
                    pb.SchemaRequest(schema_id=schema_id),
                    metadata=self._metadata,
                    timeout=RPC_TIMEOUT,
                )
            except grpc.RpcError as exc:
                raise translate(exc) from None
            self._schemas[schema_id] = info.schema_json
        return self._schemas[schema_id]

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def cancel(self) -> None:
        """Ends a running :meth:`subscribe` (from another thread)."""
        self._closed.set()
        if self._call is not None:
            self._call.cancel()

    def subscribe(self, topic: str, *, replay_id: bytes | None) -> Iterator[Batch]:
        """Batches from ``topic``: after ``replay_id`` (CUSTOM) or from now (LATEST).

        Asks for more (flow control) whenever the last request is used up, so the stream stays
        open; Salesforce sends an empty batch as a keep-alive when nothing happens.
        """
        requests: queue.Queue = queue.Queue()
        first = pb.FetchRequest(topic_name=topic, num_requested=BATCH)
        if replay_id:
            first.replay_preset = pb.ReplayPreset.CUSTOM
            first.replay_id = replay_id
        else:
            first.replay_preset = pb.ReplayPreset.LATEST
        requests.put(first)

        def outgoing():
            while not self._closed.is_set():
                try:
                    item = requests.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is None:
                    return
                yield item

        self._call = self._stub.Subscribe(outgoing(), metadata=self._metadata)
        try:
            for response in self._call:
                events = tuple(self._decode(topic, e) for e in response.events)
                if response.pending_num_requested <= 0 or (
                    events and response.pending_num_requested < BATCH // 2
                ):
                    requests.put(pb.FetchRequest(topic_name=topic, num_requested=BATCH))
                yield Batch(events, bytes(response.latest_replay_id))
        except grpc.RpcError as exc:
            if self._closed.is_set():
                return
            raise translate(exc) from None
        finally:
            requests.put(None)

    def _decode(self, topic: str, consumer: pb.ConsumerEvent) -> ChangeEvent:
        schema_json = self.schema(consumer.event.schema_id)
        record = avro.decode(schema_json, consumer.event.payload)
        header = record.get("ChangeEventHeader") or {}
        changed = header.get("changedFields") or []
        try:
            changed_names = tuple(avro.bitmap_field_names(schema_json, changed))
        except (ValueError, IndexError):
            changed_names = tuple(changed)
        commit = header.get("commitTimestamp")
        values = {
            k: v
            for k, v in record.items()
            if k != "ChangeEventHeader" and v is not None and not isinstance(v, dict)
        }
        return ChangeEvent(
            topic=topic,
            replay_id=bytes(consumer.replay_id),
            entity=header.get("entityName", ""),
            change_type=header.get("changeType", ""),
            record_ids=tuple(header.get("recordIds") or ()),
            changed_fields=changed_names,
            values=values,
            commit_at=datetime.fromtimestamp(commit / 1000, tz=UTC) if commit else None,
        )
