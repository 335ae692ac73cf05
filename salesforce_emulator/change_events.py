"""Change Data Capture events as the Pub/Sub API delivers them: Avro schemas and payloads.

One schema per entity (``ContactChangeEvent``...), in Salesforce's shape: a ``ChangeEventHeader``
record first, then the object's fields, each an optional union defaulting to null. A person's
name is the compound field ``Name`` (``Salutation``, ``FirstName``, ``LastName``). Datetimes are
epoch milliseconds (long), dates epoch days (int). ``IsDeleted`` is not in change events.

Payloads follow the Pub/Sub API (not Streaming API): every field is present, fields that did not
change are null, and ``changedFields`` / ``nulledFields`` / ``diffFields`` are bitmaps over the
schema's field positions (``salesforce_pubsub.avro.field_bitmap``). Change events carry new
values only: an update of Email says which record changed and its new Email, never the old one.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
from typing import Any

from salesforce_pubsub import avro

from . import schema

# OpportunityContactRole has its own events: adding a role to an opportunity or removing it
# changes no Opportunity (issue 24). Account and User: parent names shown beside a Contact.
ENTITIES = ("Contact", "Case", "Opportunity", "OpportunityContactRole", "Lead", "Account", "User")
ALL_CHANGES_TOPIC = "/data/ChangeEvents"
TOPICS = {f"/data/{entity}ChangeEvent": entity for entity in ENTITIES}
CHANGE_TYPES = (
    "CREATE",
    "DELETE",
    "GAP_CREATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_UPDATE",
    "GAP_OVERFLOW",
    "UNDELETE",
    "UPDATE",
)
NAME_PARTS = ("Salutation", "FirstName", "LastName")
# Address compounds arrive nested (``MailingAddress: {City, ...}``), as a person's Name does.
ADDRESS_PREFIXES = ("Mailing", "Other", "Billing", "Shipping")
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude")


def _compound(entity: str, name: str) -> tuple[str, str] | None:
    """(compound, part) for a field that travels inside a compound in change events."""
    if name in _name_parts(entity):
        return "Name", name
    for prefix in ADDRESS_PREFIXES:
        part = name.removeprefix(prefix)
        if part != name and part in ADDRESS_PARTS:
            return f"{prefix}Address", part
    return None


def _compound_parts(entity: str) -> dict[str, list[str]]:
    """Compound name -> its parts on this object, in schema order."""
    out: dict[str, list[str]] = {}
    for fdef in schema.OBJECTS[entity]["fields"]:
        found = _compound(entity, fdef["name"])
        if found:
            out.setdefault(found[0], []).append(found[1])
    return out


def _avro_type(ftype: str) -> str:
    if ftype == "boolean":
        return "boolean"
    if ftype in schema.NUMBER_TYPES:
        return "double"
    if ftype == "datetime":
        return "long"
    if ftype == "date":
        return "int"
    return "string"


def _optional(name: str, avro_type: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None}


def _header() -> dict[str, Any]:
    strings = {"type": "array", "items": "string"}
    return {
        "name": "ChangeEventHeader",
        "type": {
            "type": "record",
            "name": "ChangeEventHeader",
            "fields": [
                {"name": "entityName", "type": "string"},
                {"name": "recordIds", "type": strings},
                {
                    "name": "changeType",
                    "type": {"type": "enum", "name": "ChangeType", "symbols": list(CHANGE_TYPES)},
                },
                {"name": "changeOrigin", "type": "string"},
                {"name": "transactionKey", "type": "string"},
                {"name": "sequenceNumber", "type": "int"},
                {"name": "commitTimestamp", "type": "long"},
                {"name": "commitNumber", "type": "long"},
                {"name": "commitUser", "type": "string"},
                {"name": "nulledFields", "type": strings},
                {"name": "diffFields", "type": strings},
                {"name": "changedFields", "type": strings},
            ],
        },
    }


def _name_parts(entity: str) -> list[str]:
    """The parts of a person's compound ``Name`` this object has (none: not a person)."""
    if schema.field(entity, "FirstName") is None:
        return []
    return [part for part in NAME_PARTS if schema.field(entity, part)]


@functools.cache
def schema_json(entity: str) -> str:
    """The Avro schema (JSON text) of ``<entity>ChangeEvent``."""
    compounds = _compound_parts(entity)
    fields: list[dict[str, Any]] = [_header()]
    placed: set[str] = set()
    for fdef in schema.OBJECTS[entity]["fields"]:
        name = fdef["name"]
        if name in ("Id", "IsDeleted") or ("Name" in compounds and name == "Name"):
            continue  # the id travels in the header's recordIds; a person's Name is compound
        found = _compound(entity, name)
        if found:
            compound = found[0]
            if compound not in placed:
                placed.add(compound)
                record_name = "Switchable_PersonName" if compound == "Name" else compound
                fields.append(
                    _optional(
                        compound,
                        {
                            "type": "record",
                            "name": record_name,
                            "fields": [_optional(p, "string") for p in compounds[compound]],
                        },
                    )
                )
            continue
        fields.append(_optional(name, _avro_type(fdef["type"])))
    document = {
        "type": "record",
        "name": f"{entity}ChangeEvent",
        "namespace": "com.sforce.eventbus",
        "fields": fields,
    }
    return json.dumps(document, separators=(",", ":"))


@functools.cache
def schema_id(entity: str) -> str:
    """A fingerprint of the schema: opaque, stable while the schema is."""
    digest = hashlib.sha256(schema_json(entity).encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def schemas() -> dict[str, str]:
    """Every schema by id."""
    return {schema_id(entity): schema_json(entity) for entity in ENTITIES}


def _avro_value(entity: str, name: str, value: Any) -> Any:
    if value is None:
        return None
    ftype = schema.field(entity, name)["type"]
    if ftype == "datetime":
        stamp = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
        return int(stamp.timestamp() * 1000)
    if ftype == "date":
        return (dt.date.fromisoformat(value) - dt.date(1970, 1, 1)).days
    if ftype in schema.NUMBER_TYPES:
        return float(value)
    if ftype == "boolean":
        return bool(value)
    return str(value)


def event_field(entity: str, name: str) -> str:
    """The change event's name for an object field (``FirstName`` -> ``Name.FirstName``,
    ``MailingCity`` -> ``MailingAddress.City``)."""
    found = _compound(entity, name)
    return f"{found[0]}.{found[1]}" if found else name


def _field_of(entity: str, event_name: str) -> str:
    """The object field an event field name stands for (``MailingAddress.City`` -> MailingCity)."""
    compound, _, part = event_name.partition(".")
    if not part:
        return event_name
    return part if compound == "Name" else compound.removesuffix("Address") + part


def payload(
    entity: str,
    *,
    change_type: str,
    record_id: str,
    row: dict[str, Any] | None,
    changed: list[str],
    header: dict[str, Any],
) -> tuple[bytes, dict[str, Any]]:
    """(Avro payload, the record it encodes) for one change.

    ``row``: the record after the change (None for a delete). ``changed``: the object's field
    names that changed (an update); a create or undelete carries every non-null field, a delete
    none.
    """
    text = schema_json(entity)
    names = [f["name"] for f in json.loads(text)["fields"][1:]]
    if change_type == "UPDATE":
        carried = set(changed)
    elif change_type in ("CREATE", "UNDELETE") and row is not None:
        carried = {k for k, v in row.items() if v is not None}
    else:
        carried = set()
    record: dict[str, Any] = {name: None for name in names}
    nested: dict[str, dict[str, Any]] = {}
    for field_name in carried:
        if field_name in ("Id", "IsDeleted") or row is None:
            continue
        if field_name == "Name" and _name_parts(entity):
            continue  # a person's computed Name: its parts are carried instead
        value = _avro_value(entity, field_name, row.get(field_name))
        target = event_field(entity, field_name)
        if "." in target:
            compound, part = target.split(".", 1)
            nested.setdefault(compound, {})[part] = value
        elif target in record:
            record[target] = value
    compounds = _compound_parts(entity)
    for compound, values in nested.items():
        record[compound] = {part: values.get(part) for part in compounds[compound]}
    update_names = (
        sorted({event_field(entity, n) for n in changed if n not in ("Id", "IsDeleted", "Name")})
        if change_type == "UPDATE"
        else []
    )
    nulled = [n for n in update_names if row is not None and row.get(_field_of(entity, n)) is None]
    record["ChangeEventHeader"] = {
        **header,
        "entityName": entity,
        "recordIds": [record_id],
        "changeType": change_type,
        "changedFields": avro.field_bitmap(text, update_names),
        "nulledFields": avro.field_bitmap(text, nulled),
        "diffFields": [],
    }
    return avro.encode(text, record), record
