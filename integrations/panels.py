"""The right sidebar: a column of panels that each load themselves (htmx, trigger ``load``)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from .registry import get_panel, panels


def sidebar_panels(
    request: HttpRequest, contact, conversation=None, *, exclude: tuple[str, ...] = ()
) -> list[dict]:
    """Placeholders for the page: each panel's title and the URL it loads itself from.

    Beside a conversation the URL names it, so a panel can offer conversation tools such as
    logging (A5). ``exclude``: panels whose content the page already shows (M6: the contact page
    lists the contact's own details, so its sidebar does not repeat them).
    """
    query = f"?conversation={conversation.pk}" if conversation is not None else ""
    return [
        {
            "key": panel.key,
            "title": panel.title,
            "url": reverse(
                "contacts:panel",
                kwargs={"slug": request.workspace.slug, "pk": contact.pk, "panel": panel.key},
            )
            + query,
        }
        for panel in panels()
        if panel.key not in exclude
    ]


def render_panel(request: HttpRequest, contact, key: str) -> HttpResponse:
    panel = get_panel(key)
    if panel is None:
        raise Http404("No such panel.")
    return panel.render(request, contact)


def render_panel_page(
    request: HttpRequest, contact, template: str, context: dict, *, title: str
) -> HttpResponse:
    """htmx gets the partial; a plain request (new tab, no JavaScript) the full page around it."""
    context = {"contact": contact, "panel_title": title, **context}
    if request.htmx:
        return render(request, template, context)
    return render(request, "integrations/panel_page.html", {"panel_template": template, **context})
