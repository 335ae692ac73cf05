"""The one place that decides "may this person do this here" (W2, W3, S1).

Every workspace view is wrapped by :func:`workspace_view`. It resolves the workspace from the
URL's ``slug`` and the signed-in person's membership:

- not signed in: redirect to sign-in;
- not a member (or no such workspace): 404, so nobody learns another workspace exists;
- member without the required role: 403.

The view receives ``request.workspace`` and ``request.membership``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from .models import ADMIN_ROLES, OWNER_ROLES, Membership, Role

__all__ = [
    "ADMIN_ROLES",
    "OWNER_ROLES",
    "get_membership",
    "may_manage_member",
    "workspace_view",
]


def may_manage_member(actor: Membership, target: Membership, *, role: str | None = None) -> bool:
    """M3: Owners change anyone's role and remove anyone; Managers only Agents, and may make an
    Agent a Manager but not an Owner (as when inviting). The last-Owner rule is roles.py's."""
    if actor.workspace_id != target.workspace_id:
        return False
    if actor.role == Role.OWNER:
        return True
    if actor.role == Role.MANAGER:
        return target.role == Role.AGENT and role in (None, Role.AGENT, Role.MANAGER)
    return False


def get_membership(user, slug: str) -> Membership:
    """The user's membership in the workspace named by ``slug``, or 404."""
    if not user.is_authenticated:
        raise Http404("No such workspace.")
    membership = (
        Membership.objects.select_related("workspace", "user")
        .filter(user=user, workspace__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def workspace_view(
    view: Callable | None = None, *, roles: frozenset[str] | None = None
) -> Callable:
    """Decorate a view taking ``slug``: membership required (else 404), ``roles`` (else 403)."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = get_membership(request.user, slug)
            if roles is not None and membership.role not in roles:
                raise PermissionDenied("Your role in this workspace does not allow this.")
            request.membership = membership
            request.workspace = membership.workspace
            # Dates on workspace pages read in the person's time zone if they chose one (M3),
            # else in the workspace's own.
            timezone.activate(request.user.tzinfo or membership.workspace.tzinfo)
            try:
                return func(request, *args, **kwargs)
            finally:
                timezone.deactivate()

        wrapper.workspace_roles = roles  # read by the access-control sweep test
        return wrapper

    if view is not None:
        return decorator(view)
    return decorator
