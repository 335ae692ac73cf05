"""Avro payloads of Pub/Sub API events and the bitmap fields of a ``ChangeEventHeader``.

A ``ProducerEvent.payload`` is one Avro binary datum (no container header) written with the
schema that ``ProducerEvent.schema_id`` names; GetSchema answers that schema as JSON.

Over the Pub/Sub API, a change event's ``changedFields``, ``nulledFields`` and ``diffFields`` are
bitmaps, not names (Salesforce, "Event Deserialization Considerations"): a list of strings whose
first element, ``"0x..."``, is a hexadecimal number where bit *i* set means the schema's top-level
field *i*; a later element ``"P-0x..."`` does the same for the fields of the compound field at
top-level position *P* (a Contact's ``Name``: ``Name.FirstName``).
"""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import fastavro


@functools.lru_cache(maxsize=64)
def parse_schema(schema_json: str) -> Any:
    """The parsed (and cached) schema of a GetSchema ``schema_json``."""
    return fastavro.parse_schema(json.loads(schema_json))


def encode(schema_json: str, record: dict[str, Any]) -> bytes:
    """One record as Avro binary under ``schema_json`` (missing optional fields become null)."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parse_schema(schema_json), record)
    return buffer.getvalue()


def decode(schema_json: str, payload: bytes) -> dict[str, Any]:
    """The record in ``payload`` (Avro binary written with ``schema_json``)."""
    return fastavro.schemaless_reader(io.BytesIO(payload), parse_schema(schema_json))


def _record_of(avro_type: Any) -> dict[str, Any] | None:
    """The record schema inside a field type (``["null", {record}]`` or a bare record)."""
    for candidate in avro_type if isinstance(avro_type, list) else [avro_type]:
        if isinstance(candidate, dict) and candidate.get("type") == "record":
            return candidate
    return None


@functools.lru_cache(maxsize=64)
def _layout(schema_json: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Top-level field names, each with its compound children's names (empty if not compound)."""
    fields = json.loads(schema_json)["fields"]
    out = []
    for f in fields:
        nested = _record_of(f["type"])
        out.append((f["name"], tuple(c["name"] for c in nested["fields"]) if nested else ()))
    return tuple(out)


def _hex(bits: int) -> str:
    digits = f"{bits:X}"
    return "0x" + digits.zfill(len(digits) + len(digits) % 2)


def field_bitmap(schema_json: str, names: list[str] | tuple[str, ...]) -> list[str]:
    """The bitmap strings for field ``names`` (``"Email"``, ``"Name.FirstName"``).

    An empty list for no names; ``ValueError`` for a name the schema does not have.
    """
    layout = _layout(schema_json)
    positions = {name: i for i, (name, _) in enumerate(layout)}
    top, nested = 0, {}
    for name in names:
        parent, _, child = name.partition(".")
        if parent not in positions:
            raise ValueError(f"no field {parent!r} in the schema")
        pos = positions[parent]
        if not child:
            top |= 1 << pos
            continue
        children = layout[pos][1]
        if child not in children:
            raise ValueError(f"no field {name!r} in the schema")
        nested[pos] = nested.get(pos, 0) | 1 << children.index(child)
    if not top and not nested:
        return []
    return [_hex(top)] + [f"{pos}-{_hex(bits)}" for pos, bits in sorted(nested.items())]


def bitmap_field_names(schema_json: str, bitmap: list[str] | tuple[str, ...]) -> list[str]:
    """The field names a bitmap field (``changedFields`` etc.) stands for, in schema order."""
    layout = _layout(schema_json)
    names: list[str] = []
    for entry in bitmap:
        parent_pos, sep, hex_bits = entry.rpartition("-") if "-" in entry else ("", "", entry)
        bits = int(hex_bits, 16)
        if sep:
            parent, children = layout[int(parent_pos)]
            names += [f"{parent}.{c}" for i, c in enumerate(children) if bits >> i & 1]
        else:
            names += [name for i, (name, _) in enumerate(layout) if bits >> i & 1]
    return names
