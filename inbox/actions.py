"""Writes on conversations: named functions with keyword-only arguments."""

from django.db import transaction
from django.utils import timezone

from .models import Conversation, Message
from .signals import reply_created


@transaction.atomic
def conversation_reply(*, conversation: Conversation, author, body: str) -> Message:
    """Add the team's reply and bump the conversation's last activity; other apps add their
    part (the webhook outbox, O6) through ``reply_created`` in the same transaction."""
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUT,
        body=body,
        author=author,
        created_at=now,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now)
    conversation.last_activity_at = now
    reply_created.send(sender=Message, message=message)
    return message


def conversation_set_status(*, conversation: Conversation, status: str) -> Conversation:
    if status not in Conversation.Status.values:
        raise ValueError("Unknown status.")
    conversation.status = status
    conversation.save(update_fields=["status"])
    return conversation


def conversation_assign(*, conversation: Conversation, assignee) -> Conversation:
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    return conversation
