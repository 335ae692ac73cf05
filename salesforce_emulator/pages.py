"""HTML pages: login, consent, OAuth error page and Lightning-style record pages.

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


def record_page(
    sobject: str, record: dict[str, Any], fields: list[dict[str, Any]], org_name: str
) -> str:
    rows = []
    for f in fields:
        value = record.get(f["name"])
        shown = "" if value is None else str(value)
        if isinstance(value, bool):
            shown = "true" if value else "false"
        rows.append(
            f'<tr><th scope="row" data-field="{escape(f["name"])}">{escape(f["label"])}</th>'
            f"<td>{escape(shown)}</td></tr>"
        )
    title = record.get("Name") or record["Id"]
    body = (
        f"<p>{escape(org_name)} · {escape(sobject)}</p>"
        f"<h1>{escape(str(title))}</h1>"
        f"<table>{''.join(rows)}</table>"
    )
    return _page(f"{title} | {sobject} | Salesforce", body, wide=True)


def not_found_page(message: str) -> str:
    return _page("Page Not Found", f"<h1>Page Not Found</h1><p>{escape(message)}</p>")
