"""The Salesforce sidebar panel (S6–S16, B1, B2) and the Contacts-list badges (B4)."""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from contacts.models import Contact
from contacts.phones import e164
from contacts.selectors import contacts_on_page
from inbox.models import Conversation
from integrations.panels import render_panel_page
from integrations.registry import ContactListBadge, SidebarPanel, register_badge, register_panel
from workspace.access import workspace_view

from .activity_views import log_context
from .badges import match_flags
from .display import field_rows, related_lists
from .errors import SalesforceError
from .links import link_for, linked_id
from .lookup import find_contact
from .lookup_cache import REFUSED, cached_version, result_version, stale_result
from .models import SalesforceConnection
from .search import search_context
from .selectors import connection_for
from .why import why_context

logger = logging.getLogger(__name__)
PANEL_TEMPLATE = "salesforce/panel.html"
CHOICES = 5  # A2: several matches listed for the agent to pick from


def render_salesforce_panel(request, contact):
    """Any member: reads the contact's current email and phone, never waits past the timeout."""
    connection = connection_for(request.workspace)
    tz = request.workspace.tzinfo
    context = {"contact": contact, "connection": connection, "state": "not_connected"}
    if connection is None or connection.status == SalesforceConnection.Status.DISCONNECTED:
        pass
    elif connection.status == SalesforceConnection.Status.RECONNECT_NEEDED:
        context["state"] = "reconnect"
    elif not contact.email and not contact.phone and not linked_id(contact):
        context["state"] = "no_values"
    else:
        link = link_for(contact)
        context["link"] = link
        lookup = {
            "email": contact.email,
            "phone": contact.phone,
            "linked_id": link.record_id if link else "",
        }
        try:
            result = find_contact(connection, **lookup, refresh=request.GET.get("refresh") == "1")
        except SalesforceError as exc:
            stale = stale_result(connection, **lookup)
            context.update(
                state="error",
                error=exc,
                stale=stale,
                stale_rows=field_rows(stale.primary, connection, tz)
                if stale and stale.primary
                else [],
                stale_age=(timezone.now() - stale.fetched_at) if stale else None,
                # M7: an outage shows the last good copy whole, related lists included.
                related=related_lists(stale.primary, connection, tz)
                if stale and stale.primary
                else [],
            )
        else:
            context.update(
                state="result",
                result=result,
                phone_e164=e164(contact.phone, request.workspace.phone_region),
                lead_url=connection.record_view_url(result.lead.id, "Lead") if result.lead else "",
                create_url=connection.new_contact_url(
                    name=contact.name, email=contact.email, phone=contact.phone
                ),
                rows=field_rows(result.primary, connection, tz) if result.primary else [],
                related=related_lists(result.primary, connection, tz) if result.primary else [],
                live_url=_live_url(request, contact, connection, result, lookup["linked_id"]),
                reread_seconds=reread_seconds(connection, result),
                choices=result.matches[:CHOICES] if len(result.matches) > 1 else (),
                search=search_context(connection, contact),
                why=why_context(connection, contact),
            )
            conversation = _conversation(request, contact)
            if conversation is not None and connection.log_activities:
                context["log"] = log_context(
                    connection=connection, conversation=conversation, result=result
                )
            context["panel_query"] = f"&conversation={conversation.pk}" if conversation else ""
    return render_panel_page(request, contact, PANEL_TEMPLATE, context, title="Salesforce")


# Past the cache window by this much, the re-read finds the cached copy gone (it was stored a
# moment after ``fetched_at``) and asks Salesforce.
REREAD_MARGIN_SECONDS = 2


def reread_seconds(connection, result) -> int | None:
    """M2: with live updates off, an open panel re-reads once its copy is older than the cache
    window (SALESFORCE_CACHE_SECONDS): the seconds until then, counted from the copy's fetch."""
    if connection.live_updates:
        return None  # F5's change check keeps the panel current instead
    age = (timezone.now() - result.fetched_at).total_seconds()
    return max(1, math.ceil(settings.SALESFORCE_CACHE_SECONDS - age) + REREAD_MARGIN_SECONDS)


def _conversation(request, contact):
    """A5: the conversation the panel sits beside (``?conversation=``), of this contact only."""
    raw = request.GET.get("conversation", "")
    if not raw.isdigit():
        return None
    return (
        Conversation.objects.select_related("contact", "workspace")
        .filter(workspace=request.workspace, contact=contact, pk=int(raw))
        .first()
    )


def _live_url(request, contact, connection, result, linked: str = "") -> str:
    """F5: the panel's change check, when live updates are on and the cache holds an answer for
    the contact (without a working cache every check would look like a change: no polling then).
    When that answer is no longer the panel's (a change landed while it rendered, or within the
    clock margin before), the panel polls all the same and its first check reloads it."""
    if not connection.live_updates:
        return ""
    version = result_version(connection, result)
    if not cached_version(connection, email=contact.email, phone=contact.phone, linked_id=linked):
        return ""
    url = reverse("integrations:salesforce:live_check", args=[request.workspace.slug, contact.pk])
    return f"{url}?v={version}"


@require_GET
@workspace_view
def live_check(request, contact_pk: int):
    """F5: has the open panel's answer changed? From the cache alone: never calls Salesforce.

    204 while the panel's answer is still the cached one; otherwise a loader that re-renders
    the panel (its normal route: cache, or one query as the connecting user).
    """
    contact = get_object_or_404(
        Contact.objects.only("pk", "email", "phone", "workspace_id"),
        workspace=request.workspace,
        pk=contact_pk,
    )
    connection = connection_for(request.workspace)
    if (
        connection is not None
        and connection.is_connected
        and connection.live_updates
        and request.GET.get("v") not in (None, "", REFUSED)
        and cached_version(
            connection, email=contact.email, phone=contact.phone, linked_id=linked_id(contact)
        )
        == request.GET["v"]
    ):
        return HttpResponse(status=204)
    panel_url = reverse("contacts:panel", args=[request.workspace.slug, contact.pk, "salesforce"])
    return render(request, "salesforce/_live_reload.html", {"panel_url": panel_url})


@require_GET
@workspace_view
def contact_badges(request):
    """B4: which of the contacts the list shows (``?ids=1,2,3``) match Salesforce, in one query.

    The Contacts page hands over the ids it shows, so the badges decorate exactly that page
    however it was built (search, cursor); ids of other workspaces are simply not found (W2).
    """
    connection = connection_for(request.workspace)
    flags: dict[int, bool] = {}
    error = None
    contacts = contacts_on_page(workspace=request.workspace, params=request.GET)
    if connection is not None and connection.is_connected:
        try:
            flags = match_flags(connection, contacts)
        except SalesforceError as exc:
            membership = getattr(request, "membership", None)
            admin = membership is not None and membership.is_admin
            error = exc.user_message if admin else exc.agent_message  # E8
    return render(
        request,
        "salesforce/badges.html",
        {"flags": flags, "contacts": contacts, "error": error},
    )


def register() -> None:
    """Called from the app's ``ready()``: the panel and the badges join the registries."""
    register_panel(
        SidebarPanel(key="salesforce", title="Salesforce", order=10, render=render_salesforce_panel)
    )
    register_badge(
        ContactListBadge(
            key="salesforce",
            url_name="integrations:salesforce:badges",
            active=_badges_active,
        )
    )


def _badges_active(workspace) -> bool:
    """U3: the Contacts list has a Salesforce column only while Salesforce is connected."""
    connection = connection_for(workspace)
    return connection is not None and connection.is_connected
