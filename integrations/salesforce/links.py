"""A2, A3: an agent links a contact to the Salesforce record that is the customer.

The link is ours (Salesforce is not written): stored per contact, audited, and asked for first in
the contact's ONE lookup query (``Id = X OR <email/phone conditions>``, matching.py). A linked
record that was deleted or merged no longer comes back: the lookup falls back to matching and
says so (``LookupResult.link_missing``).
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from . import services
from .models import SalesforceConnection, SalesforceContactLink, SalesforceEvent

RECORD_ID = re.compile(r"^003[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")  # a Contact


class BadRecord(ValueError):
    """The id is not a Salesforce Contact id."""


def link_for(contact) -> SalesforceContactLink | None:
    return SalesforceContactLink.objects.select_related("linked_by").filter(contact=contact).first()


def linked_id(contact) -> str:
    link = SalesforceContactLink.objects.filter(contact=contact).values_list("record_id", flat=True)
    return next(iter(link), "")


@transaction.atomic
def link_contact(
    *, connection: SalesforceConnection, contact, record_id: str, record_name: str, actor
) -> SalesforceContactLink:
    """Link ``contact`` to a Salesforce Contact (replacing an earlier link); audited."""
    if not RECORD_ID.match(record_id or ""):
        raise BadRecord("Pick a Salesforce Contact to link.")
    link, _ = SalesforceContactLink.objects.update_or_create(
        contact=contact,
        defaults={
            "workspace_id": contact.workspace_id,
            "record_id": record_id,
            "sobject": "Contact",
            "record_name": (record_name or "")[:255],
            "linked_by": actor,
            "linked_at": timezone.now(),
        },
    )
    services.record_event(
        connection=connection,
        kind=SalesforceEvent.Kind.LINKED,
        actor=actor,
        detail=f"{contact.name} (contact {contact.pk}) linked to Contact {record_id} "
        f"{record_name}".strip(),
    )
    return link


@transaction.atomic
def unlink_contact(*, connection: SalesforceConnection, contact, actor) -> bool:
    """Remove the contact's link (matching by email and phone again); audited. True if removed."""
    link = SalesforceContactLink.objects.filter(contact=contact).first()
    if link is None:
        return False
    link.delete()
    services.record_event(
        connection=connection,
        kind=SalesforceEvent.Kind.UNLINKED,
        actor=actor,
        detail=f"{contact.name} (contact {contact.pk}) unlinked from Contact {link.record_id}",
    )
    return True
