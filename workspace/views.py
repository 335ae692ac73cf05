import hashlib
import logging
import sys

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError
from django.http import HttpResponseRedirect, HttpResponseServerError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.cache import count_in_window

from .access import ADMIN_ROLES, may_manage_member, workspace_view
from .emails import email_key
from .forms import (
    AcceptInvitationForm,
    EmailAuthenticationForm,
    GeneralSettingsForm,
    InboxPasswordChangeForm,
    InboxPasswordResetForm,
    InviteForm,
    NameForm,
    ProfileForm,
    RoleForm,
)
from .invitations import (
    InvitationError,
    invitation_accept,
    invitation_accept_new_account,
    invitation_create,
    invitation_from_token,
    invitation_resend,
    invitation_revoke,
)
from .middleware import database_unavailable_response
from .models import Invitation, Membership, Role, User, WorkspaceEvent
from .roles import MembershipError, change_role, member_remove
from .site import site_url

logger = logging.getLogger(__name__)


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
    return _members_page(request)


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


def _member(request, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), workspace=request.workspace, pk=pk
    )


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def member_role(request, pk: int):
    """M3: Owners change anyone's role; Managers an Agent's (to Agent or Manager). Audited."""
    membership = _member(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Owner, Manager or Agent.")
        return redirect("workspace:members", slug=request.workspace.slug)
    role = form.cleaned_data["role"]
    if not may_manage_member(request.membership, membership, role=role):
        raise PermissionDenied("Managers change Agents' roles only, and make no Owners.")
    try:
        change_role(membership=membership, role=role, actor=request.user)
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{membership.user.display_name} is now {membership.get_role_display()}."
        )
    return redirect("workspace:members", slug=request.workspace.slug)


@require_http_methods(["GET", "POST"])
@workspace_view(roles=ADMIN_ROLES)
def member_remove_view(request, pk: int):
    """M3: GET asks first and says what will happen; the POST removes and ends their sessions."""
    membership = _member(request, pk)
    if not may_manage_member(request.membership, membership):
        raise PermissionDenied("Managers remove Agents only.")
    if request.method == "GET":
        return render(
            request,
            "workspace/confirm_remove_member.html",
            {"member": membership, "nav": "settings", "settings_tab": "members"},
        )
    try:
        member_remove(membership=membership, actor=request.user)
    except MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("workspace:members", slug=request.workspace.slug)
    if membership.user_id == request.user.pk:
        return redirect("workspace:login")  # they removed themselves: signed out just now
    messages.success(
        request,
        f"{membership.user.display_name} was removed from {request.workspace.name} and signed out.",
    )
    return redirect("workspace:members", slug=request.workspace.slug)


# --- Profile (M3) ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view
def profile(request):
    """Every person's own page: name and time zone; password change (the current one first)."""
    user = request.user
    which = request.POST.get("form") if request.method == "POST" else None
    profile_form = ProfileForm(
        request.POST if which == "profile" else None, instance=user, workspace=request.workspace
    )
    password_form = InboxPasswordChangeForm(user, request.POST if which == "password" else None)
    if which == "profile" and profile_form.is_valid():
        profile_form.save()
        messages.success(request, "Profile saved.")
        return redirect("workspace:profile", slug=request.workspace.slug)
    if which == "password" and password_form.is_valid():
        password_form.save()
        # This session stays signed in; every other one ends (the password hash changed).
        update_session_auth_hash(request, password_form.user)
        messages.success(request, "Password changed. Other devices are signed out.")
        return redirect("workspace:profile", slug=request.workspace.slug)
    return render(
        request,
        "workspace/profile.html",
        {"profile_form": profile_form, "password_form": password_form, "nav": "profile"},
        status=400 if which else 200,
    )


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class SignInView(auth_views.LoginView):
    """Django's sign-in; M3: a person without a name is asked for one first."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_success_url(self):
        url = super().get_success_url()
        if not self.request.user.full_name.strip():
            return reverse("workspace:welcome") + "?" + urlencode({"next": url})
        return url


@require_http_methods(["GET", "POST"])
@login_required
def welcome(request):
    """M3: a member without a name gives one before anything else (shown once: then skipped)."""
    next_url = _safe_next(request, reverse("workspace:home"))
    if request.user.full_name.strip():
        return redirect(next_url)
    form = NameForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Welcome, {request.user.full_name}.")
        return redirect(next_url)
    return render(
        request,
        "workspace/welcome.html",
        {"form": form, "next": next_url},
        status=400 if request.method == "POST" else 200,
    )


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


# --- Invitations (O2) -----------------------------------------------------------------------


def _members_page(request, *, invite_form=None, status=200):
    workspace = request.workspace
    memberships = workspace.memberships.select_related("user").order_by("user__email")
    actor = request.membership
    # M3: which rows this person may change, and to which roles (Managers: Agent or Manager).
    role_choices = [c for c in Role.choices if actor.is_owner or c[0] in (Role.AGENT, Role.MANAGER)]
    rows = [(m, may_manage_member(actor, m)) for m in memberships]
    invitations = [
        i
        for i in Invitation.objects.filter(
            workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
        ).select_related("invited_by")
    ]
    return render(
        request,
        "workspace/members.html",
        {
            "rows": rows,
            "role_choices": role_choices,
            "invite_form": invite_form or InviteForm(membership=request.membership),
            "invitations": invitations,
            "events": WorkspaceEvent.objects.filter(workspace=workspace).select_related("actor")[
                :20
            ],
            "settings_tab": "members",
            "nav": "settings",
        },
        status=status,
    )


def _base_url(request) -> str:
    return site_url(request)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def invite(request):
    form = InviteForm(request.POST, membership=request.membership)
    if not form.is_valid():
        return _members_page(request, invite_form=form, status=400)
    try:
        invitation = invitation_create(
            workspace=request.workspace,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            base_url=_base_url(request),
        )
    except InvitationError as exc:
        form.add_error("email", str(exc))
        return _members_page(request, invite_form=form, status=400)
    except OSError:  # smtplib's errors are OSErrors
        logger.exception("Invitation email not sent")
        messages.error(
            request, "The invitation is saved but its email could not be sent: resend it."
        )
        return redirect("workspace:members", slug=request.workspace.slug)
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("workspace:members", slug=request.workspace.slug)


def _invitation(request, pk: int) -> Invitation:
    return get_object_or_404(Invitation, workspace=request.workspace, pk=pk)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def invitation_resend_view(request, pk: int):
    invitation = _invitation(request, pk)
    if invitation.role == Role.OWNER and not request.membership.is_owner:
        raise PermissionDenied("Only Owners may invite Owners.")
    try:
        invitation_resend(invitation=invitation, actor=request.user, base_url=_base_url(request))
    except InvitationError as exc:
        messages.error(request, str(exc))
    except OSError:
        logger.exception("Invitation email not sent")
        messages.error(request, "The email could not be sent: try again later.")
    else:
        messages.success(request, f"Invitation to {invitation.email} sent again (new link).")
    return redirect("workspace:members", slug=request.workspace.slug)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def invitation_revoke_view(request, pk: int):
    invitation = _invitation(request, pk)
    if invitation.role == Role.OWNER and not request.membership.is_owner:
        raise PermissionDenied("Only Owners may revoke Owners' invitations.")  # H7
    invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect("workspace:members", slug=request.workspace.slug)


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request, token: str):
    """The emailed link: a new person chooses a password; an existing one joins after sign-in."""
    invitation = invitation_from_token(token)
    if invitation is None:
        return render(request, "workspace/invitation_invalid.html", status=404)
    has_account = User.objects.filter(email_key=email_key(invitation.email)).exists()
    context = {"invitation": invitation, "has_account": has_account}
    if has_account:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if email_key(request.user.email) != email_key(invitation.email):
            context["wrong_user"] = True
            return render(request, "workspace/invitation_accept.html", context, status=403)
        if request.method == "POST":
            try:
                invitation_accept(invitation=invitation, user=request.user)
            except InvitationError as exc:
                messages.error(request, str(exc))
                return render(request, "workspace/invitation_invalid.html", status=404)
            messages.success(request, f"Welcome to {invitation.workspace.name}.")
            return redirect("inbox:list", slug=invitation.workspace.slug)
        return render(request, "workspace/invitation_accept.html", context)
    form = AcceptInvitationForm(
        User(email=invitation.email), request.POST if request.method == "POST" else None
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept_new_account(
                invitation=invitation,
                full_name=form.cleaned_data.get("full_name", ""),
                password=form.cleaned_data["new_password1"],
            )
        except InvitationError as exc:
            messages.error(request, str(exc))
            return render(request, "workspace/invitation_invalid.html", status=404)
        auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to {invitation.workspace.name}.")
        return redirect("inbox:list", slug=invitation.workspace.slug)
    context["form"] = form
    return render(
        request,
        "workspace/invitation_accept.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


# --- Password reset (O3): Django's views, throttled -----------------------------------------


class ThrottledPasswordResetView(auth_views.PasswordResetView):
    """Django's reset view: the same answer whether or not the address has an account; at most
    PASSWORD_RESET_RATE_PER_HOUR requests per client address and 3 emails per address an hour."""

    form_class = InboxPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    EMAILS_PER_ADDRESS_PER_HOUR = 3

    def form_valid(self, form):
        ip = self.request.META.get("REMOTE_ADDR", "")
        if not _count_within_hour(f"pwreset-ip:{ip}", settings.PASSWORD_RESET_RATE_PER_HOUR):
            response = render(
                self.request, "registration/password_reset_throttled.html", status=429
            )
            response["Retry-After"] = "3600"
            return response
        # H3: the reset link starts with SITE_URL, not the Host header (the template's site_url).
        self.extra_email_context = {"site_url": site_url(self.request)}
        email = form.cleaned_data["email"].strip().lower()
        digest = hashlib.sha256(email.encode()).hexdigest()
        if not _count_within_hour(f"pwreset-email:{digest}", self.EMAILS_PER_ADDRESS_PER_HOUR):
            # Silently skip the email: the page must not tell whether the address is known.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


def _count_within_hour(key: str, limit: int) -> bool:
    """Count one more for ``key`` in this hour's window; False once over ``limit``."""
    count, _ = count_in_window(key, seconds=3600)
    return count is None or count <= limit  # a cache outage does not stop password resets
