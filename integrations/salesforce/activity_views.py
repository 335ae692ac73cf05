"""A5: the Log to Salesforce block of a conversation's Salesforce panel (thin views)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from inbox.models import Conversation
from workspace.access import workspace_view

from .activity import log_conversation, log_for
from .errors import SalesforceError
from .links import linked_id
from .lookup import find_contact
from .selectors import connection_for

LOG_TEMPLATE = "salesforce/_log.html"


def log_context(*, connection, conversation, result, outcome=None) -> dict:
    """What the Log block shows: the Task once logged, else the button (and open Cases)."""
    record = result.primary or result.lead if result else None
    cases = [
        {"id": case["Id"], "label": f"{case.get('CaseNumber', '')} {case.get('Subject') or ''}"}
        for case in (result.primary.related.get("Cases") or [] if result and result.primary else [])
    ]
    log = outcome.log if outcome and outcome.log else log_for(conversation)
    return {
        "conversation": conversation,
        "connection": connection,
        "log": log,
        "task_url": connection.record_view_url(log.task_id, "Task") if log and log.task_id else "",
        "record": record,
        "cases": cases,
        "outcome": outcome,
    }


@require_POST
@workspace_view
def log_to_salesforce(request, conversation_pk: int):
    """Any member, when an admin switched logging on and the contact matches a record."""
    conversation = get_object_or_404(
        Conversation.objects.select_related("contact", "workspace"),
        workspace=request.workspace,
        pk=conversation_pk,
    )
    connection = connection_for(request.workspace)
    if connection is None or not connection.is_connected or not connection.log_activities:
        # Not a permission matter (any member may log when it is on): say it in the block.
        return render(
            request,
            LOG_TEMPLATE,
            {
                "conversation": conversation,
                "connection": connection,
                "error": "Log to Salesforce is off for this workspace: an Owner or Manager can "
                "switch it on in Integrations > Salesforce.",
            },
        )
    contact = conversation.contact
    try:
        result = find_contact(
            connection, email=contact.email, phone=contact.phone, linked_id=linked_id(contact)
        )
    except (SalesforceError, ValueError) as exc:
        message = getattr(exc, "user_message", str(exc))
        return render(
            request,
            LOG_TEMPLATE,
            {"conversation": conversation, "connection": connection, "error": message},
        )
    record = result.primary or result.lead
    if record is None:
        return render(
            request,
            LOG_TEMPLATE,
            {
                "conversation": conversation,
                "connection": connection,
                "error": "No Salesforce record matches this contact: nothing to log it to.",
            },
        )
    context = log_context(connection=connection, conversation=conversation, result=result)
    allowed_cases = {case["id"] for case in context["cases"]}
    what_id = request.POST.get("what_id", "")
    outcome = log_conversation(
        connection=connection,
        conversation=conversation,
        actor=request.user,
        who_id=record.id,
        what_id=what_id if what_id in allowed_cases else "",
    )
    context = log_context(
        connection=connection, conversation=conversation, result=result, outcome=outcome
    )
    return render(request, LOG_TEMPLATE, context)
