"""Thin views: the manage page, connect, the OAuth callback, disconnect (S1–S5, S14, S15, B3, B5).

Salesforce errors are caught here, at the view boundary, and shown as messages or a short page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from workspace.access import ADMIN_ROLES, workspace_view

from . import connection as service
from .errors import ApiAccessRequired, NotConfigured, SalesforceError
from .forms import ConnectForm
from .models import SalesforceConnection

logger = logging.getLogger(__name__)

ACCESS_DENIED_MESSAGE = "You declined access in Salesforce; nothing was connected."


def _manage_url(workspace) -> str:
    return reverse("integrations:salesforce:manage", args=[workspace.slug])


def _approvals(connection) -> int | None:
    """T5: shown from 4 of the 5 approvals Salesforce allows a user per app."""
    if connection is None or connection.status != SalesforceConnection.Status.CONNECTED:
        return None
    used = service.approvals_in_use(connection)
    return used if used >= 4 else None


def _render_manage(request, *, form=None, status=200):
    connection = service.connection_for(request.workspace)
    is_admin = request.membership.is_admin
    can_connect = is_admin and (
        connection is None or connection.status != SalesforceConnection.Status.CONNECTED
    )
    context = {
        "connection": connection,
        "approvals": _approvals(connection),
        "is_admin": is_admin,
        "can_connect": can_connect,
        "form": (form or ConnectForm()) if can_connect else None,
        "events": service.recent_events(connection),
        "pending": can_connect and service.has_pending_connect(request.session, request.workspace),
        "status_url": _manage_url(request.workspace),
        "settings_tab": "integrations",
        "nav": "settings",
    }
    template = "salesforce/manage.html#status" if request.htmx else "salesforce/manage.html"
    return render(request, template, context, status=status)


@require_GET
@workspace_view
def manage(request):
    """Integrations > Salesforce: status, details, health and audit for members; actions for admins."""
    return _render_manage(request)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def connect(request):
    """Start the OAuth flow (S2): remember the state server-side, send the admin to Salesforce."""
    workspace = request.workspace
    try:
        service.check_can_connect(workspace)
    except SalesforceError as exc:
        messages.error(request, exc.user_message)
        return redirect(_manage_url(workspace))
    form = ConnectForm(request.POST)
    if not form.is_valid():
        return _render_manage(request, form=form, status=400)
    redirect_uri = settings.SALESFORCE_CALLBACK_URL or request.build_absolute_uri(
        reverse("salesforce_oauth:callback")
    )
    try:
        url = service.start_connect(
            session=request.session,
            workspace=workspace,
            user=request.user,
            login_url=form.cleaned_data["login_url"],
            redirect_uri=redirect_uri,
        )
    except NotConfigured as exc:
        messages.error(request, exc.user_message)
        return redirect(_manage_url(workspace))
    return redirect(url)


def _callback_page(request, *, title, message, status, workspace=None, tone="error"):
    context = {
        "title": title,
        "message": message,
        "tone": tone,
        "manage_url": _manage_url(workspace) if workspace else "",
    }
    return render(request, "salesforce/callback_result.html", context, status=status)


@require_GET
@login_required
def callback(request):
    """Salesforce's answer (S2, S3, S5): ``error`` first, then ``state``, then the code exchange."""
    error = request.GET.get("error", "")
    state = request.GET.get("state", "")
    if error:
        # The state is spent either way; a denial creates nothing.
        pending = _take_quietly(request, state)
        workspace = _own_workspace(request, pending)
        if error == "access_denied":
            message = ACCESS_DENIED_MESSAGE
        else:
            message = f"Salesforce answered “{error[:60]}”; nothing was connected."
        return _callback_page(
            request,
            title="Salesforce not connected",
            message=message,
            status=400,
            workspace=workspace,
        )
    try:
        pending = service.take_pending(request.session, state)
        workspace = service.check_pending_owner(pending, request.user)
    except service.StateRejected as exc:
        logger.warning("Salesforce callback refused: %s", exc.detail)
        return _callback_page(
            request,
            title="Salesforce not connected",
            message=exc.user_message,
            status=exc.status_code,
        )
    try:
        result = service.complete_connect(
            pending=pending,
            workspace=workspace,
            user=request.user,
            code=request.GET.get("code", ""),
        )
    except ApiAccessRequired as exc:
        return _callback_page(
            request,
            title=ApiAccessRequired.title,
            message=exc.user_message,
            status=403,
            workspace=workspace,
        )
    except SalesforceError as exc:
        logger.warning("Salesforce connect failed: %s (%s)", exc.code, exc.detail)
        return _callback_page(
            request,
            title="Salesforce not connected",
            message=exc.user_message,
            status=400,
            workspace=workspace,
        )
    connection = result.connection
    messages.success(
        request,
        f"Salesforce connected: {connection.org_name} ({connection.org_id}) "
        f"as {connection.sf_username}.",
    )
    if result.displaced:
        names = ", ".join(f"“{c.workspace.name}”" for c in result.displaced)
        messages.warning(
            request,
            f"Salesforce allows {connection.sf_username} at most 5 connections of this app, so "
            f"it revoked the oldest: {names} must reconnect. Use a dedicated Salesforce "
            "integration user per workspace to avoid this.",
        )
    return redirect(_manage_url(workspace))


def _take_quietly(request, state):
    try:
        return service.take_pending(request.session, state)
    except service.StateRejected:
        return None


def _own_workspace(request, pending):
    """The workspace to link back to, only when this person started the flow and may see it."""
    if pending is None:
        return None
    try:
        return service.check_pending_owner(pending, request.user)
    except service.StateRejected:
        return None


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def disconnect(request):
    """Disconnect (S14): revoke at Salesforce, delete the tokens here, invalidate cached data."""
    connection = service.connection_for(request.workspace)
    if connection is None or connection.status == SalesforceConnection.Status.DISCONNECTED:
        messages.info(request, "Salesforce is not connected.")
        return redirect(_manage_url(request.workspace))
    result = service.disconnect(connection=connection, actor=request.user)
    if result.revoked:
        messages.success(request, "Salesforce disconnected and its access revoked.")
    else:
        messages.warning(
            request,
            "Salesforce disconnected here, but Salesforce could not be told to revoke access "
            f"({result.revoke_error}). Revoke the app's access in Salesforce Setup to be sure.",
        )
    return redirect(_manage_url(request.workspace))
