from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.keyset import AFTER, BEFORE, InvalidCursor, page_links
from integrations.panels import sidebar_panels
from workspace.access import workspace_view

from .actions import (
    conversation_add_note,
    conversation_assign,
    conversation_mark_read,
    conversation_mark_unread,
    conversation_reply,
    conversation_set_status,
    conversation_snooze,
)
from .forms import AssignForm, ReplyForm, SnoozeForm
from .models import Conversation
from .selectors import (
    FILTERS,
    QUERY_MAX_LENGTH,
    clean_filter,
    conversation_page,
    conversation_thread,
    next_in_view,
    view_counts,
)
from .signals import reply_check


def _conversation(request, pk: int) -> Conversation:
    return get_object_or_404(
        Conversation.objects.select_related("contact", "assignee"),
        workspace=request.workspace,
        pk=pk,
    )


def _view_params(data) -> dict[str, str]:
    """The Inbox view and search a page or form carries (``filter``, ``q``), cleaned."""
    params = {"filter": clean_filter(data.get("filter"))}
    query = data.get("q", "").strip()[:QUERY_MAX_LENGTH]
    if query:
        params["q"] = query
    return params


def _with_params(url: str, params: dict[str, str]) -> str:
    kept = {k: v for k, v in params.items() if v and not (k == "filter" and v == "open")}
    return f"{url}?{urlencode(kept)}" if kept else url


def _detail_url(request, pk: int, params: dict[str, str]) -> str:
    return _with_params(reverse("inbox:detail", args=[request.workspace.slug, pk]), params)


def _list_url(request, params: dict[str, str]) -> str:
    return _with_params(reverse("inbox:list", args=[request.workspace.slug]), params)


def _list_context(request, params: dict[str, str], *, current: Conversation | None = None):
    """The list of one view (N3, N4) with its counts, for the list page and the list pane."""
    status, error = 200, None
    cursor = {"after": request.GET.get(AFTER) or None, "before": request.GET.get(BEFORE) or None}
    page_args = {
        "workspace": request.workspace,
        "user": request.user,
        "filter": params["filter"],
        "query": params.get("q", ""),
    }
    try:
        page = conversation_page(**page_args, **cursor)
    except InvalidCursor:
        status, error = 400, InvalidCursor.user_message
        page = conversation_page(**page_args)
    for conv in page.object_list:
        conv.url = _detail_url(request, conv.pk, params)
    return status, {
        "page": page,
        "links": page_links(page, params),
        "page_error": error,
        "filter": params["filter"],
        "query": params.get("q", ""),
        "view_params": params,
        "filters": FILTERS,
        "counts": view_counts(workspace=request.workspace, user=request.user),
        "current": current,
        "list_url": _list_url(request, params),
    }


@require_GET
@workspace_view
def inbox_list(request):
    params = _view_params(request.GET)
    status, context = _list_context(request, params)
    return render(request, "inbox/list.html", {**context, "nav": "inbox"}, status=status)


def _render_conversation(request, conversation, reply_form=None, status=200, *, mark_read=True):
    params = _view_params(request.GET if request.method == "GET" else request.POST)
    # The "New" line is where this viewer had read to before this page; then it is all read.
    thread = conversation_thread(conversation=conversation, user=request.user)
    if mark_read:
        conversation_mark_read(conversation=conversation, user=request.user)
    _, list_context = _list_context(request, params, current=conversation)
    return render(
        request,
        "inbox/detail.html",
        {
            **list_context,
            "conversation": conversation,
            "messages_list": thread.messages,
            "first_unread_id": thread.first_unread_id,
            "reply_form": reply_form or ReplyForm(),
            "assign_form": AssignForm(
                workspace=request.workspace,
                initial={"assignee": conversation.assignee_id or ""},
            ),
            "snooze_form": SnoozeForm(),
            "panels": sidebar_panels(request, conversation.contact, conversation),
            "detail_url": _detail_url(request, conversation.pk, params),
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
    """Send a reply, or with ``note`` add an internal note (N7). htmx gets the thread back (N5)."""
    conversation = _conversation(request, pk)
    params = _view_params(request.POST)
    form = ReplyForm(request.POST)
    is_note = bool(request.POST.get("note"))
    if not form.is_valid():
        if request.htmx:
            return _render_thread(request, conversation, form, status=422)
        return _render_conversation(request, conversation, reply_form=form, status=400)
    if not is_note and _held(request, conversation):
        if request.htmx:
            return _render_thread(request, conversation, form, status=409)
        return _render_conversation(request, conversation, reply_form=form, status=409)
    write = conversation_add_note if is_note else conversation_reply
    write(conversation=conversation, author=request.user, body=form.cleaned_data["body"])
    if request.htmx:
        return _render_thread(
            request, conversation, ReplyForm(), sent="note" if is_note else "reply"
        )
    messages.success(request, "Note added." if is_note else "Reply sent.")
    return redirect(_detail_url(request, conversation.pk, params))


def _render_thread(request, conversation, form, *, status=200, sent: str = ""):
    """The thread, the header and an empty (or refused) reply form: what a send changes (N5)."""
    thread = conversation_thread(conversation=conversation, user=request.user)
    return render(
        request,
        "inbox/detail.html#thread-update",
        {
            "conversation": conversation,
            "messages_list": thread.messages,
            "first_unread_id": None,
            "reply_form": form,
            "assign_form": AssignForm(
                workspace=request.workspace,
                initial={"assignee": conversation.assignee_id or ""},
            ),
            "snooze_form": SnoozeForm(),
            "view_params": _view_params(request.POST),
            "detail_url": _detail_url(request, conversation.pk, _view_params(request.POST)),
            "sent": sent,
        },
        status=status,
    )


def _held(request, conversation) -> bool:
    """N6: another app (the live Inbox) may hold a reply to a conversation that changed."""
    answers = reply_check.send(sender=Conversation, request=request, conversation=conversation)
    return any(answer for _, answer in answers)


@require_POST
@workspace_view
def conversation_status_view(request, pk: int):
    """Close or reopen. Closing moves on to the next conversation of the agent's view (N7)."""
    conversation = _conversation(request, pk)
    params = _view_params(request.POST)
    status = request.POST.get("status", "")
    if status not in Conversation.Status.values:
        messages.error(request, "Choose open or closed.")
        return redirect(_detail_url(request, conversation.pk, params))
    conversation_set_status(conversation=conversation, status=status)
    messages.success(request, f"Conversation {conversation.get_status_display().lower()}.")
    if status == Conversation.Status.CLOSED:
        return _move_on(request, conversation, params)
    return redirect(_detail_url(request, conversation.pk, params))


def _move_on(request, conversation, params):
    following = next_in_view(
        conversation=conversation,
        workspace=request.workspace,
        user=request.user,
        filter=params["filter"],
        query=params.get("q", ""),
    )
    if following is None:
        return redirect(_list_url(request, params))
    return redirect(_detail_url(request, following.pk, params))


@require_POST
@workspace_view
def conversation_assign_view(request, pk: int):
    conversation = _conversation(request, pk)
    params = _view_params(request.POST)
    form = AssignForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        messages.error(request, "Choose a member of this workspace.")
        return redirect(_detail_url(request, conversation.pk, params))
    assignee_id = form.cleaned_data["assignee"]
    assignee = None
    if assignee_id is not None:
        assignee = request.workspace.memberships.get(user_id=assignee_id).user
    conversation_assign(conversation=conversation, assignee=assignee)
    who = "you" if assignee == request.user else (assignee.display_name if assignee else "nobody")
    messages.success(request, f"Assigned to {who}.")
    return redirect(_detail_url(request, conversation.pk, params))


@require_POST
@workspace_view
def conversation_unread_view(request, pk: int):
    """Mark as unread (N2), then back to the view it came from."""
    conversation = _conversation(request, pk)
    conversation_mark_unread(conversation=conversation, user=request.user)
    messages.success(request, "Marked as unread.")
    return redirect(_list_url(request, _view_params(request.POST)))


@require_POST
@workspace_view
def conversation_snooze_view(request, pk: int):
    """Snooze until a time (N7); the conversation leaves Open, so the agent moves on."""
    conversation = _conversation(request, pk)
    params = _view_params(request.POST)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how long to snooze.")
        return redirect(_detail_url(request, conversation.pk, params))
    conversation_snooze(conversation=conversation, until=form.cleaned_data["until"])
    messages.success(request, "Conversation snoozed.")
    return _move_on(request, conversation, params)


@require_POST
@workspace_view
def conversation_wake_view(request, pk: int):
    conversation = _conversation(request, pk)
    conversation_snooze(conversation=conversation, until=None)
    messages.success(request, "Snooze ended.")
    return redirect(_detail_url(request, conversation.pk, _view_params(request.POST)))
