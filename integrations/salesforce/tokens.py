"""The token lifecycle of a connection (S15, T1–T5): refresh once, save what Salesforce says.

Salesforce's External Client Apps may rotate refresh tokens: every refresh grant answers with a
new refresh token, the old one stops working at once, and presenting the old one again revokes
the whole token family. So:

- a refresh always uses the refresh token read from the database *inside* the refresh lock,
  never a copy held in memory (another thread or process may have rotated it);
- the new access token and the new refresh token are saved in one conditional UPDATE (same
  connection, same ``connected_at``) before the lock is released;
- the lock is held across processes (the cache) and threads (a process-local lock), and on
  databases with row locks the refresh also holds the connection's row (``SELECT ... FOR
  UPDATE``), so even a cache outage cannot let two refresh grants race;
- disconnect (revoke) takes the same lock, so it never revokes a token that was just rotated out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from core.cache import CacheLock

from . import oauth, services
from .errors import ReconnectNeeded, SalesforceError, Unavailable
from .models import SalesforceConnection
from .selectors import live_approvals

logger = logging.getLogger(__name__)

# Longer than one refresh grant can take (connect + read timeouts), so the lock only expires
# when its holder died.
REFRESH_LOCK_SECONDS = 30
APPROVALS_PER_USER = 5  # Salesforce keeps at most 5 refresh tokens per user per app (T5)

REFRESH_REJECTED_TEXT = (
    "Salesforce refused the stored refresh token: it was rotated, revoked or expired."
)

_process_locks: dict[int, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _clock() -> float:
    """The lock wait's clock (seconds); tests move it, with :func:`_pause`, instead of sleeping."""
    return time.monotonic()


def _pause(seconds: float) -> None:
    """The pause between two tries of the cache lock."""
    time.sleep(seconds)


def _process_lock(connection_id: int) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(connection_id, threading.Lock())


@contextmanager
def refresh_lock(connection_id: int) -> Iterator[None]:
    """Hold the connection's token lock: one holder per thread, process and machine (T1).

    Waits up to the Salesforce timeout plus the lock's lifetime, then raises Unavailable.
    A cache outage does not stop the holder: the database row lock still serialises refreshes.
    """
    budget = settings.SALESFORCE_TIMEOUT + REFRESH_LOCK_SECONDS
    deadline = _clock() + budget
    local = _process_lock(connection_id)
    if not local.acquire(timeout=budget):
        raise Unavailable("Salesforce's session renewal took too long.", detail="refresh_lock")
    lock = CacheLock(f"salesforce:refresh-lock:{connection_id}", seconds=REFRESH_LOCK_SECONDS)
    held: bool | None = False
    try:
        while True:
            held = lock.take(default=None)
            if held is None:  # a cache outage must not stop the refresh
                logger.warning("Cache unavailable: Salesforce token lock held by the database only")
                break
            if held:
                break
            if _clock() > deadline:
                raise Unavailable(
                    "Salesforce's session renewal took too long.", detail="refresh_lock"
                )
            _pause(0.05)
        yield
    finally:
        if held:
            lock.release()  # or, with the cache gone meanwhile, it expires on its own
        local.release()


def _row_transaction():
    """A transaction for the row lock, on databases that have row locks (PostgreSQL).

    SQLite has none, and a read-then-write transaction held across an HTTP call would make its
    whole-database lock fail other writers: there the cache lock and the process lock serialise.
    """
    if db.features.has_select_for_update:
        return transaction.atomic()
    return nullcontext()


def _locked_row(connection_id: int) -> SalesforceConnection | None:
    return SalesforceConnection.objects.select_for_update().filter(pk=connection_id).first()


def _usable(row: SalesforceConnection | None) -> SalesforceConnection:
    if row is None or not row.is_connected:
        if row is not None and row.status == SalesforceConnection.Status.RECONNECT_NEEDED:
            raise ReconnectNeeded()
        raise Unavailable("Salesforce was disconnected.", detail="disconnected")
    return row


def renewed_meanwhile(row: SalesforceConnection, *, stale: str | None = None, cutoff=None) -> bool:
    """Whether someone else already did the refresh, so no grant is sent (T1, T3).

    ``stale`` is the access token a request saw fail: a stored token other than it is newer.
    ``cutoff`` is the keep-alive's: a row refreshed after it needs no keep-alive yet.
    """
    if stale is not None and row.access_token != stale:
        return True
    return (
        cutoff is not None and row.last_refreshed_at is not None and row.last_refreshed_at > cutoff
    )


def current_access_token(connection: SalesforceConnection, *, stale: str) -> str:
    """An access token newer than ``stale``: another request's, or from one refresh grant (S15, T1).

    However many threads and processes call this with the same stale token, Salesforce sees one
    refresh grant; the others read the token it saved.
    """
    row = _usable(SalesforceConnection.objects.filter(pk=connection.pk).first())
    if renewed_meanwhile(row, stale=stale):
        return _adopt(connection, row)
    with refresh_lock(connection.pk):
        return _refresh_locked(connection, stale=stale)


def _adopt(connection: SalesforceConnection, row: SalesforceConnection) -> str:
    connection.access_token, connection.refresh_token = row.access_token, row.refresh_token
    connection.instance_url = row.instance_url  # E5: a refresh may have moved it
    connection.last_refreshed_at = row.last_refreshed_at
    return row.access_token


def _refresh_locked(connection: SalesforceConnection, *, stale=None, cutoff=None) -> str | None:
    """One refresh grant with the stored refresh token; both new tokens saved in one write (T1).

    Call holding :func:`refresh_lock`. The row is read again (and row-locked) first: if its
    access token is no longer ``stale``, or it was refreshed after ``cutoff``, someone else did
    the work and nothing is sent. Returns the access token to use (None when skipped).
    """
    with _row_transaction():
        row = _usable(_locked_row(connection.pk))
        if renewed_meanwhile(row, stale=stale, cutoff=cutoff):
            token = _adopt(connection, row)
            return token if stale is not None else None  # the keep-alive's "skipped"
        try:
            tokens = _renew(row)
        except ReconnectNeeded as exc:
            rejected = exc
        else:
            return _save_refreshed(connection, row, tokens)
    # Outside the transaction: the mark must not roll back with the exception.
    services.mark_reconnect_needed(
        row,
        reason=SalesforceConnection.ReconnectReason.REFRESH_REJECTED,
        detail=REFRESH_REJECTED_TEXT,
    )
    connection.status, connection.access_token = row.status, ""
    raise rejected


def _renew(row: SalesforceConnection) -> oauth.TokenSet:
    """A refresh grant, or for an integration user the client credentials flow again (E4)."""
    if row.auth_flow == SalesforceConnection.AuthFlow.CLIENT_CREDENTIALS:
        return oauth.client_credentials_token(
            login_url=row.login_url,
            client_id=row.app_client_id,
            client_secret=row.app_client_secret,
        )
    return oauth.refresh_access_token(login_url=row.login_url, refresh_token=row.refresh_token)


def _save_refreshed(connection, row, tokens) -> str:
    rotated = tokens.refresh_token != row.refresh_token
    if not services.record_refreshed_tokens(
        row,
        connected_at=row.connected_at,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        instance_url=tokens.instance_url,
    ):  # cannot happen under the lock, but never leave live tokens unowned
        oauth.revoke_quietly(login_url=row.login_url, token=tokens.refresh_token)
        raise Unavailable("Salesforce was disconnected.", detail="disconnected")
    logger.info(
        "Salesforce tokens refreshed for connection %s (refresh token %s)",
        row.pk,
        "rotated" if rotated else "kept",
    )
    return _adopt(connection, row)


# --- keep-alive (T3) --------------------------------------------------------------------------
@dataclass(frozen=True)
class KeepaliveResult:
    connection: SalesforceConnection
    outcome: str  # "refreshed", "skipped" (refreshed recently, maybe by another machine), "failed"
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


def keepalive_cutoff(now=None):
    """Tokens Salesforce issued before this moment are due a keep-alive refresh (T3)."""
    return (now or timezone.now()) - timedelta(days=settings.SALESFORCE_KEEPALIVE_DAYS)


def keepalive_due(now=None):
    """Connections whose tokens Salesforce last issued before the keep-alive cutoff."""
    cutoff = keepalive_cutoff(now)
    return (
        SalesforceConnection.objects.filter(status=SalesforceConnection.Status.CONNECTED)
        .exclude(last_refreshed_at__gt=cutoff)
        .select_related("workspace")
        .order_by("pk")
    )


def keep_alive(connection: SalesforceConnection) -> KeepaliveResult:
    """Use the refresh token before an org's idle policy expires it (T3). Safe to run anywhere.

    Inside the lock the row is read again: when another machine refreshed it meanwhile, this
    one does nothing.
    """
    cutoff = keepalive_cutoff()
    try:
        with refresh_lock(connection.pk):
            token = _refresh_locked(connection, cutoff=cutoff)
    except SalesforceError as exc:
        return KeepaliveResult(connection, "failed", exc.user_message)
    if token is None:
        return KeepaliveResult(connection, "skipped", "refreshed recently")
    return KeepaliveResult(connection, "refreshed")


# --- the 5-approval limit (T5) ----------------------------------------------------------------
def enforce_approval_limit(connection: SalesforceConnection) -> list[SalesforceConnection]:
    """After ``connection``'s approval: mark the ones Salesforce silently revoked (T5).

    Salesforce keeps the 5 newest refresh tokens of a user per app; beyond that the oldest were
    revoked at the sixth approval. Returns the connections marked reconnect-needed.
    """
    if connection.auth_flow == SalesforceConnection.AuthFlow.CLIENT_CREDENTIALS:
        return []  # E4: no refresh token, no approval
    live = list(live_approvals(connection).order_by("-connected_at", "-pk"))
    displaced = live[APPROVALS_PER_USER:]
    marked = []
    for old in displaced:
        detail = (
            f"Salesforce user {connection.sf_username} authorised Team Inbox for workspace "
            f"“{connection.workspace.name}”, a sixth connection; Salesforce keeps at most "
            f"{APPROVALS_PER_USER} per user and app and revoked this one, the oldest."
        )
        if services.mark_reconnect_needed(
            old, reason=SalesforceConnection.ReconnectReason.APPROVAL_LIMIT, detail=detail
        ):
            marked.append(old)
    return marked
