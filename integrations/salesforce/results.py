"""What a lookup answers (S7, B1, R1, R3, A2): the result types, and a Salesforce row read into one.

``lookup.find_contact`` builds a :class:`LookupResult`; the sidebar renders it, the cache keeps it
(``lookup_cache.py``), the badges read their flag from it (``badges.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .matching import MatchValues
from .soql import RELATED_SUBQUERIES


@dataclass(frozen=True)
class ContactMatch:
    """One Salesforce Contact: raw values by field path ("Email", "Account.Name")."""

    id: str
    values: dict
    related: dict = field(default_factory=dict)  # R1: relationship name -> child records

    def value(self, path: str):
        current = self.values
        for part in path.split("."):
            if not isinstance(current, dict):
                return None
            current = current.get(part)
        return current


@dataclass(frozen=True)
class NearMiss:
    """B1: a Contact whose phone has the same digits, or whose email differs by whitespace."""

    match: ContactMatch
    field: str  # "Phone", "MobilePhone" or "Email"
    salesforce_value: str
    product_value: str


@dataclass(frozen=True)
class LookupResult:
    email: str
    phone: str
    matches: tuple[ContactMatch, ...]
    fetched_at: datetime
    near_misses: tuple[NearMiss, ...] = ()
    truncated: bool = False
    lead: ContactMatch | None = None  # R3: only when no Contact matched and Leads are asked
    asked_at: datetime | None = None  # F3: when the query started (changes after it refuse it)
    linked_id: str = ""  # A2: the record an agent linked (first in ``matches`` when it exists)
    link_missing: bool = False  # A2: the linked record was deleted or merged: matched instead

    @property
    def primary(self) -> ContactMatch | None:
        return self.matches[0] if self.matches else None

    @property
    def others(self) -> tuple[ContactMatch, ...]:
        return self.matches[1:]


def _plain(row: dict) -> dict:
    """A record without Salesforce's ``attributes``, parents (Account.Name) included."""
    values = {k: v for k, v in row.items() if k != "attributes"}
    for k, v in list(values.items()):
        if isinstance(v, dict):
            values[k] = {ik: iv for ik, iv in v.items() if ik != "attributes"}
    return values


def record(row: dict) -> ContactMatch:
    """A row of the query's answer, its related-list subqueries (R1) as lists of records."""
    values, related = {}, {}
    for key, value in row.items():
        if key in RELATED_SUBQUERIES:  # {"totalSize", "done", "records"}, or null when empty
            related[key] = [_plain(r) for r in (value or {}).get("records") or []]
        elif key != "attributes":
            values[key] = value
    return ContactMatch(id=row["Id"], values=_plain(values), related=related)


def near_misses(rows: list[dict], values: MatchValues) -> tuple[NearMiss, ...]:
    """B1: the rows that hold the same number written differently, or the email with spaces."""
    found = []
    for row in rows:
        match = record(row)
        for name, theirs in values.near_misses(match.values):
            ours = values.email if name == "Email" else values.phone
            found.append(NearMiss(match, name, theirs, ours))
    return tuple(found)
