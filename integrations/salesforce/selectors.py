"""Reads of a workspace's Salesforce connection (HackSoft-style selectors): no writes here."""

from __future__ import annotations

from integrations.registry import IntegrationStatus
from workspace.models import Workspace

from .models import SalesforceConnection, SalesforceEvent

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
    status = (
        SalesforceConnection.objects.filter(workspace=workspace)
        .values_list("status", flat=True)
        .first()
    )
    if status == Status.CONNECTED:
        return IntegrationStatus("Connected", "ok")
    if status == Status.RECONNECT_NEEDED:
        return IntegrationStatus("Reconnect needed", "warn")
    return IntegrationStatus("Not connected", "muted")
