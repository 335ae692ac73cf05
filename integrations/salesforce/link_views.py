"""A2, A3: link and unlink a contact's Salesforce record; search Salesforce (thin views)."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from contacts.models import Contact
from workspace.access import workspace_view

from .errors import SalesforceError
from .links import BadRecord, link_contact, unlink_contact
from .search import search_salesforce
from .selectors import connection_for
from .sidebar import render_salesforce_panel
from .why import why_causes


def _contact(request, contact_pk: int) -> Contact:
    return get_object_or_404(Contact, workspace=request.workspace, pk=contact_pk)


def _connected(request):
    connection = connection_for(request.workspace)
    return connection if connection is not None and connection.is_connected else None


@require_POST
@workspace_view
def link(request, contact_pk: int):
    """Any member picks the record that is this customer; the panel re-renders with it first."""
    contact = _contact(request, contact_pk)
    connection = _connected(request)
    if connection is None:
        return HttpResponseBadRequest("Salesforce is not connected.")
    try:
        link_contact(
            connection=connection,
            contact=contact,
            record_id=request.POST.get("record_id", ""),
            record_name=request.POST.get("record_name", ""),
            actor=request.user,
        )
    except BadRecord as exc:
        return HttpResponseBadRequest(str(exc))
    return render_salesforce_panel(request, contact)


@require_POST
@workspace_view
def unlink(request, contact_pk: int):
    contact = _contact(request, contact_pk)
    connection = _connected(request)
    if connection is None:
        return HttpResponseBadRequest("Salesforce is not connected.")
    unlink_contact(connection=connection, contact=contact, actor=request.user)
    return render_salesforce_panel(request, contact)


@require_GET
@workspace_view
def search(request, contact_pk: int):
    """A3: SOSL for the agent's text (debounced by the page); read-only."""
    contact = _contact(request, contact_pk)
    connection = _connected(request)
    context = {"contact": contact, "hits": [], "error": "", "term": request.GET.get("q", "")}
    if connection is None:
        context["error"] = "Salesforce is not connected."
    else:
        try:
            context["hits"] = search_salesforce(connection, context["term"])
        except ValueError as exc:
            context["error"] = str(exc)
        except SalesforceError as exc:
            context["error"] = exc.user_message
    context["conversation"] = request.GET.get("conversation", "")
    return render(request, "salesforce/_search_results.html", context)


@require_GET
@workspace_view
def why(request, contact_pk: int):
    """A4: the causes that need Salesforce (loaded when the agent opens "Why no match?")."""
    contact = _contact(request, contact_pk)
    connection = _connected(request)
    causes = why_causes(connection, contact) if connection is not None else []
    return render(request, "salesforce/_why_causes.html", {"causes": causes})
