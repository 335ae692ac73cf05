"""The org's Contact describe (S6): which fields exist, their labels, types and picklist labels.

One place for the rules that turn Salesforce's describe into what admins choose from and agents
read: a reference field is offered as its record's name ("Account Name", never a raw Id), with
Salesforce's " ID" suffix dropped from its label.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from .caching import digest, single_flight

DESCRIBE_SECONDS = 3600
# Compound and binary fields cannot be shown as one value.
UNSHOWABLE_TYPES = {"address", "location", "base64", "id", "encryptedstring"}


@dataclass(frozen=True)
class FieldOption:
    path: str
    label: str
    type: str
    custom: bool


def reference_label(field: dict, relationship: str) -> str:
    """ "Account ID" → "Account Name": how a reference field reads as its record's name."""
    label = field.get("label") or relationship
    base = label[:-3] if label.endswith(" ID") else label
    return f"{base} Name"


def _fields(describe: dict) -> dict[str, dict]:
    return {f.get("name"): f for f in describe.get("fields") or [] if isinstance(f, dict)}


def field_options(describe: dict) -> list[FieldOption]:
    """Every Contact field an agent can read in the sidebar; references as their record's name."""
    options = []
    for field in _fields(describe).values():
        kind = field.get("type") or "string"
        if kind in UNSHOWABLE_TYPES or not field.get("name"):
            continue
        if kind == "reference":
            relationship = field.get("relationshipName")
            if relationship:
                label = reference_label(field, relationship)
                options.append(FieldOption(f"{relationship}.Name", label, "string", False))
            continue
        name = field["name"]
        options.append(
            FieldOption(name, field.get("label") or name, kind, bool(field.get("custom")))
        )
    return sorted(options, key=lambda o: o.label.lower())


def field_meta_from_describe(describe: dict, paths: list[str]) -> dict:
    """Labels, types and picklist labels of ``paths`` ("LeadSource", "Account.Name") from describe.

    A path describe doesn't know keeps no entry here; callers merge with what they had.
    """
    fields = _fields(describe)
    by_relationship = {
        f.get("relationshipName"): f for f in fields.values() if f.get("relationshipName")
    }
    meta: dict[str, dict] = {}
    for path in paths:
        if "." in path:
            relationship, _, leaf = path.partition(".")
            field = by_relationship.get(relationship)
            if field is not None:
                label = reference_label(field, relationship).removesuffix(" Name")
                meta[path] = {"label": f"{label} {leaf}", "type": "string"}
            continue
        field = fields.get(path)
        if field is None:
            continue
        entry = {"label": field.get("label") or path, "type": field.get("type") or "string"}
        picklist = field.get("picklistValues") or []
        if picklist:
            entry["picklist"] = {
                p["value"]: p.get("label") or p["value"]
                for p in picklist
                if isinstance(p, dict) and p.get("value") is not None
            }
        if field.get("type") == "reference":
            entry["reference_to"] = list(field.get("referenceTo") or [])
            entry["relationship"] = field.get("relationshipName") or ""
        meta[path] = entry
    return meta


def contact_describe(connection) -> dict:
    """The org's Contact describe, cached for an hour per connection (a reconnect reads it anew)."""
    from .client import SalesforceClient

    connected = connection.connected_at.timestamp() if connection.connected_at else 0
    # Not the cache generation: a field-set change does not change what fields exist.
    key = f"salesforce:describe:{connection.pk}:{digest(connection.org_id, f'{connected:.0f}')}"
    return single_flight(
        key,
        lambda: SalesforceClient(connection).describe_contact(),
        seconds=DESCRIBE_SECONDS,
        wait=settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT + 1,
    )


def account_describe(connection) -> dict:
    """E3: the org's Account describe (person accounts' fields), cached like Contact's."""
    from .client import SalesforceClient

    connected = connection.connected_at.timestamp() if connection.connected_at else 0
    key = (
        f"salesforce:describe-account:{connection.pk}:"
        f"{digest(connection.org_id, f'{connected:.0f}')}"
    )
    return single_flight(
        key,
        lambda: SalesforceClient(connection).describe("Account"),
        seconds=DESCRIBE_SECONDS,
        wait=settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT + 1,
    )


def account_field_options(describe: dict) -> list[FieldOption]:
    """E3: the Account fields a person account can show. Its own fields only: the lookup reads
    them as ``Account.<Field>`` of the Contact query, one relationship deep (SOQL allows more,
    the product's field paths do not)."""
    return [o for o in field_options(describe) if "." not in o.path]
