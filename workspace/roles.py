from django.db import transaction

from .models import Membership, Role


@transaction.atomic
def change_role(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; a workspace always keeps at least one Owner."""
    if role not in Role.values:
        raise ValueError("Unknown role.")
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.OWNER and role != Role.OWNER:
        owners = Membership.objects.filter(workspace_id=locked.workspace_id, role=Role.OWNER)
        if owners.count() <= 1:
            raise ValueError("A workspace needs at least one Owner.")
    locked.role = role
    locked.save(update_fields=["role"])
    membership.role = role
    return membership
