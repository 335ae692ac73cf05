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
``POST /__emulator__/reset``                back to the loaded data; tokens, logs, faults cleared,
                                            each app's token policy and the clock restored
``GET  /__emulator__/token-policy?client_id=``  an app's token policy (default: the first app)
``POST /__emulator__/token-policy``         ``{"client_id"?, <policy keys>...}``: change some
                                            keys, answer the whole policy (400 on a bad value)
``GET  /__emulator__/clock``                ``{"offset_seconds", "now"}``
``POST /__emulator__/clock``                ``{"advance_seconds": N}``: move the emulator's clock
                                            forward (session timeout, idle/lifetime expiry, codes)
``DELETE /__emulator__/records/<T>/<id>``   delete a record (its change event is published)
``GET  /__emulator__/pubsub/cdc-entities?org_id=``  ``{"org_id", "entities"}``: the entities the
                                            org selected for Change Data Capture
``POST /__emulator__/pubsub/cdc-entities``  ``{"org_id", "entities": [...]}``: select them (of
                                            Contact, Case, Opportunity, Lead); others publish
                                            nothing
``POST /__emulator__/pubsub/allocation``    ``{"org_id", "remaining": N | null}``: event
                                            deliveries left (null: no cap); at 0 a subscription
                                            ends with the delivery-limit error
``POST /__emulator__/pubsub/keepalive``     ``{"seconds": N}``: Subscribe's keepalive interval
                                            (Salesforce: 270 s); reset restores the startup value
``POST /__emulator__/pubsub/stall``        ``{"org_id"}``: every Subscribe stream of the org
                                            open now goes silent (no events, no keepalives)
                                            without closing; new streams work
``POST /__emulator__/pubsub/idle-close``   ``{"seconds": N}``: a stream with nothing requested
                                            is closed after N s (Salesforce: ~70); reset
                                            restores the startup value
``GET  /__emulator__/pubsub/events?org_id=``  the org's kept change events (replay id as hex,
                                            entity, schema id, header, changed_fields by name)
``GET  /__emulator__/pubsub/stats``         ``{"calls": {rpc: n}, "open_streams": {org: n},
                                            "delivered": {org: n}, "allocation": {org: n|null}}``
``GET  /__emulator__/org-settings?org_id=``  the org's enterprise switches (see
                                            ``stores/org_settings.py``)
``POST /__emulator__/org-settings``         ``{"org_id", <switches>...}``: change some, answer all
``POST /__emulator__/client-credentials``   ``{"client_id"?, "username": U | null}``: the
                                            app's client credentials flow runs as user U
                                            (null: off, ``invalid_grant``); reset restores it
``GET  /__emulator__/token-families``       one entry per approval (token family), no token
                                            values: ``id, org_id, user_id, client_id, created,
                                            revoked, revoke_reason, refresh_grants,
                                            refresh_tokens_issued``
==========================================  ===================================================

Token policy keys (per app, see ``policy.py``): ``refresh_token_rotation`` (bool),
``refresh_token_policy`` ("infinite", "immediately", "specific_lifetime:N:UNIT",
"specific_inactivity:N:UNIT"; UNIT MONTHS/DAYS/HOURS/MINUTES/SECONDS), ``session_timeout_seconds``
(number or null), ``max_approvals_per_user`` (int or null; Salesforce: 5).

Request log entries (``GET /__emulator__/requests``), one per OAuth/REST request, oldest first:
``method, path, query`` (SOQL for query, else the raw query string; never form bodies),
``org_id, user_id`` (null when unknown), ``status``, ``ts`` (wall-clock epoch seconds),
``listener`` ("login" or "instance"). Token-endpoint entries (``/services/oauth2/token``) add:

- ``grant_type``: "authorization_code", "refresh_token" or what was sent;
- ``client_id``; ``outcome``: "ok" or the OAuth error (``invalid_grant``...);
  ``error_description``: the error's text or null;
- ``reason`` (refused refresh grants): "unknown", "wrong_client", "reuse", "revoked",
  "immediate_expiry", "lifetime_expired", "idle_expired"; else null;
- ``family_id``: the approval the tokens belong to (an opaque "fam-N", not a secret);
- ``rotated``: a refresh grant answered a new refresh token;
- ``reuse_detected``: a rotated-out refresh token was presented (every time it is presented);
- ``revoked_families``: token families this request revoked (1 for the first reuse of a family,
  1 per oldest approval dropped by the approval limit), with ``revoke_reason``
  ("refresh_token_reuse", "approval_limit") and, for the limit, ``revoked_family_ids``.

Revoke-endpoint entries (``/services/oauth2/revoke``) add ``outcome`` ("ok"/"invalid_token"),
``token_kind`` ("access"/"refresh"), ``family_id``, ``revoked_families`` (1 for a refresh token),
``revoke_reason`` ("revoked"). A soak counts refresh grants as token entries with
``grant_type == "refresh_token"`` (split by ``outcome``), reuses as ``reuse_detected``, and
revocations as the sum of ``revoked_families``; ``EmulatorControl.token_summary()`` does that.

Fault kinds: api_disabled_org, api_disabled_user, expire_sessions (one-off action),
revoke_refresh_tokens (revokes now and refuses refresh while set), request_limit_exceeded,
latency (seconds), http_500, http_503, malformed_body, search_index_lag (seconds),
no_edit_tasks, hang_after_write (seconds), hide_object (value: an sObject name, a
comma-separated string or a list, e.g. ``{"kind": "hide_object", "value": ["Case"], "username":
"admin@acme-corp.example"}``; the user has no read access to them: queries answer 400
INVALID_TYPE as Salesforce does, describes leave out the child relationships to them, their
describe and records answer 404; hiding Opportunity hides OpportunityContactRole too; a user's,
their org's and the global values add up; ``EmulatorControl.hide_objects``).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import schema
from .errors import EmulatorError
from .state import State
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
        user = state.directory.user_by_username(body["username"])
        if user is None:
            raise EmulatorError(f"unknown username {body['username']!r}")
        return user["id"]
    return None


def handle(state: State, request: Request, op: str) -> Response:
    if request.remote_addr not in LOOPBACK and not str(request.remote_addr).startswith("127."):
        return json_response({"error": "control endpoint is loopback only"}, 403)
    try:
        return _dispatch(state, request, op.strip("/"))
    except (EmulatorError, ValueError, KeyError) as exc:
        return json_response({"error": str(exc)}, 400)


def _dispatch(state: State, request: Request, op: str) -> Response:
    try:
        endpoint, values = ROUTES.bind("emulator").match(f"/{op}", method=request.method)
    except HTTPException:  # NotFound, MethodNotAllowed
        return json_response({"error": f"unknown control operation {request.method} {op}"}, 404)
    return endpoint(state, request, **values)


def _ok() -> Response:
    return json_response({"ok": True})


def _info(state: State, request: Request) -> Response:
    return json_response(state.info())


def _reset(state: State, request: Request) -> Response:
    state.reset()
    return _ok()


def _set_fault(state: State, request: Request) -> Response:
    body = _body(request)
    state.set_fault(
        body["kind"],
        body.get("value", True),
        org_id=body.get("org_id"),
        user_id=_user_id(state, body),
    )
    return _ok()


def _clear_faults(state: State, request: Request) -> Response:
    body = _body(request)
    state.faults.clear(org_id=body.get("org_id"), user_id=_user_id(state, body))
    return _ok()


def _requests(state: State, request: Request) -> Response:
    return json_response(state.logs.get_requests(request.args.get("org_id") or None))


def _clear_requests(state: State, request: Request) -> Response:
    state.logs.clear_requests()
    return _ok()


def _writes(state: State, request: Request) -> Response:
    return json_response(state.logs.get_writes())


def _clear_writes(state: State, request: Request) -> Response:
    state.logs.clear_writes()
    return _ok()


def _set_usage(state: State, request: Request) -> Response:
    body = _body(request)
    state.usage.set(body["org_id"], body.get("used"), body.get("limit"))
    used, limit = state.usage.get(body["org_id"])
    return json_response({"used": used, "limit": limit})


def _expire_sessions(state: State, request: Request) -> Response:
    body = _body(request)
    count = state.tokens.expire_sessions(body.get("org_id"), _user_id(state, body))
    return json_response({"count": count})


def _revoke_refresh_tokens(state: State, request: Request) -> Response:
    body = _body(request)
    count = state.tokens.revoke_refresh_tokens(body.get("org_id"), _user_id(state, body))
    return json_response({"count": count})


def _token_policy(state: State, request: Request) -> Response:
    return json_response(state.apps.token_policy(request.args.get("client_id") or None))


def _set_token_policy(state: State, request: Request) -> Response:
    body = _body(request)
    client_id = body.pop("client_id", None)
    return json_response(state.apps.set_token_policy(client_id, **body))


def _clock(state: State, request: Request) -> Response:
    return json_response({"offset_seconds": state.clock.offset, "now": state.clock.now()})


def _advance_clock(state: State, request: Request) -> Response:
    body = _body(request)
    if "advance_seconds" not in body:
        raise EmulatorError("advance_seconds is required")
    state.clock.advance(body["advance_seconds"])
    return _clock(state, request)


def _token_families(state: State, request: Request) -> Response:
    return json_response(state.tokens.token_families())


def _put_record(state: State, request: Request, sobject_name: str, record_id: str) -> Response:
    sobject = schema.canonical_object(sobject_name)
    if sobject is None:
        raise EmulatorError(f"unknown sobject {sobject_name!r}")
    body = _body(request)
    stored_id, created = state.records.upsert(
        sobject, record_id, body.get("fields", {}), body.get("org_id")
    )
    return json_response({"id": stored_id, "created": created})


def _delete_record(state: State, request: Request, sobject_name: str, record_id: str) -> Response:
    sobject = schema.canonical_object(sobject_name)
    if sobject is None:
        raise EmulatorError(f"unknown sobject {sobject_name!r}")
    found = state.records.find(sobject, record_id)
    if found is None:
        raise EmulatorError(f"unknown {sobject} {record_id!r}")
    state.records.delete(found[0], sobject, found[1]["Id"], log=None)
    return _ok()


def _cdc_entities(state: State, request: Request) -> Response:
    org_id = request.args["org_id"]
    return json_response({"org_id": org_id, "entities": state.events.selection(org_id)})


def _set_cdc_entities(state: State, request: Request) -> Response:
    body = _body(request)
    entities = state.events.select(body["org_id"], list(body["entities"]))
    return json_response({"org_id": body["org_id"], "entities": entities})


def _set_allocation(state: State, request: Request) -> Response:
    body = _body(request)
    remaining = state.events.set_allocation(body["org_id"], body.get("remaining"))
    return json_response({"org_id": body["org_id"], "remaining": remaining})


def _set_keepalive(state: State, request: Request) -> Response:
    return json_response({"seconds": state.events.set_keepalive(_body(request)["seconds"])})


def _stall(state: State, request: Request) -> Response:
    return json_response({"stalls": state.events.stall(_body(request)["org_id"])})


def _set_idle_close(state: State, request: Request) -> Response:
    return json_response({"seconds": state.events.set_idle_close(_body(request)["seconds"])})


def _change_events(state: State, request: Request) -> Response:
    return json_response(state.events.summary(request.args["org_id"]))


def _set_run_as(state: State, request: Request) -> Response:
    body = _body(request)
    return json_response(state.apps.set_run_as(body.get("client_id"), body.get("username")))


def _org_settings(state: State, request: Request) -> Response:
    return json_response(state.org_settings.get(request.args["org_id"]))


def _set_org_settings(state: State, request: Request) -> Response:
    body = _body(request)
    org_id = body.pop("org_id")
    return json_response(state.update_org_settings(org_id, **body))


def _pubsub_stats(state: State, request: Request) -> Response:
    return json_response(state.events.stats())


# One rule per operation (the table in the module docstring); paths are below /__emulator__.
ROUTES = Map(
    [
        Rule("/info", endpoint=_info, methods=["GET"]),
        Rule("/reset", endpoint=_reset, methods=["POST"]),
        Rule("/faults", endpoint=_set_fault, methods=["POST"]),
        Rule("/faults/clear", endpoint=_clear_faults, methods=["POST"]),
        Rule("/requests", endpoint=_requests, methods=["GET"]),
        Rule("/requests", endpoint=_clear_requests, methods=["DELETE"]),
        Rule("/writes", endpoint=_writes, methods=["GET"]),
        Rule("/writes", endpoint=_clear_writes, methods=["DELETE"]),
        Rule("/usage", endpoint=_set_usage, methods=["POST"]),
        Rule("/expire-sessions", endpoint=_expire_sessions, methods=["POST"]),
        Rule("/revoke-refresh-tokens", endpoint=_revoke_refresh_tokens, methods=["POST"]),
        Rule("/token-policy", endpoint=_token_policy, methods=["GET"]),
        Rule("/token-policy", endpoint=_set_token_policy, methods=["POST"]),
        Rule("/clock", endpoint=_clock, methods=["GET"]),
        Rule("/clock", endpoint=_advance_clock, methods=["POST"]),
        Rule("/token-families", endpoint=_token_families, methods=["GET"]),
        Rule("/records/<sobject_name>/<path:record_id>", endpoint=_put_record, methods=["POST"]),
        Rule(
            "/records/<sobject_name>/<path:record_id>",
            endpoint=_delete_record,
            methods=["DELETE"],
        ),
        Rule("/pubsub/cdc-entities", endpoint=_cdc_entities, methods=["GET"]),
        Rule("/pubsub/cdc-entities", endpoint=_set_cdc_entities, methods=["POST"]),
        Rule("/pubsub/allocation", endpoint=_set_allocation, methods=["POST"]),
        Rule("/pubsub/keepalive", endpoint=_set_keepalive, methods=["POST"]),
        Rule("/pubsub/events", endpoint=_change_events, methods=["GET"]),
        Rule("/pubsub/stall", endpoint=_stall, methods=["POST"]),
        Rule("/pubsub/idle-close", endpoint=_set_idle_close, methods=["POST"]),
        Rule("/pubsub/stats", endpoint=_pubsub_stats, methods=["GET"]),
        Rule("/org-settings", endpoint=_org_settings, methods=["GET"]),
        Rule("/client-credentials", endpoint=_set_run_as, methods=["POST"]),
        Rule("/org-settings", endpoint=_set_org_settings, methods=["POST"]),
    ]
)
