"""Who else is on a conversation (issue 22, N6): kept by the live bus with short lifetimes."""

from __future__ import annotations

import time

from django.conf import settings

from . import bus
from .events import PRESENCE
from .stream import REPLYING


def announce_replying(*, workspace_id: int, conversation_id: int, user) -> None:
    """The person is typing a reply here: others see it until it lapses (a few seconds)."""
    entry = {
        "user": user.pk,
        "name": user.display_name,
        "state": REPLYING,
        "until": time.time() + settings.LIVE_REPLYING_SECONDS,
    }
    bus.backend().presence_set(workspace_id, conversation_id, f"{user.pk}:replying", entry)
    bus.publish(workspace_id, PRESENCE, conversation=conversation_id, user=user.pk)


def presence_for(*, workspace_id: int, conversation_id: int, user) -> list[dict]:
    """Everyone on the conversation but ``user`` (one line each; replying wins)."""
    try:
        people = bus.backend().presence(workspace_id, conversation_id)
    except Exception:  # noqa: BLE001 - presence is a courtesy: Redis down shows nobody
        return []
    return [p for p in people if p["user"] != user.pk]
