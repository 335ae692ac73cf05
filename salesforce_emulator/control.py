"""The control endpoint for tests and benchmarks, on the login listener under ``/__emulator__/``.

JSON in, JSON out, no auth, loopback clients only. Not counted as API use, not in the request log.

==========================================  ===================================================
``GET  /__emulator__/info``                 urls, connected app, orgs with users/usage/faults
``POST /__emulator__/faults``               ``{"kind", "value"?, "org_id"?, "username"?}``
                                            (``value`` false/null clears; no org/user = global)
``POST /__emulator__/faults/clear``         ``{"org_id"?, "username"?}`` (empty: clear all)
``GET  /__emulator__/requests?org_id=``     the request log (list of entries)
``DELETE /__emulator__/requests``           empty the request log
``GET  /__emulator__/writes``               REST writes (POST/PATCH/DELETE on sobjects)
``DELETE /__emulator__/writes``             empty the writes log
``POST /__emulator__/records/<T>/<id>``     ``{"fields": {...}, "org_id"?}``: update a record, or
                                            create it with that id (``org_id`` needed then);
                                            not API use, not a logged write
``POST /__emulator__/usage``                ``{"org_id", "used"?, "limit"?}``
``POST /__emulator__/expire-sessions``      ``{"org_id"?, "username"?}``: end access tokens
``POST /__emulator__/revoke-refresh-tokens`` ``{"org_id"?, "username"?}``: revoke refresh tokens
``POST /__emulator__/reset``                back to the loaded data; tokens, logs, faults cleared
==========================================  ===================================================

Fault kinds: api_disabled_org, api_disabled_user, expire_sessions (one-off action),
revoke_refresh_tokens (revokes now and refuses refresh while set), request_limit_exceeded,
latency (seconds), http_500, http_503, malformed_body.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from . import schema
from .state import EmulatorError, State
from .web import json_response

LOOPBACK = {"127.0.0.1", "::1", "localhost", None}


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data(as_text=True)
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise EmulatorError("body must be a JSON object")
    return data


def _user_id(state: State, body: dict[str, Any]) -> str | None:
    if body.get("user_id"):
        return body["user_id"]
    if body.get("username"):
        user = state.user_by_username(body["username"])
        if user is None:
            raise EmulatorError(f"unknown username {body['username']!r}")
        return user["id"]
    return None


def handle(state: State, request: Request, op: str) -> Response:
    if request.remote_addr not in LOOPBACK and not str(request.remote_addr).startswith("127."):
        return json_response({"error": "control endpoint is loopback only"}, 403)
    try:
        return _handle(state, request, op.strip("/"))
    except (EmulatorError, ValueError, KeyError) as exc:
        return json_response({"error": str(exc)}, 400)


def _handle(state: State, request: Request, op: str) -> Response:
    method = request.method
    if op == "info" and method == "GET":
        return json_response(state.info())
    if op == "reset" and method == "POST":
        state.reset()
        return json_response({"ok": True})
    if op == "faults" and method == "POST":
        body = _body(request)
        state.set_fault(
            body["kind"],
            body.get("value", True),
            org_id=body.get("org_id"),
            user_id=_user_id(state, body),
        )
        return json_response({"ok": True})
    if op == "faults/clear" and method == "POST":
        body = _body(request)
        state.clear_faults(org_id=body.get("org_id"), user_id=_user_id(state, body))
        return json_response({"ok": True})
    if op == "requests":
        if method == "DELETE":
            state.reset_request_log()
            return json_response({"ok": True})
        return json_response(state.get_request_log(request.args.get("org_id") or None))
    if op == "writes":
        if method == "DELETE":
            with state.lock:
                state.writes.clear()
            return json_response({"ok": True})
        return json_response(state.get_writes())
    if op == "usage" and method == "POST":
        body = _body(request)
        state.set_usage(body["org_id"], body.get("used"), body.get("limit"))
        used, limit = state.usage(body["org_id"])
        return json_response({"used": used, "limit": limit})
    if op in ("expire-sessions", "revoke-refresh-tokens") and method == "POST":
        body = _body(request)
        fn = state.expire_sessions if op == "expire-sessions" else state.revoke_refresh_tokens
        count = fn(body.get("org_id"), _user_id(state, body))
        return json_response({"count": count})
    if op.startswith("records/") and method == "POST":
        _, sobject_name, record_id = op.split("/", 2)
        sobject = schema.canonical_object(sobject_name)
        if sobject is None:
            raise EmulatorError(f"unknown sobject {sobject_name!r}")
        body = _body(request)
        fields = body.get("fields", {})
        found = state.find_record(sobject, record_id)
        with state.lock:
            if found is not None:
                org_id, row = found
                state.update(org_id, sobject, row["Id"], fields, log=None)
                return json_response({"id": row["Id"], "created": False})
            org_id = body.get("org_id")
            if not org_id:
                raise EmulatorError("record not found; pass org_id to create it")
            state.org(org_id)
            row = state._normalise(sobject, {**fields, "Id": record_id}, new=True)
            state.records[org_id][sobject][record_id] = row
            return json_response({"id": record_id, "created": True})
    return json_response({"error": f"unknown control operation {method} {op}"}, 404)
