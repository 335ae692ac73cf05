"""The pending OAuth state of a connect (S2): server-side, in the person's session.

Bound to the workspace, the person and the PKCE verifier; single-use; at most 10 minutes old;
at most a few per session (tabs mid-flow). The callback's ``state`` is compared in constant
time (Sentry's and Zulip's callback order: ``error``, then ``state``, then the code exchange).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.crypto import constant_time_compare

from workspace.access import ADMIN_ROLES
from workspace.models import Membership, Workspace

from . import oauth
from .errors import StateRejected

PENDING_SESSION_KEY = "salesforce_connect_pending"
PENDING_MAX_AGE_SECONDS = 10 * 60
PENDING_MAX_PER_SESSION = 5


@dataclass(frozen=True)
class PendingConnect:
    state: str
    workspace_id: int
    user_id: int
    code_verifier: str
    login_url: str
    redirect_uri: str
    created: float

    def __repr__(self) -> str:  # never print the verifier
        return f"PendingConnect(workspace_id={self.workspace_id}, user_id={self.user_id})"

    @property
    def expired(self) -> bool:
        return time.time() - self.created > PENDING_MAX_AGE_SECONDS


def _live_pending(session) -> dict[str, dict]:
    pending = session.get(PENDING_SESSION_KEY) or {}
    now = time.time()
    return {
        state: data
        for state, data in pending.items()
        if isinstance(data, dict) and now - data.get("created", 0) <= PENDING_MAX_AGE_SECONDS
    }


def start_connect(*, session, workspace: Workspace, user, login_url: str, redirect_uri: str) -> str:
    """Remember a new ``state`` (with its PKCE verifier) in the session; return the consent URL."""
    request = oauth.authorization_request(login_url=login_url, redirect_uri=redirect_uri)
    pending = _live_pending(session)
    pending[request.state] = {
        "workspace_id": workspace.pk,
        "user_id": user.pk,
        "code_verifier": request.code_verifier,
        "login_url": login_url,
        "redirect_uri": redirect_uri,
        "created": time.time(),
    }
    # A few tabs may be mid-flow at once; the oldest are forgotten beyond that.
    newest = sorted(pending.items(), key=lambda item: item[1]["created"])[-PENDING_MAX_PER_SESSION:]
    session[PENDING_SESSION_KEY] = dict(newest)
    return request.url


@dataclass(frozen=True)
class PendingSummary:
    """What the Manage page says about a sign-in in progress (U5): since when, until when."""

    started: datetime
    expires: datetime


def newest_pending(session, workspace: Workspace) -> PendingSummary | None:
    """The newest unexpired sign-in this person started for ``workspace`` (U5), if any."""
    created = [
        float(d.get("created", 0))
        for d in _live_pending(session).values()
        if d.get("workspace_id") == workspace.pk
    ]
    if not created:
        return None
    newest = max(created)
    return PendingSummary(
        started=datetime.fromtimestamp(newest, tz=UTC),
        expires=datetime.fromtimestamp(newest + PENDING_MAX_AGE_SECONDS, tz=UTC),
    )


def forget_pending(session, workspace: Workspace) -> None:
    """U5: drop this workspace's sign-ins in progress (the admin gave up on them)."""
    stored = session.get(PENDING_SESSION_KEY) or {}
    session[PENDING_SESSION_KEY] = {
        state: data
        for state, data in stored.items()
        if not (isinstance(data, dict) and data.get("workspace_id") == workspace.pk)
    }


def take_pending(session, state: str) -> PendingConnect:
    """Pop the pending connect for ``state`` (single use) or raise :class:`StateRejected`."""
    if not state:
        raise StateRejected(
            "The answer from Salesforce had no state parameter, so it cannot be trusted. "
            "Nothing was connected; start again from the Salesforce page.",
            detail="missing_state",
        )
    stored = session.get(PENDING_SESSION_KEY) or {}
    match = next((key for key in stored if constant_time_compare(key, state)), None)
    if match is None:
        raise StateRejected(
            "This sign-in answer is unknown or was already used. Nothing was connected; "
            "start again from the Salesforce page.",
            detail="unknown_state",
        )
    data = stored.pop(match)
    session[PENDING_SESSION_KEY] = stored  # saved by the session middleware: single use
    try:
        pending = PendingConnect(
            state=match,
            workspace_id=int(data["workspace_id"]),
            user_id=int(data["user_id"]),
            code_verifier=str(data["code_verifier"]),
            login_url=str(data["login_url"]),
            redirect_uri=str(data["redirect_uri"]),
            created=float(data["created"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateRejected(detail="corrupt_state") from exc
    if pending.expired:
        raise StateRejected(
            "This sign-in took longer than 10 minutes and has expired. Nothing was connected; "
            "start again from the Salesforce page.",
            detail="expired_state",
        )
    return pending


def check_pending_owner(pending: PendingConnect, user) -> Workspace:
    """The workspace the flow was started for, if ``user`` started it and may still connect."""
    if pending.user_id != user.pk:
        raise StateRejected(
            "This Salesforce sign-in was started by someone else. Nothing was connected.",
            detail="foreign_state",
        )
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace_id=pending.workspace_id)
        .first()
    )
    if membership is None or membership.role not in ADMIN_ROLES:
        raise StateRejected(
            "You are no longer an Owner or Manager of that workspace. Nothing was connected.",
            detail="not_admin",
        )
    return membership.workspace
