"""The SOQL the product sends (S7, B1, B4, P3–P5): SELECTs on Contact only, values quoted by
simple-salesforce's ``format_soql``, field names checked to be API names."""

from __future__ import annotations

import re

from .matching import BADGE_SPELLINGS, MatchValues, lookup_conditions, match_conditions

MATCH_LIMIT = 20  # newest first; "N more matches" beyond the first
# The one query also brings the near-match candidates (P4): room for both.
LOOKUP_LIMIT = 50
BADGE_LIMIT = 200
# Always selected: matching, ordering, near-miss display and links need them.
BASE_FIELDS = ["Id", "Name", "Email", "Phone", "MobilePhone", "LastModifiedDate"]
FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")


def selected_fields(connection) -> list[str]:
    """The base fields, then the admin's chosen ones (S6), then routing's (A6), each once."""
    fields = list(BASE_FIELDS)
    extra = list(connection.field_names)
    if getattr(connection, "route_by_owner", False):
        # A6: the owner's email (and the Priority field) come in the same single query.
        extra += [
            "Owner.Email",
            *([connection.priority_field] if connection.priority_field else []),
        ]
    for path in extra:
        if path.lower() not in {f.lower() for f in fields}:
            fields.append(path)
    return fields


LEAD_FIELDS = [
    "Id",
    "Name",
    "Email",
    "Phone",
    "MobilePhone",
    "Company",
    "Status",
    "LastModifiedDate",
]


def contact_soql(fields: list[str], conditions: list[str], limit: int, sobject="Contact") -> str:
    """SELECT on Contact (or Lead, R3). Values in ``conditions`` are quoted with format_soql; field names
    are checked to be API names, so nothing from a user can change the query's shape."""
    bad = [f for f in fields if not FIELD_PATH.match(f)]
    if bad:
        raise ValueError(f"Not Salesforce field names: {bad}")
    if not conditions:
        raise ValueError("Nothing to look up: no email and no phone.")
    where = " OR ".join(conditions)
    return (
        f"SELECT {', '.join(fields)} FROM {sobject} WHERE {where} "  # noqa: S608 - see docstring
        f"ORDER BY LastModifiedDate DESC LIMIT {int(limit)}"
    )


# R1, R2: the related lists, as parent-child subqueries of the ONE lookup query. Open records
# only, newest first; up to RELATED_LIMIT so "N more" can be counted without another call.
RELATED_LIMIT = 50  # written into the subqueries below
RELATED_SUBQUERIES = {
    "Cases": (
        "(SELECT Id, CaseNumber, Subject, Status, Priority, LastModifiedDate FROM Cases "
        "WHERE IsClosed = false ORDER BY LastModifiedDate DESC LIMIT 50)"
    ),
    "OpportunityContactRoles": (
        "(SELECT Id, OpportunityId, Opportunity.Name, Opportunity.StageName, "
        "Opportunity.Amount, Opportunity.CloseDate FROM OpportunityContactRoles "
        "WHERE Opportunity.IsClosed = false ORDER BY Opportunity.CloseDate ASC "
        "LIMIT 50)"
    ),
}


def lookup_query(
    fields: list[str], values: MatchValues, limit: int = LOOKUP_LIMIT, related=()
) -> str:
    """The ONE lookup query (S7, P3, P4, R2): the matches, in exact mode the hint's candidates,
    and the related lists named in ``related`` as subqueries (constants, never user input)."""
    subqueries = [RELATED_SUBQUERIES[name] for name in related if name in RELATED_SUBQUERIES]
    soql = contact_soql(fields, lookup_conditions(values), limit)
    if not subqueries:
        return soql
    head, _, rest = soql.partition(" FROM Contact WHERE ")
    return f"{head}, {', '.join(subqueries)} FROM Contact WHERE {rest}"


def exact_query(fields: list[str], *, email: str, phone: str, limit: int = LOOKUP_LIMIT) -> str:
    """The lookup query of a connection in the default mode (exact, US) for these values."""
    return lookup_query(fields, MatchValues.of(email, phone), limit)


def badge_query(fields: list[str], values: list[MatchValues]) -> str:
    """B4, P5: one query for a whole page of contacts."""
    return contact_soql(fields, match_conditions(values, spellings=BADGE_SPELLINGS), BADGE_LIMIT)


def lead_query(values: list[MatchValues], limit: int = MATCH_LIMIT) -> str:
    """R3: Leads matching by the same rules, only asked when no Contact matched."""
    spellings = BADGE_SPELLINGS if len(values) > 1 else None
    conditions = match_conditions(values, spellings=spellings)
    return contact_soql(LEAD_FIELDS, conditions, limit, sobject="Lead")
