"""HTML pages: login, consent, OAuth error page and Lightning-style record, related-list and
new-record pages.

Every dynamic value is HTML-escaped. The login and consent pages are driven by browser tests:
keep the "Username" label, the "Log In" button and the exact "Allow" / "Deny" buttons.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f3f3f3;margin:0;
color:#181818}
header{background:#0176d3;color:#fff;padding:12px 24px;font-weight:600}
main{max-width:560px;margin:40px auto;background:#fff;border-radius:8px;padding:24px 32px;
box-shadow:0 2px 6px rgba(0,0,0,.15)}
main.wide{max-width:900px}
label{display:block;font-weight:600;margin:12px 0 4px}
select{width:100%;padding:8px;font-size:1rem}
button{font-size:1rem;padding:8px 20px;border-radius:4px;border:1px solid #0176d3;cursor:pointer;
margin-right:8px}
button.primary{background:#0176d3;color:#fff}
button.secondary{background:#fff;color:#0176d3}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e5e5;vertical-align:top}
th{width:35%;color:#444;font-weight:600}
.error{color:#ba0517}
input{width:100%;padding:6px;font-size:1rem;box-sizing:border-box}
nav.related a{margin-right:16px}
code{background:#f3f3f3;padding:2px 4px}
"""


def _page(title: str, body: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        "<header>Salesforce (local emulator)</header>"
        f"<main{cls}>{body}</main></body></html>"
    )


def login_page(pending_id: str, orgs: list[dict[str, Any]], error: str | None = None) -> str:
    groups = []
    for org in orgs:
        options = "".join(
            f'<option value="{escape(u["username"])}">'
            f"{escape(u['name'])} ({escape(u['username'])})</option>"
            for u in org["users"]
        )
        label = org["name"] + (" [sandbox]" if org["is_sandbox"] else "")
        groups.append(f'<optgroup label="{escape(label)}">{options}</optgroup>')
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        "<h1>Log In</h1>"
        "<p>Choose a demo user to sign in as. No password is needed in the emulator.</p>"
        f"{err}"
        '<form method="post" action="/services/oauth2/authorize">'
        f'<input type="hidden" name="pending" value="{escape(pending_id)}">'
        '<input type="hidden" name="step" value="login">'
        '<label for="username">Username</label>'
        f'<select id="username" name="username">{"".join(groups)}</select>'
        '<p><button type="submit" class="primary">Log In</button></p>'
        "</form>"
    )
    return _page("Login | Salesforce", body)


def consent_page(
    pending_id: str, app_name: str, username: str, org_name: str, scopes: list[str]
) -> str:
    offline = "Perform requests on your behalf at any time (refresh_token, offline_access)"
    descriptions = {
        "api": "Access and manage your data (api)",
        "refresh_token": offline,
        "offline_access": offline,
        "id": "Access your basic information (id, profile, email, address, phone)",
        "full": "Full access (full)",
        "web": "Provide access to your data via the Web (web)",
        "openid": "Access unique user identifiers (openid)",
        "profile": "Access your basic information (id, profile, email, address, phone)",
        "email": "Access your basic information (id, profile, email, address, phone)",
    }
    items = []
    for text in dict.fromkeys(descriptions.get(s, s) for s in scopes):
        items.append(f"<li>{escape(text)}</li>")
    body = (
        "<h1>Allow Access?</h1>"
        f"<p><strong>{escape(app_name)}</strong> is asking to:</p>"
        f"<ul>{''.join(items)}</ul>"
        f"<p>You are logged in as <strong>{escape(username)}</strong> "
        f"({escape(org_name)}).</p>"
        '<form method="post" action="/services/oauth2/authorize">'
        f'<input type="hidden" name="pending" value="{escape(pending_id)}">'
        '<input type="hidden" name="step" value="consent">'
        '<button type="submit" name="decision" value="deny" class="secondary">Deny</button>'
        '<button type="submit" name="decision" value="allow" class="primary">Allow</button>'
        "</form>"
    )
    return _page("Allow Access? | Salesforce", body)


def oauth_error_page(error: str, description: str) -> str:
    from urllib.parse import quote

    body = (
        "<h1>Remote Access Error</h1>"
        '<p class="error">There was a problem in setting up your remote access.</p>'
        f"<p><code>error={escape(error)}&amp;error_description="
        f"{escape(quote(description))}</code></p>"
        f"<p>{escape(description)}</p>"
    )
    return _page("Remote Access Error", body)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _record_url(sobject: str, record_id: str) -> str:
    return f"/lightning/r/{sobject}/{record_id}/view"


def record_page(
    sobject: str,
    record: dict[str, Any],
    fields: list[dict[str, Any]],
    org_name: str,
    related: list[tuple[str, str, int]] | None = None,
) -> str:
    """A record's detail page; reference fields link to their record; ``related``: the record's
    related lists as (relationship name, label, number of records)."""
    rows = []
    for f in fields:
        value = record.get(f["name"])
        cell = escape(_shown(value))
        if f.get("ref") and value:
            cell = f'<a href="{escape(_record_url(f["ref"], value))}">{cell}</a>'
        rows.append(
            f'<tr><th scope="row" data-field="{escape(f["name"])}">{escape(f["label"])}</th>'
            f"<td>{cell}</td></tr>"
        )
    name_field = next((f["name"] for f in fields if f.get("nameField")), "Name")
    title = record.get(name_field) or record["Id"]
    links = "".join(
        f'<a data-related="{escape(rel)}" '
        f'href="/lightning/r/{escape(sobject)}/{escape(record["Id"])}/related/{escape(rel)}/view">'
        f"{escape(label)} ({count})</a>"
        for rel, label, count in related or []
    )
    nav = f'<nav class="related" aria-label="Related">{links}</nav>' if links else ""
    body = (
        f"<p>{escape(org_name)} · {escape(sobject)}</p>"
        f"<h1>{escape(str(title))}</h1>"
        f"{nav}"
        f"<table>{''.join(rows)}</table>"
    )
    return _page(f"{title} | {sobject} | Salesforce", body, wide=True)


def related_list_page(
    sobject: str,
    record: dict[str, Any],
    title: str,
    label: str,
    columns: list[tuple[str, str]],
    rows: list[tuple[str, str, list[Any]]],
    org_name: str,
) -> str:
    """``/lightning/r/<Type>/<id>/related/<Relationship>/view``: one related list in full.

    ``columns``: (path, label); ``rows``: (linked object, linked id, values in column order); the
    first cell links to the linked record.
    """
    head = "".join(
        f'<th scope="col" data-column="{escape(path)}">{escape(text)}</th>'
        for path, text in columns
    )
    body_rows = []
    for linked_obj, linked_id, values in rows:
        cells = []
        for i, value in enumerate(values):
            cell = escape(_shown(value))
            if i == 0:
                cell = f'<a href="{escape(_record_url(linked_obj, linked_id))}">{cell}</a>'
            cells.append(f"<td>{cell}</td>")
        body_rows.append(f'<tr data-id="{escape(linked_id)}">{"".join(cells)}</tr>')
    empty = "" if rows else "<p>No items to display.</p>"
    back = _record_url(sobject, record["Id"])
    body = (
        f'<p>{escape(org_name)} · {escape(sobject)} · <a href="{escape(back)}">'
        f"{escape(title)}</a></p>"
        f"<h1>{escape(label)} ({len(rows)})</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body_rows)}</tbody></table>"
        f"{empty}"
    )
    return _page(f"{label} | {title} | Salesforce", body, wide=True)


def new_record_page(
    sobject: str,
    label: str,
    fields: list[dict[str, Any]],
    defaults: dict[str, str],
    unknown: list[str],
    org_name: str | None,
) -> str:
    """``/lightning/o/<Type>/new``: the new-record form with the default field values it got.

    The emulator only shows the form (the Save button is disabled): nothing is created here.
    """
    rows = []
    for f in fields:
        name = f["name"]
        value = defaults.get(name, "")
        given = ' data-default="true"' if name in defaults else ""
        rows.append(
            f'<tr><th scope="row"><label for="f-{escape(name)}">{escape(f["label"])}</label></th>'
            f'<td><input id="f-{escape(name)}" name="{escape(name)}" data-field="{escape(name)}"'
            f'{given} value="{escape(value)}"></td></tr>'
        )
    received = "".join(
        f'<li data-received="{escape(k)}"><code>{escape(k)}</code> = {escape(v)}</li>'
        for k, v in defaults.items()
    )
    ignored = (
        f'<p class="error">Not fields of {escape(sobject)} (ignored): '
        f"{escape(', '.join(unknown))}</p>"
        if unknown
        else ""
    )
    where = f"{escape(org_name)} · " if org_name else ""
    body = (
        f"<p>{where}{escape(sobject)}</p>"
        f"<h1>New {escape(label)}</h1>"
        f'<section aria-label="Default field values"><h2>Default field values</h2>'
        f"<ul>{received or '<li>none</li>'}</ul>{ignored}</section>"
        f"<form><table>{''.join(rows)}</table>"
        '<p><button type="button" class="primary" disabled>Save</button> '
        "(the emulator does not create records from this page)</p></form>"
    )
    return _page(f"New {label} | Salesforce", body, wide=True)


def not_found_page(message: str) -> str:
    return _page("Page Not Found", f"<h1>Page Not Found</h1><p>{escape(message)}</p>")
