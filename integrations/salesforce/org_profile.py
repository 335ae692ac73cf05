"""How an enterprise org is configured, from describe (issue 24: E1, E2, E3).

Read at connect and by the daily ``manage.py salesforce_org_profile``; the lookup reads the stored
answer, so no lookup pays for a describe:

- E1 multi-currency: ``CurrencyIsoCode`` exists on Opportunity only in orgs with several
  currencies (asking for it elsewhere is INVALID_FIELD, so it is never guessed);
- E2 Shield Platform Encryption: per match field, ``filterable`` (false under the default,
  probabilistic scheme), ``encrypted`` and ``caseSensitive`` (deterministic, case-sensitive);
- E3 Person Accounts: ``IsPersonAccount`` exists on Contact only in orgs that use them; then
  the person account record type (``RecordType.IsPersonType``; describe's record type entries
  carry no such flag) is read with one query, for "Create in Salesforce".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .errors import SalesforceError

logger = logging.getLogger(__name__)

MATCH_FIELDS = ("Email", "Phone", "MobilePhone")

# E2: what each scheme means for matching, in the words the setup check (E7) uses.
PLAIN, PROBABILISTIC = "none", "probabilistic"
CASE_SENSITIVE, CASE_INSENSITIVE = "deterministic_case_sensitive", "deterministic_case_insensitive"


# E3: Salesforce's default person record type is "PersonAccount"; admins may add others.
PERSON_RECORD_TYPE_QUERY = (
    "SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = 'Account' "
    "AND IsPersonType = true AND IsActive = true ORDER BY CreatedDate ASC LIMIT 10"
)


@dataclass(frozen=True)
class OrgProfile:
    multi_currency: bool = False
    person_accounts: bool = False
    match_field_info: dict = field(default_factory=dict)
    # E3: the person record type's Id; None = not read this time (keep what is stored).
    person_record_type: str | None = None


def person_record_type_from(answer: dict | None) -> str:
    """The person account record type to offer: Salesforce's default one when it is active,
    else the oldest active person type; "" when the query found none."""
    rows = [r for r in (answer or {}).get("records") or [] if isinstance(r, dict) and r.get("Id")]
    default = [r for r in rows if r.get("DeveloperName") == "PersonAccount"]
    return str((default or rows or [{"Id": ""}])[0]["Id"])


def _fields(describe: dict | None) -> dict[str, dict]:
    return {
        f["name"]: f
        for f in (describe or {}).get("fields") or []
        if isinstance(f, dict) and f.get("name")
    }


def scheme_of(info: dict) -> str:
    """The encryption scheme describe implies for one field (E2)."""
    if not info.get("encrypted"):
        return PLAIN if info.get("filterable", True) else PROBABILISTIC
    if not info.get("filterable", True):
        return PROBABILISTIC
    return CASE_SENSITIVE if info.get("caseSensitive") else CASE_INSENSITIVE


def profile_from_describes(
    contact: dict | None, opportunity: dict | None, person_record_type: str | None = None
) -> OrgProfile:
    contact_fields = _fields(contact)
    info = {}
    for name in MATCH_FIELDS:
        described = contact_fields.get(name)
        if described is None:
            continue
        entry = {
            "filterable": bool(described.get("filterable", True)),
            "encrypted": bool(described.get("encrypted", False)),
            "caseSensitive": bool(described.get("caseSensitive", False)),
        }
        entry["scheme"] = scheme_of(entry)
        info[name] = entry
    person_accounts = "IsPersonAccount" in contact_fields
    return OrgProfile(
        multi_currency="CurrencyIsoCode" in _fields(opportunity),
        person_accounts=person_accounts,
        match_field_info=info,
        person_record_type=person_record_type if person_accounts else "",
    )


def read_profile(client, *, contact_describe: dict | None = None) -> OrgProfile | None:
    """Describe Contact (unless given) and Opportunity; None when Salesforce refused either."""
    try:
        contact = contact_describe or client.describe("Contact")
    except SalesforceError as exc:
        logger.warning("Contact describe failed: %s", exc.detail)
        return None
    try:
        opportunity = client.describe("Opportunity")
    except SalesforceError as exc:  # a user who cannot see Opportunity: no amounts to show
        logger.warning("Opportunity describe failed: %s", exc.detail)
        opportunity = None
    record_type = None
    if "IsPersonAccount" in _fields(contact):  # E3: one more call, in person-account orgs only
        try:
            record_type = person_record_type_from(client.query(PERSON_RECORD_TYPE_QUERY))
        except SalesforceError as exc:
            logger.warning("Person record type query failed: %s", exc.detail)
    return profile_from_describes(contact, opportunity, record_type)


def refresh_profile(connection) -> OrgProfile | None:
    """The daily describe: read the org's profile again and store it (E1, E2, E3)."""
    from . import services
    from .client import SalesforceClient

    profile = read_profile(SalesforceClient(connection))
    if profile is not None:
        services.record_org_profile(connection, profile=profile)
    return profile
