"""Every write on the Inbox becomes a live event, after its transaction commits (issue 22, N1).

Receivers on the models' signals, so a write added anywhere (a reply, a note, an assignment, a
status change, the inbound API, the webhook worker) reaches open pages without calling this
module. Writes through ``QuerySet.update()`` send no signal: such a write must also save a
Message or Conversation, or send ``api.signals.delivery_changed`` as the webhook worker does.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from api.models import WebhookDelivery
from api.signals import delivery_changed
from inbox.models import Conversation, Message

from .bus import publish

MESSAGE = "message"
CONVERSATION = "conversation"
DELIVERY = "delivery"
PRESENCE = "presence"


def _after_commit(workspace_id: int, kind: str, **ids) -> None:
    transaction.on_commit(partial(publish, workspace_id, kind, **ids))


@receiver(post_save, sender=Message, dispatch_uid="live-message-saved")
def message_saved(sender, instance: Message, created: bool, raw: bool = False, **kwargs):
    if raw:
        return
    workspace_id = (
        Conversation.objects.filter(pk=instance.conversation_id)
        .values_list("workspace_id", flat=True)
        .first()
        if "conversation" not in instance._state.fields_cache
        else instance.conversation.workspace_id
    )
    if workspace_id is not None:
        _after_commit(
            workspace_id, MESSAGE, conversation=instance.conversation_id, message=instance.pk
        )


@receiver(post_save, sender=Conversation, dispatch_uid="live-conversation-saved")
def conversation_saved(sender, instance: Conversation, created: bool, raw: bool = False, **kw):
    if not raw:
        _after_commit(instance.workspace_id, CONVERSATION, conversation=instance.pk)


@receiver(post_delete, sender=Conversation, dispatch_uid="live-conversation-deleted")
def conversation_deleted(sender, instance: Conversation, **kwargs):
    _after_commit(instance.workspace_id, CONVERSATION, conversation=instance.pk)


@receiver(post_save, sender=WebhookDelivery, dispatch_uid="live-delivery-saved")
@receiver(delivery_changed, sender=WebhookDelivery, dispatch_uid="live-delivery-changed")
def delivery_saved(sender, delivery: WebhookDelivery | None = None, **kwargs):
    delivery = delivery or kwargs.get("instance")
    if kwargs.get("raw") or kwargs.get("created"):
        return  # a new delivery comes with its reply's message event
    conversation_id = (
        Message.objects.filter(pk=delivery.message_id).values_list("conversation_id", flat=True)
    ).first()
    if conversation_id is not None:
        _after_commit(
            delivery.workspace_id,
            DELIVERY,
            conversation=conversation_id,
            message=delivery.message_id,
        )
