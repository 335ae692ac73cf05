"""Choosing the sidebar's Contact fields and their order from the org's describe (S6)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workspace.access import ADMIN_ROLES, workspace_view

from .client import SalesforceClient
from .connection import connection_for, field_meta_from_describe
from .errors import SalesforceError
from .lookup import cache_call
from .models import SalesforceConnection, record_event

DESCRIBE_SECONDS = 3600
MAX_FIELDS = 25
# Compound and binary fields cannot be shown as one value.
UNSHOWABLE_TYPES = {"address", "location", "base64", "id", "encryptedstring"}


@dataclass(frozen=True)
class FieldOption:
    path: str
    label: str
    type: str
    custom: bool


def contact_describe(connection: SalesforceConnection) -> dict:
    """The org's Contact describe, cached for an hour per connection (a reconnect reads it anew)."""
    connected = connection.connected_at.timestamp() if connection.connected_at else 0
    key = f"salesforce:describe:{connection.pk}:{connection.org_id}:{connected:.0f}"
    describe = cache_call("get", key)
    if describe is None:
        describe = SalesforceClient(connection).describe_contact()
        cache_call("set", key, describe, DESCRIBE_SECONDS)
    return describe


def field_options(describe: dict) -> list[FieldOption]:
    """Every Contact field an agent can read in the sidebar; references as their record's name."""
    options = []
    for field in describe.get("fields") or []:
        kind = field.get("type") or "string"
        if kind in UNSHOWABLE_TYPES:
            continue
        name, label = field["name"], field.get("label") or field["name"]
        if kind == "reference":
            relationship = field.get("relationshipName")
            if not relationship:
                continue
            base = label[:-3] if label.endswith(" ID") else label
            options.append(FieldOption(f"{relationship}.Name", f"{base} Name", "string", False))
            continue
        options.append(FieldOption(name, label, kind, bool(field.get("custom"))))
    return sorted(options, key=lambda o: o.label.lower())


def choose_fields(
    *, connection: SalesforceConnection, paths: list[str], describe: dict, actor
) -> SalesforceConnection:
    """Save the admin's choice: new field set, labels from describe, cache invalidated, audited."""
    known = {o.path for o in field_options(describe)}
    unknown = [p for p in paths if p not in known]
    if unknown:
        raise ValueError(f"Salesforce does not know {', '.join(unknown)}.")
    if not paths:
        raise ValueError("Choose at least one field.")
    if len(paths) > MAX_FIELDS:
        raise ValueError(f"Choose at most {MAX_FIELDS} fields.")
    with transaction.atomic():
        before = list(connection.field_names)
        connection.field_names = list(paths)
        connection.field_meta = field_meta_from_describe(describe, paths)
        connection.dropped_fields = []
        connection.save(update_fields=["field_names", "field_meta", "dropped_fields"])
        connection.bump_generation()
        record_event(
            connection=connection,
            kind="fields_changed",
            actor=actor,
            detail=f"{', '.join(before)} → {', '.join(paths)}",
        )
    return connection


def _ordered_choice(post, options: list[FieldOption]) -> list[str]:
    """Checked fields sorted by their position box (blank positions keep the list's order)."""
    chosen = post.getlist("field")
    order = {}
    for index, path in enumerate(chosen):
        raw = post.get(f"position-{path}", "").strip()
        try:
            position = float(raw) if raw else 1000 + index
        except ValueError:
            position = 1000 + index
        order[path] = (position, index)
    return sorted(dict.fromkeys(chosen), key=lambda p: order[p])


@require_http_methods(["GET", "POST"])
@workspace_view(roles=ADMIN_ROLES)
def fields(request):
    connection = connection_for(request.workspace)
    manage = redirect("integrations:salesforce:manage", slug=request.workspace.slug)
    if connection is None or not connection.is_connected:
        messages.error(request, "Connect Salesforce first: fields come from the org's own list.")
        return manage
    try:
        describe = contact_describe(connection)
    except SalesforceError as exc:
        messages.error(request, f"Salesforce's field list could not be read: {exc.user_message}")
        return manage
    options = field_options(describe)
    error = None
    if request.method == "POST":
        try:
            choose_fields(
                connection=connection,
                paths=_ordered_choice(request.POST, options),
                describe=describe,
                actor=request.user,
            )
        except ValueError as exc:
            error = str(exc)
        else:
            messages.success(request, "Sidebar fields saved. Agents see them on their next view.")
            return manage
    positions = {path: n for n, path in enumerate(connection.field_names, start=1)}
    rows = sorted(options, key=lambda o: (positions.get(o.path, 10_000), o.label.lower()))
    return render(
        request,
        "salesforce/fields.html",
        {
            "connection": connection,
            "rows": [(o, positions.get(o.path)) for o in rows],
            "error": error,
            "settings_tab": "integrations",
            "nav": "settings",
        },
        status=400 if error else 200,
    )
