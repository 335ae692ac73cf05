from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from integrations.salesforce import display, person_accounts

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def timedelta_ago(age: timedelta | None) -> str:
    """'3 minutes ago' for an age (B2: stale data is marked with its age)."""
    if age is None:
        return ""
    if age < timedelta(minutes=1):  # U2: never "0 minutes ago"
        return "less than a minute ago"
    return f"{timesince(timezone.now() - age)} ago"


_INVISIBLE = {
    " ": "space",
    "\t": "tab",
    "\u00a0": "non-breaking space",
    "\u200b": "zero-width space",
}


def _marked(ch: str) -> SafeString:
    name = _INVISIBLE[ch]
    return format_html(
        '<mark class="ws" title="{}"><span aria-hidden="true">{}</span>'
        '<span class="visually-hidden">[{}]</span></mark>',
        name,
        "␣" if ch != "\t" else "→",
        name,
    )


@register.filter
def show_invisible(value: str) -> SafeString:
    """U6: leading and trailing spaces (and tabs, no-break and zero-width spaces) made visible."""
    value = str(value or "")
    core = value.strip(" \t\u00a0\u200b")
    start = value.find(core) if core else len(value)
    lead, trail = value[:start], value[start + len(core) :]
    return mark_safe(  # noqa: S308 - every part is escaped above or by format_html
        "".join(_marked(c) for c in lead) + escape(core) + "".join(_marked(c) for c in trail)
    )


@register.filter
def has_invisible_edges(value: str) -> bool:
    value = str(value or "")
    return value != value.strip(" \t\u00a0\u200b")


@register.filter
def match_url(match, connection) -> str:
    """View in Salesforce for a matched record: its Contact, or a person account's Account (E3)."""
    return display.match_url(match, connection)


@register.filter
def is_person_account(match) -> bool:
    """E3: the match is a person account (labelled as such in the panel)."""
    return person_accounts.is_person_account(getattr(match, "values", None) or {})


@register.filter
def break_email(value: str) -> SafeString:
    """A1: an email may wrap only right after its "@" (never mid-word); a part too long for the
    column ends in an ellipsis (the whole value is in the title and the copy button)."""
    local, at, domain = (value or "").rpartition("@")
    if not at:
        return format_html('<span class="nowrap clip">{}</span>', value)
    return format_html(
        '<span class="nowrap clip">{}@</span><wbr><span class="nowrap clip">{}</span>',
        local,
        domain,
    )


@register.inclusion_tag("salesforce/_value.html")
def contact_value(text: str, kind: str):
    """A1: an email or phone that never wraps mid-string, with its full value on hover and
    focus (title, tabindex) and a copy button."""
    return {"text": text, "kind": kind, "copyable": kind in ("email", "phone") and text != "—"}
