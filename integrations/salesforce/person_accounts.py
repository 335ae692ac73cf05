"""Person Accounts (issue 24, E3): the B2C record is an Account, its person a hidden Contact.

Salesforce stores a person account as an Account (``IsPersonAccount = true``, a person record
type) and ONE person contact (``IsPersonAccount = true``, ``AccountId`` = that Account) whose
Email, Phone and MobilePhone are the Account's PersonEmail, Phone and PersonMobilePhone. So the
Contact lookup finds a person account as it finds anyone; what changes in orgs that use them:

- the lookup also selects ``IsPersonAccount``, ``AccountId`` and the admin's Account fields
  (``Account.<Field>``, parent fields of the same query);
- B2C Opportunities reference the Account, not contact roles, and a Contact query cannot
  subselect its parent's children. The lookup then goes as ONE Composite request (Salesforce
  counts it as one API call) holding the Contact query and one Account query: the person
  accounts matching the same values, with their open ``Opportunities`` as a subquery. Their
  opportunities join the contact's "Open opportunities" list. Orgs without person accounts (and
  connections without that list) keep the single query they had;
- View in Salesforce opens the Account; "Create in Salesforce" offers a Person Account.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from simple_salesforce.format import format_soql

from . import encrypted
from .client import subrequest_answer
from .matching import PERSON_ACCOUNT_FIELDS, MatchValues, match_conditions
from .org_profile import CASE_SENSITIVE
from .related import OPPORTUNITIES, RELATED_LIMIT

# Selected in the Contact lookup of an org with person accounts.
PERSON_FIELDS = ("IsPersonAccount", "AccountId")
ACCOUNT_LIMIT = 50  # person accounts per lookup (the Contact query's own limit is alike)
# The Account's child relationship Salesforce names its Opportunities by.
ACCOUNT_OPPORTUNITIES = "Opportunities"


def extra_fields(connection) -> list[str]:
    """What the Contact lookup adds in an org with person accounts (none elsewhere: the
    fields do not exist there)."""
    if not getattr(connection, "person_accounts", False):
        return []
    return [*PERSON_FIELDS, *(f"Account.{name}" for name in connection.account_fields)]


def is_person_account(values: dict) -> bool:
    """Whether a Contact row (its raw values) is a person account's person contact."""
    return values.get("IsPersonAccount") is True and bool(values.get("AccountId"))


def wants_account_query(connection) -> bool:
    """The Composite shape is used only where it changes what is shown."""
    return bool(connection.person_accounts) and OPPORTUNITIES.name in connection.related_lists


def account_conditions(connection, values: MatchValues) -> list[str]:
    """The person accounts whose person contact the lookup matches, by the same rule
    (matching.match_conditions on the Account's person fields)."""
    conditions = match_conditions([values], names=PERSON_ACCOUNT_FIELDS)
    if values.email and encrypted.scheme(connection, "Email") == CASE_SENSITIVE:  # E2
        conditions[0] = encrypted.email_condition(connection, [values.email], "PersonEmail")
    if values.linked_id:  # A2: the linked record is a Contact: its Account's person contact
        conditions.insert(0, format_soql("PersonContactId = {}", values.linked_id))
    return conditions


def account_query(connection, values: MatchValues) -> str:
    """The person accounts matching ``values``, each with its open Opportunities (newest close
    first, as the contact-role list), in ONE SOQL statement."""
    currency = " CurrencyIsoCode," if connection.multi_currency else ""  # E1
    subquery = (  # constants only
        f"(SELECT Id, Name, StageName, Amount,{currency} CloseDate "  # noqa: S608
        f"FROM {ACCOUNT_OPPORTUNITIES} WHERE IsClosed = false ORDER BY CloseDate ASC "
        f"LIMIT {RELATED_LIMIT})"
    )
    where = " OR ".join(account_conditions(connection, values))
    return (
        f"SELECT Id, PersonContactId, {subquery} FROM Account "  # noqa: S608 - quoted values
        f"WHERE IsPersonAccount = true AND ({where}) LIMIT {ACCOUNT_LIMIT}"
    )


def _query_url(soql: str) -> str:
    return f"/services/data/v{settings.SALESFORCE_API_VERSION}/query?{urlencode({'q': soql})}"


def ask(client, contact_soql: str, account_soql: str) -> dict:
    """ONE Composite request: the Contact lookup and the person accounts' Opportunities.

    Answers the Contact query's answer, each person contact's "Open opportunities" joined by
    its Account's. A refused subrequest raises what that query alone would have raised (the
    Contact one first), so a vanished field or a hidden object is handled as before.
    """
    answer = client.composite(
        [
            {"method": "GET", "url": _query_url(contact_soql), "referenceId": "contacts"},
            {"method": "GET", "url": _query_url(account_soql), "referenceId": "accounts"},
        ]
    )
    parts = {a.get("referenceId"): a for a in (answer or {}).get("compositeResponse") or []}
    contacts = subrequest_answer(parts.get("contacts"))
    accounts = subrequest_answer(parts.get("accounts"))
    return join_opportunities(contacts, accounts)


def _as_contact_role(opportunity: dict) -> dict:
    """An Account's Opportunity in the shape of the contact-role rows the panel lists."""
    deal = {k: v for k, v in opportunity.items() if k not in ("attributes", "Id")}
    return {"Id": opportunity["Id"], "OpportunityId": opportunity["Id"], "Opportunity": deal}


def join_opportunities(contacts: dict, accounts: dict) -> dict:
    """Each person contact's open opportunities: its contact roles and its Account's, once
    each, soonest close first."""
    by_account = {
        row.get("Id"): [
            _as_contact_role(o)
            for o in ((row.get(ACCOUNT_OPPORTUNITIES) or {}).get("records") or [])
        ]
        for row in accounts.get("records") or []
    }
    for row in contacts.get("records") or []:
        if not is_person_account(row):
            continue
        own = by_account.get(row["AccountId"]) or []
        roles = list(((row.get(OPPORTUNITIES.name) or {}).get("records")) or [])
        seen = {r.get("OpportunityId") for r in roles}
        merged = roles + [r for r in own if r["OpportunityId"] not in seen]
        merged.sort(key=lambda r: (r.get("Opportunity") or {}).get("CloseDate") or "9999")
        merged = merged[:RELATED_LIMIT]
        row[OPPORTUNITIES.name] = (
            {"totalSize": len(merged), "done": True, "records": merged} if merged else None
        )
    return contacts
