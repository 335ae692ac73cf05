from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .emails import email_key


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address and a password."""

    email = models.EmailField("email address", unique=True)
    # H1: the email's identity (workspace.emails.email_key), kept in step by save(); "is this
    # address someone's account" is asked of this column, never of email__iexact.
    email_key = models.TextField(blank=True, default="", editable=False, db_index=True)
    full_name = models.CharField(max_length=150, blank=True)
    # M3: the person's own time zone for the dates they read; blank follows the workspace's.
    time_zone = models.CharField(
        max_length=64, blank=True, default="", validators=[validate_time_zone]
    )
    # M3: raised to end every signed-in session of this person at once (see session hash below).
    session_epoch = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        self.email_key = email_key(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo | None:
        return zoneinfo.ZoneInfo(self.time_zone) if self.time_zone else None

    # M3: Django signs each session with an HMAC of the password hash and signs the person out
    # when it no longer matches; the epoch joins it, so raising it ends every session at its next
    # request, whatever the session backend. Epoch 0 keeps Django's own value: existing sessions
    # stay valid when this code is deployed.
    _SESSION_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"

    def _session_hash(self, secret=None) -> str:
        value = self.password if not self.session_epoch else f"{self.password}:{self.session_epoch}"
        return salted_hmac(self._SESSION_SALT, value, secret=secret, algorithm="sha256").hexdigest()

    def get_session_auth_hash(self) -> str:
        return self._session_hash()

    def get_session_auth_fallback_hash(self):
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret=fallback_secret)


def validate_region(value: str) -> None:
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{value!r} is not a country code such as US, GB or DE.")


class Workspace(models.Model):
    """One company's space: everything else belongs to exactly one workspace (W2)."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # P1: how national numbers (no country code) are read, e.g. "(415) 555-0123" in "US".
    phone_region = models.CharField(
        "default country for phone numbers",
        max_length=2,
        default="US",
        validators=[validate_region],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    AGENT = "agent", "Agent"


# The roles that may manage (W3, S1) and the Owner-only actions. Views check them only through
# workspace.access, which re-exports them; they live here so that models need not import access.
ADMIN_ROLES = frozenset({Role.OWNER, Role.MANAGER})
OWNER_ROLES = frozenset({Role.OWNER})


class Membership(models.Model):
    """A person's one role in one workspace (W1)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="one_membership_per_user")
        ]
        ordering = ["workspace__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        """Owners and Managers manage integrations (W3)."""
        return self.role in ADMIN_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


class Invitation(models.Model):
    """An invitation to join a workspace with a role (O2): the emailed link is signed, carries a
    nonce that a resend replaces, and works once, for INVITATION_MAX_AGE (7 days) after sending."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    nonce = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace} ({self.get_role_display()})"

    @property
    def expires_at(self):
        return self.sent_at + timedelta(seconds=settings.INVITATION_MAX_AGE)

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and not self.is_expired


class WorkspaceEvent(models.Model):
    """The members audit trail: invitations sent, resent, revoked and accepted (O2); roles
    changed and members removed (M3)."""

    class Kind(models.TextChoices):
        INVITED = "invited", "Invited"
        RESENT = "resent", "Invitation resent"
        REVOKED = "revoked", "Invitation revoked"
        JOINED = "joined", "Joined"
        ROLE_CHANGED = "role_changed", "Role changed"
        REMOVED = "removed", "Member removed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail}"
