"""Salesforce values as an agent reads them: labels, picklist labels, dates in the workspace's zone."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import formats

from .lookup import ContactMatch
from .models import DEFAULT_FIELD_META, SalesforceConnection


@dataclass(frozen=True)
class FieldRow:
    path: str
    label: str
    text: str


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
            )
        )
    return rows
