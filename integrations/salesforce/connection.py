"""Connecting and disconnecting a workspace's Salesforce org (S1–S5, S14, B5).

Views call these functions; the functions own the rules:

- the OAuth ``state`` is kept server-side in the person's session, bound to the workspace, the
  person and the PKCE verifier, single-use and short-lived;
- a connection is verified with one query before anything is stored (S5);
- one connection per workspace (S4); reconnecting to the same org keeps the field set;
- disconnect revokes this connection's refresh token, then forgets the tokens locally even
  when Salesforce cannot be told (S14).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from integrations.registry import IntegrationStatus
from workspace.models import Membership, Role, Workspace

from . import oauth
from .client import SalesforceClient
from .crypto import key_configured
from .errors import NotConfigured, OAuthFailed, ReconnectNeeded, SalesforceError
from .models import (
    SalesforceConnection,
    SalesforceEvent,
    default_field_meta,
    default_fields,
    record_event,
)
from .tokens import enforce_approval_limit, live_approvals, refresh_lock

logger = logging.getLogger(__name__)

PENDING_SESSION_KEY = "salesforce_connect_pending"
PENDING_MAX_AGE_SECONDS = 10 * 60
PENDING_MAX_PER_SESSION = 5
VERIFY_QUERY = "SELECT Id, Name FROM Organization"


class AlreadyConnected(SalesforceError):
    """S4: a workspace holds at most one connection."""

    code = "already_connected"
    user_message = (
        "Salesforce is already connected for this workspace. Disconnect it first to connect "
        "another org."
    )


class StateRejected(OAuthFailed):
    """The callback's ``state`` is missing, unknown, used, expired or someone else's."""

    code = "state_rejected"

    @property
    def status_code(self) -> int:
        return 403 if self.detail in ("foreign_state", "not_admin") else 400


# --- selectors -----------------------------------------------------------------------------
def connection_for(workspace: Workspace) -> SalesforceConnection | None:
    """The workspace's connection row (connected or not), or None if it never connected."""
    return (
        SalesforceConnection.objects.select_related("connected_by")
        .filter(workspace=workspace)
        .first()
    )


def recent_events(connection: SalesforceConnection | None, limit: int = 50) -> list:
    if connection is None:
        return []
    return list(
        SalesforceEvent.objects.filter(connection=connection).select_related("actor")[:limit]
    )


# --- pending OAuth states (server-side, in the session) --------------------------------------
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


def has_pending_connect(session, workspace: Workspace) -> bool:
    return any(d.get("workspace_id") == workspace.pk for d in _live_pending(session).values())


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
    if membership is None or membership.role not in (Role.OWNER, Role.MANAGER):
        raise StateRejected(
            "You are no longer an Owner or Manager of that workspace. Nothing was connected.",
            detail="not_admin",
        )
    return membership.workspace


# --- connect --------------------------------------------------------------------------------
def check_can_connect(workspace: Workspace) -> None:
    """S4: refuse while connected; a connection that needs reconnecting may reconnect.

    Also refuse before the admin consents when this server could not store the tokens.
    """
    if not key_configured():
        raise NotConfigured(
            "This server cannot store Salesforce tokens: FIELD_ENCRYPTION_KEY is not set "
            "(or is not a Fernet key). Ask the person who runs Team Inbox to set it."
        )
    existing = connection_for(workspace)
    if existing is not None and existing.status == SalesforceConnection.Status.CONNECTED:
        raise AlreadyConnected(
            f"Salesforce is already connected to {existing.org_name or existing.org_id}. "
            "Disconnect it first to connect another org."
        )


def field_meta_from_describe(describe: dict, paths: list[str]) -> dict:
    """Labels, types and picklist labels of ``paths`` ("LeadSource", "Account.Name") from describe.

    A path describe doesn't know keeps no entry here; callers merge with what they had.
    """
    fields = {f.get("name"): f for f in describe.get("fields") or [] if isinstance(f, dict)}
    by_relationship = {
        f.get("relationshipName"): f for f in fields.values() if f.get("relationshipName")
    }
    meta: dict[str, dict] = {}
    for path in paths:
        if "." in path:
            relationship, _, leaf = path.partition(".")
            field = by_relationship.get(relationship)
            if field is None:
                continue
            label = field.get("label") or relationship
            label = label[:-3] if label.endswith(" ID") else label
            label = f"{label} {leaf}"  # "Account Name", "Owner Name"
            meta[path] = {"label": label, "type": "string"}
            continue
        field = fields.get(path)
        if field is None:
            continue
        entry = {"label": field.get("label") or path, "type": field.get("type") or "string"}
        picklist = field.get("picklistValues") or []
        if picklist:
            entry["picklist"] = {
                p["value"]: p.get("label") or p["value"]
                for p in picklist
                if isinstance(p, dict) and p.get("value") is not None
            }
        if field.get("type") == "reference":
            entry["reference_to"] = list(field.get("referenceTo") or [])
            entry["relationship"] = field.get("relationshipName") or ""
        meta[path] = entry
    return meta


def _revoke_quietly(login_url: str, token: str) -> None:
    """Best effort: tokens the product will not keep are revoked at once."""
    try:
        oauth.revoke(login_url=login_url, token=token)
    except SalesforceError as exc:
        logger.warning("Could not revoke an unused Salesforce token: %s", exc.detail)


IMMEDIATE_EXPIRY_MESSAGE = (
    "Salesforce issued a refresh token that it refused at once, so this connection would stop "
    "working when the first session expires. The app's refresh token policy is probably "
    "“Immediately expire refresh token”: ask your Salesforce admin to set it to “Refresh token "
    "is valid until revoked” (Setup › External Client App Manager › Team Inbox › Policies), "
    "then connect again. Nothing was connected."
)


@dataclass(frozen=True)
class ConnectResult:
    connection: SalesforceConnection
    # Connections of other workspaces that Salesforce revoked for this approval (T5).
    displaced: list[SalesforceConnection]


def complete_connect(*, pending: PendingConnect, workspace: Workspace, user, code: str):
    """Exchange the code, verify API access, then store the connection (S2, S3, S5, T4, T5, T7).

    Nothing is stored unless every step succeeds, and whatever fails after the code exchange,
    the fresh tokens are revoked (T7). Raises :class:`SalesforceError` subclasses.
    """
    if not code:
        raise OAuthFailed(
            "Salesforce's answer had no authorization code. Nothing was connected.",
            detail="missing_code",
        )
    check_can_connect(workspace)
    tokens = oauth.exchange_code(
        login_url=pending.login_url,
        code=code,
        code_verifier=pending.code_verifier,
        redirect_uri=pending.redirect_uri,
    )
    try:
        tokens = _probe_refresh(pending.login_url, tokens)
        return _verify_and_save(pending=pending, workspace=workspace, user=user, tokens=tokens)
    except Exception as exc:
        _revoke_quietly(pending.login_url, tokens.refresh_token)
        if isinstance(exc, SalesforceError):
            raise
        logger.exception("Salesforce connect failed after the code exchange")
        raise OAuthFailed(
            "Connecting Salesforce failed unexpectedly; the new access was revoked. Nothing "
            "was connected: please try again.",
            detail=type(exc).__name__,
        ) from exc


def _probe_refresh(login_url: str, tokens: oauth.TokenSet) -> oauth.TokenSet:
    """Use the refresh token once now (T4): an org that expires it at once is found at connect.

    With rotation on, Salesforce answers with a new refresh token: that one is kept.
    """
    try:
        return oauth.refresh_access_token(login_url=login_url, refresh_token=tokens.refresh_token)
    except ReconnectNeeded as exc:
        raise OAuthFailed(IMMEDIATE_EXPIRY_MESSAGE, detail="refresh_token_expired_at_once") from exc


def _verify_and_save(*, pending, workspace, user, tokens) -> ConnectResult:
    identity = oauth.fetch_identity(
        identity_url=tokens.identity_url, access_token=tokens.access_token
    )
    # An unsaved row: the client's health updates match no row, and nothing is stored
    # until Salesforce has answered one query with these tokens (S5).
    transient = SalesforceConnection(
        workspace=workspace,
        status=SalesforceConnection.Status.CONNECTED,
        login_url=pending.login_url,
        instance_url=tokens.instance_url,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
    )
    client = SalesforceClient(transient)
    records = client.query(VERIFY_QUERY).get("records") or []
    org_name = (records[0].get("Name") if records else "") or ""
    org_id = str(identity.get("organization_id") or (records[0].get("Id") if records else ""))
    if not org_id:
        raise OAuthFailed("Salesforce did not say which org was connected.", detail="no_org")
    try:
        describe = client.describe_contact()
    except SalesforceError as exc:  # labels stay the defaults; the connect still succeeds
        logger.warning("Contact describe failed after connecting: %s", exc.detail)
        describe = None
    connection = _save_connection(
        workspace=workspace,
        user=user,
        pending=pending,
        tokens=tokens,
        identity=identity,
        org_id=org_id,
        org_name=org_name,
        describe=describe,
        health=transient,
    )
    displaced = enforce_approval_limit(connection)
    return ConnectResult(connection=connection, displaced=displaced)


@transaction.atomic
def _save_connection(
    *, workspace, user, pending, tokens, identity, org_id, org_name, describe, health
) -> SalesforceConnection:
    connection = (
        SalesforceConnection.objects.select_for_update().filter(workspace=workspace).first()
    )
    if connection is not None and connection.status == SalesforceConnection.Status.CONNECTED:
        raise AlreadyConnected()  # someone connected while this person was at Salesforce
    reconnect = connection is not None and bool(connection.org_id)
    if connection is None:
        connection = SalesforceConnection(workspace=workspace)
    notes = []
    if reconnect and connection.org_id != org_id:
        connection.field_names = default_fields()
        connection.field_meta = default_field_meta()
        connection.dropped_fields = []
        notes.append(f"a different org than before ({connection.org_id}): field set reset")
    if describe is not None:
        connection.field_meta = {
            **(connection.field_meta or {}),
            **field_meta_from_describe(describe, list(connection.field_names)),
        }
    now = timezone.now()
    connection.status = SalesforceConnection.Status.CONNECTED
    connection.login_url = pending.login_url
    connection.org_id = org_id
    connection.org_name = org_name
    connection.instance_url = tokens.instance_url
    connection.identity_url = tokens.identity_url
    connection.sf_user_id = str(identity.get("user_id") or "")
    connection.sf_username = str(identity.get("username") or "")
    connection.access_token = tokens.access_token
    connection.refresh_token = tokens.refresh_token
    connection.connected_by = user
    connection.connected_at = now
    connection.last_refreshed_at = now
    connection.reconnect_reason, connection.reconnect_detail = "", ""
    connection.disconnected_at = None
    connection.last_error, connection.last_error_at = "", None
    for name in ("api_usage_used", "api_usage_max", "api_usage_at", "last_success_at"):
        if getattr(health, name) is not None:
            setattr(connection, name, getattr(health, name))
    connection.save()
    connection.bump_generation()
    detail = f"{org_name or org_id} ({org_id}) as {connection.sf_username}"
    if notes:
        detail += "; " + "; ".join(notes)
    record_event(
        connection=connection,
        kind=SalesforceEvent.Kind.RECONNECTED if reconnect else SalesforceEvent.Kind.CONNECTED,
        actor=user,
        detail=detail,
    )
    logger.info("Salesforce connected for workspace %s (org %s)", workspace.pk, org_id)
    return connection


# --- disconnect -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DisconnectResult:
    revoked: bool
    revoke_error: str = ""


def disconnect(*, connection: SalesforceConnection, actor) -> DisconnectResult:
    """Revoke this connection's refresh token at Salesforce, then forget the tokens (S14).

    Other workspaces connected to the same org keep theirs: only this row's token is revoked.
    A revoke that fails still disconnects locally; the result says so.
    """
    # Under the token lock, with the tokens read again: a refresh in another process may have
    # rotated the refresh token this page loaded, and revoking that one would revoke nothing.
    with refresh_lock(connection.pk):
        stored = SalesforceConnection.objects.filter(pk=connection.pk).first() or connection
        token = stored.refresh_token or stored.access_token
        revoked, revoke_error = True, ""
        if token:
            try:
                oauth.revoke(login_url=stored.login_url, token=token)
            except SalesforceError as exc:
                already_dead = (
                    stored.status == SalesforceConnection.Status.RECONNECT_NEEDED
                    and exc.detail == "revoke_400"
                )
                if not already_dead:
                    revoked, revoke_error = False, exc.user_message
                    logger.warning(
                        "Salesforce revoke failed for connection %s: %s", connection.pk, exc.detail
                    )
        _forget_tokens(connection, actor=actor, revoked=revoked, revoke_error=revoke_error)
    return DisconnectResult(revoked=revoked, revoke_error=revoke_error)


@transaction.atomic
def _forget_tokens(connection, *, actor, revoked: bool, revoke_error: str) -> None:
    connection.status = SalesforceConnection.Status.DISCONNECTED
    connection.access_token = ""
    connection.refresh_token = ""
    connection.disconnected_at = timezone.now()
    connection.reconnect_reason, connection.reconnect_detail = "", ""
    connection.save(
        update_fields=[
            "status",
            "access_token",
            "refresh_token",
            "disconnected_at",
            "reconnect_reason",
            "reconnect_detail",
        ]
    )
    connection.bump_generation()  # cached lookups carry the generation: all now unreachable
    record_event(
        connection=connection,
        kind=SalesforceEvent.Kind.DISCONNECTED,
        actor=actor,
        detail=f"{connection.org_name or connection.org_id} ({connection.org_id})",
    )
    if not revoked:
        record_event(
            connection=connection,
            kind=SalesforceEvent.Kind.REVOKE_FAILED,
            actor=actor,
            detail=f"{revoke_error} The tokens were deleted here; revoke the app's access "
            "in Salesforce (Setup > Connected Apps OAuth Usage) to be sure.",
        )


def approvals_in_use(connection: SalesforceConnection) -> int:
    """How many of the 5 approvals Salesforce allows this user and app this installation uses."""
    return live_approvals(connection).count()


def integration_status(workspace: Workspace):
    """The Integrations page's status line for Salesforce (W3, S15)."""
    status = (
        SalesforceConnection.objects.filter(workspace=workspace)
        .values_list("status", flat=True)
        .first()
    )
    if status == SalesforceConnection.Status.CONNECTED:
        return IntegrationStatus("Connected", "ok")
    if status == SalesforceConnection.Status.RECONNECT_NEEDED:
        return IntegrationStatus("Reconnect needed", "warn")
    return IntegrationStatus("Not connected", "muted")
