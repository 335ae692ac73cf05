"""A6: route a new conversation by its contact's Salesforce Contact Owner, after arrival.

A worker (``manage.py route_conversations``) picks up conversations created since an admin
switched routing on, never the inbound request: the API answers without waiting on Salesforce.
The lookup is the sidebar's (``lookup.find_contact``): ONE query with ``Owner.Email`` (and the
Priority field) in it, or none at all when the shared cache already holds the contact.
One ``SalesforceRouting`` row per conversation (unique) makes each decision happen once, however
many workers run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from inbox.models import Conversation
from workspace.emails import email_key
from workspace.models import Membership

from .errors import SalesforceError
from .links import linked_id
from .lookup import find_contact
from .models import SalesforceConnection, SalesforceRouting

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routed:
    conversation_id: int
    outcome: str
    assignee_id: int | None = None
    priority: bool = False


def due_conversations(limit: int = 20):
    """New, unassigned, unrouted conversations of workspaces that route by owner."""
    return (
        Conversation.objects.select_related("contact", "workspace")
        .filter(
            workspace__salesforce_connection__route_by_owner=True,
            workspace__salesforce_connection__status=SalesforceConnection.Status.CONNECTED,
            salesforce_routing__isnull=True,
            assignee__isnull=True,
        )
        .filter(
            Q(created_at__gte=F("workspace__salesforce_connection__routing_since"))
            | Q(workspace__salesforce_connection__routing_since__isnull=True)
        )
        .order_by("created_at", "id")[:limit]
    )


def _member_by_email(workspace_id: int, email: str):
    """The member whose email is the owner's under the one email identity (H1), else None."""
    wanted = email_key(email or "")
    if not wanted:
        return None
    membership = (
        Membership.objects.select_related("user")
        .filter(workspace_id=workspace_id, user__email_key=wanted)
        .first()
    )
    return membership.user if membership else None


def route_conversation(conversation: Conversation) -> Routed | None:
    """Decide once (the unique row is taken first); None when another worker took it."""
    try:
        with transaction.atomic():
            decision = SalesforceRouting.objects.create(conversation=conversation)
    except IntegrityError:
        return None
    connection = SalesforceConnection.objects.select_related("workspace").get(
        workspace_id=conversation.workspace_id
    )
    contact = conversation.contact
    assignee, priority, owner_email = None, False, ""
    try:
        result = find_contact(
            connection, email=contact.email, phone=contact.phone, linked_id=linked_id(contact)
        )
    except ValueError:
        outcome = "left unassigned: the contact has no email or phone"
    except SalesforceError as exc:
        outcome = f"left unassigned: {exc.user_message}"
    else:
        record = result.primary
        if record is None:
            outcome = "left unassigned: no Salesforce Contact matches"
        else:
            owner_email = record.value("Owner.Email") or ""
            if connection.priority_field:
                value = record.value(connection.priority_field)
                priority = value is not None and str(value) == connection.priority_value
            assignee = _member_by_email(conversation.workspace_id, owner_email)
            outcome = (
                f"assigned to {assignee.email} (Contact Owner)"
                if assignee
                else f"left unassigned: the Contact Owner {owner_email or '(no email)'} is not "
                "a member of this workspace"
            )
    updates = {}
    if assignee is not None:
        updates["assignee"] = assignee
    if priority:
        updates["priority"] = True
    if updates:  # never over an assignment a teammate made meanwhile
        taken = Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(
            **updates
        )
        if not taken and assignee is not None:
            outcome, assignee = "left as is: a teammate assigned it meanwhile", None
            if priority:
                Conversation.objects.filter(pk=conversation.pk).update(priority=True)
    SalesforceRouting.objects.filter(pk=decision.pk).update(
        owner_email=owner_email[:255], assignee=assignee, priority=priority, outcome=outcome[:300]
    )
    return Routed(conversation.pk, outcome, assignee.pk if assignee else None, priority)


def route_due(*, batch: int = 20) -> int:
    """One worker round: route what is due; returns how many were decided here."""
    done = 0
    for conversation in due_conversations(batch):
        try:
            if route_conversation(conversation) is not None:
                done += 1
        except Exception:
            logger.exception("Routing failed for conversation %s", conversation.pk)
    return done
