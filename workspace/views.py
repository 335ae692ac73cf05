import sys

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, InterfaceError
from django.http import HttpResponseServerError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .access import ADMIN_ROLES, OWNER_ROLES, workspace_view
from .forms import GeneralSettingsForm, RoleForm
from .middleware import database_unavailable_response
from .models import Membership
from .roles import change_role


@require_GET
@login_required
def home(request):
    """Send a signed-in person to their first workspace, or to the switcher if they have several."""
    memberships = list(Membership.objects.filter(user=request.user).select_related("workspace"))
    if len(memberships) == 1:
        return redirect("inbox:list", slug=memberships[0].workspace.slug)
    return render(request, "workspace/switcher.html", {"memberships": memberships})


@require_GET
@workspace_view
def members(request):
    memberships = request.workspace.memberships.select_related("user").order_by("user__email")
    return render(
        request,
        "workspace/members.html",
        {"memberships": memberships, "role_form": RoleForm(), "settings_tab": "members"},
    )


@require_http_methods(["GET", "POST"])
@workspace_view(roles=ADMIN_ROLES)
def general(request):
    """Settings › General (P1): the workspace's default country for phone numbers."""
    form = GeneralSettingsForm(request.POST or None, instance=request.workspace)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("workspace:general", slug=request.workspace.slug)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "workspace/general.html",
        {"form": form, "settings_tab": "general", "nav": "settings"},
        status=status,
    )


@require_POST
@workspace_view(roles=OWNER_ROLES)
def member_role(request, pk: int):
    membership = get_object_or_404(Membership, workspace=request.workspace, pk=pk)
    form = RoleForm(request.POST, instance=membership)
    if not form.is_valid():
        messages.error(request, "Choose Owner, Manager or Agent.")
        return redirect("workspace:members", slug=request.workspace.slug)
    try:
        change_role(membership=membership, role=form.cleaned_data["role"])
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.display_name} is now {membership.role}.")
    return redirect("workspace:members", slug=request.workspace.slug)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def permission_denied(request, exception=None):
    return render(request, "errors/403.html", {"reason": str(exception or "")}, status=403)


def server_error(request):
    # Rendered without the request: context processors may need the database, which may be the
    # very thing that failed (a session saved by middleware, outside the views, for instance).
    if isinstance(sys.exc_info()[1], (DatabaseError, InterfaceError)):
        return database_unavailable_response()
    return HttpResponseServerError(render_to_string("errors/500.html"))
