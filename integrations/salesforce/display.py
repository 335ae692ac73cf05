"""Salesforce values as an agent reads them: labels, picklist labels, dates in the workspace's zone."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from django.utils import formats

from .models import DEFAULT_FIELD_META, RELATED_LISTS, SalesforceConnection
from .related import RELATED_LIMIT
from .results import ContactMatch


@dataclass(frozen=True)
class FieldRow:
    path: str
    label: str
    text: str
    kind: str = "string"  # A1: the describe type ("email", "phone" never break mid-string)


def parse_datetime(raw: str) -> datetime | None:
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(raw, pattern)
        except (TypeError, ValueError):
            continue
    return None


def format_value(raw, meta: dict, tz: zoneinfo.ZoneInfo) -> str:
    """One value as text (templates escape it). Unknown shapes fall back to str()."""
    if raw is None or raw == "":
        return "—"
    kind = meta.get("type", "string")
    if kind == "datetime":
        parsed = parse_datetime(str(raw))
        if parsed:
            return formats.date_format(parsed.astimezone(tz), "j M Y, H:i")
    if kind == "date":
        try:
            return formats.date_format(date.fromisoformat(str(raw)), "j M Y")
        except ValueError:
            pass
    if kind == "boolean":
        return "Yes" if raw is True else "No"
    if kind in ("picklist", "multipicklist"):
        labels = meta.get("picklist") or {}
        return "; ".join(labels.get(v, v) for v in str(raw).split(";"))
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def field_rows(match: ContactMatch, connection: SalesforceConnection, tz) -> list[FieldRow]:
    """The admin's chosen fields (S6), in their order, labelled from the org's describe."""
    rows = []
    for path in connection.field_names:
        meta = connection.field_meta.get(path) or DEFAULT_FIELD_META.get(path) or {}
        rows.append(
            FieldRow(
                path=path,
                label=meta.get("label") or path,
                text=format_value(match.value(path), meta, tz),
                kind=meta.get("type", "string"),
            )
        )
    return rows


RELATED_SHOWN = 3  # R1: up to three rows per list, then "N more" links to Salesforce


class RelatedRow(NamedTuple):
    """One related record: what it is, its state, its Lightning page."""

    title: str
    detail: str
    url: str


@dataclass(frozen=True)
class RelatedList:
    name: str
    label: str
    rows: list[RelatedRow]
    more: int  # rows beyond the shown ones
    more_url: str
    capped: bool  # the subquery's limit was reached: Salesforce may hold more than ``more``


def _case_row(record: dict, connection, tz) -> RelatedRow:
    modified = format_value(record.get("LastModifiedDate"), {"type": "datetime"}, tz)
    return RelatedRow(
        title=f"{record.get('CaseNumber') or ''} {record.get('Subject') or ''}".strip() or "Case",
        detail=" · ".join(
            v for v in (record.get("Status"), record.get("Priority"), f"updated {modified}") if v
        ),
        url=connection.record_view_url(record["Id"], "Case"),
    )


def _opportunity_row(record: dict, connection, tz) -> RelatedRow:
    deal = record.get("Opportunity") or {}
    amount = deal.get("Amount")
    amount_text = formats.number_format(amount, 2, force_grouping=True) if amount else ""
    # E1: a multi-currency org names each amount's own currency; otherwise the org's one.
    currency = deal.get("CurrencyIsoCode") or connection.currency
    if amount_text and currency:
        amount_text = f"{currency} {amount_text}"
    close = format_value(deal.get("CloseDate"), {"type": "date"}, tz)
    return RelatedRow(
        title=deal.get("Name") or "Opportunity",
        detail=" · ".join(v for v in (deal.get("StageName"), amount_text, f"closes {close}") if v),
        url=connection.record_view_url(record.get("OpportunityId") or record["Id"], "Opportunity"),
    )


def related_lists(match: ContactMatch, connection: SalesforceConnection, tz) -> list[RelatedList]:
    """R1: the Contact's open Cases and Opportunities, as the admin switched them on."""
    builders = {"Cases": _case_row, "OpportunityContactRoles": _opportunity_row}
    shown = []
    for name in connection.related_lists:
        if name not in builders or name not in RELATED_LISTS:
            continue
        records = match.related.get(name) or []
        shown.append(
            RelatedList(
                name=name,
                label=RELATED_LISTS[name]["label"],
                rows=[builders[name](r, connection, tz) for r in records[:RELATED_SHOWN]],
                more=max(0, len(records) - RELATED_SHOWN),
                more_url=connection.related_list_url(match.id, name),
                capped=len(records) >= RELATED_LIMIT,
            )
        )
    return shown
