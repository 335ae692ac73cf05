"""Admins hear about trouble (issue 24, E8): the reconnect email and the app-wide banner.

A connection that needs reconnecting emails its workspace's Owners and Managers once per
incident (``reconnect_notified_at`` is set by a conditional write, so two processes marking the
same incident send one email; a reconnect clears it). Links are built from ``SITE_URL``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from workspace.models import Membership, Role

from .models import SalesforceConnection

logger = logging.getLogger(__name__)


def admin_emails(workspace) -> list[str]:
    return sorted(
        Membership.objects.filter(workspace=workspace, role__in=[Role.OWNER, Role.MANAGER])
        .select_related("user")
        .values_list("user__email", flat=True)
    )


def manage_url(workspace) -> str:
    path = reverse("integrations:salesforce:manage", args=[workspace.slug])
    return f"{settings.SITE_URL}{path}"


def reconnect_needed(connection: SalesforceConnection) -> bool:
    """Email the Owners and Managers that Salesforce must be reconnected; once per incident."""
    claimed = SalesforceConnection.objects.filter(
        pk=connection.pk,
        status=SalesforceConnection.Status.RECONNECT_NEEDED,
        reconnect_notified_at__isnull=True,
    ).update(reconnect_notified_at=timezone.now())
    if not claimed:
        return False
    workspace = connection.workspace
    recipients = admin_emails(workspace)
    if not recipients:
        return False
    reason = connection.reconnect_detail or "Salesforce no longer accepts the connection's access."
    message = (
        f"Salesforce needs to be reconnected for the workspace “{workspace.name}”.\n\n"
        f"Why: {reason}\n\n"
        "Until then agents see no Salesforce data beside conversations.\n\n"
        f"Reconnect: {manage_url(workspace)}\n"
    )
    try:
        send_mail(
            subject=f"Reconnect Salesforce for {workspace.name}",
            message=message,
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - the mark stands: the banner still tells admins
        logger.exception("Reconnect email for connection %s could not be sent", connection.pk)
        return False
    logger.info("Reconnect email sent for connection %s", connection.pk)
    return True


def banner(request) -> dict:
    """Context processor: admins of a workspace whose Salesforce needs reconnecting see a banner
    across the app (one indexed query per admin page view)."""
    workspace = getattr(request, "workspace", None)
    membership = getattr(request, "membership", None)
    if workspace is None or membership is None or not membership.is_admin:
        return {}
    needs = SalesforceConnection.objects.filter(
        workspace=workspace, status=SalesforceConnection.Status.RECONNECT_NEEDED
    ).exists()
    if not needs:
        return {}
    url = reverse("integrations:salesforce:manage", args=[workspace.slug])
    return {"salesforce_reconnect_url": f"{url}#sf-reconnect"}
