"""The built-in contact-details panel: proves the lazy sidebar works with no integration."""

from workspace.emails import mailto_url

from .panels import render_panel_page
from .registry import SidebarPanel, register_panel


def render_contact_details(request, contact):
    open_conversations = contact.conversations.filter(status="open").count()
    return render_panel_page(
        request,
        contact,
        "integrations/panels/contact_details.html",
        {"open_conversations": open_conversations, "mailto": mailto_url(contact.email)},
        title="Contact",
    )


register_panel(SidebarPanel(key="details", title="Contact", order=0, render=render_contact_details))
