"""A3: "Search Salesforce" when nothing (or only a near miss) matched: SOSL, read-only.

``FIND {term} IN ALL FIELDS RETURNING Contact(...), Lead(...) LIMIT 10`` with every SOSL reserved
character escaped; Leads only when Lead matching is on. Results can be linked as in A2.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from .client import SalesforceClient
from .models import SalesforceConnection

SEARCH_LIMIT = 10
MIN_TERM = 2  # Salesforce refuses one-character search terms
MAX_TERM = 100
# Salesforce's SOSL reserved characters: each is escaped with a backslash inside FIND {...}.
RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
CONTACT_FIELDS = "Id, Name, Email, Phone, MobilePhone, Account.Name, Owner.Name, LastModifiedDate"
LEAD_FIELDS = "Id, Name, Email, Phone, MobilePhone, Company, Owner.Name, LastModifiedDate"


def sosl_escape(term: str) -> str:
    return "".join("\\" + c if c in RESERVED else c for c in term)


def search_sosl(term: str, *, leads: bool) -> str:
    """The SOSL for an agent's search text (trimmed; whitespace collapsed)."""
    text = " ".join(term.split())[:MAX_TERM]
    returning = [f"Contact({CONTACT_FIELDS} ORDER BY LastModifiedDate DESC)"]
    if leads:
        returning.append(f"Lead({LEAD_FIELDS} ORDER BY LastModifiedDate DESC)")
    return (
        f"FIND {{{sosl_escape(text)}}} IN ALL FIELDS RETURNING {', '.join(returning)} "
        f"LIMIT {SEARCH_LIMIT}"
    )


@dataclass(frozen=True)
class SearchHit:
    id: str
    sobject: str
    name: str
    email: str
    phone: str
    account: str  # the Contact's Account, or the Lead's Company
    owner: str
    modified: str

    @property
    def linkable(self) -> bool:
        return self.sobject == "Contact"


def _hit(row: dict) -> SearchHit:
    def nested(key: str) -> str:
        value = row.get(key)
        return (value or {}).get("Name") or "" if isinstance(value, dict) else ""

    sobject = (row.get("attributes") or {}).get("type", "Contact")
    return SearchHit(
        id=row["Id"],
        sobject=sobject,
        name=row.get("Name") or "",
        email=row.get("Email") or "",
        phone=row.get("Phone") or row.get("MobilePhone") or "",
        account=nested("Account") if sobject == "Contact" else (row.get("Company") or ""),
        owner=nested("Owner"),
        modified=(row.get("LastModifiedDate") or "")[:10],
    )


def search_salesforce(connection: SalesforceConnection, term: str) -> list[SearchHit]:
    """One SOSL call; raises ValueError for a term too short to search."""
    if len("".join(term.split())) < MIN_TERM:
        raise ValueError(f"Type at least {MIN_TERM} characters.")
    answer = SalesforceClient(connection).search(search_sosl(term, leads=connection.match_leads))
    return [_hit(r) for r in (answer or {}).get("searchRecords", [])]


def search_context(connection: SalesforceConnection, contact) -> dict:
    """What the panel needs to offer the search box."""
    return {
        "url": reverse("integrations:salesforce:search", args=[contact.workspace.slug, contact.pk]),
        "initial": contact.email or contact.name,
    }
