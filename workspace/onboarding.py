"""Starting a workspace and letting people in: createworkspace (O1) and set-password links."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from .emails import email_key
from .models import Membership, Role, User, Workspace
from .site import site_url


class WorkspaceSetupError(ValueError):
    """Bad input for a new workspace; the message says what to change."""


@dataclass(frozen=True)
class NewWorkspace:
    workspace: Workspace
    owner: User
    set_password_url: str | None  # None when the owner already has a password


def set_password_url(user: User) -> str:
    """A single-use link to choose a password (Django's reset token: PASSWORD_RESET_TIMEOUT,
    3 days; it stops working once the password changes)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{site_url()}{path}"


def unique_slug(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "workspace"
    slug, n = base, 2
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner_email: str, slug: str | None = None) -> NewWorkspace:
    """A new workspace and its first Owner (an existing account, or a new one without a
    password, who then gets a set-password link)."""
    name = name.strip()
    if not name or len(name) > 120:
        raise WorkspaceSetupError("Give the workspace a name of 1 to 120 characters.")
    email = User.objects.normalize_email(owner_email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise WorkspaceSetupError(f"{owner_email!r} is not a valid email address.") from None
    if slug:
        if slug != slugify(slug) or len(slug) > 60:
            raise WorkspaceSetupError(
                "A slug is lower-case letters, digits and hyphens (at most 60), e.g. acme-support."
            )
        if Workspace.objects.filter(slug=slug).exists():
            raise WorkspaceSetupError(f"The slug {slug!r} is taken: choose another with --slug.")
    else:
        slug = unique_slug(name)
    workspace = Workspace.objects.create(name=name, slug=slug)
    owner = User.objects.filter(email_key=email_key(email)).first()
    if owner is None:
        owner = User.objects.create_user(email=email, password=None)  # unusable password
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    link = None if owner.has_usable_password() else set_password_url(owner)
    return NewWorkspace(workspace=workspace, owner=owner, set_password_url=link)
