"""Writes on memberships (M3): change a role, remove a member. Who may do which is
``access.may_manage_member``'s; these functions keep the workspace's invariants."""

from django.db import transaction
from django.db.models import F

from .models import Membership, Role, User, WorkspaceEvent
from .signals import sessions_ended


class MembershipError(ValueError):
    """A change the rules refuse, with a message for the person who asked."""


def _lock_owners(workspace_id: int) -> list[int]:
    # Every Owner row is locked before counting, so two Owners demoting or removing each other
    # at the same moment cannot leave the workspace with none.
    return list(
        Membership.objects.select_for_update()
        .filter(workspace_id=workspace_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )


@transaction.atomic
def change_role(*, membership: Membership, role: str, actor=None) -> Membership:
    """Give a member another role; a workspace always keeps at least one Owner. Audited."""
    if role not in Role.values:
        raise MembershipError("Unknown role.")
    owners = _lock_owners(membership.workspace_id)
    locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if locked.role == role:
        membership.role = role
        return membership
    if locked.role == Role.OWNER and len(owners) <= 1:
        raise MembershipError("A workspace needs at least one Owner.")
    before = locked.get_role_display()
    locked.role = role
    locked.save(update_fields=["role"])
    membership.role = role
    WorkspaceEvent.objects.create(
        workspace_id=locked.workspace_id,
        kind=WorkspaceEvent.Kind.ROLE_CHANGED,
        actor=actor,
        detail=f"{locked.user.email}: {before} → {locked.get_role_display()}",
    )
    return membership


def end_sessions(*, user: User) -> None:
    """Sign the person out everywhere at once: each session fails its next request's check."""
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    sessions_ended.send(sender=User, user=user)


@transaction.atomic
def member_remove(*, membership: Membership, actor=None) -> None:
    """Remove a member from the workspace (never its last Owner); their sessions end at once.

    The person's account stays (they may belong to other workspaces and sign in again there);
    what they wrote stays, under their name.
    """
    owners = _lock_owners(membership.workspace_id)
    locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if locked.role == Role.OWNER and len(owners) <= 1:
        raise MembershipError(
            "A workspace needs at least one Owner: make someone else Owner first."
        )
    user = locked.user
    locked.delete()
    end_sessions(user=user)
    WorkspaceEvent.objects.create(
        workspace_id=membership.workspace_id,
        kind=WorkspaceEvent.Kind.REMOVED,
        actor=actor,
        detail=f"{user.email} ({locked.get_role_display()})",
    )
