"""Check setup (issue 24, E7): the org's configuration, line by line, before it bites.

At connect and on demand from the Manage page. Two API calls: ONE Composite request (Contact's,
Opportunity's, Case's and Lead's describe, ``/limits`` and E3's person record type query;
Salesforce counts a Composite request as one call) and one Tooling API query for the objects
selected for Change Data Capture. Each line is pass / warning / problem with the fix, in
Salesforce's own menu words.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from . import live, services
from .client import SalesforceClient
from .errors import ApiAccessRequired, SalesforceError
from .models import SalesforceConnection, SalesforceEvent
from .org_profile import (
    CASE_INSENSITIVE,
    CASE_SENSITIVE,
    MATCH_FIELDS,
    PERSON_RECORD_TYPE_QUERY,
    PLAIN,
    PROBABILISTIC,
    person_record_type_from,
    profile_from_describes,
)
from .selectors import approvals_in_use

logger = logging.getLogger(__name__)

PASS, WARNING, PROBLEM = "pass", "warning", "problem"
CDC_QUERY = (
    "SELECT SelectedEntity FROM PlatformEventChannelMember WHERE EventChannel = 'ChangeEvents'"
)
FLS_FIX = (
    "Setup › Object Manager › Contact › Fields & Relationships › {field} › Set Field-Level "
    "Security: make it Visible for the profile of {user} (or grant it in a permission set)."
)
ENCRYPTION_FIX = (
    "Setup › Platform Encryption › Encryption Policy › Encrypt Fields: choose the "
    "“Deterministic - Case Insensitive” scheme for {field}."
)


@dataclass(frozen=True)
class Line:
    topic: str
    status: str
    text: str
    fix: str = ""


def _subrequests(version: str) -> list[dict]:
    base = f"/services/data/v{version}"
    objects = ("Contact", "Opportunity", "Case", "Lead")
    subs = [
        {"method": "GET", "url": f"{base}/sobjects/{o}/describe", "referenceId": o} for o in objects
    ]
    # E3: the person account record type, in the same call (an org without Person Accounts
    # answers this subrequest INVALID_FIELD, which the check ignores).
    record_type = {
        "method": "GET",
        "url": f"{base}/query?{urlencode({'q': PERSON_RECORD_TYPE_QUERY})}",
        "referenceId": "personRecordType",
    }
    return [
        *subs,
        {"method": "GET", "url": f"{base}/limits", "referenceId": "limits"},
        record_type,
    ]


def _answers(composite: dict) -> dict[str, tuple[int, object]]:
    return {
        a.get("referenceId"): (a.get("httpStatusCode", 0), a.get("body"))
        for a in (composite or {}).get("compositeResponse") or []
    }


def _field_lines(connection, contact: dict, user: str) -> list[Line]:
    fields = {f["name"]: f for f in contact.get("fields") or []}
    relationships = {
        f.get("relationshipName"): f for f in fields.values() if f.get("relationshipName")
    }
    lines = []
    for path in connection.field_names:
        head = path.split(".", 1)[0]
        described = relationships.get(head) if "." in path else fields.get(path)
        if described is None:
            lines.append(
                Line(
                    "Fields",
                    PROBLEM,
                    f"{path}: not visible to {user} (field-level security), so the sidebar "
                    "leaves it out.",
                    FLS_FIX.format(field=path, user=user),
                )
            )
        else:
            kind = "lookup" if "." in path else described.get("type", "")
            lines.append(Line("Fields", PASS, f"{path}: visible ({kind})."))
    return lines


def _person_account_line(connection, profile) -> Line:
    """E3: person accounts are labelled, open their Account, and can be created when the org
    has an active person record type."""
    if not profile.person_accounts:
        return Line("Person Accounts", PASS, "Person Accounts are off (business accounts only).")
    if not connection.person_record_type_id:
        return Line(
            "Person Accounts",
            WARNING,
            "Person Accounts are on, but no active person account record type is visible, so "
            "Create in Salesforce offers a Contact only.",
            "Setup › Object Manager › Person Account › Record Types: activate one and make it "
            "available to the connected user's profile.",
        )
    return Line(
        "Person Accounts",
        PASS,
        "Person Accounts are on: a matched person account is labelled, opens its Account, and "
        "shows the Account's opportunities; Create in Salesforce offers a Person Account.",
    )


def _encryption_lines(info: dict) -> list[Line]:
    lines = []
    for name in MATCH_FIELDS:
        scheme = (info.get(name) or {}).get("scheme", PLAIN)
        if scheme == PLAIN:
            lines.append(Line("Matching", PASS, f"{name}: not encrypted; filterable."))
        elif scheme == CASE_INSENSITIVE:
            lines.append(
                Line(
                    "Matching",
                    PASS,
                    f"{name}: Shield Platform Encryption, deterministic case-insensitive: "
                    "exact matching works as before.",
                )
            )
        elif scheme == CASE_SENSITIVE:
            lines.append(
                Line(
                    "Matching",
                    WARNING,
                    f"{name}: deterministic case-sensitive encryption: asked as typed and in "
                    "lower case; other capitalisations stored in Salesforce are not found.",
                    ENCRYPTION_FIX.format(field=name),
                )
            )
        elif scheme == PROBABILISTIC:
            lines.append(
                Line(
                    "Matching",
                    WARNING,
                    f"{name}: probabilistic encryption (not filterable): lookups use Salesforce "
                    "search instead, whose index lags new records by seconds to minutes, and "
                    "show no related lists.",
                    ENCRYPTION_FIX.format(field=name),
                )
            )
    return lines


def _cdc_lines(connection, selected: set[str] | None) -> list[Line]:
    if selected is None:
        return [
            Line(
                "Live updates",
                WARNING,
                "Could not read the Change Data Capture selection (Tooling API refused).",
                "Give the connected user “View Setup and Configuration”.",
            )
        ]
    needed = [
        t.removeprefix("/data/").removesuffix("ChangeEvent") for t in live.topics_for(connection)
    ]
    missing = [o for o in needed if f"{o.replace('Owner', 'User')}ChangeEvent" not in selected]
    if not missing:
        return [
            Line("Live updates", PASS, f"Selected for Change Data Capture: {', '.join(needed)}.")
        ]
    status = PROBLEM if connection.live_updates else WARNING
    return [
        Line(
            "Live updates",
            status,
            f"Not selected for Change Data Capture: {', '.join(missing)}. Live updates need them "
            "(Account and User only for the names shown; without them names follow the 60 s rule).",
            "Setup › Integrations › Change Data Capture: move them to Selected Entities.",
        )
    ]


def run(connection: SalesforceConnection, *, actor=None, audit: bool = True) -> list[Line]:
    """Check the org's setup (at most 3 API calls; this makes 2) and store the result.

    ``audit``: an on-demand check leaves an Activity entry; the connect's own check does not
    (the connect's entry says it)."""
    client = SalesforceClient(connection)
    user = connection.sf_username or "the connected user"
    lines: list[Line] = []
    try:
        composite = client.composite(_subrequests(settings.SALESFORCE_API_VERSION))
    except ApiAccessRequired:
        lines.append(
            Line(
                "API access",
                PROBLEM,
                f"{user} has no API access (or the org's edition has none).",
                "Setup › Users › Profiles (or Permission Sets) › System Permissions: "
                "“API Enabled”.",
            )
        )
        return _store(connection, lines, actor, audit)
    answers = _answers(composite)
    lines.append(Line("API access", PASS, f"{user} has “API Enabled”."))
    contact_status, contact = answers.get("Contact", (0, None))
    opp_status, opportunity = answers.get("Opportunity", (0, None))
    if contact_status == 200 and isinstance(contact, dict):
        lines += _field_lines(connection, contact, user)
    types_status, types = answers.get("personRecordType", (0, None))
    profile = profile_from_describes(
        contact if contact_status == 200 else None,
        opportunity if opp_status == 200 else None,
        person_record_type_from(types) if types_status == 200 else None,
    )
    services.record_org_profile(connection, profile=profile)
    lines += _encryption_lines(profile.match_field_info)
    lines.append(_person_account_line(connection, profile))
    lines.append(
        Line(
            "Currencies",
            PASS,
            "Multiple currencies are on: each amount shows its own currency."
            if profile.multi_currency
            else f"One currency ({connection.currency or 'the org default'}).",
        )
    )
    for name in ("Case", "Opportunity", "Lead"):
        status, _ = answers.get(name, (0, None))
        if status == 200:
            lines.append(Line("Object access", PASS, f"{user} can read {name}."))
        else:
            lines.append(
                Line(
                    "Object access",
                    WARNING,
                    f"{user} cannot read {name}: its related list or match is left out.",
                    f"Setup › Users › Profiles › Object Settings › {name}: “Read”.",
                )
            )
    limits_status, limits = answers.get("limits", (0, None))
    if limits_status == 200 and isinstance(limits, dict):
        daily = limits.get("DailyApiRequests") or {}
        most, left = daily.get("Max") or 0, daily.get("Remaining") or 0
        share = (most - left) / most if most else 0
        lines.append(
            Line(
                "API requests",
                WARNING if share >= settings.SALESFORCE_API_BACKOFF else PASS,
                f"{most - left:,} of {most:,} API requests used in the last 24 hours; "
                f"{left:,} left.",
                "Lookups pause at "
                f"{settings.SALESFORCE_API_BACKOFF:.0%}; ask Salesforce for more, or reduce "
                "other integrations."
                if share >= settings.SALESFORCE_API_BACKOFF
                else "",
            )
        )
    try:
        members = client.tooling_query(CDC_QUERY).get("records") or []
        selected = {str(r.get("SelectedEntity")) for r in members}
    except SalesforceError as exc:
        logger.warning(
            "CDC selection not readable for connection %s: %s", connection.pk, exc.detail
        )
        selected = None
    lines += _cdc_lines(connection, selected)
    lines += _token_lines(connection)
    return _store(connection, lines, actor, audit)


def _token_lines(connection) -> list[Line]:
    if connection.auth_flow == SalesforceConnection.AuthFlow.CLIENT_CREDENTIALS:
        return [
            Line(
                "Tokens",
                PASS,
                "Integration user (client credentials flow): no refresh token, no approvals; "
                "sessions are renewed with the app's key and secret.",
            )
        ]
    used = approvals_in_use(connection)
    return [
        Line(
            "Approvals",
            WARNING if used >= 5 else PASS,
            f"{used} approval(s) by {connection.sf_username} in use; Salesforce keeps 5 per "
            "user and app (a sixth revokes the oldest).",
            "Connect each workspace as its own integration user." if used >= 5 else "",
        ),
        Line(
            "Refresh token policy",
            PASS,
            "The refresh token worked at connect (the policy is not “Immediately expire”).",
            "Keep “Refresh token is valid until revoked” (Setup › External Client App Manager › "
            "Team Inbox › Policies); with “Expire if not used for N”, run "
            "manage.py salesforce_keepalive daily.",
        ),
    ]


def _store(connection, lines: list[Line], actor, audit: bool) -> list[Line]:
    checked = timezone.now()
    result = {"checked_at": checked.isoformat(), "lines": [asdict(line) for line in lines]}
    SalesforceConnection.objects.filter(pk=connection.pk).update(setup_check=result)
    connection.setup_check = result
    if not audit:
        return lines
    problems = sum(1 for line in lines if line.status == PROBLEM)
    warnings = sum(1 for line in lines if line.status == WARNING)
    services.record_event(
        connection=connection,
        kind=SalesforceEvent.Kind.SETUP_CHECKED,
        actor=actor,
        detail=f"{problems} problem(s), {warnings} warning(s)",
    )
    return lines
