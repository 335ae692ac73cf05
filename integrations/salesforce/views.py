"""Thin views: the manage page, connect, the OAuth callback, disconnect (S1–S5, S14, S15, B3, B5).

Salesforce errors are caught here, at the view boundary, and shown as messages or a short page.
"""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspace.access import ADMIN_ROLES, workspace_view
from workspace.site import site_url

from . import live, pending, selectors, services, setup_check
from .connection import check_can_connect, connect_client_credentials, handle_callback
from .connection import disconnect as disconnect_connection
from .errors import SalesforceError
from .forms import ClientCredentialsForm, ConnectForm
from .models import SalesforceConnection

logger = logging.getLogger(__name__)


def _manage_url(workspace) -> str:
    return reverse("integrations:salesforce:manage", args=[workspace.slug])


def _approvals(connection) -> int | None:
    """T5: shown from 4 of the 5 approvals Salesforce allows a user per app."""
    if connection is None or connection.status != SalesforceConnection.Status.CONNECTED:
        return None
    used = selectors.approvals_in_use(connection)
    return used if used >= 4 else None


def _render_manage(request, *, form=None, cc_form=None, status=200, authorize_url=""):
    connection = selectors.connection_for(request.workspace)
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
        "cc_form": (cc_form or ClientCredentialsForm()) if can_connect else None,
        "events": selectors.recent_events(request.workspace),
        "live": _live_status(connection),
        "connect_failure": selectors.last_connect_failure(request.workspace) if is_admin else None,
        "pending": (
            pending.newest_pending(request.session, request.workspace) if can_connect else None
        ),
        "authorize_url": authorize_url,
        "status_url": _manage_url(request.workspace),
        "settings_tab": "integrations",
        "nav": "settings",
    }
    template = "salesforce/manage.html#status" if request.htmx else "salesforce/manage.html"
    return render(request, template, context, status=status)


def _live_status(connection) -> live.ListenerStatus | None:
    """F4: the listener's state, its last event and lag, for the Manage page."""
    if connection is None or connection.status != SalesforceConnection.Status.CONNECTED:
        return None
    last_event_at, lag = selectors.last_live_event(connection)
    return live.listener_status(connection, last_event_at=last_event_at, lag_seconds=lag)


@require_GET
@workspace_view
def manage(request):
    """Integrations > Salesforce: status, details, health and audit for members; actions for admins."""
    return _render_manage(request)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def check_setup(request):
    """E7: check the org's setup now (2 API calls); the result shows on the Manage page."""
    connection = selectors.connection_for(request.workspace)
    if connection is None or not connection.is_connected:
        messages.error(request, "Connect Salesforce first.")
        return redirect(_manage_url(request.workspace))
    try:
        setup_check.run(connection, actor=request.user)
    except SalesforceError as exc:
        messages.error(request, f"The setup check could not run: {exc.user_message}")
    return redirect(_manage_url(request.workspace) + "#sf-setup-check")


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def connect_integration_user(request):
    """E4: connect with the OAuth 2.0 client credentials flow of the org's own app."""
    form = ClientCredentialsForm(request.POST)
    if not form.is_valid():
        return _render_manage(request, cc_form=form, status=400)
    try:
        result = connect_client_credentials(
            workspace=request.workspace,
            user=request.user,
            login_url=form.cleaned_data["my_domain_url"],
            client_id=form.cleaned_data["client_id"],
            client_secret=form.cleaned_data["client_secret"],
        )
    except SalesforceError as exc:
        services.record_connect_failure(
            workspace=request.workspace, actor=request.user, reason=exc.user_message
        )
        form.add_error(None, exc.user_message)
        return _render_manage(request, cc_form=form, status=400)
    messages.success(
        request,
        f"Salesforce connected to {result.connection.org_name} as the integration user "
        f"{result.connection.sf_username}.",
    )
    return redirect(_manage_url(request.workspace))


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def connect(request):
    """Start the OAuth flow (S2): remember the state server-side, send the admin to Salesforce.

    U5: from the page (htmx) the form is checked here first and its errors shown in this tab;
    only an accepted form opens Salesforce's consent page, in a new tab (static/js/app.js, on
    the ``salesforce-open`` event), with a link on the page in case a popup blocker refuses.
    Without JavaScript the whole flow runs in this tab.
    """
    workspace = request.workspace
    form = ConnectForm(request.POST)
    try:
        check_can_connect(workspace)
        if not form.is_valid():
            return _render_manage(request, form=form, status=422 if request.htmx else 400)
        # H3: SALESFORCE_CALLBACK_URL, else SITE_URL: never the request's Host header.
        redirect_uri = settings.SALESFORCE_CALLBACK_URL or (
            site_url(request) + reverse("salesforce_oauth:callback")
        )
        url = pending.start_connect(
            session=request.session,
            workspace=workspace,
            user=request.user,
            login_url=form.cleaned_data["login_url"],
            redirect_uri=redirect_uri,
        )
    except SalesforceError as exc:  # already connected, not configured
        if request.htmx:
            form.is_valid()  # errors are collected before the refusal is added to them
            form.add_error(None, exc.user_message)
            return _render_manage(request, form=form, status=422)
        messages.error(request, exc.user_message)
        return redirect(_manage_url(workspace))
    if not request.htmx:
        return redirect(url)
    response = _render_manage(request, authorize_url=url)
    response["HX-Trigger"] = json.dumps({"salesforce-open": {"url": url}})
    return response


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def cancel_connect(request):
    """U5: stop waiting for an abandoned sign-in (its state is forgotten: it can no longer land)."""
    pending.forget_pending(request.session, request.workspace)
    if request.htmx:
        return _render_manage(request)
    return redirect(_manage_url(request.workspace))


@require_GET
@login_required
def callback(request):
    """Salesforce's answer (S2, S3, S5): the flow is one service call; this renders its outcome."""
    outcome = handle_callback(session=request.session, user=request.user, params=request.GET)
    if outcome.result is None:
        context = {
            "title": outcome.title,
            "message": outcome.message,
            "tone": "error",
            "manage_url": _manage_url(outcome.workspace) if outcome.workspace else "",
        }
        return render(request, "salesforce/callback_result.html", context, status=outcome.status)
    connection, workspace = outcome.result.connection, outcome.workspace
    messages.success(
        request,
        f"Salesforce connected: {connection.org_name} ({connection.org_id}) "
        f"as {connection.sf_username}.",
    )
    if outcome.result.displaced:
        names = ", ".join(f"“{c.workspace.name}”" for c in outcome.result.displaced)
        messages.warning(
            request,
            f"Salesforce allows {connection.sf_username} at most 5 connections of this app, so "
            f"it revoked the oldest: {names} must reconnect. Use a dedicated Salesforce "
            "integration user per workspace to avoid this.",
        )
    return redirect(_manage_url(workspace))


@require_http_methods(["GET", "POST"])
@workspace_view(roles=ADMIN_ROLES)
def disconnect(request):
    """Disconnect (S14): revoke at Salesforce, delete the tokens here, invalidate cached data.

    U4: GET asks first and says what will happen; only the POST disconnects.
    """
    connection = selectors.connection_for(request.workspace)
    if connection is None or connection.status == SalesforceConnection.Status.DISCONNECTED:
        messages.info(request, "Salesforce is not connected.")
        return redirect(_manage_url(request.workspace))
    if request.method == "GET":
        return render(
            request,
            "salesforce/confirm_disconnect.html",
            {"connection": connection, "nav": "settings", "settings_tab": "integrations"},
        )
    result = disconnect_connection(connection=connection, actor=request.user)
    if result.revoked:
        messages.success(request, "Salesforce disconnected and its access revoked.")
    else:
        messages.warning(
            request,
            "Salesforce disconnected here, but Salesforce could not be told to revoke access "
            f"({result.revoke_error}). Revoke the app's access in Salesforce Setup to be sure.",
        )
    return redirect(_manage_url(request.workspace))


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def phone_matching(request):
    """P2: Owners and Managers choose how phones are compared; audited, effective at once."""
    connection = selectors.connection_for(request.workspace)
    mode = request.POST.get("phone_matching", "")
    if connection is None or mode not in SalesforceConnection.PhoneMatching.values:
        messages.error(request, "Choose “Exact” or “Same number in any format”.")
    elif services.set_phone_matching(connection, mode=mode, actor=request.user):
        messages.success(
            request, f"Phone matching is now “{connection.get_phone_matching_display()}”."
        )
    return redirect(_manage_url(request.workspace))


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def save_settings(request):
    """M1: phone matching, Lead matching and live updates from the Manage page's one form."""
    connection = selectors.connection_for(request.workspace)
    mode = request.POST.get("phone_matching", "")
    if connection is None or mode not in SalesforceConnection.PhoneMatching.values:
        messages.error(request, "Choose “Exact” or “Same number in any format”. Nothing was saved.")
        return redirect(_manage_url(request.workspace))
    changed = services.set_settings(
        connection,
        phone_matching=mode,
        match_leads=request.POST.get("match_leads") == "on",
        # The switch is on the form only while connected; its absence is not "off".
        live_updates=(
            request.POST.get("live_updates") == "on"
            if request.POST.get("live_updates_shown")
            else None
        ),
        actor=request.user,
    )
    if changed:
        messages.success(request, f"Saved: {', '.join(changed)}.")
    else:
        messages.info(request, "Nothing had changed.")
    return redirect(_manage_url(request.workspace))


def _switch(request, *, field: str, save, on_message: str, off_message: str):
    """An audited on/off setting of the connection (R3, F2): the service saves and audits it."""
    connection = selectors.connection_for(request.workspace)
    on = request.POST.get(field) == "on"
    if connection is not None and save(connection, on=on, actor=request.user):
        messages.success(request, on_message if on else off_message)
    return redirect(_manage_url(request.workspace))


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def lead_matching(request):
    """R3: Owners and Managers let the sidebar fall back to a Lead; audited, effective at once."""
    return _switch(
        request,
        field="match_leads",
        save=services.set_lead_matching,
        on_message="Leads are now looked up when no Contact matches.",
        off_message="Only Contacts are looked up now.",
    )


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def live_updates(request):
    """F2: Owners and Managers turn live updates on or off; audited, effective at once."""
    return _switch(
        request,
        field="live_updates",
        save=services.set_live_updates,
        on_message="Live updates are on: changes in Salesforce show in the sidebar within seconds.",
        off_message=(
            "Live updates are off: an open sidebar re-reads Salesforce once its copy is "
            f"{settings.SALESFORCE_CACHE_SECONDS} s old."
        ),
    )


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def activity_logging(request):
    """A5: Owners and Managers let agents log conversations as Tasks; audited, at once."""
    return _switch(
        request,
        field="log_activities",
        save=services.set_activity_logging,
        on_message="Agents can now log conversations to Salesforce.",
        off_message="Logging to Salesforce is off: the product only reads Salesforce.",
    )


FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def owner_routing(request):
    """A6: Owners and Managers route new conversations by Contact Owner; audited, at once."""
    connection = selectors.connection_for(request.workspace)
    field = request.POST.get("priority_field", "").strip()
    value = request.POST.get("priority_value", "").strip()[:255]
    if field and not FIELD_NAME.match(field):
        messages.error(request, "The Priority field must be a Contact field's API name.")
    elif connection is not None and services.set_owner_routing(
        connection,
        on=request.POST.get("route_by_owner") == "on",
        priority_field=field,
        priority_value=value if field else "",
        actor=request.user,
    ):
        messages.success(request, "Routing by Salesforce owner saved.")
    return redirect(_manage_url(request.workspace))
