"""Outgoing signed webhooks (O6): the outbox row, the signature, one delivery attempt, retries.

A reply and its :class:`WebhookDelivery` are written in one transaction (:func:`enqueue_reply`,
on inbox's ``reply_created`` signal, connected in ``ApiConfig.ready``); workers
(``manage.py deliver_webhooks``) claim due rows and POST them. Delivery is at least once: a
worker that dies mid-request leaves its lease to expire and another sends the row again, with
the same ``X-Inbox-Delivery`` id, which receivers use to drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from requests.adapters import HTTPAdapter

from ops import heartbeat, metrics, requestid

from .models import WebhookDelivery, WebhookEndpoint
from .signals import delivery_changed
from .urlsafety import UnresolvableWebhookHost, UnsafeWebhookUrl, check_webhook_url

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Inbox-Signature"
TIMESTAMP_HEADER = "X-Inbox-Timestamp"
DELIVERY_HEADER = "X-Inbox-Delivery"
EVENT_HEADER = "X-Inbox-Event"
EVENT = "message.reply"
REPLAY_WINDOW_SECONDS = 300
FIRST_RETRY_SECONDS = 15
MAX_RETRY_SECONDS = 3600
LEASE = timedelta(seconds=120)
USER_AGENT = "TeamInbox-Webhooks/1"
# V2: what an attempt's row says afterwards, as the deliveries counter names it.
OUTCOMES = {WebhookDelivery.Status.SENT: "sent", WebhookDelivery.Status.FAILED: "failed"}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int | str, delivery_id: str, body: bytes) -> str:
    """``v2=`` + hex HMAC-SHA256 of ``"<timestamp>.<delivery id>.<body>"`` under the secret.

    H4: the delivery id is signed too: receivers drop repeats by it, so a captured delivery
    replayed under a new id must fail the check (v1 signed only the timestamp and body).
    """
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return "v2=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str,
    delivery_id: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature (over timestamp, delivery id and body) matches and
    the timestamp is within 5 minutes; then it drops a delivery id it has seen."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except (TypeError, ValueError):
        return False
    if age > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, timestamp, delivery_id, body), signature or "")


def reply_payload(message, delivery_id) -> dict:
    conversation = message.conversation
    contact = conversation.contact
    receipt = (
        conversation.messages.filter(inbound_receipt__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("inbound_receipt__external_id", flat=True)
        .first()
    )
    return {
        "event": EVENT,
        "delivery_id": str(delivery_id),
        "workspace": conversation.workspace.slug,
        "message": {
            "id": message.pk,
            "text": message.body,
            "sent_at": message.created_at.isoformat(),
            "author": {
                "name": message.author.display_name if message.author else "",
                "email": message.author.email if message.author else "",
            },
        },
        "conversation": {
            "id": conversation.pk,
            "channel": conversation.channel,
            "subject": conversation.subject,
            "in_reply_to_external_id": receipt,
        },
        "contact": {
            "id": contact.pk,
            "name": contact.name,
            "email": contact.email,
            "phone": contact.phone,
        },
    }


def enqueue_reply(message) -> WebhookDelivery | None:
    """The outbox row for an agent reply, when the workspace has a webhook URL.

    Must run inside the reply's transaction: both are written, or neither.
    """
    workspace = message.conversation.workspace
    if not WebhookEndpoint.objects.filter(workspace=workspace).exists():
        return None
    now = timezone.now()
    delivery = WebhookDelivery(
        workspace=workspace,
        message=message,
        next_attempt_at=now,
        give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_HORIZON_SECONDS),
        created_at=now,
        request_id=requestid.current(),
    )
    delivery.payload = reply_payload(message, delivery.id)
    delivery.save(force_insert=True)
    return delivery


def queue_reply_delivery(sender, *, message, **kwargs) -> None:
    """``inbox.signals.reply_created`` receiver: the reply's outbox row (O6)."""
    enqueue_reply(message)


def retry_delay(attempts: int) -> float:
    """Seconds before retry number ``attempts``: 15 s (at most), then doubling, capped at 1 h."""
    base = min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS)
    return base * random.uniform(0.8, 1.0)


def retry_now(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """An agent's manual retry: due at once, with a fresh 24-hour horizon."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(
        status=WebhookDelivery.Status.SENT
    ).update(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=now,
        give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_HORIZON_SECONDS),
    )
    delivery.refresh_from_db()
    delivery_changed.send(sender=WebhookDelivery, delivery=delivery)
    return delivery


def claim_due(*, batch: int = 10) -> list[WebhookDelivery]:
    """Take up to ``batch`` due deliveries for this worker, each under a lease.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers never wait on each other.
    Every database: a row is claimed only by the worker whose conditional UPDATE moved its
    ``next_attempt_at`` (SQLite has no row locks; the compare-and-set keeps a row to one worker).
    """
    now = timezone.now()
    lease_until = now + LEASE
    claimed = []
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        for delivery in due[:batch]:
            moved = WebhookDelivery.objects.filter(
                pk=delivery.pk,
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at=delivery.next_attempt_at,
            ).update(next_attempt_at=lease_until)
            if moved:
                delivery.next_attempt_at = lease_until
                claimed.append(delivery)
    return claimed


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool
    error: str = ""
    status_code: int | None = None
    retry_after: float | None = None


class _PinnedHostAdapter(HTTPAdapter):
    """Connects to an IP address while TLS (SNI and the certificate check) uses the host name."""

    def __init__(self, hostname: str):
        self._hostname = hostname
        super().__init__()

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


def _pinned(url: str, address: str) -> tuple[str, str, requests.Session]:
    """The URL with its host replaced by ``address``, the Host header, and a session for it."""
    parts = urlsplit(url)
    ip = f"[{address}]" if ":" in address else address
    netloc = f"{ip}:{parts.port}" if parts.port else ip
    host = parts.hostname if not parts.port else f"{parts.hostname}:{parts.port}"
    session = requests.Session()
    session.mount("https://", _PinnedHostAdapter(parts.hostname))
    return urlunsplit(parts._replace(netloc=netloc)), host, session


def _retry_after(response: requests.Response) -> float | None:
    try:
        return min(float(response.headers.get("Retry-After", "")), MAX_RETRY_SECONDS)
    except ValueError:
        return None


def attempt(delivery: WebhookDelivery, session: requests.Session | None = None) -> Outcome:
    """POST the delivery once; what happened and whether to retry."""
    endpoint = WebhookEndpoint.objects.filter(workspace_id=delivery.workspace_id).first()
    if endpoint is None:
        return Outcome(False, False, "No webhook URL is set for this workspace.")
    try:
        addresses = check_webhook_url(endpoint.url)
    except UnresolvableWebhookHost as exc:
        return Outcome(False, True, str(exc))
    except UnsafeWebhookUrl as exc:
        return Outcome(False, False, str(exc))
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: EVENT,
        DELIVERY_HEADER: str(delivery.pk),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(endpoint.secret, timestamp, str(delivery.pk), body),
    }
    if delivery.request_id:
        headers[requestid.HEADER] = delivery.request_id
    http = session or requests
    url = endpoint.url
    if addresses:
        # Connect to the address just checked, not to whatever the name resolves to next.
        url, headers["Host"], http = _pinned(endpoint.url, addresses[0])
    try:
        return _post(http, url, body, headers)
    finally:
        if addresses:
            http.close()


def _post(http, url: str, body: bytes, headers: dict) -> Outcome:
    try:
        response = http.post(
            url,
            data=body,
            headers=headers,
            timeout=(min(3.05, settings.WEBHOOK_TIMEOUT), settings.WEBHOOK_TIMEOUT),
            allow_redirects=False,
        )
    except requests.Timeout:
        return Outcome(False, True, "The receiver did not answer in time.")
    except requests.ConnectionError:
        return Outcome(False, True, "Could not connect to the receiver.")
    except requests.RequestException as exc:
        return Outcome(False, True, f"Request failed ({type(exc).__name__}).")
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, False, status_code=code)
    if code == 429 or code >= 500:
        return Outcome(
            False, True, f"The receiver answered HTTP {code}.", code, _retry_after(response)
        )
    return Outcome(False, False, f"The receiver answered HTTP {code}.", code)


def record(delivery: WebhookDelivery, outcome: Outcome) -> WebhookDelivery:
    """Write the attempt's outcome, unless this worker's lease was lost meanwhile."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields: dict = {"attempts": attempts, "last_status_code": outcome.status_code}
    if outcome.delivered:
        fields.update(status=WebhookDelivery.Status.SENT, delivered_at=now, last_error="")
    elif outcome.retry:
        delay = max(retry_delay(attempts), outcome.retry_after or 0)
        next_at = now + timedelta(seconds=delay)
        if next_at > delivery.give_up_at:
            fields.update(
                status=WebhookDelivery.Status.FAILED,
                last_error=f"Gave up after {attempts} attempts: {outcome.error}"[:300],
            )
        else:
            fields.update(next_attempt_at=next_at, last_error=outcome.error[:300])
    else:
        fields.update(status=WebhookDelivery.Status.FAILED, last_error=outcome.error[:300])
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=delivery.next_attempt_at,
    ).update(**fields)
    if not updated:
        logger.warning("Delivery %s: lease lost, outcome not recorded", delivery.pk)
    for name, value in fields.items():
        setattr(delivery, name, value)
    if updated:
        delivery_changed.send(sender=WebhookDelivery, delivery=delivery)
    return delivery


def deliver_due(*, batch: int = 10, session: requests.Session | None = None) -> int:
    """Claim and attempt due deliveries once; how many were attempted."""
    claimed = claim_due(batch=batch)
    for delivery in claimed:
        # V3: the worker's lines for this delivery carry the id of the request that wrote it.
        with requestid.bound(delivery.request_id or requestid.new_id()):
            outcome = attempt(delivery, session)
            record(delivery, outcome)
            metrics.webhook_delivery(OUTCOMES.get(delivery.status, "retry"))
            logger.info(
                "Delivery %s attempt %s: %s",
                delivery.pk,
                delivery.attempts,
                "sent" if outcome.delivered else outcome.error,
            )
        heartbeat.beat("worker")  # a long batch is not a stuck worker
    return len(claimed)
