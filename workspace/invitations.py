"""Invitations (O2): invite, resend, revoke, accept; every step in the members audit trail."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .emails import email_key
from .models import Invitation, Membership, Role, User, Workspace, WorkspaceEvent
from .site import site_url

SALT = "workspace.invitation"


class InvitationError(ValueError):
    """Something the person can act on; the message says what."""


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=SALT, compress=True)


def invitation_url(invitation: Invitation, base_url: str | None = None) -> str:
    """The emailed link: on ``base_url`` (the view's ``site_url(request)``), else SITE_URL."""
    path = reverse("invitation_accept", kwargs={"token": invitation_token(invitation)})
    return f"{(base_url or site_url()).rstrip('/')}{path}"


def invitation_from_token(token: str) -> Invitation | None:
    """The pending invitation the link names, or None (tampered, expired, resent, used, revoked)."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.INVITATION_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(data, dict):
        return None
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(pk=data.get("i"), nonce=data.get("n"))
        .first()
    )
    if invitation is None or not invitation.is_pending:
        return None
    return invitation


def _send(invitation: Invitation, base_url: str | None) -> None:
    context = {
        "invitation": invitation,
        "url": invitation_url(invitation, base_url),
        "days": settings.INVITATION_MAX_AGE // 86400,
    }
    send_mail(
        subject=f"You are invited to {invitation.workspace.name} on Team Inbox",
        message=render_to_string("workspace/invitation_email.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def _audit(workspace: Workspace, kind: str, actor, detail: str) -> None:
    WorkspaceEvent.objects.create(workspace=workspace, kind=kind, actor=actor, detail=detail)


def invitation_create(
    *, workspace: Workspace, email: str, role: str, invited_by, base_url: str | None = None
) -> Invitation:
    """Invite ``email`` with ``role`` and email the link (only Owners may invite Owners)."""
    email = email.strip().lower()
    if role not in Role.values:
        raise InvitationError("Choose Owner, Manager or Agent.")
    inviter = Membership.objects.filter(workspace=workspace, user=invited_by).first()
    if role == Role.OWNER and (inviter is None or inviter.role != Role.OWNER):
        raise InvitationError("Only Owners may invite Owners.")
    if Membership.objects.filter(workspace=workspace, user__email_key=email_key(email)).exists():
        raise InvitationError(f"{email} is already a member of this workspace.")
    pending = Invitation.objects.filter(
        workspace=workspace, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).first()
    if pending is not None and pending.is_pending:
        raise InvitationError(f"{email} is already invited: resend that invitation instead.")
    try:
        with transaction.atomic():
            if pending is not None:  # expired: make way for the new one
                pending.revoked_at = timezone.now()
                pending.save(update_fields=["revoked_at"])
            invitation = Invitation.objects.create(
                workspace=workspace,
                email=email,
                role=role,
                invited_by=invited_by,
                nonce=secrets.token_hex(16),
            )
            _audit(workspace, WorkspaceEvent.Kind.INVITED, invited_by, f"{email} as {role}")
    except IntegrityError:
        raise InvitationError(f"{email} is already invited.") from None
    _send(invitation, base_url)
    return invitation


def invitation_resend(*, invitation: Invitation, actor, base_url: str | None = None) -> Invitation:
    """A fresh link (the old one stops working) and a new 7 days."""
    if invitation.accepted_at or invitation.revoked_at:
        raise InvitationError("That invitation was already accepted or revoked.")
    invitation.nonce = secrets.token_hex(16)
    invitation.sent_at = timezone.now()
    invitation.save(update_fields=["nonce", "sent_at"])
    _audit(invitation.workspace, WorkspaceEvent.Kind.RESENT, actor, invitation.email)
    _send(invitation, base_url)
    return invitation


def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    """Revoke a pending invitation; an Owner's invitation only by an Owner (H7)."""
    if (
        invitation.role == Role.OWNER
        and not Membership.objects.filter(
            workspace=invitation.workspace, user=actor, role=Role.OWNER
        ).exists()
    ):
        raise InvitationError("Only Owners may revoke Owners' invitations.")
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        _audit(invitation.workspace, WorkspaceEvent.Kind.REVOKED, actor, invitation.email)
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Add ``user`` (whose email is the invited one) to the workspace, once."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.is_pending or locked.nonce != invitation.nonce:
        raise InvitationError("This invitation link is no longer valid.")
    if email_key(user.email) != email_key(locked.email):
        raise InvitationError(f"This invitation is for {locked.email}.")
    membership, _ = Membership.objects.get_or_create(
        workspace=locked.workspace, user=user, defaults={"role": locked.role}
    )
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    _audit(locked.workspace, WorkspaceEvent.Kind.JOINED, user, f"{user.email} as {locked.role}")
    return membership


@transaction.atomic
def invitation_accept_new_account(*, invitation: Invitation, full_name: str, password: str) -> User:
    """Create the invited person's account with their chosen password, then accept."""
    if User.objects.filter(email_key=email_key(invitation.email)).exists():
        raise InvitationError("An account with this email exists: sign in to accept.")
    user = User.objects.create_user(
        email=invitation.email, password=password, full_name=full_name.strip()
    )
    invitation_accept(invitation=invitation, user=user)
    return user
