"""Choosing the sidebar's Contact fields and their order from the org's describe (S6).

What fields exist and how they read is describe.py's; saving the choice is services.py's.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workspace.access import ADMIN_ROLES, workspace_view

from . import services
from .describe import (
    FieldOption,
    account_describe,
    account_field_options,
    contact_describe,
    field_meta_from_describe,
    field_options,
)
from .errors import SalesforceError
from .models import RELATED_LISTS, SalesforceConnection
from .selectors import connection_for

__all__ = ["FieldOption", "choose_fields", "contact_describe", "field_options", "fields"]

MAX_FIELDS = 25


def _check_choice(paths: list[str], options: list[FieldOption], *, owner: str, what: str) -> None:
    """A field choice names only fields describe offers, at most ``MAX_FIELDS`` of them."""
    known = {o.path for o in options}
    if unknown := [p for p in paths if p not in known]:
        raise ValueError(f"{owner} does not know {', '.join(unknown)}.")
    if len(paths) > MAX_FIELDS:
        raise ValueError(f"Choose at most {MAX_FIELDS} {what}.")


def choose_fields(
    *, connection: SalesforceConnection, paths: list[str], describe: dict, actor
) -> SalesforceConnection:
    """Save the admin's choice: new field set, labels from describe, cache invalidated, audited."""
    if not paths:
        raise ValueError("Choose at least one field.")
    _check_choice(paths, field_options(describe), owner="Salesforce", what="fields")
    services.set_fields(
        connection,
        paths=paths,
        field_meta=field_meta_from_describe(describe, paths),
        actor=actor,
    )
    return connection


def choose_account_fields(
    *, connection: SalesforceConnection, names: list[str], describe: dict, actor
) -> SalesforceConnection:
    """E3: save the Account fields shown for person accounts (none is a valid choice)."""
    _check_choice(
        names,
        account_field_options(describe),
        owner="Salesforce's Account",
        what="person account fields",
    )
    services.set_account_fields(
        connection,
        paths=names,
        field_meta=field_meta_from_describe(describe, names),
        actor=actor,
    )
    return connection


def _ordered_choice(post, options: list[FieldOption], prefix: str = "") -> list[str]:
    """Checked fields sorted by their position box (blank positions keep the list's order)."""
    chosen = post.getlist(f"{prefix}field")
    order = {}
    for index, path in enumerate(chosen):
        raw = post.get(f"{prefix}position-{path}", "").strip()
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
    account = None
    if connection.person_accounts:  # E3: the Account's fields, for person accounts
        try:
            account = account_describe(connection)
        except SalesforceError as exc:
            messages.warning(
                request, f"Salesforce's Account fields could not be read: {exc.user_message}"
            )
    error = None
    if request.method == "POST":
        try:
            choose_fields(
                connection=connection,
                paths=_ordered_choice(request.POST, options),
                describe=describe,
                actor=request.user,
            )
            if account is not None and request.POST.get("account_fields_shown"):
                choose_account_fields(
                    connection=connection,
                    names=_ordered_choice(
                        request.POST, account_field_options(account), prefix="account-"
                    ),
                    describe=account,
                    actor=request.user,
                )
        except ValueError as exc:
            error = str(exc)
        else:
            chosen = request.POST.getlist("related")
            if request.POST.get("related_lists_shown"):  # the form showed the checkboxes
                services.set_related_lists(
                    connection, names=[n for n in RELATED_LISTS if n in chosen], actor=request.user
                )
            messages.success(request, "Sidebar fields saved. Agents see them on their next view.")
            return manage
    positions = {path: n for n, path in enumerate(connection.field_names, start=1)}
    rows = sorted(options, key=lambda o: (positions.get(o.path, 10_000), o.label.lower()))
    account_rows = []
    if account is not None:
        chosen = {name: n for n, name in enumerate(connection.account_fields, start=1)}
        account_rows = [
            (o, chosen.get(o.path))
            for o in sorted(
                account_field_options(account),
                key=lambda o: (chosen.get(o.path, 10_000), o.label.lower()),
            )
        ]
    return render(
        request,
        "salesforce/fields.html",
        {
            "connection": connection,
            "rows": [(o, positions.get(o.path)) for o in rows],
            "account_rows": account_rows,
            "related": [
                (name, spec["label"], name in connection.related_lists)
                for name, spec in RELATED_LISTS.items()
            ],
            "error": error,
            "settings_tab": "integrations",
            "nav": "settings",
        },
        status=400 if error else 200,
    )
