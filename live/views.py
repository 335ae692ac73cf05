"""The live Inbox's endpoints (issue 22, N1, N6): thin; access through workspace_view."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from workspace.access import workspace_view
from workspace.middleware import session_ends_at

from .events import auth_tag, session_tag
from .presence import announce_replying, presence_for
from .selectors import conversation_id_in_workspace
from .stream import LiveConnection


def _conversation_id(request, source) -> int | None:
    """The conversation named by ``conversation`` (404 when not this workspace's)."""
    value = source.get("conversation", "")
    if not value:
        return None
    if not value.isdigit():
        raise Http404("No such conversation.")
    conversation_id = conversation_id_in_workspace(workspace=request.workspace, pk=int(value))
    if conversation_id is None:
        raise Http404("No such conversation.")
    return conversation_id


def _release_database() -> None:
    """The stream may last hours: give its database connection back before it starts.

    Inside a transaction (the tests' atomic blocks) the connection is left alone.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


@require_GET
@workspace_view
def events(request):
    """N1: the page's one live connection (Server-Sent Events)."""
    live = LiveConnection(
        workspace_id=request.workspace.pk,
        user_id=request.user.pk,
        user_name=request.user.display_name,
        conversation_id=_conversation_id(request, request.GET),
        last_id=request.headers.get("Last-Event-ID") or request.GET.get("last") or None,
        # Access changes and the session's end close the stream without a query (stream.py).
        session_tag=session_tag(request.session.session_key),
        auth_tag=auth_tag(request.user),
        ends_at=session_ends_at(request.session),
    )
    _release_database()
    stream = live.aevents() if isinstance(request, ASGIRequest) else live.events()
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy (nginx) must pass each event at once
    return response


@require_http_methods(["GET", "POST"])
@workspace_view
def presence(request):
    """N6: GET who else is on a conversation (a fragment); POST "I am replying" (throttled by
    the page), announced to the others through the live events."""
    source = request.POST if request.method == "POST" else request.GET
    conversation_id = _conversation_id(request, source)
    if conversation_id is None:
        return HttpResponseBadRequest("Name the conversation.")
    if request.method == "POST":
        announce_replying(
            workspace_id=request.workspace.pk,
            conversation_id=conversation_id,
            user=request.user,
        )
        return HttpResponse(status=204)
    people = presence_for(
        workspace_id=request.workspace.pk, conversation_id=conversation_id, user=request.user
    )
    soonest = min((p["until"] for p in people), default=None)
    return render(
        request,
        "live/_presence.html",
        {
            "people": people,
            # The page asks again when the first line lapses (a typist who stopped).
            "refresh_in": max(1, round(soonest - time.time() + 0.5)) if soonest else 0,
            "settings_heartbeat": settings.LIVE_HEARTBEAT_SECONDS,
        },
    )
