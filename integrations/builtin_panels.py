"""The built-in contact-details panel: proves the lazy sidebar works with no integration."""

from django.shortcuts import render

from .registry import SidebarPanel, register_panel


def render_contact_details(request, contact):
    template = "integrations/panels/contact_details.html"
    context = {
        "contact": contact,
        "open_conversations": contact.conversations.filter(status="open").count(),
        "panel_title": "Contact",
    }
    if not request.htmx:
        context = {"panel_template": template, **context}
        template = "integrations/panel_page.html"
    return render(request, template, context)


register_panel(SidebarPanel(key="details", title="Contact", order=0, render=render_contact_details))
