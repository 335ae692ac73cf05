import uuid

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from api.models import WebhookDelivery
from api.webhooks import retry_now
from contacts.keyset import AFTER, BEFORE, InvalidCursor, page_links
from integrations.panels import sidebar_panels
from workspace.access import workspace_view

from .actions import conversation_assign, conversation_reply, conversation_set_status
from .forms import AssignForm, ReplyForm
from .models import Conversation
from .selectors import FILTERS, conversation_page


def _conversation(request, pk: int) -> Conversation:
    return get_object_or_404(
        Conversation.objects.select_related("contact", "assignee"),
        workspace=request.workspace,
        pk=pk,
    )


@require_GET
@workspace_view
def inbox_list(request):
    current = request.GET.get("filter", "open")
    if current not in FILTERS:
        current = "open"
    status, error = 200, None
    try:
        page = conversation_page(
            workspace=request.workspace,
            user=request.user,
            filter=current,
            after=request.GET.get(AFTER) or None,
            before=request.GET.get(BEFORE) or None,
        )
    except InvalidCursor:
        status, error = 400, InvalidCursor.user_message
        page = conversation_page(workspace=request.workspace, user=request.user, filter=current)
    return render(
        request,
        "inbox/list.html",
        {
            "page": page,
            "links": page_links(page, {"filter": current}),
            "page_error": error,
            "filter": current,
            "filters": FILTERS,
            "nav": "inbox",
        },
        status=status,
    )


def _render_conversation(request, conversation, reply_form=None, status=200):
    return render(
        request,
        "inbox/detail.html",
        {
            "conversation": conversation,
            "messages_list": conversation.messages.select_related("author", "webhook_delivery"),
            "reply_form": reply_form or ReplyForm(),
            "assign_form": AssignForm(
                workspace=request.workspace,
                initial={"assignee": conversation.assignee_id or ""},
            ),
            "panels": sidebar_panels(request, conversation.contact, conversation),
            "nav": "inbox",
        },
        status=status,
    )


@require_GET
@workspace_view
def conversation_detail(request, pk: int):
    return _render_conversation(request, _conversation(request, pk))


@require_POST
@workspace_view
def conversation_reply_view(request, pk: int):
    conversation = _conversation(request, pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _render_conversation(request, conversation, reply_form=form, status=400)
    conversation_reply(
        conversation=conversation, author=request.user, body=form.cleaned_data["body"]
    )
    messages.success(request, "Reply sent.")
    return redirect("inbox:detail", slug=request.workspace.slug, pk=conversation.pk)


@require_POST
@workspace_view
def conversation_status_view(request, pk: int):
    conversation = _conversation(request, pk)
    status = request.POST.get("status", "")
    if status not in Conversation.Status.values:
        messages.error(request, "Choose open or closed.")
    else:
        conversation_set_status(conversation=conversation, status=status)
        messages.success(request, f"Conversation {conversation.get_status_display().lower()}.")
    return redirect("inbox:detail", slug=request.workspace.slug, pk=conversation.pk)


@require_POST
@workspace_view
def conversation_assign_view(request, pk: int):
    conversation = _conversation(request, pk)
    form = AssignForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        messages.error(request, "Choose a member of this workspace.")
        return redirect("inbox:detail", slug=request.workspace.slug, pk=conversation.pk)
    assignee_id = form.cleaned_data["assignee"]
    assignee = None
    if assignee_id is not None:
        assignee = request.workspace.memberships.get(user_id=assignee_id).user
    conversation_assign(conversation=conversation, assignee=assignee)
    who = assignee.display_name if assignee else "nobody"
    messages.success(request, f"Assigned to {who}.")
    return redirect("inbox:detail", slug=request.workspace.slug, pk=conversation.pk)


@require_POST
@workspace_view
def reply_retry_view(request, pk: int):
    """An agent sends a reply's failed (or waiting) webhook delivery again now (O6)."""
    conversation = _conversation(request, pk)
    delivery = (
        WebhookDelivery.objects.filter(
            workspace=request.workspace,
            message__conversation=conversation,
            pk=request.POST.get("delivery") or None,
        )
        .exclude(status=WebhookDelivery.Status.SENT)
        .first()
        if _is_uuid(request.POST.get("delivery", ""))
        else None
    )
    if delivery is None:
        messages.error(request, "Choose a reply that has not been delivered yet.")
    else:
        retry_now(delivery=delivery)
        messages.success(request, "The reply will be sent again in a moment.")
    return redirect("inbox:detail", slug=request.workspace.slug, pk=conversation.pk)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
