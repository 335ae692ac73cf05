"""Reads for the live Inbox."""

from __future__ import annotations

from inbox.models import Conversation, Message


def conversation_id_in_workspace(*, workspace, pk: int) -> int | None:
    return (
        Conversation.objects.filter(workspace=workspace, pk=pk).values_list("pk", flat=True).first()
    )


def last_message_id(*, conversation) -> int:
    return (
        Message.objects.filter(conversation=conversation)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    ) or 0


def messages_after(*, conversation, message_id: int, exclude_author=None) -> list[Message]:
    """Messages of the conversation newer than ``message_id`` (by id: ids only grow)."""
    found = Message.objects.filter(conversation=conversation, pk__gt=message_id)
    if exclude_author is not None:
        found = found.exclude(author=exclude_author)
    return list(found.select_related("author").order_by("pk"))
