"""The SOQL the product sends (S7, B1, B4, P3–P5): SELECTs on Contact only, values quoted by
simple-salesforce's ``format_soql``, field names checked to be API names."""

from __future__ import annotations

import re

from . import person_accounts
from .matching import BADGE_SPELLINGS, MatchValues, lookup_conditions, match_conditions
from .related import RELATED

MATCH_LIMIT = 20  # newest first; "N more matches" beyond the first
# The one query also brings the near-match candidates (P4): room for both.
LOOKUP_LIMIT = 50
BADGE_LIMIT = 200
# Always selected: matching, ordering, near-miss display and links need them.
BASE_FIELDS = ["Id", "Name", "Email", "Phone", "MobilePhone", "LastModifiedDate"]
FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")


def selected_fields(connection) -> list[str]:
    """The base fields, then the admin's chosen ones (S6), E3's, then routing's (A6), each once.

    A parent shown by name ("Account.Name") brings its Id too: with live updates, the parent's
    own change event (a rename) finds the lookups that show it (E6).
    """
    fields = list(BASE_FIELDS)
    # E3: in an org with person accounts, which rows are person accounts and their Account's
    # chosen fields (parent fields of the same query).
    extra = [*connection.field_names, *person_accounts.extra_fields(connection)]
    if getattr(connection, "route_by_owner", False):
        # A6: the owner's email (and the Priority field) come in the same single query.
        extra += [
            "Owner.Email",
            *([connection.priority_field] if connection.priority_field else []),
        ]
    for path in extra:
        wanted = [path]
        if "." in path:
            wanted.append(f"{path.split('.', 1)[0]}.Id")
        for name in wanted:
            if name.lower() not in {f.lower() for f in fields}:
                fields.append(name)
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


# R1, R2: the related lists, as parent-child subqueries of the ONE lookup query (related.py).
RELATED_SUBQUERIES = {name: related.subquery for name, related in RELATED.items()}


# E1: in a multi-currency org each amount comes with its own currency. Single-currency orgs keep
# the query above: CurrencyIsoCode does not exist there (INVALID_FIELD).
MULTI_CURRENCY_SUBQUERIES = {
    **RELATED_SUBQUERIES,
    "OpportunityContactRoles": RELATED_SUBQUERIES["OpportunityContactRoles"].replace(
        "Opportunity.Amount,", "Opportunity.Amount, Opportunity.CurrencyIsoCode,"
    ),
}


def lookup_query(
    fields: list[str],
    values: MatchValues,
    limit: int = LOOKUP_LIMIT,
    related=(),
    *,
    multi_currency: bool = False,
    conditions: list[str] | None = None,
) -> str:
    """The ONE lookup query (S7, P3, P4, R2): the matches, in exact mode the hint's candidates,
    and the related lists named in ``related`` as subqueries (constants, never user input).
    ``conditions``: the WHERE conditions when the org's encryption changes them (E2)."""
    known = MULTI_CURRENCY_SUBQUERIES if multi_currency else RELATED_SUBQUERIES
    subqueries = [known[name] for name in related if name in known]
    soql = contact_soql(fields, conditions or lookup_conditions(values), limit)
    if not subqueries:
        return soql
    head, _, rest = soql.partition(" FROM Contact WHERE ")
    return f"{head}, {', '.join(subqueries)} FROM Contact WHERE {rest}"


def badge_query(
    fields: list[str], values: list[MatchValues], conditions: list[str] | None = None
) -> str:
    """B4, P5: one query for a whole page of contacts."""
    return contact_soql(
        fields, conditions or match_conditions(values, spellings=BADGE_SPELLINGS), BADGE_LIMIT
    )


def lead_query(values: list[MatchValues], limit: int = MATCH_LIMIT) -> str:
    """R3: Leads matching by the same rules, only asked when no Contact matched."""
    spellings = BADGE_SPELLINGS if len(values) > 1 else None
    conditions = match_conditions(values, spellings=spellings)
    return contact_soql(LEAD_FIELDS, conditions, limit, sobject="Lead")
