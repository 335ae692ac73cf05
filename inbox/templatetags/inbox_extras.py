"""Small formatting helpers for the Inbox's triage rows."""

from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

from ..selectors import mention_handles as member_handles

register = template.Library()


@register.filter
def short_time(value) -> str:
    """ "14:05" today, "3 Dec" this year, "3 Dec 2025" before: the time column of a row (N3)."""
    if not value:
        return ""
    local, now = timezone.localtime(value), timezone.localtime()
    if local.date() == now.date():
        return date_format(local, "H:i")
    if local.year == now.year:
        return date_format(local, "j M")
    return date_format(local, "j M Y")


@register.simple_tag
def inbox_url(slug: str, view: str, query: str = "") -> str:
    """The Inbox list in ``view``, keeping the search."""
    params = {}
    if view and view != "open":
        params["filter"] = view
    if query:
        params["q"] = query
    url = reverse("inbox:list", args=[slug])
    return f"{url}?{urlencode(params)}" if params else url


@register.simple_tag(takes_context=True)
def mention_handles(context, conversation) -> list[dict[str, str]]:
    """N7: the teammates the composer suggests after "@" (inbox.js reads the hidden list)."""
    return member_handles(workspace=conversation.workspace, exclude=context["request"].user)
