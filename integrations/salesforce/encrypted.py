"""Match fields under Shield Platform Encryption (issue 24, E2).

Describe says, per field, whether it can be filtered (``filterable``; false under the default,
probabilistic scheme) and whether it is encrypted (``caseSensitive`` for the deterministic,
case-sensitive scheme). org_profile.py reads it at connect and daily; this module turns it into
the lookup's one call:

- every match field filterable: today's SOQL, except that an encrypted Email gets no LIKE (no
  scheme supports it) and a case-sensitive one is asked as given and lower-cased;
- a match field that cannot be filtered is never put in a WHERE clause: the lookup is one SOSL
  search (``FIND {...} IN EMAIL FIELDS`` / ``IN PHONE FIELDS``, reserved characters escaped)
  whose answers are confirmed by exact equality (``MatchValues.matches``), as before. A SOSL
  RETURNING clause cannot hold subqueries, so related lists are not read in that mode.
"""

from __future__ import annotations

from .matching import MatchValues, _in, match_conditions
from .matching import lookup_conditions as matching_lookup_conditions
from .org_profile import CASE_SENSITIVE, PLAIN

SOSL_RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
PHONE_FIELDS = ("Phone", "MobilePhone")


def scheme(connection, field: str) -> str:
    return ((connection.match_field_info or {}).get(field) or {}).get("scheme", PLAIN)


def filterable(connection, field: str) -> bool:
    return ((connection.match_field_info or {}).get(field) or {}).get("filterable", True)


def needs_search(connection, values: MatchValues) -> bool:
    """True when a field these values are matched on cannot appear in a WHERE clause."""
    if values.email and not filterable(connection, "Email"):
        return True
    return bool(values.phone) and not all(filterable(connection, f) for f in PHONE_FIELDS)


def email_condition(connection, emails: list[str], field: str = "Email") -> str:
    """``Email = x``, or with case-sensitive deterministic encryption ``Email IN (x, lower x)``.

    ``field``: E3's person accounts ask ``PersonEmail``, encrypted with the Contact's Email.
    """
    if scheme(connection, "Email") == CASE_SENSITIVE:
        spelled: list[str] = []
        for email in emails:
            spelled += [e for e in (email, email.lower()) if e not in spelled]
        return _in(field, spelled)
    return _in(field, emails)


def lookup_conditions(connection, values: MatchValues) -> list[str]:
    """matching.lookup_conditions under the org's encryption (all match fields filterable)."""
    return matching_lookup_conditions(
        values,
        email_condition=email_condition(connection, [values.email]) if values.email else "",
        email_hint=scheme(connection, "Email") == PLAIN,
    )


def escape(term: str) -> str:
    """A SOSL search term with every reserved character backslash-escaped."""
    return "".join("\\" + c if c in SOSL_RESERVED else c for c in term)


def search_query(
    fields: list[str], values: list[MatchValues], limit: int, sobject: str = "Contact"
) -> str:
    """ONE SOSL search for these values' emails and phones, newest first (E2)."""
    emails = sorted({v.email for v in values if v.email})
    phones = sorted({v.phone for v in values if v.phone})
    terms = [f'"{escape(e)}"' for e in emails] + [f'"{escape(p)}"' for p in phones]
    if not terms:
        raise ValueError("Nothing to look up: no email and no phone.")
    scope = "EMAIL" if not phones else ("PHONE" if not emails else "ALL")
    returning = f"{sobject}({', '.join(fields)} ORDER BY LastModifiedDate DESC LIMIT {int(limit)})"
    return f"FIND {{{' OR '.join(terms)}}} IN {scope} FIELDS RETURNING {returning}"


def badge_conditions(connection, values: list[MatchValues], *, spellings: int | None) -> list[str]:
    """matching.match_conditions, the Email condition asked as the org's encryption needs."""
    conditions = match_conditions(values, spellings=spellings)
    emails = sorted({v.email for v in values if v.email})
    if emails and scheme(connection, "Email") == CASE_SENSITIVE:
        conditions[0] = email_condition(connection, emails)
    return conditions


def as_query_answer(answer: dict | None, limit: int) -> dict:
    """A SOSL answer in the shape the lookup reads (``records``, ``totalSize``)."""
    rows = list((answer or {}).get("searchRecords") or [])
    return {"records": rows, "totalSize": len(rows) + (1 if len(rows) >= limit else 0)}
