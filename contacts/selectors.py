from django.db.models import Q, QuerySet

from workspace.models import Workspace

from .models import Contact


def contact_search(*, workspace: Workspace, query: str = "") -> QuerySet[Contact]:
    """The workspace's contacts whose name, email or phone contains ``query`` (I3)."""
    contacts = Contact.objects.filter(workspace=workspace)
    query = query.strip()
    if query:
        contacts = contacts.filter(
            Q(name__icontains=query) | Q(email__icontains=query) | Q(phone__icontains=query)
        )
    return contacts.order_by("name", "id")
