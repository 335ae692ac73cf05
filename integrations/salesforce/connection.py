"""Connecting and disconnecting a workspace's Salesforce org (S1–S5, S14, T4, T5, T7, B5).

Views call these functions; the functions own the rules:

- a connection is verified with one query before anything is stored (S5), and its refresh token
  is used once so an app that expires it at once is refused now, not in two hours (T4);
- whatever fails after the code exchange, the fresh tokens are revoked (T7);
- one connection per workspace (S4); reconnecting to the same org keeps the field set;
- a sixth approval by one Salesforce user marks the connection Salesforce revoked (T5);
- disconnect revokes this connection's refresh token under the token lock, then forgets the
  tokens locally even when Salesforce cannot be told (S14).

The pending OAuth state lives in pending.py, reads in selectors.py, writes in services.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.encryption import key_configured
from workspace.models import Workspace

from . import oauth, services
from .client import SalesforceClient
from .errors import (
    AlreadyConnected,
    NotConfigured,
    OAuthFailed,
    ReconnectNeeded,
    SalesforceError,
    StateRejected,
)
from .models import SalesforceConnection
from .org_profile import read_profile
from .pending import PendingConnect, check_pending_owner, take_pending
from .selectors import connection_for
from .tokens import enforce_approval_limit, refresh_lock

logger = logging.getLogger(__name__)

VERIFY_QUERY = "SELECT Id, Name, DefaultCurrencyIsoCode FROM Organization"
ACCESS_DENIED_MESSAGE = "You declined access in Salesforce; nothing was connected."


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
        oauth.revoke_quietly(login_url=pending.login_url, token=tokens.refresh_token)
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


def _verify_and_save(*, pending, workspace, user, tokens, auth=None) -> ConnectResult:
    identity = oauth.fetch_identity(
        identity_url=tokens.identity_url, access_token=tokens.access_token
    )
    # Nothing is stored until Salesforce has answered one query with these tokens (S5); the
    # client keeps the health it saw for the save.
    client = SalesforceClient.unsaved(
        instance_url=tokens.instance_url, access_token=tokens.access_token
    )
    records = client.query(VERIFY_QUERY).get("records") or []
    org_name = (records[0].get("Name") if records else "") or ""
    currency = str((records[0].get("DefaultCurrencyIsoCode") if records else "") or "")[:3]
    org_id = str(identity.get("organization_id") or (records[0].get("Id") if records else ""))
    if not org_id:
        raise OAuthFailed("Salesforce did not say which org was connected.", detail="no_org")
    try:
        describe = client.describe_contact()
    except SalesforceError as exc:  # labels stay the defaults; the connect still succeeds
        logger.warning("Contact describe failed after connecting: %s", exc.detail)
        describe = None
    # E1, E2, E3: how the org is configured decides the lookup query; read it now.
    profile = read_profile(client, contact_describe=describe) if describe is not None else None
    connection = services.record_connected(
        workspace=workspace,
        actor=user,
        login_url=pending.login_url,
        tokens=tokens,
        identity=identity,
        org_id=org_id,
        org_name=org_name,
        currency=currency,
        describe=describe,
        profile=profile,
        health=client.health,
        auth=auth,
    )
    displaced = enforce_approval_limit(connection)
    _check_setup(connection, user)
    return ConnectResult(connection=connection, displaced=displaced)


def _check_setup(connection: SalesforceConnection, user) -> None:
    """E7: the setup check runs at connect too; its failure never undoes the connect."""
    from . import setup_check

    try:
        setup_check.run(connection, actor=user, audit=False)
    except Exception:  # noqa: BLE001 - the admin can run it again from the Manage page
        logger.warning("Setup check after connect failed for connection %s", connection.pk)


# --- E4: connect with an integration user (OAuth 2.0 client credentials flow) ---------------
@dataclass(frozen=True)
class _Host:
    login_url: str


CLIENT_CREDENTIALS_REFUSED = (
    "Salesforce refused the consumer key and secret for the client credentials flow. Check "
    "them, and that the External Client App has the client credentials flow enabled with a "
    "run-as user (Setup › External Client App Manager › your app › Policies). Nothing was "
    "connected."
)


def connect_client_credentials(
    *, workspace: Workspace, user, login_url: str, client_id: str, client_secret: str
) -> ConnectResult:
    """E4: connect as the app's run-as (integration) user: no browser consent, no refresh token.

    The same checks as a browser connect (one verifying query, describe) before anything is
    stored; the key and secret are stored encrypted, to renew the session by the same flow.
    """
    check_can_connect(workspace)
    try:
        tokens = oauth.client_credentials_token(
            login_url=login_url, client_id=client_id, client_secret=client_secret
        )
    except ReconnectNeeded as exc:
        raise OAuthFailed(CLIENT_CREDENTIALS_REFUSED, detail=exc.detail) from exc
    auth = {
        "flow": SalesforceConnection.AuthFlow.CLIENT_CREDENTIALS,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        return _verify_and_save(
            pending=_Host(login_url), workspace=workspace, user=user, tokens=tokens, auth=auth
        )
    except Exception:
        oauth.revoke_quietly(login_url=login_url, token=tokens.access_token)
        raise


# --- the OAuth callback as one call (S2, S3, S5) --------------------------------------------
@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback view shows: a result, or an error page (title, message, status)."""

    result: ConnectResult | None = None
    workspace: Workspace | None = None  # to link back to, when this person may see it
    title: str = "Salesforce not connected"
    message: str = ""
    status: int = 200


def handle_callback(*, session, user, params) -> CallbackOutcome:
    """Salesforce's answer: ``error`` first, then ``state``, then the code exchange."""
    error, state = params.get("error", ""), params.get("state", "")
    if error:
        # The state is spent either way; a denial creates nothing.
        workspace = _own_workspace(session, state, user)
        if error == "access_denied":
            message = ACCESS_DENIED_MESSAGE
        else:
            message = f"Salesforce answered “{error[:60]}”; nothing was connected."
        if workspace is not None:
            services.record_connect_failure(workspace=workspace, actor=user, reason=message)
        return CallbackOutcome(workspace=workspace, message=message, status=400)
    try:
        pending = take_pending(session, state)
        workspace = check_pending_owner(pending, user)
    except StateRejected as exc:
        logger.warning("Salesforce callback refused: %s", exc.detail)
        return CallbackOutcome(message=exc.user_message, status=exc.status_code)
    try:
        result = complete_connect(
            pending=pending, workspace=workspace, user=user, code=params.get("code", "")
        )
    except SalesforceError as exc:
        logger.warning("Salesforce connect failed: %s (%s)", exc.code, exc.detail)
        services.record_connect_failure(workspace=workspace, actor=user, reason=exc.user_message)
        title = getattr(exc, "title", "Salesforce not connected")
        status = 403 if exc.code == "api_access_required" else 400
        return CallbackOutcome(
            workspace=workspace, title=title, message=exc.user_message, status=status
        )
    return CallbackOutcome(result=result, workspace=workspace)


def _own_workspace(session, state: str, user) -> Workspace | None:
    """The workspace to link back to, only when this person started the flow and may see it."""
    try:
        return check_pending_owner(take_pending(session, state), user)
    except StateRejected:
        return None


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
        services.drop_tokens(connection, actor=actor, revoked=revoked, revoke_error=revoke_error)
    return DisconnectResult(revoked=revoked, revoke_error=revoke_error)
