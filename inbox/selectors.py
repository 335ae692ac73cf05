from django.db.models import QuerySet

from core.keyset import KeysetPaginator
from workspace.models import Workspace

from .models import Conversation

FILTERS = ("open", "closed", "mine", "all")
ORDERING = ("-last_activity_at", "-id")
PAGE_SIZE = 30


def conversation_list(*, workspace: Workspace, user, filter: str = "open") -> QuerySet:
    """The workspace's conversations, newest activity first, filtered (I1)."""
    conversations = Conversation.objects.filter(workspace=workspace).select_related(
        "contact", "assignee"
    )
    if filter == "open":
        conversations = conversations.filter(status=Conversation.Status.OPEN)
    elif filter == "closed":
        conversations = conversations.filter(status=Conversation.Status.CLOSED)
    elif filter == "mine":
        conversations = conversations.filter(assignee=user, status=Conversation.Status.OPEN)
    return conversations.order_by(*ORDERING)


def conversation_page(*, workspace: Workspace, user, filter: str, after=None, before=None):
    """One page of the Inbox (L3): keyset on (last activity, id), newest first, no count (L2).

    Raises ``InvalidCursor`` for a cursor that cannot be read.
    """
    conversations = conversation_list(workspace=workspace, user=user, filter=filter)
    return KeysetPaginator(conversations, ORDERING, PAGE_SIZE).page(after=after, before=before)
