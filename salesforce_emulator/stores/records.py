"""sObject rows per org (every object in ``schema.OBJECTS``), record ids, REST writes."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable
from typing import Any

from .. import schema
from ..errors import EmulatorError
from .base import Lock, Store
from .logs import LogStore

_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
Row = dict[str, Any]
# (org id, sObject, change type, record id, row before or None, row after or None, write log or
# None): told of every change after it is made, under the store's lock
ChangeListener = Callable[[str, str, str, str, Row | None, Row | None, dict | None], None]


def to18(id15: str) -> str:
    """Salesforce's case-safe 18-character id: 15 characters plus a 3-character checksum."""
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                flags |= 1 << bit
        suffix += _CHECKSUM_CHARS[flags]
    return id15 + suffix


def sf_now() -> str:
    """Now, formatted as Salesforce formats datetimes: 2026-11-20T14:03:11.000+0000."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def coerce(sobject: str, row: Row) -> Row:
    """Canonical field names and stored representations for the given fields only."""
    out: Row = {}
    for name, value in row.items():
        fdef = schema.field(sobject, name)
        if fdef is None:
            raise EmulatorError(f"No such column '{name}' on sobject of type {sobject}")
        if value == "":
            value = None  # Salesforce stores empty text as null
        if fdef["type"] in schema.NUMBER_TYPES and value is not None:
            value = float(value)
        out[fdef["name"]] = value
    return out


def _compute(sobject: str, row: Row) -> None:
    """Formula-like fields: a person's Name, a Case's IsClosed, an Opportunity's IsClosed/IsWon."""
    person = sobject != "Account" or row.get("IsPersonAccount")  # a business account is named
    if person and schema.field(sobject, "FirstName") and schema.field(sobject, "Name"):
        parts = [row.get("FirstName"), row.get("LastName")]
        row["Name"] = " ".join(p for p in parts if p) or None
    if sobject == "Case":
        row["IsClosed"] = row.get("Status") in schema.CLOSED_CASE_STATUSES
        if not row["IsClosed"]:
            row["ClosedDate"] = None
        elif not row.get("ClosedDate"):
            row["ClosedDate"] = row.get("LastModifiedDate")
    if sobject == "Task":
        row["IsClosed"] = row.get("Status") in schema.CLOSED_TASK_STATUSES
    if sobject == "Opportunity":
        row["IsClosed"] = row.get("StageName") in schema.CLOSED_STAGES
        row["IsWon"] = row.get("StageName") in schema.WON_STAGES


def _new_row(sobject: str, row: Row) -> Row:
    """A complete stored row from some fields: timestamps, defaults, every field present."""
    out = coerce(sobject, row)
    stamp = out.get("CreatedDate") or out.get("LastModifiedDate") or sf_now()
    out.setdefault("CreatedDate", stamp)
    out.setdefault("LastModifiedDate", stamp)
    out.setdefault("IsDeleted", False)
    if sobject == "Contact":
        out.setdefault("DoNotCall", False)
    if sobject == "OpportunityContactRole":
        out.setdefault("IsPrimary", False)
    if sobject == "Task":  # Salesforce's defaults for a Task created without them
        out["Status"] = out.get("Status") or "Not Started"
        out["Priority"] = out.get("Priority") or "Normal"
        out["TaskSubtype"] = out.get("TaskSubtype") or "Task"
    for fdef in schema.OBJECTS[sobject]["fields"]:
        out.setdefault(fdef["name"], None)
    _compute(sobject, out)
    return out


def _org_rows(org: dict[str, Any]) -> dict[str, dict[str, Row]]:
    """An org's tables: its Organization row, a User row per user, the data file's records."""
    tables: dict[str, dict[str, Row]] = {name: {} for name in schema.OBJECTS}
    created = org["created_date"]
    tables["Organization"][org["id"]] = {
        "Id": org["id"],
        "Name": org["name"],
        "IsSandbox": bool(org["is_sandbox"]),
        "OrganizationType": org.get("edition", "Enterprise Edition"),
        "InstanceName": org["instance_name"],
        "LanguageLocaleKey": "en_US",
        "TimeZoneSidKey": "America/Los_Angeles",
        "DefaultCurrencyIsoCode": org.get("currency", "USD"),
        "CreatedDate": created,
        "LastModifiedDate": created,
    }
    for user in org["users"]:
        row = {
            "Id": user["id"],
            "Username": user["username"],
            "FirstName": user.get("first_name"),
            "LastName": user["last_name"],
            "Email": user["email"],
            "IsActive": user["active"],
            "CreatedDate": created,
            "LastModifiedDate": created,
        }
        _compute("User", row)
        tables["User"][user["id"]] = row
    for sobject, rows in (org.get("records") or {}).items():
        for row in rows:
            tables[sobject][row["Id"]] = _new_row(sobject, row)
    return tables


class RecordStore(Store):
    def __init__(self, lock: Lock, logs: LogStore) -> None:
        super().__init__(lock)
        self.logs = logs
        self.by_org: dict[str, dict[str, dict[str, Row]]] = {}
        self._counter = itertools.count(1)  # not reset: ids stay unique across resets
        self.on_change: ChangeListener | None = None
        # (org id, sObject) -> values a new row takes when not given (E1: CurrencyIsoCode)
        self.row_defaults: Callable[[str, str], Row] = lambda org_id, sobject: {}

    def _changed(
        self,
        org_id: str,
        sobject: str,
        change_type: str,
        record_id: str,
        before: Row | None,
        after: Row | None,
        log: dict | None,
    ) -> None:
        if self.on_change is not None:
            self.on_change(org_id, sobject, change_type, record_id, before, after, log)

    def load(self, orgs: list[dict[str, Any]]) -> None:
        """Take the data file's orgs (as ``Directory.load`` completed them)."""
        tables = {org["id"]: _org_rows(org) for org in orgs}
        with self.lock:
            self.by_org = tables

    def table(self, org_id: str, sobject: str) -> list[Row]:
        with self.lock:
            return list(self.by_org[org_id][sobject].values())

    def lookup_fn(self, org_id: str) -> Callable[[str, str], Row | None]:
        """``lookup(sobject, id)`` in one org; a 15-character id finds its 18-character record.

        The rows it answers are the stored ones: hold the lock while using them.
        """
        tables = self.by_org[org_id]

        def lookup(sobject: str, record_id: str) -> Row | None:
            row = tables[sobject].get(record_id)
            if row is None and len(record_id) == 15:
                row = next((r for k, r in tables[sobject].items() if k[:15] == record_id), None)
            return row

        return lookup

    def fill_missing(self, org_id: str, sobject: str, values: Row) -> None:
        """Rows without these fields take them, with no change event: an org setting switched
        on (a feature's fields existed all along, Salesforce-side)."""
        with self.lock:
            for row in self.by_org[org_id][sobject].values():
                for name, value in values.items():
                    if row.get(name) is None:
                        row[name] = value

    def get(self, org_id: str, sobject: str, record_id: str) -> Row | None:
        """A copy of one record of one org, or None."""
        with self.lock:
            row = self.lookup_fn(org_id)(sobject, record_id)
            return dict(row) if row else None

    def find(self, sobject: str, record_id: str) -> tuple[str, Row] | None:
        """Find a record in any org (for the record pages): (org id, a copy of the row)."""
        with self.lock:
            for org_id in self.by_org:
                row = self.get(org_id, sobject, record_id)
                if row is not None:
                    return org_id, row
            return None

    def _stored(self, org_id: str, sobject: str, record_id: str) -> Row:
        row = self.lookup_fn(org_id)(sobject, record_id)
        if row is None:
            raise EmulatorError(f"unknown {sobject} {record_id!r}")
        return row

    def _log(self, log: dict | None, record_id: str, fields: Row | None) -> None:
        if log is not None:
            self.logs.add_write({**log, "id": record_id, "fields": fields, "ts": time.time()})

    def new_id(self, sobject: str) -> str:
        """A fresh record id of ``sobject`` (for rows created together, E3's person accounts)."""
        prefix = schema.OBJECTS[sobject]["keyPrefix"]
        return to18(f"{prefix}Em{next(self._counter):010d}")

    def put_quiet(self, org_id: str, sobject: str, row: Row) -> None:
        """Add or replace a row an org setting implies (E3: record types), without an event."""
        with self.lock:
            self.by_org[org_id][sobject][row["Id"]] = _new_row(sobject, row)

    def create(
        self,
        org_id: str,
        sobject: str,
        fields: Row,
        *,
        log: dict | None,
        record_id: str | None = None,
    ) -> str:
        with self.lock:
            record_id = record_id or self.new_id(sobject)
            stamp = sf_now()
            values = {**self.row_defaults(org_id, sobject), **fields}
            if sobject == "Case":  # an auto-number field: the next number in this org
                numbers = [int(r["CaseNumber"]) for r in self.by_org[org_id]["Case"].values()]
                values["CaseNumber"] = f"{max(numbers, default=0) + 1:08d}"
            row = _new_row(sobject, {**values, "Id": record_id, "CreatedDate": stamp})
            row["LastModifiedDate"] = stamp
            self.by_org[org_id][sobject][record_id] = row
            self._log(log, record_id, fields)
            self._changed(org_id, sobject, "CREATE", record_id, None, dict(row), log)
            return record_id

    def update(
        self,
        org_id: str,
        sobject: str,
        record_id: str,
        fields: Row,
        *,
        log: dict | None,
        touch: bool = True,
    ) -> None:
        with self.lock:
            row = self._stored(org_id, sobject, record_id)
            before = dict(row)
            changes = coerce(sobject, fields)
            row.update(changes)
            if touch and "LastModifiedDate" not in changes:
                row["LastModifiedDate"] = sf_now()
            _compute(sobject, row)
            self._log(log, row["Id"], fields)
            kind = "UNDELETE" if before.get("IsDeleted") and not row.get("IsDeleted") else "UPDATE"
            if row.get("IsDeleted") and not before.get("IsDeleted"):
                kind = "DELETE"
            self._changed(org_id, sobject, kind, row["Id"], before, dict(row), log)

    def delete(self, org_id: str, sobject: str, record_id: str, *, log: dict | None) -> None:
        with self.lock:
            row = self._stored(org_id, sobject, record_id)
            before = dict(row)
            row["IsDeleted"] = True
            row["LastModifiedDate"] = sf_now()
            self._log(log, row["Id"], None)
            self._changed(org_id, sobject, "DELETE", row["Id"], before, None, log)

    def upsert(
        self, sobject: str, record_id: str, fields: Row, org_id: str | None
    ) -> tuple[str, bool]:
        """Update a record found in any org, or create it with that id in ``org_id``.

        Not API use and not a logged write (the control endpoint's back door). Returns
        (id, created).
        """
        with self.lock:
            found = self.find(sobject, record_id)
            if found is not None:
                found_org, row = found
                self.update(found_org, sobject, row["Id"], fields, log=None)
                return row["Id"], False
            if not org_id:
                raise EmulatorError("record not found; pass org_id to create it")
            if org_id not in self.by_org:
                raise EmulatorError(f"unknown org {org_id!r}")
            row = _new_row(sobject, {**fields, "Id": record_id})
            self.by_org[org_id][sobject][record_id] = row
            self._changed(org_id, sobject, "CREATE", record_id, None, dict(row), None)
            return record_id, True
