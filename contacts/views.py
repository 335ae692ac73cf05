from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.panels import render_panel, sidebar_panels
from integrations.registry import badges
from workspace.access import workspace_view

from .forms import ContactForm
from .models import Contact
from .phones import e164
from .selectors import contact_search

PAGE_SIZE = 25


@require_GET
@workspace_view
def contact_list(request):
    query = request.GET.get("q", "")[:200]
    page = Paginator(contact_search(workspace=request.workspace, query=query), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    # Integrations decorate exactly the contacts this page shows: they get their ids.
    ids = ",".join(str(contact.pk) for contact in page.object_list)
    badge_urls = [
        f"{reverse(badge.url_name, args=[request.workspace.slug])}?{urlencode({'ids': ids})}"
        for badge in badges()
    ]
    return render(
        request,
        "contacts/list.html",
        {"page": page, "q": query, "nav": "contacts", "badge_urls": badge_urls},
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
            "panels": sidebar_panels(request, contact),
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


@require_POST
@workspace_view
def contact_delete(request, pk: int):
    contact = get_object_or_404(Contact, workspace=request.workspace, pk=pk)
    name = contact.name
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
