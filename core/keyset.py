"""Keyset (cursor) pagination: a page is "the rows after this one", never an OFFSET (L3).

A link to a page carries the ordering values of the row it starts after (or ends before), so the
database seeks straight to it through the list's index, however deep the page, and the link keeps
showing the same rows while others are added or removed elsewhere in the list. The position of the
page's first row ("26-50 of many") travels in the cursor as a label only: lists never count the
workspace (L2).

Hand-written rather than taken from django-cursor-pagination: that library compares with
``field > value OR field IS NULL`` terms, which PostgreSQL cannot use as an index range, so deep
pages would scan again. Here every ordering field is NOT NULL and the filter leads with a plain
``first_field >= value`` bound that the index serves.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Model, Q, QuerySet
from django.utils.timezone import is_naive

AFTER = "after"
BEFORE = "before"


class InvalidCursor(ValueError):
    """A page link whose cursor cannot be read (cut short, edited by hand)."""

    user_message = (
        "That page link is not valid (it may have been cut short). This is the first page."
    )


@dataclass(frozen=True)
class KeysetPage:
    object_list: list
    start: int  # 1-based position of the first row: a label, never used to fetch
    has_next: bool
    has_previous: bool
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def end(self) -> int:
        return self.start + len(self.object_list) - 1

    def __len__(self) -> int:
        return len(self.object_list)


class KeysetPaginator:
    """Pages of ``queryset`` in ``ordering`` (NOT NULL fields, the last one unique, e.g. ``id``)."""

    def __init__(
        self,
        queryset: QuerySet,
        ordering: Sequence[str],
        per_page: int,
        *,
        narrow: Q | None = None,
        narrow_indexed: bool = True,
        narrow_parts: Sequence[Q | Callable[[], tuple[Q, bool]]] = (),
        window: int = 4000,
    ) -> None:
        """``narrow``: a filter applied with the windowed strategy (see ``_rows``), PostgreSQL only;
        ``narrow_indexed``: whether indexes of its own can answer it (else step 2 is the planner's);
        ``narrow_parts``: alternatives whose OR is ``narrow``, each answered by indexes of its
        own: step 2 asks each apart and merges (an OR of a join and an EXISTS is answered by no
        index at all: PostgreSQL then tests every row of the list). A callable is called only
        when step 2 runs (a part that must look something up first) and answers the filter and
        whether to run it through its own indexes only (else the planner chooses).
        """
        self.queryset = queryset.order_by(*ordering)
        self.ordering = tuple(ordering)
        self.per_page = per_page
        self.model: type[Model] = queryset.model
        self.narrow = narrow
        self.narrow_indexed = narrow_indexed
        self.narrow_parts = tuple(narrow_parts)
        self.window = window

    # --- cursors ---------------------------------------------------------------------------
    def _fields(self):
        return [self.model._meta.get_field(name.lstrip("-")) for name in self.ordering]

    def cursor_for(self, row: Model, start: int) -> str:
        values = [field.value_to_string(row) for field in self._fields()]
        raw = json.dumps([*values, start], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, token: str) -> tuple[list[Any], int]:
        """The ordering values and start position in ``token``; ``InvalidCursor`` if unreadable."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            *values, start = json.loads(raw)
            fields = self._fields()
            if len(values) != len(fields) or not isinstance(start, int) or start < 1:
                raise InvalidCursor(token)
            typed = [field.to_python(value) for field, value in zip(fields, values, strict=True)]
        except (binascii.Error, ValueError, TypeError, ValidationError) as exc:
            raise InvalidCursor(token) from exc
        if any(
            value is None or (isinstance(value, datetime) and is_naive(value)) for value in typed
        ):
            raise InvalidCursor(token)
        return typed, start

    # --- filters ---------------------------------------------------------------------------
    def _beyond(self, values: list[Any], *, forward: bool) -> Q:
        """Rows strictly after (``forward``) or before the row with these ordering values."""
        lexicographic = Q()
        equal: dict[str, Any] = {}
        for name, value in zip(self.ordering, values, strict=True):
            field = name.lstrip("-")
            ascending = not name.startswith("-")
            op = "gt" if ascending == forward else "lt"
            lexicographic |= Q(**equal, **{f"{field}__{op}": value})
            equal[f"{field}__exact"] = value
        # The same rows, led by a one-column range the index can seek to (the OR alone cannot).
        first, value = self.ordering[0], values[0]
        bound = "gte" if (not first.startswith("-")) == forward else "lte"
        return Q(**{f"{first.lstrip('-')}__{bound}": value}) & lexicographic

    # --- pages -----------------------------------------------------------------------------
    def page(self, *, after: str | None = None, before: str | None = None) -> KeysetPage:
        """The first page, the page after the ``after`` cursor or the one before ``before``."""
        n = self.per_page
        if after:
            values, start = self.decode(after)
            rows = self._rows(values, forward=True, limit=n + 1)
            return self._page(rows[:n], start, has_next=len(rows) > n, has_previous=True)
        if before:
            values, start = self.decode(before)
            rows = self._rows(values, forward=False, limit=n + 1)
            if len(rows) > n:
                return self._page(rows[:n][::-1], max(start, 2), has_next=True, has_previous=True)
            # Nothing (or less than a page) before it: show the whole first page instead.
        rows = self._rows(None, forward=True, limit=n + 1)
        return self._page(rows[:n], 1, has_next=len(rows) > n, has_previous=False)

    def _ordered(self, values: list[Any] | None, *, forward: bool, narrow: Q | None = None):
        qs = self.queryset if narrow is None else self.queryset.filter(narrow)
        if values is not None:
            qs = qs.filter(self._beyond(values, forward=forward))
        if forward:
            return qs
        return qs.order_by(*[f"-{o}" if not o.startswith("-") else o[1:] for o in self.ordering])

    def _window_hits(self, values, *, forward: bool, limit: int) -> tuple[list, list | None]:
        """Ids of up to ``limit`` matches among the next ``window`` rows, and the ordering values
        of the window's last row when the window was full (else None: nothing lies beyond it).

        The window is a subquery, filtered in the database: only the matches travel.
        """
        keys = {f"_keyset_{i}": F(name.lstrip("-")) for i, name in enumerate(self.ordering)}
        window = (
            self._ordered(values, forward=forward)
            .annotate(
                _keyset_pk=F("pk"),
                _keyset_hit=ExpressionWrapper(self.narrow, output_field=BooleanField()),
                **keys,
            )
            .values_list("_keyset_pk", "_keyset_hit", *keys)[: self.window]
        )
        sql, params = window.query.sql_with_params()
        connection = connections[window.db]
        qn = connection.ops.quote_name
        columns = ", ".join(f"w.{qn(key)}" for key in keys)
        # Only Django's own compiled SQL and quoted names are interpolated; values stay parameters.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT w.{qn('_keyset_pk')} FROM ({sql}) w WHERE w.{qn('_keyset_hit')} LIMIT %s",  # noqa: S608
                (*params, limit),
            )
            ids = [row[0] for row in cursor.fetchall()]
            if len(ids) >= limit:
                return ids, None
            cursor.execute(
                f"SELECT {columns} FROM ({sql}) w LIMIT 1 OFFSET %s",  # noqa: S608
                (*params, self.window - 1),
            )
            last = cursor.fetchone()
        return ids, list(last) if last is not None else None

    def _rows(self, values: list[Any] | None, *, forward: bool, limit: int) -> list:
        """Up to ``limit`` rows beyond ``values`` (from the start when None), in page order.

        With ``narrow`` (a search), PostgreSQL's choice between "walk the list's index in order,
        filtering" and "ask the search indexes, then sort" rests on a guess of how the matches
        are spread, and each is slow where the other is fast (a common fragment; a fragment whose
        matches all sit at the far end of the order, like a first name starting with W). So:
        1. walk the next ``window`` rows in order, the filter evaluated in the same query: enough
           matches there is the exact answer, at the cost of the window;
        2. otherwise the rest comes from beyond the window through the search's own indexes only
           (plain index walks and sequential scans switched off for that one query), at a cost
           that follows the matches beyond the window, never the workspace's size.
        """
        if self.narrow is None:
            return list(self._ordered(values, forward=forward)[:limit])
        ids, last = self._window_hits(values, forward=forward, limit=limit)
        if len(ids) < limit and last is not None:
            ids += self._beyond_window(last, forward=forward, limit=limit - len(ids))
        by_id = self.queryset.in_bulk(ids)
        return [by_id[pk] for pk in ids if pk in by_id]

    def _beyond_window(self, last: list[Any], *, forward: bool, limit: int) -> list:
        """Step 2 of ``_rows``: the first ``limit`` matches after the window's last row."""
        if not self.narrow_parts:
            rest = self._ordered(last, forward=forward, narrow=self.narrow).values_list(
                "pk", flat=True
            )[:limit]
            return _through_search_indexes(rest) if self.narrow_indexed else list(rest)
        # Each alternative's own first ``limit`` (by its own indexes), merged: the first
        # ``limit`` of the union are among them.
        fields = [name.lstrip("-") for name in self.ordering]
        found: dict[Any, tuple] = {}
        for part in self.narrow_parts:
            part, indexed = part() if callable(part) else (part, self.narrow_indexed)
            rows = self._ordered(last, forward=forward, narrow=part).values_list("pk", *fields)
            rows = rows[:limit]
            for row in _through_search_indexes(rows) if indexed else rows:
                found[row[0]] = row
        merged = list(found.values())
        # Stable sorts from the last ordering field to the first, each in its direction.
        for i in reversed(range(len(fields))):
            descending = self.ordering[i].startswith("-") == forward
            merged.sort(key=lambda row, i=i: row[i + 1], reverse=descending)
        return [row[0] for row in merged[:limit]]

    def _page(self, rows: list, start: int, *, has_next: bool, has_previous: bool) -> KeysetPage:
        return KeysetPage(
            object_list=rows,
            start=start,
            has_next=has_next and bool(rows),
            has_previous=has_previous,
            next_cursor=self.cursor_for(rows[-1], start + len(rows)) if has_next and rows else None,
            previous_cursor=(
                self.cursor_for(rows[0], max(1, start - self.per_page))
                if has_previous and rows
                else None
            ),
        )


def _through_search_indexes(queryset: QuerySet) -> list:
    """Run ``queryset`` with PostgreSQL's plain index walks and sequential scans switched off."""
    connection = connections[queryset.db]
    with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            return list(queryset)
        finally:
            cursor.execute("RESET enable_indexscan")
            cursor.execute("RESET enable_seqscan")


def page_links(page: KeysetPage, params: Mapping[str, str]) -> dict[str, str | None]:
    """``first``/``previous``/``next`` query strings that keep the list's other parameters."""
    kept = {k: v for k, v in params.items() if k not in (AFTER, BEFORE) and v}

    def link(**cursor: str) -> str:
        return "?" + urlencode({**kept, **cursor})

    return {
        "first": link() if page.has_previous else None,
        "previous": link(before=page.previous_cursor) if page.previous_cursor else None,
        "next": link(after=page.next_cursor) if page.next_cursor else None,
    }
