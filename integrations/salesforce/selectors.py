"""Reads of a workspace's Salesforce connection (HackSoft-style selectors): no writes here."""

from __future__ import annotations

from django.utils import timezone

from integrations.registry import IntegrationStatus
from workspace.models import Workspace

from .models import SalesforceConnection, SalesforceEvent, SalesforceReplayPosition

Status = SalesforceConnection.Status


def connection_for(workspace: Workspace) -> SalesforceConnection | None:
    """The workspace's connection row (connected or not), or None if it never connected."""
    return (
        SalesforceConnection.objects.select_related("connected_by", "workspace")
        .filter(workspace=workspace)
        .first()
    )


def recent_events(workspace: Workspace, limit: int = 50) -> list:
    """The workspace's Salesforce activity, newest first (failed connects included, U5)."""
    return list(SalesforceEvent.objects.filter(workspace=workspace).select_related("actor")[:limit])


def last_connect_failure(workspace: Workspace) -> SalesforceEvent | None:
    """U5: the latest failed connect, unless a connect succeeded after it."""
    latest = (
        SalesforceEvent.objects.filter(
            workspace=workspace,
            kind__in=[
                SalesforceEvent.Kind.CONNECT_FAILED,
                SalesforceEvent.Kind.CONNECTED,
                SalesforceEvent.Kind.RECONNECTED,
            ],
        )
        .select_related("actor")
        .first()
    )
    return latest if latest and latest.kind == SalesforceEvent.Kind.CONNECT_FAILED else None


def live_approvals(connection: SalesforceConnection):
    """This installation's live connections authorised by the same Salesforce user (T5)."""
    if not connection.org_id or not connection.sf_user_id:
        return SalesforceConnection.objects.none()
    return SalesforceConnection.objects.filter(
        status=Status.CONNECTED, org_id=connection.org_id, sf_user_id=connection.sf_user_id
    ).select_related("workspace")


def approvals_in_use(connection: SalesforceConnection) -> int:
    """How many of the 5 approvals Salesforce allows this user and app this installation uses."""
    return live_approvals(connection).count()


def integration_status(workspace: Workspace) -> IntegrationStatus:
    """The Integrations page's status line for Salesforce (W3, S15)."""
    status, degraded_since, error = (
        SalesforceConnection.objects.filter(workspace=workspace)
        .values_list("status", "degraded_since", "last_error")
        .first()
    ) or (None, None, "")
    if status == Status.CONNECTED and degraded_since is not None:
        # E8: connected, but lookups fail: say what and since when.
        since = timezone.localtime(degraded_since, workspace.tzinfo)
        return IntegrationStatus(
            "Degraded", "warn", detail=f"Since {since:%d %b %Y, %H:%M %Z}: {error}"
        )
    if status == Status.CONNECTED:
        return IntegrationStatus("Connected", "ok")
    if status == Status.RECONNECT_NEEDED:
        return IntegrationStatus("Reconnect needed", "warn")
    return IntegrationStatus("Not connected", "muted")


def live_connections():
    """F2: the connections whose admin turned live updates on and that Salesforce accepts."""
    return (
        SalesforceConnection.objects.filter(live_updates=True, status=Status.CONNECTED)
        .select_related("workspace")
        .order_by("pk")
    )


def replay_id(connection_id: int, topic: str) -> bytes | None:
    """F2: where the listener resumes ``topic`` (None: from now, LATEST)."""
    found = (
        SalesforceReplayPosition.objects.filter(connection_id=connection_id, topic=topic)
        .values_list("replay_id", flat=True)
        .first()
    )
    return bytes(found) if found else None


def last_live_event(connection: SalesforceConnection) -> tuple:
    """F4: the newest event's commit time and its lag (received minus committed, seconds)."""
    row = (
        SalesforceReplayPosition.objects.filter(connection=connection, last_event_at__isnull=False)
        .order_by("-last_received_at")
        .values_list("last_event_at", "last_received_at")
        .first()
    )
    if not row:
        return None, None
    committed, received = row
    lag = (received - committed).total_seconds() if received else None
    return committed, lag
