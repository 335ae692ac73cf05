from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from core.keyset import InvalidCursor, page_links
from integrations.panels import render_panel, sidebar_panels
from integrations.registry import badges
from workspace.access import workspace_view

from .forms import ContactForm
from .models import Contact
from .phones import e164
from .selectors import contact_page, contact_total, list_params


@require_GET
@workspace_view
def contact_list(request):
    """Contacts in name order, 25 a page, keyset links (L3); the total when it is at most 1,000
    (M6: counted with a LIMIT, never the whole workspace), else "of many" (L2)."""
    params = list_params(request.GET)
    status, error = 200, None
    try:
        search, page = contact_page(workspace=request.workspace, **params)
    except InvalidCursor:
        status, error = 400, InvalidCursor.user_message
        search, page = contact_page(
            workspace=request.workspace, query=params["query"], exact_first=params["exact_first"]
        )
    # Integrations decorate exactly the contacts this page shows: they get their ids.
    ids = ",".join(str(contact.pk) for contact in page.object_list)
    badge_urls = [
        f"{reverse(badge.url_name, args=[request.workspace.slug])}?{urlencode({'ids': ids})}"
        for badge in badges()
        if badge.active(request.workspace)
    ]
    contains_url = (
        "?" + urlencode({"q": params["query"], "match": "contains"}) if search.exact else None
    )
    return render(
        request,
        "contacts/list.html",
        {
            "page": page,
            "total": contact_total(search, params["query"]),
            "links": page_links(page, request.GET),
            "q": params["query"],
            "exact": search.exact,
            "contains_url": contains_url,
            "page_error": error,
            "nav": "contacts",
            "badge_urls": badge_urls,
        },
        status=status,
    )


@require_GET
@workspace_view
def contact_detail(request, pk: int):
    contact = get_object_or_404(Contact, workspace=request.workspace, pk=pk)
    conversations = contact.conversations.order_by("-last_activity_at")[:10]
    return render(
        request,
        "contacts/detail.html",
        {
            "contact": contact,
            "phone_e164": e164(contact.phone, request.workspace.phone_region),
            "conversations": conversations,
            "panels": sidebar_panels(request, contact, exclude=("details",)),
            "nav": "contacts",
        },
    )


@require_http_methods(["GET", "POST"])
@workspace_view
def contact_create(request):
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        contact = form.save(commit=False)
        contact.workspace = request.workspace
        contact.save()
        messages.success(request, f"{contact.name} was added.")
        return redirect("contacts:detail", slug=request.workspace.slug, pk=contact.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "contacts/form.html", {"form": form, "nav": "contacts"}, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view
def contact_edit(request, pk: int):
    contact = get_object_or_404(Contact, workspace=request.workspace, pk=pk)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"{contact.name} was saved.")
        return redirect("contacts:detail", slug=request.workspace.slug, pk=contact.pk)
    if request.method == "POST":
        # The bound form mutated the instance in memory: show the stored values in the heading.
        contact.refresh_from_db()
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "contacts/form.html",
        {"form": form, "contact": contact, "nav": "contacts"},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@workspace_view
def contact_delete(request, pk: int):
    """U4: GET asks first (what will happen), POST deletes."""
    contact = get_object_or_404(Contact, workspace=request.workspace, pk=pk)
    name = contact.name
    if request.method == "GET":
        return render(
            request,
            "contacts/confirm_delete.html",
            {
                "contact": contact,
                "conversation_count": contact.conversations.count(),
                "nav": "contacts",
            },
        )
    try:
        contact.delete()
    except ProtectedError:
        # Conversations keep their contact: deleting it would lose their history.
        messages.error(
            request,
            f"{name} has conversations in the Inbox and cannot be deleted. "
            "Edit the contact instead.",
        )
        return redirect("contacts:detail", slug=request.workspace.slug, pk=pk)
    messages.success(request, f"{name} was deleted.")
    return redirect("contacts:list", slug=request.workspace.slug)


@require_GET
@workspace_view
def contact_panel(request, pk: int, panel: str):
    """One lazily loaded sidebar panel for a contact (any member)."""
    contact = get_object_or_404(Contact, workspace=request.workspace, pk=pk)
    return render_panel(request, contact, panel)
