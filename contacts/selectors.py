from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import BadRequest
from django.db import connection
from django.db.models import Q, QuerySet

from core.keyset import AFTER, BEFORE, KeysetPage, KeysetPaginator
from workspace.models import Workspace

from .models import Contact
from .phones import spellings

PAGE_SIZE = 25
ORDERING = ("name", "id")

# What an email or a phone number looks like as a whole query (L1's exact path).
EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_LIKE = re.compile(r"^\+?[0-9 ()./-]+$")
PHONE_MIN_DIGITS = 7


@dataclass(frozen=True)
class ContactSearch:
    contacts: QuerySet[Contact]
    exact: bool  # True: only the contacts whose email or phone equals the query
    fragment: Q | None = None  # the name/email/phone "contains" filter, when that is the search


def _phone_like(query: str) -> bool:
    return bool(PHONE_LIKE.match(query)) and sum(ch.isdigit() for ch in query) >= PHONE_MIN_DIGITS


def phone_spellings(query: str, region: str | None) -> list[str]:
    """A query that looks like a whole phone number: the usual spellings of its number, read in
    the workspace's country, the query first ("415 555 0123" also finds "+14155550123" and
    "(415) 555-0123"). Anything else: []."""
    return spellings(query, region) if _phone_like(query) else []


def exact_match(query: str) -> Q | None:
    """The exact-match filter for a query that looks like an email or a phone number, else None.

    Email compares without regard to case, phone character for character (the stored values are
    as typed). Both are served by btree indexes: (workspace, UPPER(email)) and (workspace, phone).
    """
    if EMAIL_LIKE.match(query):
        return Q(email__iexact=query)
    if _phone_like(query):
        return Q(phone=query)
    return None


def contact_search(
    *, workspace: Workspace, query: str = "", exact_first: bool = True
) -> ContactSearch:
    """The workspace's contacts matching ``query`` (I3, L1), in name order.

    A query that looks like an email or a phone number first tries the exact path; when that finds
    someone, those contacts are the answer. Otherwise contacts whose name, email or phone contains
    the query (case-insensitive): on PostgreSQL the trigram GIN indexes on UPPER(name / email /
    phone) answer this ``icontains`` without reading the workspace; for a whole phone number, also
    the contacts holding the same number in another usual spelling (the phone's btree index).
    """
    contacts = Contact.objects.filter(workspace=workspace)
    query = query.strip()
    if not query:
        return ContactSearch(contacts.order_by(*ORDERING), exact=False)
    exact = exact_match(query) if exact_first else None
    if exact is not None:
        exact_contacts = contacts.filter(exact).order_by(*ORDERING)
        if exact_contacts.exists():
            return ContactSearch(exact_contacts, exact=True)
    contains = Q(name__icontains=query) | Q(email__icontains=query) | Q(phone__icontains=query)
    if phones := phone_spellings(query, workspace.phone_region):
        contains |= Q(phone__in=phones)  # the same number stored in another spelling
    return ContactSearch(
        contacts.filter(contains).order_by(*ORDERING), exact=False, fragment=contains
    )


def contact_page(
    *, workspace: Workspace, query: str = "", exact_first: bool = True, after=None, before=None
) -> tuple[ContactSearch, KeysetPage]:
    """One page of the Contacts list (L3): keyset on (name, id), no count (L2).

    Raises ``keyset.InvalidCursor`` for a cursor that cannot be read.
    """
    search = contact_search(workspace=workspace, query=query, exact_first=exact_first)
    if search.fragment is not None and connection.vendor == "postgresql":
        # Fragment search on PostgreSQL: bounded whether the matches are many or few (keyset).
        base = Contact.objects.filter(workspace=workspace)
        paginator = KeysetPaginator(
            base,
            ORDERING,
            PAGE_SIZE,
            narrow=search.fragment,
            # Trigrams need three characters: a shorter fragment has no index of its own.
            narrow_indexed=len(query.strip()) >= 3,
        )
    else:
        paginator = KeysetPaginator(search.contacts, ORDERING, PAGE_SIZE)
    return search, paginator.page(after=after, before=before)


# M6: a list says how many it holds when that is cheap: up to this many, counted with a LIMIT one
# above it, so the count reads at most COUNT_LIMIT + 1 index entries however large the workspace.
COUNT_LIMIT = 1000


def contact_total(search: ContactSearch, query: str = "") -> int | None:
    """The number of contacts ``search`` finds when it is at most COUNT_LIMIT, else None ("many").

    A fragment shorter than three characters is not counted on PostgreSQL: no trigram index
    answers it, so a rare fragment would read the whole workspace to count it.
    """
    if search.fragment is not None and len(query.strip()) < 3 and connection.vendor == "postgresql":
        return None
    found = search.contacts.order_by()[: COUNT_LIMIT + 1].count()
    return found if found <= COUNT_LIMIT else None


def list_params(params: Mapping[str, str]) -> dict:
    """The Contacts list's own parameters from a query string (``q``, ``match``, the cursor)."""
    return {
        # H2: no stored value holds a NUL (PostgreSQL refuses it even in a search): drop it.
        "query": params.get("q", "").replace("\x00", "")[:200],
        "exact_first": params.get("match") != "contains",
        "after": params.get(AFTER) or None,
        "before": params.get(BEFORE) or None,
    }


def contacts_on_page(*, workspace: Workspace, params: Mapping[str, str]) -> list[Contact]:
    """The contacts a Contacts page hands to its badge loaders (B4): ``ids``, comma-separated,
    at most one page, in the page's order, this workspace only. Malformed ids: ``BadRequest``."""
    try:
        ids = [int(part) for part in params.get("ids", "").split(",") if part.strip()]
    except ValueError as exc:
        raise BadRequest("ids must be comma-separated contact ids.") from exc
    if len(ids) > PAGE_SIZE:
        raise BadRequest(f"At most {PAGE_SIZE} contact ids (one page).")
    return list(Contact.objects.filter(workspace=workspace, pk__in=ids).order_by(*ORDERING))
