"""REST API on the instance host: ``/services/data/`` and ``/services/data/vXX.X/...``."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from . import schema, soql, sosl
from .errors import EmulatorError
from .state import State
from .web import JSON_TYPE, bearer_token, json_response, set_context

OLDEST_VERSION = 31  # Salesforce's API End-of-Life policy: 21.0-30.0 retired in Summer '25
NEWEST_VERSION = 66  # Spring '26


def _release(version: int) -> str:
    """Release name of an API version: 62 -> "Winter '25" (Winter, Spring, Summer of one year)."""
    steps = version - 62  # v62.0 is Winter '25
    season = ("Winter", "Spring", "Summer")[steps % 3]
    return f"{season} '{(25 + steps // 3) % 100:02d}"


# Every version Salesforce serves, oldest first, as ``GET /services/data/`` lists them.
VERSIONS = {f"{v}.0": _release(v) for v in range(OLDEST_VERSION, NEWEST_VERSION + 1)}
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
# A retired version (below v31.0): Salesforce documents the status, "410: GONE", and describes 410 as
# "The requested resource has been retired or removed." It does not document the body; this one
# follows the REST error shape with the documented words.
GONE = [{"errorCode": "GONE", "message": "The requested resource has been retired or removed."}]
FAULT_BODIES: dict[str, tuple[int, list[dict[str, str]]]] = {
    "api_disabled_org": (
        403,
        [
            {
                "errorCode": "API_DISABLED_FOR_ORG",
                "message": "The REST API is not enabled for this Organization.",
            }
        ],
    ),
    "api_disabled_user": (
        403,
        [{"errorCode": "API_CURRENTLY_DISABLED", "message": "API is disabled for this User"}],
    ),
    "request_limit_exceeded": (
        403,
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
    ),
    "http_500": (
        500,
        [
            {
                "errorCode": "UNKNOWN_EXCEPTION",
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                "contact support: 1234567890-12345 (-1234567890)",
            }
        ],
    ),
    "http_503": (
        503,
        [
            {
                "errorCode": "SERVER_UNAVAILABLE",
                "message": "Server temporarily unavailable. Please try again later.",
            }
        ],
    ),
}


def error(code: str, message: str, status: int, fields: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return json_response([body], status)


def versions(state: State, request: Request) -> Response:
    return json_response(
        [
            {"label": label, "url": f"/services/data/v{v}", "version": v}
            for v, label in VERSIONS.items()
        ]
    )


def retired(version: str) -> bool:
    """A well-formed version older than the oldest one served (Salesforce answers 410)."""
    match = re.fullmatch(r"(\d+)\.(\d+)", version)
    return bool(match) and int(match.group(1)) < OLDEST_VERSION


def handle(state: State, request: Request, version: str, rest: str) -> Response:
    """``/services/data/vXX.X/<rest>``: version (410/404), session (401), API usage, latency and
    faults, then the resource ``ROUTES`` maps ``rest`` to."""
    if version not in VERSIONS:
        if retired(version):
            return json_response(GONE, 410)
        return json_response(NOT_FOUND, 404)
    token = bearer_token(request)
    grant = state.tokens.access(token)
    known = grant or state.tokens.access_any(token)
    if known:
        set_context(request, known["org_id"], known["user_id"])
    if grant is None:
        response = error("INVALID_SESSION_ID", "Session expired or invalid", 401)
        response.headers["WWW-Authenticate"] = 'Token realm="Salesforce"'
        return _with_usage(state, response, known["org_id"] if known else None)
    org_id, user_id = grant["org_id"], grant["user_id"]
    if _moved_away(state, request, org_id):
        # E5 (unconfirmed: Salesforce may redirect the old host for a while): once the org's
        # My Domain moved, its old instance host no longer accepts the session.
        response = error("INVALID_SESSION_ID", "Session expired or invalid", 401)
        return _with_usage(state, response, org_id)
    used, limit, over = state.usage.count_call(org_id)
    delay = state.faults.get(org_id, user_id, "latency")
    if delay:
        time.sleep(float(delay))
    response = _faulted(state, org_id, user_id, over)
    if response is None:
        try:
            response = _dispatch(_Call(state, request, version, org_id, user_id), rest)
        except soql.SoqlError as exc:
            response = error(exc.error_code, exc.message, 400)
        if state.faults.get(org_id, user_id, "malformed_body") and response.status_code == 200:
            text = response.get_data()
            response = Response(
                b"<html><body>Service Unavailable" + text[: max(1, len(text) // 2)],
                status=200,
                content_type=JSON_TYPE,
            )
    return _with_usage(state, response, org_id)


def _moved_away(state: State, request: Request, org_id: str) -> bool:
    moved = state.org_settings.value(org_id, "instance_url")
    return bool(moved) and urlsplit(moved).netloc.lower() != request.host.lower()


def _with_usage(state: State, response: Response, org_id: str | None) -> Response:
    if org_id:
        used, limit = state.usage.get(org_id)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
    return response


def _faulted(state: State, org_id: str, user_id: str, over: bool) -> Response | None:
    for kind in ("api_disabled_org", "api_disabled_user"):
        if state.faults.get(org_id, user_id, kind):
            status, body = FAULT_BODIES[kind]
            return json_response(body, status)
    if over or state.faults.get(org_id, user_id, "request_limit_exceeded"):
        status, body = FAULT_BODIES["request_limit_exceeded"]
        return json_response(body, status)
    for kind in ("http_500", "http_503"):
        if state.faults.get(org_id, user_id, kind):
            status, body = FAULT_BODIES[kind]
            return json_response(body, status)
    return None


# ---------------------------------------------------------------------------- routes under vXX.X
#
# ``handle`` has checked the version, the session, the API limit and faults; ``ROUTES`` (at the
# end) maps what follows ``/services/data/vXX.X`` to one function per resource. An unknown sObject
# name or a malformed record id matches no rule, so it answers 404 as an unknown path does.

METHOD_ORDER = ("GET", "HEAD", "POST", "PATCH", "DELETE")
COMPOSITE_MAX, COMPOSITE_MAX_QUERIES = 25, 5  # Salesforce's Composite limits
RECORD_METHODS = ("GET", "HEAD", "PATCH", "DELETE")


@dataclass(frozen=True)
class _Call:
    """One authorised REST call: the request, its API version, and whose session it is."""

    state: State
    request: Request
    version: str
    org_id: str
    user_id: str

    @property
    def hidden(self) -> frozenset[str]:
        """Objects this user cannot see (the ``hide_object`` fault): no describe, no records, and
        queries answer as Salesforce does for an object the user has no read access to."""
        settings = self.state.org_settings.get(self.org_id)
        off = {feature for feature in schema.FEATURES if not settings.get(feature)}
        return self.state.faults.hidden_objects(self.org_id, self.user_id) | (
            schema.feature_fields(off)
        )

    @property
    def encryption(self) -> dict[str, str]:
        """E2: Contact/Lead fields encrypted with Shield, by name, with their schemes."""
        return self.state.org_settings.value(self.org_id, "encryption")

    def write_log(self, sobject: str) -> dict[str, Any]:
        """The writes-log fields of this call (see ``LogStore``)."""
        return {
            "org_id": self.org_id,
            "user_id": self.user_id,
            "sobject": sobject,
            "method": self.request.method,
        }


class _SObjectConverter(BaseConverter):
    """An sObject the emulator serves, in any letter case; the value is its canonical name.

    The names are in the pattern (not checked in ``to_python``) so that an unknown sObject is an
    unknown path (404) whatever the method: werkzeug checks methods before converting values.
    """

    regex = "(?i:{})".format("|".join(re.escape(name) for name in schema.OBJECTS))

    def to_python(self, value: str) -> str:
        return schema.canonical_object(value) or value  # the pattern admits only known names


class _RecordIdConverter(BaseConverter):
    """A 15- or 18-character record id."""

    regex = "[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?"


def _dispatch(call: _Call, rest: str) -> Response:
    path = "/" + "/".join(p for p in rest.split("/") if p)
    try:
        endpoint, values = ROUTES.bind("emulator").match(path, method=call.request.method)
    except NotFound:
        return json_response(NOT_FOUND, 404)
    except MethodNotAllowed as exc:
        return _method_not_allowed(call.request.method, exc.valid_methods or ())
    if values.get("sobject") in call.hidden:  # an object the user cannot see does not exist
        return json_response(NOT_FOUND, 404)
    return endpoint(call, **values)


def _method_not_allowed(method: str, allowed: Any) -> Response:
    listed = ",".join(m for m in METHOD_ORDER if m in allowed)
    return error(
        "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {listed}", 405
    )


def _resources(call: _Call) -> Response:
    names = ["sobjects", "query", "queryAll", "limits", "search", "recent", "tooling"]
    return json_response({n: f"/services/data/v{call.version}/{n}" for n in names})


def _limits(call: _Call) -> Response:
    used, limit = call.state.usage.get(call.org_id)
    return json_response(
        {
            "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "HourlyPublishedPlatformEvents": {"Max": 50000, "Remaining": 50000},
        }
    )


def _query(call: _Call, *, all_rows: bool = False) -> Response:
    q = call.request.args.get("q")
    if q is None or not q.strip():
        return error("MALFORMED_QUERY", "A query string has to be specified", 400)
    query = soql.parse(q, call.hidden, call.encryption)
    records = call.state.records
    with records.lock:  # the rows stay as they are while the query reads them
        rows = records.table(call.org_id, query.sobject)
        lookup = records.lookup_fn(call.org_id)

        def tables(sobject: str) -> list[dict[str, Any]]:
            return records.table(call.org_id, sobject)

        result = soql.execute(query, rows, lookup, call.version, all_rows=all_rows, tables=tables)
    return json_response(result)


# E2: the org's encryption settings name Contact fields; Lead's same-named fields follow them
# (unconfirmed: Salesforce selects each object's fields separately; person accounts tie the
# Account and Contact ones together).
ENCRYPTED_OBJECTS = ("Contact", "Lead")


def _search(call: _Call) -> Response:
    """SOSL (``sosl.py``); rows changed within the ``search_index_lag`` fault's seconds are not
    indexed yet, as Salesforce's search index lags writes."""
    q = call.request.args.get("q")
    if q is None or not q.strip():
        return error("MALFORMED_SEARCH", sosl.NO_BRACES, 400)
    search = sosl.parse(q, call.hidden)
    lag = float(call.state.faults.get(call.org_id, call.user_id, "search_index_lag") or 0)
    cutoff = time.time() - lag

    def indexed(row: dict[str, Any]) -> bool:
        if not lag:
            return True
        changed = row.get("LastModifiedDate") or row.get("CreatedDate")
        return not changed or soql._comparable("datetime", changed).timestamp() <= cutoff

    records = call.state.records
    with records.lock:
        result = sosl.execute(
            search,
            lambda sobject: records.table(call.org_id, sobject),
            records.lookup_fn(call.org_id),
            call.version,
            indexed=indexed,
        )
    return json_response(result)


def _query_all(call: _Call) -> Response:
    return _query(call, all_rows=True)


def _query_locator(call: _Call, locator: str) -> Response:
    return error("INVALID_QUERY_LOCATOR", "invalid query locator", 400)


def _global_describe(call: _Call) -> Response:
    hidden = call.hidden
    return json_response(
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [
                schema.global_describe_entry(o, call.version)
                for o in schema.OBJECTS
                if o not in hidden
            ],
        }
    )


def _describe(call: _Call, sobject: str) -> Response:
    encryption = call.encryption if sobject in ENCRYPTED_OBJECTS else None
    answer = schema.describe(sobject, call.version, call.hidden, encryption)
    if sobject == "Account" and _person_accounts_on(call):
        # Describe's record type entries carry no "person type" flag (RecordType.IsPersonType
        # does): a client finds the person record type with a RecordType query.
        answer["recordTypeInfos"] = [
            {
                "active": bool(row.get("IsActive")),
                "available": True,
                "defaultRecordTypeMapping": not row.get("IsPersonType"),
                "developerName": row["DeveloperName"],
                "master": False,
                "name": row["Name"],
                "recordTypeId": row["Id"],
                "urls": {
                    "layout": f"/services/data/v{call.version}/sobjects/Account/describe/"
                    f"layouts/{row['Id']}"
                },
            }
            for row in call.state.records.table(call.org_id, "RecordType")
            if row.get("SobjectType") == "Account"
        ]
    return json_response(answer)


def _record_body(sobject: str, row: dict[str, Any], version: str, fields: list[str]) -> dict:
    out: dict[str, Any] = {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
        }
    }
    for name in fields:
        out[name] = row.get(name)
    return out


def _read_json(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return error("JSON_PARSER_ERROR", "The request body is not valid JSON", 400)
    if not isinstance(body, dict):
        return error(
            "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from the request body", 400
        )
    return body


def _refused(sobject: str, operation: str) -> Response | None:
    """The answer to a write on a read-only sObject (``operation``: insert, update, delete)."""
    if schema.OBJECTS[sobject].get("readonly"):
        return error(
            "INVALID_TYPE_FOR_OPERATION", f"entity type {sobject} does not support {operation}", 400
        )
    return None


def _check_writable(sobject: str, body: dict[str, Any]) -> Response | None:
    bad_names = []
    for name in body:
        fdef = schema.field(sobject, name)
        if fdef is None:
            return error(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", 400
            )
        if not schema.is_createable(sobject, fdef):
            bad_names.append(fdef["name"])
    if bad_names:
        return error(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(bad_names)}. Please check the security "
            "settings of this field and verify that it is read/write for your profile or "
            "permission set.",
            400,
            bad_names,
        )
    return None


def _too_long(sobject: str, body: dict[str, Any]) -> Response | None:
    for name, value in body.items():
        fdef = schema.field(sobject, name)
        limit = fdef.get("length") if fdef else None
        if limit and isinstance(value, str) and len(value) > limit:
            return error(
                "STRING_TOO_LONG",
                f"{fdef['label']}: data value too large: {value[:40]}... (max length={limit})",
                400,
                [fdef["name"]],
            )
    return None


# A polymorphic reference's label in Salesforce's "id value of incorrect type" messages.
_REF_LABELS = {"WhoId": "Name ID", "WhatId": "Related To ID"}


def _task_refused(call: _Call, row: dict[str, Any] | None, body: dict[str, Any]) -> Response | None:
    """Task rules: the "Edit Tasks" permission (the ``no_edit_tasks`` fault), WhoId a Contact or
    Lead, WhatId an Account, Case or Opportunity, and no WhatId with a Lead."""
    if call.state.faults.get(call.org_id, call.user_id, "no_edit_tasks"):
        # Salesforce's exact body for a user without "Edit Tasks" is not documented (README).
        return error(
            "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", 400
        )
    merged = {**(row or {}), **{schema.field("Task", k)["name"]: v for k, v in body.items()}}
    for name in ("WhoId", "WhatId"):
        value = merged.get(name)
        if not value:
            continue
        allowed = schema.field("Task", name)["refs"]
        target = schema.PREFIXES.get(str(value)[:3])
        if target not in allowed:
            return error(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{_REF_LABELS[name]}: id value of incorrect type: {value}",
                400,
                [name],
            )
        found = call.state.records.get(call.org_id, target, value)
        if found is None or found.get("IsDeleted"):
            return error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", 400, [name])
    if merged.get("WhatId") and str(merged.get("WhoId") or "").startswith("00Q"):
        return error(
            "FIELD_INTEGRITY_EXCEPTION",
            "Related To ID: You can't associate a Related To record with a Lead.",
            400,
            ["WhatId"],
        )
    return None


def _write_body(call: _Call, sobject: str, operation: str) -> dict[str, Any] | Response:
    """The fields of a create or an update, or the error Salesforce answers first."""
    body = _read_json(call.request)
    if isinstance(body, Response):
        return body
    hidden = call.hidden
    for name in body:  # a field of a feature the org lacks does not exist (E1, E3)
        fdef = schema.field(sobject, name)
        if fdef is not None and f"{sobject}.{fdef['name']}" in hidden:
            return error(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", 400
            )
    return (
        _refused(sobject, operation)
        or _check_writable(sobject, body)
        or _too_long(sobject, body)
        or body
    )


# --- Person Accounts (E3) ----------------------------------------------------------------------
# A person account is an Account (IsPersonAccount = true, a person record type) plus ONE hidden
# "person contact" (IsPersonAccount = true, AccountId = the Account, Account.PersonContactId =
# it). The Account carries the person's fields; these are the Contact fields they stand for.
PERSON_FIELDS = {
    "FirstName": "FirstName",
    "LastName": "LastName",
    "PersonEmail": "Email",
    "Phone": "Phone",
    "PersonMobilePhone": "MobilePhone",
    "PersonBirthdate": "Birthdate",
}
PERSON_ONLY = frozenset(PERSON_FIELDS) - {"Phone"}  # Phone is a business account's field too


def _canonical(sobject: str, body: dict[str, Any]) -> dict[str, Any]:
    return {schema.field(sobject, k)["name"]: v for k, v in body.items()}


def _person_accounts_on(call: _Call) -> bool:
    return bool(call.state.org_settings.value(call.org_id, "person_accounts"))


def _person_contact_of(call: _Call, contact: dict[str, Any]) -> bool:
    return _person_accounts_on(call) and bool(contact.get("IsPersonAccount"))


def _business_account_refused(named: dict[str, Any]) -> Response | None:
    used = sorted(PERSON_ONLY & set(named))
    if not used:
        return None
    # Unconfirmed wording: Salesforce refuses person fields on a business account; the exact
    # message is not in its documents.
    return error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Business Account may not use Person Account field {used[0]}",
        400,
        used,
    )


def _person_account_name_refused() -> Response:
    # Unconfirmed wording: a person account's Name is its person's, written as First/LastName.
    return error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "Person Account does not allow Name field; use FirstName and LastName",
        400,
        ["Name"],
    )


def _account_insert(call: _Call, body: dict[str, Any]) -> Response | None:
    """An Account insert in an org with Person Accounts: a person account when its record type
    is a person type, or (as Apex documents) when it names LastName and no Name; None: an
    ordinary insert (a business account)."""
    named = _canonical("Account", body)
    record_type = named.get("RecordTypeId")
    kind = call.state.person_record_type(call.org_id, record_type)
    if record_type and kind is None:
        return error(
            "INVALID_CROSS_REFERENCE_KEY",
            f"Record Type ID: this ID value isn't valid for the user: {record_type}",
            400,
            ["RecordTypeId"],
        )
    person = kind is True or (kind is None and "LastName" in named and "Name" not in named)
    if not person:
        return _business_account_refused(named)
    if not named.get("LastName"):
        return error(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", 400, ["LastName"]
        )
    if "Name" in named:
        return _person_account_name_refused()
    records = call.state.records
    owner = named.get("OwnerId") or call.user_id
    account_id, contact_id = records.new_id("Account"), records.new_id("Contact")
    with records.lock:
        records.create(
            call.org_id,
            "Account",
            {
                **named,
                "RecordTypeId": record_type or call.state.default_person_record_type(call.org_id),
                "IsPersonAccount": True,
                "PersonContactId": contact_id,
                "OwnerId": owner,
            },
            log=call.write_log("Account"),
            record_id=account_id,
        )
        mirrored = {PERSON_FIELDS[k]: v for k, v in named.items() if k in PERSON_FIELDS}
        records.create(
            call.org_id,
            "Contact",
            {**mirrored, "AccountId": account_id, "IsPersonAccount": True, "OwnerId": owner},
            log=None,  # one write: the Account's (the person contact comes with it)
            record_id=contact_id,
        )
    _after_write(call)
    return json_response({"id": account_id, "success": True, "errors": []}, 201)


def _contact_insert_refused(call: _Call, body: dict[str, Any]) -> Response | None:
    """A Contact cannot be attached to a person account: its one contact is the person contact.
    (Unconfirmed wording: the rule is documented, the error's text is not.)"""
    account_id = _canonical("Contact", body).get("AccountId")
    if not (_person_accounts_on(call) and account_id):
        return None
    account = call.state.records.get(call.org_id, "Account", str(account_id))
    if account and account.get("IsPersonAccount"):
        return error(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Cannot specify a person account as the account of a contact",
            400,
            ["AccountId"],
        )
    return None


def _person_contact_refused(call: _Call) -> Response:
    """A person contact is changed through its Account. Salesforce documents this answer for a
    change of its record type; that every field answers the same is unconfirmed."""
    return error(
        "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", 400, []
    )


def _account_update(call: _Call, row: dict[str, Any], body: dict[str, Any]) -> Response | None:
    """An Account update: a business account refuses person fields; a person account's person
    fields change its person contact too (one write, as Salesforce keeps both in step)."""
    named = _canonical("Account", body)
    if not row.get("IsPersonAccount"):
        return _business_account_refused(named)
    if "Name" in named:
        return _person_account_name_refused()
    records = call.state.records
    with records.lock:
        records.update(call.org_id, "Account", row["Id"], body, log=call.write_log("Account"))
        mirrored = {PERSON_FIELDS[k]: v for k, v in named.items() if k in PERSON_FIELDS}
        if row.get("PersonContactId"):
            records.update(call.org_id, "Contact", row["PersonContactId"], mirrored, log=None)
    _after_write(call)
    return Response(status=204)


def _after_write(call: _Call) -> None:
    """The ``hang_after_write`` fault: the write is saved, then the answer is late (a client's
    timeout after Salesforce saved)."""
    delay = call.state.faults.get(call.org_id, call.user_id, "hang_after_write")
    if delay:
        time.sleep(float(delay))


def _sobject(call: _Call, sobject: str) -> Response:
    """``GET``: the object's basic information; ``POST``: create a record."""
    if call.request.method in ("GET", "HEAD"):
        return json_response(
            {
                "objectDescribe": schema.global_describe_entry(sobject, call.version),
                "recentItems": [],
            }
        )
    body = _write_body(call, sobject, "insert")
    if isinstance(body, Response):
        return body
    if sobject == "Account" and _person_accounts_on(call):
        answer = _account_insert(call, body)  # a person account, or a refused one
        if answer is not None:
            return answer
    missing = [f for f in schema.OBJECTS[sobject].get("required", []) if not body.get(f)]
    if missing:
        return error(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            400,
            missing,
        )
    if sobject == "Task":
        refused = _task_refused(call, None, body)
        if refused:
            return refused
    if sobject == "Contact":
        refused = _contact_insert_refused(call, body)
        if refused:
            return refused
    if schema.field(sobject, "OwnerId") and "OwnerId" not in body:
        body = {**body, "OwnerId": call.user_id}
    record_id = call.state.records.create(call.org_id, sobject, body, log=call.write_log(sobject))
    _after_write(call)
    return json_response({"id": record_id, "success": True, "errors": []}, 201)


def _record(call: _Call, sobject: str, record_id: str) -> Response:
    """One record: ``GET`` (``?fields=``), ``PATCH``, ``DELETE``."""
    row = call.state.records.get(call.org_id, sobject, record_id)
    if row is None:
        return json_response(NOT_FOUND, 404)
    if row.get("IsDeleted"):
        return error("ENTITY_IS_DELETED", "entity is deleted", 404, [])
    method = call.request.method
    if method in ("GET", "HEAD"):
        return _get_record(call, sobject, row)
    if method == "PATCH":
        return _update_record(call, sobject, row)
    if method == "DELETE":
        return _delete_record(call, sobject, row)
    return _method_not_allowed(method, RECORD_METHODS)


def _get_record(call: _Call, sobject: str, row: dict[str, Any]) -> Response:
    names = schema.field_names(sobject)
    wanted = call.request.args.get("fields")
    if wanted:
        names = []
        for name in (n.strip() for n in wanted.split(",") if n.strip()):
            fdef = schema.field(sobject, name)
            if fdef is None:
                return error(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", 400
                )
            names.append(fdef["name"])
    return json_response(_record_body(sobject, row, call.version, names))


def _update_record(call: _Call, sobject: str, row: dict[str, Any]) -> Response:
    body = _write_body(call, sobject, "update")
    if isinstance(body, Response):
        return body
    if sobject == "Task":
        refused = _task_refused(call, row, body)
        if refused:
            return refused
    if sobject == "Contact" and _person_contact_of(call, row):
        return _person_contact_refused(call)
    if sobject == "Contact":
        refused = _contact_insert_refused(call, body)
        if refused:
            return refused
    if sobject == "Account" and _person_accounts_on(call):
        return _account_update(call, row, body)
    call.state.records.update(call.org_id, sobject, row["Id"], body, log=call.write_log(sobject))
    _after_write(call)
    return Response(status=204)


def _delete_record(call: _Call, sobject: str, row: dict[str, Any]) -> Response:
    refused = _refused(sobject, "delete")
    if refused:
        return refused
    if sobject == "Contact" and _person_contact_of(call, row):
        return _person_contact_refused(call)
    try:
        call.state.records.delete(call.org_id, sobject, row["Id"], log=call.write_log(sobject))
    except EmulatorError:
        return json_response(NOT_FOUND, 404)
    return Response(status=204)


def _composite(call: _Call) -> Response:
    """``POST /composite`` (issue 24, E7): up to 25 subrequests, at most 5 of them queries,
    answered in order; the whole request counts as ONE API call (``handle`` counted it)."""
    body = _read_json(call.request)
    if isinstance(body, Response):
        return body
    subrequests = body.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        return error("INVALID_INPUT", "compositeRequest must be a non-empty list", 400)
    if len(subrequests) > COMPOSITE_MAX:
        return error("INVALID_INPUT", f"Exceeded max limit of {COMPOSITE_MAX} subrequests", 400)
    queries = sum(1 for r in subrequests if "/query" in str(r.get("url", "")))
    if queries > COMPOSITE_MAX_QUERIES:
        return error(
            "INVALID_INPUT",
            f"Exceeded max limit of {COMPOSITE_MAX_QUERIES} query or collection subrequests",
            400,
        )
    answers = []
    prefix = f"/services/data/v{call.version}"
    for sub in subrequests:
        url = str(sub.get("url", ""))
        path, _, query = url.partition("?")
        if not path.startswith(prefix):
            answer = error("INVALID_INPUT", "url must start with " + prefix, 400)
        else:
            environ = EnvironBuilder(
                path=path,
                method=str(sub.get("method", "GET")).upper(),
                query_string=query,
                json=sub.get("body"),
            ).get_environ()
            inner = _Call(call.state, Request(environ), call.version, call.org_id, call.user_id)
            try:
                answer = _dispatch(inner, path[len(prefix) :])
            except soql.SoqlError as exc:
                answer = error(exc.error_code, exc.message, 400)
        data = answer.get_data(as_text=True)
        answers.append(
            {
                "body": json.loads(data) if data else None,
                "httpHeaders": {},
                "httpStatusCode": answer.status_code,
                "referenceId": sub.get("referenceId"),
            }
        )
    return json_response({"compositeResponse": answers})


_CHANNEL_MEMBERS = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+PlatformEventChannelMember"
    r"(?:\s+WHERE\s+EventChannel\s*=\s*'(?P<channel>\w+)')?\s*$",
    re.IGNORECASE,
)


def _tooling_query(call: _Call) -> Response:
    """``GET /tooling/query`` (issue 24, E7): the one Tooling API query the product sends,
    ``SELECT SelectedEntity FROM PlatformEventChannelMember WHERE EventChannel =
    'ChangeEvents'``: the objects selected for Change Data Capture. Other Tooling queries answer
    INVALID_TYPE (the emulator models no other Tooling object)."""
    q = call.request.args.get("q") or ""
    match = _CHANNEL_MEMBERS.match(q)
    if match is None:
        return error(
            "INVALID_TYPE", "sObject type is not supported by the emulator's Tooling API", 400
        )
    fields = [f.strip() for f in match.group("fields").split(",") if f.strip()]
    channel = match.group("channel")
    entities = call.state.events.selection(call.org_id) if channel in (None, "ChangeEvents") else []
    records = []
    for n, entity in enumerate(entities, start=1):
        row = {
            "attributes": {
                "type": "PlatformEventChannelMember",
                "url": f"/services/data/v{call.version}/tooling/sobjects/PlatformEventChannelMember/0v8Em{n:013d}",
            },
        }
        values = {
            "Id": f"0v8Em{n:013d}",
            "SelectedEntity": f"{entity}ChangeEvent",
            "EventChannel": "ChangeEvents",
            "DeveloperName": f"ChangeEvents_{entity}ChangeEvent",
        }
        for name in fields:
            row[name] = values.get(name)
        records.append(row)
    return json_response(
        {
            "size": len(records),
            "totalSize": len(records),
            "done": True,
            "queryLocator": None,
            "entityTypeName": "PlatformEventChannelMember",
            "records": records,
        }
    )


ROUTES = Map(
    [
        Rule("/", endpoint=_resources),
        Rule("/composite", endpoint=_composite, methods=["POST"]),
        Rule("/tooling/query", endpoint=_tooling_query, methods=["GET"]),
        Rule("/limits", endpoint=_limits),
        Rule("/query", endpoint=_query, methods=["GET"]),
        Rule("/queryAll", endpoint=_query_all, methods=["GET"]),
        Rule("/search", endpoint=_search, methods=["GET"]),
        Rule("/query/<path:locator>", endpoint=_query_locator),
        Rule("/queryAll/<path:locator>", endpoint=_query_locator),
        Rule("/sobjects", endpoint=_global_describe),
        Rule("/sobjects/<sobject:sobject>", endpoint=_sobject, methods=["GET", "POST"]),
        Rule("/sobjects/<sobject:sobject>/describe", endpoint=_describe, methods=["GET"]),
        Rule("/sobjects/<sobject:sobject>/<record_id:record_id>", endpoint=_record),
    ],
    converters={"sobject": _SObjectConverter, "record_id": _RecordIdConverter},
    strict_slashes=False,
    merge_slashes=False,
)
