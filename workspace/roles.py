from django.db import transaction

from .models import Membership, Role


@transaction.atomic
def change_role(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; a workspace always keeps at least one Owner.

    The workspace's Owner rows are locked before counting, so two Owners demoting each other at
    the same moment cannot leave the workspace with none.
    """
    if role not in Role.values:
        raise ValueError("Unknown role.")
    owners = list(
        Membership.objects.select_for_update()
        .filter(workspace_id=membership.workspace_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.OWNER and role != Role.OWNER and len(owners) <= 1:
        raise ValueError("A workspace needs at least one Owner.")
    locked.role = role
    locked.save(update_fields=["role"])
    membership.role = role
    return membership
