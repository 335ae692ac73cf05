"""The one matching rule (S7, B1): which Salesforce Contacts are "the same person".

Exact means Salesforce's own ``=``: Email compares without regard to case, Phone and MobilePhone
character for character. Every path uses this module: the lookup query, its cache key, the
Contacts-list badges (which filter one batched answer per contact) and the near-miss hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simple_salesforce.format import format_soql

PHONE_FIELDS = ("Phone", "MobilePhone")
NEAR_MISS_MIN_DIGITS = 6


def digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


@dataclass(frozen=True)
class MatchValues:
    """A contact's email and phone as looked up: as typed, surrounding whitespace trimmed."""

    email: str
    phone: str

    @classmethod
    def of(cls, email: str | None, phone: str | None) -> MatchValues:
        return cls((email or "").strip(), (phone or "").strip())

    def __bool__(self) -> bool:
        return bool(self.email or self.phone)

    def key_parts(self) -> tuple[str, str]:
        """What the cache key is made of: equal parts mean Salesforce gives the same answer."""
        return self.email.lower(), self.phone

    def matches(self, row: dict) -> bool:
        """Whether Salesforce's ``=`` would return ``row`` for these values."""
        if self.email and (row.get("Email") or "").lower() == self.email.lower():
            return True
        return bool(self.phone) and any(row.get(f) == self.phone for f in PHONE_FIELDS)

    def near_misses(self, row: dict) -> list[tuple[str, str]]:
        """B1: ``(field, Salesforce's value)`` that differ only by formatting from ours."""
        found = []
        phone_digits = digits(self.phone)
        for name in PHONE_FIELDS:
            theirs = row.get(name) or ""
            if self.phone and theirs and theirs != self.phone and digits(theirs) == phone_digits:
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


def exact_conditions(values: list[MatchValues]) -> list[str]:
    """SOQL conditions matching any of ``values`` exactly (one contact, or a page of them)."""
    emails = sorted({v.email for v in values if v.email})
    phones = sorted({v.phone for v in values if v.phone})
    conditions = []
    if len(emails) == 1:
        conditions.append(format_soql("Email = {}", emails[0]))
    elif emails:
        conditions.append(format_soql("Email IN {}", emails))
    if len(phones) == 1:
        conditions.append(format_soql("Phone = {} OR MobilePhone = {}", phones[0], phones[0]))
    elif phones:
        conditions.append(format_soql("Phone IN {} OR MobilePhone IN {}", phones, phones))
    return conditions


def near_miss_conditions(values: MatchValues) -> list[str]:
    """B1: the same digits in any formatting, or the email with whitespace around it."""
    conditions = []
    phone_digits = digits(values.phone)
    if len(phone_digits) >= NEAR_MISS_MIN_DIGITS:
        pattern = "%" + "%".join(phone_digits) + "%"
        conditions.append(format_soql("Phone LIKE {} OR MobilePhone LIKE {}", pattern, pattern))
    if values.email:
        conditions.append(format_soql("Email LIKE '%{:like}%'", values.email))
    return conditions
