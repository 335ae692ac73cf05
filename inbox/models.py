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
    # N7: hidden from Open/Mine/Unassigned until then; read as "open" again once the time has
    # passed (computed on read, so nothing has to wake it up).
    snoozed_until = models.DateTimeField(null=True, blank=True)

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
            # N3's Unassigned view: PostgreSQL does not read "assignee IS NULL" as an equality
            # that keeps the index's order, so the view gets a partial index of its own.
            models.Index(
                fields=["workspace", "status", "-last_activity_at", "-id"],
                condition=models.Q(assignee__isnull=True),
                name="conv_ws_unasg_status_act_id",
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    def is_snoozed(self, now=None) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > (now or timezone.now())


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "From the customer"
        OUT = "out", "From the team"
        # N7: an internal note: seen by the team only, never sent to the customer (no webhook).
        NOTE = "note", "Internal note"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=4, choices=Direction.choices)
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


class ReadMarker(models.Model):
    """N2: how far one member has read one conversation (no row: nothing read yet).

    Unread = the messages after ``last_read_message_id`` that someone else wrote; ``mentioned``
    (N7) marks the conversation for a member named in a teammate's note until they open it.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="read_markers"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_markers"
    )
    last_read_message_id = models.BigIntegerField(default=0)
    mentioned = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="read_marker_conv_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} to {self.last_read_message_id}"
