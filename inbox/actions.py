"""Writes on conversations: named functions with keyword-only arguments."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .models import Conversation, Message, ReadMarker
from .selectors import mentioned_members
from .signals import read_marker_changed, reply_created

# "@jane", "@jane.cooper", "@jane@acme.test": a teammate named by first name, email's local part
# or whole email (N7).


@transaction.atomic
def conversation_reply(*, conversation: Conversation, author, body: str) -> Message:
    """Add the team's reply and bump the conversation's last activity; other apps add their
    part (the webhook outbox, O6) through ``reply_created`` in the same transaction.

    A reply to a closed conversation reopens it (N7): the customer was just written to.
    """
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUT,
        body=body,
        author=author,
        created_at=now,
    )
    changes = {"last_activity_at": now}
    if conversation.status != Conversation.Status.OPEN:
        changes["status"] = Conversation.Status.OPEN
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    for field, value in changes.items():
        setattr(conversation, field, value)
    reply_created.send(sender=Message, message=message)
    conversation_mark_read(conversation=conversation, user=author)
    return message


@transaction.atomic
def conversation_add_note(*, conversation: Conversation, author, body: str) -> Message:
    """An internal note (N7): the team sees it, the customer never does (no webhook is queued).

    Teammates it mentions get the conversation marked for them until they open it.
    """
    now = timezone.now()
    note = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.NOTE,
        body=body,
        author=author,
        created_at=now,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now)
    conversation.last_activity_at = now
    for member in mentioned_members(conversation=conversation, body=body):
        if member.pk == getattr(author, "pk", None):
            continue
        _set_marker(conversation=conversation, user=member, mentioned=True)
    conversation_mark_read(conversation=conversation, user=author)
    return note


def _set_marker(*, conversation: Conversation, user, **values) -> None:
    """Write one member's marker with single statements, never read-then-write in a transaction:
    on SQLite (``make run``) a transaction that upgrades its read lock fails at once when another
    writer is waiting, and opening a conversation writes while its sidebar panels write too.

    Only a marker that changes is written and announced (``read_marker_changed``): opening a
    conversation already read is no news, so pages refreshed by the news do not announce again.
    """
    markers = ReadMarker.objects.filter(conversation=conversation, user=user)
    if not markers.exclude(**values).update(**values, updated_at=timezone.now()):
        if markers.exists():
            return  # already so
        try:
            with transaction.atomic():
                ReadMarker.objects.create(conversation=conversation, user=user, **values)
        except IntegrityError:  # a concurrent first visit made it: ours is the later word
            markers.update(**values, updated_at=timezone.now())
    read_marker_changed.send(sender=ReadMarker, conversation=conversation, user=user)


def conversation_mark_read(*, conversation: Conversation, user) -> None:
    """Everything in the conversation so far is read by ``user`` (N2: opening it)."""
    if user is None or not user.is_authenticated:
        return
    last = conversation.messages.aggregate(last=Max("pk"))["last"] or 0
    _set_marker(conversation=conversation, user=user, last_read_message_id=last, mentioned=False)


def conversation_mark_unread(*, conversation: Conversation, user) -> None:
    """Undo "read" (N2): the newest message someone else wrote is unread again."""
    newest = conversation.messages.exclude(author=user).aggregate(last=Max("pk"))["last"]
    before = 0
    if newest is not None:
        before = conversation.messages.filter(pk__lt=newest).aggregate(last=Max("pk"))["last"] or 0
    # Nothing from anyone else yet: the mark is all that can say "unread".
    _set_marker(
        conversation=conversation,
        user=user,
        last_read_message_id=before,
        mentioned=newest is None,
    )


def conversation_set_status(*, conversation: Conversation, status: str) -> Conversation:
    if status not in Conversation.Status.values:
        raise ValueError("Unknown status.")
    conversation.status = status
    # Closing or reopening ends a snooze: the conversation is where the agent just put it.
    conversation.snoozed_until = None
    conversation.save(update_fields=["status", "snoozed_until"])
    return conversation


def conversation_assign(*, conversation: Conversation, assignee) -> Conversation:
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    return conversation


def conversation_snooze(*, conversation: Conversation, until: datetime | None) -> Conversation:
    """Hide the conversation from Open until ``until`` (N7); None wakes it now.

    Nothing runs at that time: the views compare ``snoozed_until`` with the clock when read.
    """
    if until is not None and until <= timezone.now():
        raise ValueError("Snooze until a time in the future.")
    conversation.snoozed_until = until
    fields = ["snoozed_until"]
    if until is not None and conversation.status != Conversation.Status.OPEN:
        conversation.status = Conversation.Status.OPEN
        fields.append("status")
    conversation.save(update_fields=fields)
    return conversation
