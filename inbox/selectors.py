from django.db.models import QuerySet

from workspace.models import Workspace

from .models import Conversation

FILTERS = ("open", "closed", "mine", "all")


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
    return conversations.order_by("-last_activity_at", "-id")
