"""Template tags that put the live Inbox on a page (issue 22, N1, N6)."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse

from ..guard import FIELD
from ..selectors import last_message_id

register = template.Library()


@register.inclusion_tag("live/_connect.html", takes_context=True)
def live_inbox(context, conversation=None):
    """N1: the page's live connection; ``conversation`` for a conversation page (presence)."""
    request = context["request"]
    slug = request.workspace.slug
    events = reverse("live:events", args=[slug])
    refresh = request.get_full_path() if request.method == "GET" else ""
    if conversation is not None:
        events += f"?conversation={conversation.pk}"
        if not refresh:
            refresh = reverse("inbox:detail", args=[slug, conversation.pk])
    return {
        "events_url": events,
        "refresh_url": refresh or reverse("inbox:list", args=[slug]),
        "presence_url": reverse("live:presence", args=[slug]) if conversation else "",
        "conversation": conversation,
        "throttle_ms": int(settings.LIVE_REPLYING_SECONDS * 1000 / 2),
    }


@register.inclusion_tag("live/_guard.html", takes_context=True)
def live_reply_guard(context, conversation):
    """N6: inside the reply form, the newest message shown, and the notice when a reply was
    held back because the conversation changed."""
    request = context["request"]
    return {
        "field": FIELD,
        "last_seen": last_message_id(conversation=conversation),
        "unseen": getattr(request, "live_unseen", None) or [],
        "conversation": conversation,
    }
