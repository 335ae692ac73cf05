"""Workspace API keys, inbound-message receipts (idempotency), webhook endpoints and deliveries."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.encryption import EncryptedTextField
from workspace.models import Workspace


class ApiKey(models.Model):
    """A named key for the inbound API (O4): only its SHA-256 hash and its prefix are stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def display_prefix(self) -> str:
        return f"tik_{self.prefix}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class InboundMessage(models.Model):
    """The receipt of one inbound message: its ``external_id`` is unique per workspace (O5).

    Written first in the same transaction as the message, so a repeat (even a concurrent one)
    hits the unique constraint and is answered from the first one's receipt.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=32)
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, related_name="+")
    message = models.OneToOneField(
        "inbox.Message",
        on_delete=models.CASCADE,
        null=True,
        related_name="inbound_receipt",
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], name="inbound_external_id_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


class WebhookEndpoint(models.Model):
    """Where a workspace's agent replies are POSTed (O6); the signing secret is encrypted."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoint"
    )
    url = models.URLField(max_length=500)
    secret = EncryptedTextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One agent reply to deliver (the outbox row), written with the reply in one transaction."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(
        "inbox.Message", on_delete=models.CASCADE, related_name="webhook_delivery"
    )
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Retries stop after this moment (24 h after the reply, or after a manual retry).
    give_up_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # V3: the web request that wrote the reply; sent as X-Request-ID and on the worker's lines.
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.id} {self.status}"

    @property
    def is_retrying(self) -> bool:
        return self.status == self.Status.PENDING and self.attempts > 0

    @property
    def state_label(self) -> str:
        if self.is_retrying:
            return "Retrying"
        return self.get_status_display()
