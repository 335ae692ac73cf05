"""Every write on the Inbox becomes a live event, after its transaction commits (issue 22, N1).

Two kinds go to one member's own connections only (``to``: the user's id; the stream drops them
for everyone else): ``read`` when their read marker changed (N2: their other tabs' unread state
follows), and ``access`` when their access changed (removed from the workspace, another role,
sessions ended, signed out, password changed, deactivated): the stream closes, and the
browser's reconnect meets the pages' own checks (N1: 404, or sign in again).

Receivers on the models' signals, so a write added anywhere (a reply, a note, an assignment, a
status change, the inbound API, the webhook worker) reaches open pages without calling this
module. Writes through ``QuerySet.update()`` send no signal: such a write must also save a
Message or Conversation, or send ``api.signals.delivery_changed`` as the webhook worker does.
"""

from __future__ import annotations

from functools import partial

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.crypto import salted_hmac

from api.models import WebhookDelivery
from api.signals import delivery_changed
from inbox.models import Conversation, Message, ReadMarker
from inbox.signals import read_marker_changed
from workspace.models import Membership, User
from workspace.signals import sessions_ended

from .bus import publish

MESSAGE = "message"
CONVERSATION = "conversation"
DELIVERY = "delivery"
PRESENCE = "presence"
READ = "read"
ACCESS = "access"


def session_tag(session_key: str | None) -> str:
    """A session's name in ``access`` events: a keyed digest, never the key itself."""
    return salted_hmac("live.session", session_key or "", algorithm="sha256").hexdigest()[:20]


def auth_tag(user) -> str:
    """The user's current session auth hash (password, session epoch), as a keyed digest: a
    connection opened under another one belongs to a session Django no longer accepts."""
    hashed = user.get_session_auth_hash()
    return salted_hmac("live.auth", hashed, algorithm="sha256").hexdigest()[:20]


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


# --- one member's own events (N2 read markers, N1 access) --------------------------------------
@receiver(read_marker_changed, sender=ReadMarker, dispatch_uid="live-read-marker")
def read_marker_saved(sender, conversation: Conversation, user, **kwargs):
    _after_commit(conversation.workspace_id, READ, conversation=conversation.pk, to=user.pk)


def _access_changed(user_id: int, **fields) -> None:
    """An ``access`` event on each of the person's workspaces, after the write commits."""

    def send() -> None:
        workspaces = Membership.objects.filter(user_id=user_id).values_list(
            "workspace_id", flat=True
        )
        for workspace_id in workspaces:
            publish(workspace_id, ACCESS, to=user_id, **fields)

    transaction.on_commit(send)


@receiver(post_save, sender=Membership, dispatch_uid="live-membership-saved")
def membership_saved(sender, instance: Membership, created: bool, raw: bool = False, **kwargs):
    if not (created or raw):  # another role: the connection starts again under it
        _after_commit(instance.workspace_id, ACCESS, to=instance.user_id)


@receiver(post_delete, sender=Membership, dispatch_uid="live-membership-deleted")
def membership_deleted(sender, instance: Membership, **kwargs):
    _after_commit(instance.workspace_id, ACCESS, to=instance.user_id)


@receiver(sessions_ended, dispatch_uid="live-sessions-ended")
def all_sessions_ended(sender, user, **kwargs):
    _access_changed(user.pk)


@receiver(user_logged_out, dispatch_uid="live-signed-out")
def signed_out(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        _access_changed(user.pk, session=session_tag(session.session_key))


@receiver(post_save, sender=User, dispatch_uid="live-user-saved")
def user_saved(sender, instance: User, created: bool, raw: bool = False, **kwargs):
    """A deactivated person's connections close; after a password change, those of the
    sessions it ended (their auth hash is no longer the person's)."""
    if created or raw:
        return
    if not instance.is_active:
        _access_changed(instance.pk)
    elif kwargs.get("update_fields") is None or "password" in kwargs["update_fields"]:
        _access_changed(instance.pk, auth=auth_tag(instance))
