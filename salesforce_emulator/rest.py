"""REST API on the instance host: ``/services/data/`` and ``/services/data/vXX.X/...``."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from . import schema, soql
from .state import EmulatorError, State
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
    if version not in VERSIONS:
        if retired(version):
            return json_response(GONE, 410)
        return json_response(NOT_FOUND, 404)
    token = bearer_token(request)
    grant = state.access(token)
    known = grant or state.access_any(token)
    if known:
        set_context(request, known["org_id"], known["user_id"])
    if grant is None:
        response = error("INVALID_SESSION_ID", "Session expired or invalid", 401)
        response.headers["WWW-Authenticate"] = 'Token realm="Salesforce"'
        return _with_usage(state, response, known["org_id"] if known else None)
    org_id, user_id = grant["org_id"], grant["user_id"]
    used, limit, over = state.count_api_call(org_id)
    delay = state.fault(org_id, user_id, "latency")
    if delay:
        time.sleep(float(delay))
    response = _faulted(state, org_id, user_id, over)
    if response is None:
        try:
            response = _dispatch(state, request, version, rest, org_id, user_id)
        except soql.SoqlError as exc:
            response = error(exc.error_code, exc.message, 400)
        if state.fault(org_id, user_id, "malformed_body") and response.status_code == 200:
            text = response.get_data()
            response = Response(
                b"<html><body>Service Unavailable" + text[: max(1, len(text) // 2)],
                status=200,
                content_type=JSON_TYPE,
            )
    return _with_usage(state, response, org_id)


def _with_usage(state: State, response: Response, org_id: str | None) -> Response:
    if org_id:
        used, limit = state.usage(org_id)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
    return response


def _faulted(state: State, org_id: str, user_id: str, over: bool) -> Response | None:
    for kind in ("api_disabled_org", "api_disabled_user"):
        if state.fault(org_id, user_id, kind):
            status, body = FAULT_BODIES[kind]
            return json_response(body, status)
    if over or state.fault(org_id, user_id, "request_limit_exceeded"):
        status, body = FAULT_BODIES["request_limit_exceeded"]
        return json_response(body, status)
    for kind in ("http_500", "http_503"):
        if state.fault(org_id, user_id, kind):
            status, body = FAULT_BODIES[kind]
            return json_response(body, status)
    return None


def _method_not_allowed(method: str, allowed: str) -> Response:
    return error(
        "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}", 405
    )


def _dispatch(
    state: State, request: Request, version: str, rest: str, org_id: str, user_id: str
) -> Response:
    parts = [p for p in rest.split("/") if p]
    method = request.method
    if not parts:
        names = ["sobjects", "query", "queryAll", "limits", "search", "recent", "tooling"]
        return json_response({n: f"/services/data/v{version}/{n}" for n in names})
    head = parts[0]
    if head in ("query", "queryAll"):
        if len(parts) > 1:
            return error("INVALID_QUERY_LOCATOR", "invalid query locator", 400)
        if method != "GET":
            return _method_not_allowed(method, "GET,HEAD")
        return _query(state, request, version, org_id, all_rows=head == "queryAll")
    if head == "limits" and len(parts) == 1:
        used, limit = state.usage(org_id)
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
    if head == "sobjects":
        return _sobjects(state, request, version, parts[1:], org_id, user_id)
    return json_response(NOT_FOUND, 404)


def _query(
    state: State, request: Request, version: str, org_id: str, *, all_rows: bool
) -> Response:
    q = request.args.get("q")
    if q is None or not q.strip():
        return error("MALFORMED_QUERY", "A query string has to be specified", 400)
    query = soql.parse(q)
    with state.lock:
        records = state.table(org_id, query.sobject)
        result = soql.execute(query, records, state.lookup_fn(org_id), version, all_rows=all_rows)
    return json_response(result)


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


def _sobjects(
    state: State,
    request: Request,
    version: str,
    parts: list[str],
    org_id: str,
    user_id: str,
) -> Response:
    method = request.method
    if not parts:
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [schema.global_describe_entry(o, version) for o in schema.OBJECTS],
            }
        )
    sobject = schema.canonical_object(parts[0])
    if sobject is None or sobject != parts[0] and parts[0].lower() != sobject.lower():
        return json_response(NOT_FOUND, 404)
    spec = schema.OBJECTS[sobject]
    writable = not spec.get("readonly")
    log = {"org_id": org_id, "user_id": user_id, "sobject": sobject}
    if len(parts) == 1:
        if method == "GET":
            return json_response(
                {
                    "objectDescribe": schema.global_describe_entry(sobject, version),
                    "recentItems": [],
                }
            )
        if method != "POST":
            return _method_not_allowed(method, "GET,HEAD,POST")
        body = _read_json(request)
        if isinstance(body, Response):
            return body
        if not writable:
            return error(
                "INVALID_TYPE_FOR_OPERATION", f"entity type {sobject} does not support insert", 400
            )
        problem = _check_writable(sobject, body)
        if problem:
            return problem
        missing = [f for f in spec.get("required", []) if not body.get(f)]
        if missing:
            return error(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                400,
                missing,
            )
        if sobject in ("Contact", "Lead", "Account") and "OwnerId" not in body:
            body = {**body, "OwnerId": user_id}
        record_id = state.create(org_id, sobject, body, log={**log, "method": "POST"})
        return json_response({"id": record_id, "success": True, "errors": []}, 201)
    if parts[1] == "describe" and len(parts) == 2:
        if method != "GET":
            return _method_not_allowed(method, "GET,HEAD")
        return json_response(schema.describe(sobject, version))
    if len(parts) != 2:
        return json_response(NOT_FOUND, 404)
    record_id = parts[1]
    if not re.fullmatch(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", record_id):
        return json_response(NOT_FOUND, 404)
    with state.lock:
        row = state.lookup_fn(org_id)(sobject, record_id)
        row = dict(row) if row else None
    if row is None:
        return json_response(NOT_FOUND, 404)
    if row.get("IsDeleted"):
        return error("ENTITY_IS_DELETED", "entity is deleted", 404, [])
    if method == "GET":
        names = schema.field_names(sobject)
        wanted = request.args.get("fields")
        if wanted:
            names = []
            for name in (n.strip() for n in wanted.split(",") if n.strip()):
                fdef = schema.field(sobject, name)
                if fdef is None:
                    return error(
                        "INVALID_FIELD",
                        f"No such column '{name}' on sobject of type {sobject}",
                        400,
                    )
                names.append(fdef["name"])
        return json_response(_record_body(sobject, row, version, names))
    if method == "PATCH":
        body = _read_json(request)
        if isinstance(body, Response):
            return body
        if not writable:
            return error(
                "INVALID_TYPE_FOR_OPERATION", f"entity type {sobject} does not support update", 400
            )
        problem = _check_writable(sobject, body)
        if problem:
            return problem
        state.update(org_id, sobject, row["Id"], body, log={**log, "method": "PATCH"})
        return Response(status=204)
    if method == "DELETE":
        if not writable:
            return error(
                "INVALID_TYPE_FOR_OPERATION", f"entity type {sobject} does not support delete", 400
            )
        try:
            state.delete(org_id, sobject, row["Id"], log={**log, "method": "DELETE"})
        except EmulatorError:
            return json_response(NOT_FOUND, 404)
        return Response(status=204)
    return _method_not_allowed(method, "GET,HEAD,PATCH,DELETE")
