"""Inbound customer messages (O5): find or create the contact, append to the open conversation
on that channel (or open one), exactly once per ``external_id``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.models import Contact
from inbox.models import Conversation, Message
from workspace.emails import email_key
from workspace.models import Workspace

from .models import ApiKey, InboundMessage

SUBJECT_LENGTH = 80


@dataclass(frozen=True)
class Sender:
    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class InboundResult:
    external_id: str
    message_id: int
    conversation_id: int
    contact_id: int
    created: bool  # False: a repeat of an external_id already stored (nothing new written)

    def as_json(self) -> dict:
        return {
            "external_id": self.external_id,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "contact_id": self.contact_id,
        }


def contact_for_sender(*, workspace: Workspace, sender: Sender) -> Contact | None:
    """The workspace's contact with this email (the same identity: workspace.emails) or, failing
    that, this exact phone; the oldest one where several match."""
    contacts = Contact.objects.filter(workspace=workspace).order_by("id")
    if sender.email:
        found = contacts.filter(email_key=email_key(sender.email)).first()
        if found is not None:
            return found
    if sender.phone:
        return contacts.filter(phone=sender.phone).first()
    return None


def _identities(sender: Sender) -> list[str]:
    names = []
    if sender.email:
        names.append(f"email:{email_key(sender.email)}")
    if sender.phone:
        names.append(f"phone:{sender.phone}")
    return names


def _lock(workspace: Workspace, *names: str) -> None:
    """Transaction-scoped PostgreSQL advisory locks, taken in a fixed order (no deadlock).

    Other databases serialise writers anyway (SQLite: one write transaction at a time).
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        int.from_bytes(
            hashlib.blake2b(f"inbound:{workspace.pk}:{name}".encode(), digest_size=8).digest(),
            "big",
            signed=True,
        )
        for name in names
    )
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _subject(text: str) -> str:
    first_line = text.strip().splitlines()[0].rstrip() if text.strip() else ""
    if len(first_line) > SUBJECT_LENGTH:
        return first_line[: SUBJECT_LENGTH - 1].rstrip() + "…"
    return first_line or "(no text)"


def _result(receipt: InboundMessage, *, created: bool) -> InboundResult:
    message = receipt.message
    return InboundResult(
        external_id=receipt.external_id,
        message_id=message.pk,
        conversation_id=message.conversation_id,
        contact_id=message.conversation.contact_id,
        created=created,
    )


def receive_message(
    *,
    workspace: Workspace,
    api_key: ApiKey | None,
    external_id: str,
    channel: str,
    sender: Sender,
    text: str,
    sent_at: datetime | None,
) -> InboundResult:
    """Store one customer message, or return the stored one for a repeated ``external_id``."""
    try:
        with transaction.atomic():
            # The receipt first: a concurrent repeat blocks on the unique key until this commits,
            # then fails and is answered from this receipt. On SQLite this write also takes the
            # database's write lock at once, before any read (no lock upgrade to deadlock on).
            receipt = InboundMessage.objects.create(
                workspace=workspace, external_id=external_id, channel=channel, api_key=api_key
            )
            # Find-or-create under locks on the sender's identifiers, then on the contact: two
            # first messages from one new customer make one contact and one conversation, while
            # different customers are stored in parallel.
            _lock(workspace, *_identities(sender))
            now = timezone.now()
            contact = contact_for_sender(workspace=workspace, sender=sender)
            if contact is None:
                contact = Contact.objects.create(
                    workspace=workspace,
                    name=(sender.name or sender.email or sender.phone)[:200],
                    email=sender.email,
                    phone=sender.phone,
                )
            _lock(workspace, f"contact:{contact.pk}")
            conversation = (
                Conversation.objects.filter(
                    workspace=workspace,
                    contact=contact,
                    channel=channel,
                )
                # N7: the newest thread on this channel, closed or not: a closed one reopens.
                .order_by("-last_activity_at", "-id")
                .first()
            )
            if conversation is None:
                conversation = Conversation.objects.create(
                    workspace=workspace,
                    contact=contact,
                    channel=channel,
                    subject=_subject(text),
                    last_activity_at=now,
                )
            else:
                Conversation.objects.filter(pk=conversation.pk).update(
                    last_activity_at=now, status=Conversation.Status.OPEN, snoozed_until=None
                )
            message = Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.IN,
                body=text,
                created_at=sent_at or now,
            )
            receipt.message = message
            receipt.save(update_fields=["message"])
    except IntegrityError:
        receipt = (
            InboundMessage.objects.select_related("message__conversation")
            .filter(workspace=workspace, external_id=external_id, message__isnull=False)
            .first()
        )
        if receipt is None:
            raise
        return _result(receipt, created=False)
    return _result(receipt, created=True)
