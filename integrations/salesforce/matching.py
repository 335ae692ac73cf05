"""The one matching rule (S7, B1, P2–P5): which Salesforce Contacts are "the same person".

Email is always Salesforce's own ``=`` (without regard to case). Phone depends on the
connection's phone matching mode (P2):

- ``exact`` (the default, the help page's promise): Phone or MobilePhone equal character for
  character. A Contact holding the same number in another spelling is not a match, but a
  near-match hint (B1, P4), found by the SAME query and confirmed by comparing normalised
  numbers.
- ``any_format``: the same number in any spelling, read with the workspace's default country.

Why one query with spellings rather than a wildcard (P3): Salesforce stores phones as typed and
cannot normalise in SOQL. ``Phone IN (<every spelling orgs hold>)`` asks for the number in one
round trip and can use an index, where ``LIKE '%4%1%5%...'`` scans every Contact. Every row that
comes back is then confirmed by parsing its Phone and MobilePhone and comparing E.164 (and
extension), so a different number never matches; a spelling the list lacks is the only miss,
and the corpus test (P7) checks the list against the formats people and Salesforce produce.

Every path uses this module: the lookup query, its cache key, the Contacts-list badges (one
batched answer filtered per contact) and the near-match hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from simple_salesforce.format import format_soql

from contacts.phones import parse, same_number, spellings

PHONE_FIELDS = ("Phone", "MobilePhone")
# The fields a condition names: a Contact's, or (E3) the same person's on a person account.
CONTACT_FIELDS = {"Email": "Email", "Phone": "Phone", "MobilePhone": "MobilePhone"}
PERSON_ACCOUNT_FIELDS = {
    "Email": "PersonEmail",
    "Phone": "Phone",
    "MobilePhone": "PersonMobilePhone",
}
EXACT, ANY_FORMAT = "exact", "any_format"
BADGE_SPELLINGS = 10  # per number on a badge query: a page of them must fit one GET


@dataclass(frozen=True)
class MatchValues:
    """A contact's email and phone as looked up (as typed, trimmed), and how to compare them."""

    email: str
    phone: str
    mode: str = EXACT
    region: str = "US"
    linked_id: str = ""  # A2: the record an agent linked to the contact, asked for first

    @classmethod
    def of(
        cls, email, phone, *, mode: str = EXACT, region: str = "US", linked_id: str = ""
    ) -> MatchValues:
        return cls(
            (email or "").strip(), (phone or "").strip(), mode or EXACT, region or "US", linked_id
        )

    @classmethod
    def for_connection(cls, connection, email, phone, linked_id: str = "") -> MatchValues:
        return cls.of(
            email,
            phone,
            mode=connection.phone_matching,
            region=connection.workspace.phone_region,
            linked_id=linked_id or "",
        )

    def __bool__(self) -> bool:
        return bool(self.email or self.phone or self.linked_id)

    def key_parts(self) -> tuple[str, ...]:
        """What the cache key is made of: equal parts mean Salesforce gives the same answer."""
        parts = (self.email.lower(), self.phone, self.mode, self.region)
        return (*parts, f"linked:{self.linked_id}") if self.linked_id else parts

    def is_linked(self, row: dict) -> bool:
        """A2: ``row`` is the linked record (15- or 18-character ids)."""
        return bool(self.linked_id) and (row.get("Id") or "")[:15] == self.linked_id[:15]

    def phone_spellings(self, limit: int | None = None) -> list[str]:
        """The spellings asked for: the phone as typed, plus its other spellings (P3, P4)."""
        found = spellings(self.phone, self.region) if self.phone else []
        return found[:limit] if limit else found

    @cached_property
    def _number(self):
        """Our phone, parsed once per lookup (rows are compared with it many times)."""
        return parse(self.phone, self.region)

    def _same_phone(self, theirs: str | None) -> bool:
        # same_number is False when either side is missing or unreadable: no guard needed here.
        return same_number(theirs, self._number, self.region)

    def matches(self, row: dict) -> bool:
        """Whether ``row`` is a match for these values under their mode."""
        if self.email and (row.get("Email") or "").lower() == self.email.lower():
            return True
        if not self.phone:
            return False
        if any(row.get(f) == self.phone for f in PHONE_FIELDS):
            return True  # exact, in both modes (any format includes the same characters)
        return self.mode == ANY_FORMAT and any(self._same_phone(row.get(f)) for f in PHONE_FIELDS)

    def near_misses(self, row: dict) -> list[tuple[str, str]]:
        """B1, P4: ``(field, Salesforce's value)`` spelling our number or email differently."""
        found = []
        for name in PHONE_FIELDS:
            theirs = row.get(name) or ""
            if theirs and theirs != self.phone and self._same_phone(theirs):
                found.append((name, theirs))
        theirs = row.get("Email") or ""
        if (
            self.email
            and theirs
            and theirs != self.email
            and theirs.strip().lower() == self.email.lower()
        ):
            found.append(("Email", theirs))
        return found


def _in(field: str, values: list[str]) -> str:
    if len(values) == 1:
        return format_soql(f"{field} = {{}}", values[0])
    return format_soql(f"{field} IN {{}}", values)


def _phone_condition(phones: list[str], names: dict = CONTACT_FIELDS) -> list[str]:
    if not phones:
        return []
    return [f"{_in(names['Phone'], phones)} OR {_in(names['MobilePhone'], phones)}"]


def lookup_conditions(
    values: MatchValues, *, email_condition: str = "", email_hint: bool = True
) -> list[str]:
    """The ONE lookup query's conditions: the matches and, in exact mode, the hint's candidates.

    Any-format mode asks for every spelling; exact mode asks for them too, so a no-match lookup
    already holds the near-match candidates (one round trip, P4), plus the email with
    whitespace around it (B1). Under Shield encryption (E2) the caller gives the email
    condition its scheme allows and turns the LIKE hint off (encrypted fields take no LIKE).
    """
    conditions = [format_soql("Id = {}", values.linked_id)] if values.linked_id else []
    if values.email:
        conditions.append(email_condition or format_soql("Email = {}", values.email))
        if values.mode == EXACT and email_hint:
            conditions.append(format_soql("Email LIKE '%{:like}%'", values.email))
    return conditions + _phone_condition(values.phone_spellings())


def match_conditions(
    values: list[MatchValues], *, spellings: int | None = None, names: dict = CONTACT_FIELDS
) -> list[str]:
    """Matches only, no hint candidates: a page of badges (B4, P5), the Lead lookup (R3), or
    (E3, ``names=PERSON_ACCOUNT_FIELDS``) the person accounts a lookup's Opportunities hang off.

    ``spellings`` caps the spellings per number (a page of them must fit one GET).
    """
    emails = sorted({v.email for v in values if v.email})
    phones: set[str] = set()
    for v in values:
        if v.phone:
            phones |= set(v.phone_spellings(spellings) if v.mode == ANY_FORMAT else [v.phone])
    conditions = [_in(names["Email"], emails)] if emails else []
    return conditions + _phone_condition(sorted(phones), names)
