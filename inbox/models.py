from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import Contact
from workspace.models import Workspace


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="conversations")
    # PROTECT: deleting a contact must never silently delete its conversation history.
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    subject = models.CharField(max_length=200)
    # Where the customer wrote from (the inbound API's `channel`: whatsapp, email, ...); '' = none.
    channel = models.CharField(max_length=32, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
    )
    # A6: set after arrival when the contact's Salesforce record carries the admin's priority value.
    priority = models.BooleanField(default=False)
    last_activity_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        # One index per Inbox filter, in the list's exact order, so a page is an index range (L4):
        # open/closed, mine (assignee + open), all.
        indexes = [
            models.Index(
                fields=["workspace", "status", "-last_activity_at", "-id"],
                name="conv_ws_status_act_id",
            ),
            models.Index(
                fields=["workspace", "assignee", "status", "-last_activity_at", "-id"],
                name="conv_ws_asg_status_act_id",
            ),
            models.Index(fields=["workspace", "-last_activity_at", "-id"], name="conv_ws_act_id"),
        ]

    def __str__(self) -> str:
        return self.subject


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "From the customer"
        OUT = "out", "From the team"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    body = models.TextField(max_length=20000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="msg_conv_created")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.body[:40]}"
