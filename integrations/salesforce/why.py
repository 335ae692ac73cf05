"""A4: why nothing matched: the values searched, the mode, and the causes the product can tell.

What the panel knows already (values, spellings, mode, the connected user, near misses) is shown
at once; the two causes that need Salesforce (a Lead matches while Lead matching is off; a match
field cannot be filtered, e.g. encrypted) are checked only when the agent opens "Why no match?".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from .client import SalesforceClient
from .describe import contact_describe
from .errors import SalesforceError
from .matching import PHONE_FIELDS, MatchValues
from .models import SalesforceConnection
from .soql import lead_query


@dataclass(frozen=True)
class Cause:
    kind: str  # lead_off, not_filterable, check_failed
    text: str


def why_context(connection: SalesforceConnection, contact) -> dict:
    """The part shown at once: what was searched, how, and as whom."""
    values = MatchValues.for_connection(connection, contact.email, contact.phone)
    return {
        "email": values.email,
        "phones": values.phone_spellings() if values.phone else [],
        "mode": connection.get_phone_matching_display(),
        "leads": connection.match_leads,
        "user": connection.sf_username,
        "url": reverse("integrations:salesforce:why", args=[contact.workspace.slug, contact.pk]),
    }


def why_causes(connection: SalesforceConnection, contact) -> list[Cause]:
    """The causes that need Salesforce: at most one Lead query and one (cached) describe."""
    causes: list[Cause] = []
    values = MatchValues.for_connection(connection, contact.email, contact.phone)
    try:
        fields = {f["name"]: f for f in contact_describe(connection).get("fields", [])}
        for name in ("Email", *PHONE_FIELDS):
            if name in fields and fields[name].get("filterable") is False:
                causes.append(
                    Cause(
                        "not_filterable",
                        f"Salesforce cannot filter Contacts by {fields[name].get('label', name)} "
                        "(the field is encrypted or otherwise not filterable), so it is not "
                        "compared.",
                    )
                )
        if values and not connection.match_leads:
            leads = SalesforceClient(connection).query(lead_query([values])).get("records", [])
            lead = next((r for r in leads if values.matches(r)), None)
            if lead is not None:
                causes.append(
                    Cause(
                        "lead_off",
                        f"A Lead matches ({lead.get('Name') or lead['Id']}), but Lead matching is "
                        "off: an Owner or Manager can switch it on in Integrations > Salesforce.",
                    )
                )
    except SalesforceError as exc:
        causes.append(
            Cause("check_failed", f"Some causes could not be checked: {exc.user_message}")
        )
    return causes
