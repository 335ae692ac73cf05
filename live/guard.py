"""The stale-reply guard (issue 22, N6).

The reply form carries ``last_seen``: the id of the newest message the agent's page showed
(the live page moves it forward only while the composer is empty, so what arrives while the
agent is writing still counts as unseen). A reply to a conversation that got a customer message
or a teammate's message after that is not sent: the page shows those messages first and asks
to confirm ("Send anyway", which carries the new ``last_seen``).
"""

from __future__ import annotations

from .selectors import messages_after

FIELD = "last_seen"


def stale_reply(*, request, conversation) -> list:
    """The messages the agent has not seen, or [] when the reply may go (no ``last_seen``:
    a form without the guard, nothing to compare). Marks the request for the form's notice."""
    value = request.POST.get(FIELD, "")
    if not value.isdigit():
        return []
    unseen = messages_after(
        conversation=conversation, message_id=int(value), exclude_author=request.user
    )
    request.live_unseen = unseen
    return unseen


def hold_stale_reply(sender, *, request, conversation, **kwargs) -> bool:
    """Receiver of ``inbox.signals.reply_check``: hold the reply when it is stale."""
    return bool(stale_reply(request=request, conversation=conversation))
