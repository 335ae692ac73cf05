"""OAuth 2.0 web server flow endpoints, revoke, identity URL and userinfo (login host)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import pages
from .state import State
from .web import bearer_token, html_response, json_response, log_fields, set_context

DEFAULT_SCOPES = ["api", "refresh_token"]


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def _redirect_with(redirect_uri: str, params: dict[str, str]) -> Response:
    parts = urlsplit(redirect_uri)
    query = "&".join(p for p in (parts.query, urlencode(params)) if p)
    return redirect(urlunsplit((*parts[:3], query, parts.fragment)), code=302)


def _granted_scopes(app: dict[str, Any], requested: str) -> list[str]:
    allowed = app.get("scopes") or DEFAULT_SCOPES + ["id", "openid", "full", "web"]
    asked = requested.split() if requested else list(DEFAULT_SCOPES)
    granted = [s for s in dict.fromkeys(asked) if s in allowed]
    return granted or list(DEFAULT_SCOPES)


# ---------------------------------------------------------------------------- authorize


def authorize(state: State, request: Request) -> Response:
    if request.method == "POST" and request.form.get("pending"):
        return _authorize_step(state, request)
    params = request.values
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    app = state.apps.get(client_id)
    if app is None:
        return html_response(
            pages.oauth_error_page("invalid_client_id", "client identifier invalid"), 400
        )
    if not redirect_uri or not state.apps.callback_allowed(
        redirect_uri, client_id, allow_loopback=state.allow_loopback_callbacks
    ):
        return html_response(
            pages.oauth_error_page(
                "redirect_uri_mismatch", "redirect_uri must match configuration"
            ),
            400,
        )
    oauth_state = params.get("state")
    extra = {"state": oauth_state} if oauth_state is not None else {}
    response_type = params.get("response_type", "")
    if response_type != "code":
        return _redirect_with(
            redirect_uri,
            {
                "error": "unsupported_response_type",
                "error_description": "response type not supported",
                **extra,
            },
        )
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method") or ("S256" if challenge else None)
    if challenge and method != "S256":
        return _redirect_with(
            redirect_uri,
            {
                "error": "invalid_request",
                "error_description": "invalid code_challenge_method",
                **extra,
            },
        )
    pending_id = state.authorizations.create_pending(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(_granted_scopes(app, params.get("scope", ""))),
            "state": oauth_state,
            "code_challenge": challenge,
            "prompt": params.get("prompt"),
        }
    )
    return html_response(pages.login_page(pending_id, state.info()["orgs"]))


def _authorize_step(state: State, request: Request) -> Response:
    pending_id = request.form.get("pending", "")
    pending = state.authorizations.get_pending(pending_id)
    if pending is None:
        return html_response(
            pages.oauth_error_page(
                "invalid_request", "authorization request expired or unknown; start again"
            ),
            400,
        )
    step = request.form.get("step")
    if step == "login":
        user = state.directory.user_by_username(request.form.get("username", ""))
        if user is None:
            return html_response(
                pages.login_page(pending_id, state.info()["orgs"], "Unknown username."), 200
            )
        state.authorizations.log_in(pending_id, user["id"])
        org_name = state.directory.org(user["org_id"])["name"]
        set_context(request, user["org_id"], user["id"])
        return html_response(
            pages.consent_page(
                pending_id,
                state.apps.resolve(pending["client_id"]).get("name", "Connected App"),
                user["username"],
                org_name,
                pending["scope"].split(),
            )
        )
    if step == "consent" and pending.get("user_id"):
        state.authorizations.pop_pending(pending_id)
        user = state.directory.users[pending["user_id"]]
        set_context(request, user["org_id"], user["id"])
        extra = {"state": pending["state"]} if pending["state"] is not None else {}
        if request.form.get("decision") != "allow":
            return _redirect_with(
                pending["redirect_uri"],
                {
                    "error": "access_denied",
                    "error_description": "end-user denied authorization",
                    **extra,
                },
            )
        code = state.authorizations.issue_code(pending)
        return _redirect_with(pending["redirect_uri"], {"code": code, **extra})
    return html_response(pages.oauth_error_page("invalid_request", "invalid request"), 400)


# ---------------------------------------------------------------------------- token


def _client_credentials(request: Request) -> tuple[str, str | None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return request.form.get("client_id", ""), request.form.get("client_secret")


def _identity_url(state: State, org_id: str, user_id: str) -> str:
    return f"{state.login_url}/id/{org_id}/{user_id}"


def _token_body(
    state: State,
    app: dict[str, Any],
    org_id: str,
    user_id: str,
    access: str,
    scope: str,
    refresh: str | None,
) -> dict[str, Any]:
    identity = _identity_url(state, org_id, user_id)
    issued_at = str(int(state.clock.now() * 1000))
    digest = hmac.new(
        app["client_secret"].encode(), (identity + issued_at).encode(), hashlib.sha256
    ).digest()
    body: dict[str, Any] = {"access_token": access}
    if refresh:
        body["refresh_token"] = refresh
    body.update(
        {
            "signature": base64.b64encode(digest).decode(),
            "scope": scope,
            "instance_url": state.instance_url_of(org_id),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
    )
    return body


def _token_log(request: Request, grant_type: str, client_id: str, **fields: Any) -> None:
    """Every token-endpoint answer logs the same fields (see control.py)."""
    entry: dict[str, Any] = {
        "grant_type": grant_type or None,
        "client_id": client_id or None,
        "outcome": "ok",
        "error_description": None,
        "reason": None,
        "family_id": None,
        "rotated": False,
        "reuse_detected": False,
        "revoked_families": 0,
        "revoke_reason": None,
    }
    entry.update(fields)
    log_fields(request, **entry)


def _token_error(
    request: Request, grant_type: str, client_id: str, error: str, description: str, **fields: Any
) -> Response:
    _token_log(
        request,
        grant_type,
        client_id,
        outcome=error,
        error_description=description,
        **fields,
    )
    return _oauth_error(error, description)


def token(state: State, request: Request) -> Response:
    grant_type = request.form.get("grant_type", "")
    client_id, secret = _client_credentials(request)
    if request.method != "POST":
        return _token_error(request, "", "", "invalid_request", "must use HTTP POST")
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
        return _token_error(
            request, grant_type, client_id, "unsupported_grant_type", "grant type not supported"
        )
    app = state.apps.get(client_id)
    if app is None:
        return _token_error(
            request, grant_type, client_id, "invalid_client_id", "client identifier invalid"
        )
    if grant_type == "authorization_code":
        return _code_grant(state, request, app, secret)
    if grant_type == "client_credentials":
        return _client_credentials_grant(state, request, app, secret)
    return _refresh_grant(state, request, app, secret)


def _client_credentials_grant(
    state: State, request: Request, app: dict[str, Any], secret: str | None
) -> Response:
    """Issue 24 (E4): the app's run-as user (an integration user) gets an access token, no
    refresh token; the client asks again when it expires. Salesforce requires the org's My Domain
    host for this grant (login.salesforce.com refuses it); the emulator has one login host and
    does not model that (unconfirmed: the exact refusal)."""
    client_id = app["client_id"]

    def fail(error: str, description: str) -> Response:
        return _token_error(request, "client_credentials", client_id, error, description)

    if not secret or not hmac.compare_digest(secret, app["client_secret"]):
        return fail("invalid_client", "invalid client credentials")
    username = app.get("client_credentials_user")
    user = state.directory.user_by_username(username) if username else None
    if user is None:
        return fail("invalid_grant", "no client credentials user enabled")
    set_context(request, user["org_id"], user["id"])
    scope = "api"
    access, _, events = state.tokens.approve(
        client_id, user["org_id"], user["id"], scope, with_refresh=False
    )
    _token_log(request, "client_credentials", client_id, **events)
    _token_latency(state, user["org_id"], user["id"])
    return json_response(_token_body(state, app, user["org_id"], user["id"], access, scope, None))


def _code_grant(
    state: State, request: Request, app: dict[str, Any], secret: str | None
) -> Response:
    client_id = app["client_id"]

    def fail(error: str, description: str) -> Response:
        return _token_error(request, "authorization_code", client_id, error, description)

    if not secret or not hmac.compare_digest(secret, app["client_secret"]):
        return fail("invalid_client", "invalid client credentials")
    grant = state.authorizations.take_code(request.form.get("code", ""))
    if grant is None or grant["client_id"] != client_id:
        return fail("invalid_grant", "invalid authorization code")
    user = state.directory.users[grant["user_id"]]
    set_context(request, user["org_id"], user["id"])
    if state.authorizations.code_expired(grant):
        return fail("invalid_grant", "expired authorization code")
    if request.form.get("redirect_uri", "") != grant["redirect_uri"]:
        return fail("redirect_uri_mismatch", "redirect_uri must match configuration")
    if grant.get("code_challenge"):
        verifier = request.form.get("code_verifier", "")
        computed = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if not verifier or not hmac.compare_digest(computed, grant["code_challenge"]):
            return fail("invalid_grant", "invalid code verifier")
    scope = grant["scope"]
    wants_refresh = bool({"refresh_token", "offline_access", "full"} & set(scope.split()))
    access, refresh, events = state.tokens.approve(
        client_id, user["org_id"], user["id"], scope, with_refresh=wants_refresh
    )
    _token_log(request, "authorization_code", client_id, **events)
    _token_latency(state, user["org_id"], user["id"])
    return json_response(
        _token_body(state, app, user["org_id"], user["id"], access, scope, refresh)
    )


def _refresh_grant(
    state: State, request: Request, app: dict[str, Any], secret: str | None
) -> Response:
    # The secret is optional (as for an app without "require secret for refresh token flow"),
    # but a wrong one is refused.
    client_id = app["client_id"]
    if secret and not hmac.compare_digest(secret, app["client_secret"]):
        return _token_error(
            request, "refresh_token", client_id, "invalid_client", "invalid client credentials"
        )
    result = state.tokens.refresh_grant(client_id, request.form.get("refresh_token", ""))
    if result["org_id"]:
        set_context(request, result["org_id"], result["user_id"])
    fields = {
        "reason": result["reason"],
        "family_id": result["family_id"],
        "rotated": result["rotated"],
        "reuse_detected": result["reuse_detected"],
        "revoked_families": result["revoked_families"],
        "revoke_reason": result.get("revoke_reason"),
    }
    if not result["ok"]:
        # Salesforce answers every refused refresh token alike: revoked, expired, rotated out.
        return _token_error(
            request,
            "refresh_token",
            client_id,
            "invalid_grant",
            "expired access/refresh token",
            **fields,
        )
    _token_log(request, "refresh_token", client_id, **fields)
    _token_latency(state, result["org_id"], result["user_id"])
    return json_response(
        _token_body(
            state,
            app,
            result["org_id"],
            result["user_id"],
            result["access"],
            result["scope"],
            result["refresh"],
        )
    )


def _token_latency(state: State, org_id: str, user_id: str) -> None:
    delay = state.faults.get(org_id, user_id, "latency")
    if delay:
        time.sleep(float(delay))


def revoke(state: State, request: Request) -> Response:
    token_value = request.values.get("token", "")
    grant = state.tokens.access_any(token_value) or state.tokens.refresh_record(token_value)
    if grant:
        set_context(request, grant["org_id"], grant["user_id"])
    result = state.tokens.revoke(token_value) if token_value else None
    if result is None:
        log_fields(request, outcome="invalid_token", revoked_families=0, revoke_reason=None)
        return _oauth_error("invalid_token", "invalid token")
    log_fields(
        request,
        outcome="ok",
        token_kind=result["kind"],
        family_id=result["family_id"],
        revoked_families=result["revoked_families"],
        revoke_reason="revoked" if result["revoked_families"] else None,
    )
    return Response(b"", status=200)


# ---------------------------------------------------------------------------- identity


def _identity_urls(state: State, org_id: str, user_id: str) -> dict[str, str]:
    base = state.instance_url
    data = f"{base}/services/data/v{{version}}"
    return {
        "enterprise": f"{base}/services/Soap/c/{{version}}/{org_id[:15]}",
        "metadata": f"{base}/services/Soap/m/{{version}}/{org_id[:15]}",
        "partner": f"{base}/services/Soap/u/{{version}}/{org_id[:15]}",
        "rest": f"{data}/",
        "sobjects": f"{data}/sobjects/",
        "search": f"{data}/search/",
        "query": f"{data}/query/",
        "recent": f"{data}/recent/",
        "tooling_soap": f"{base}/services/Soap/T/{{version}}/{org_id[:15]}",
        "tooling_rest": f"{data}/tooling/",
        "profile": f"{base}/{user_id}",
        "feeds": f"{data}/chatter/feeds",
        "groups": f"{data}/chatter/groups",
        "users": f"{data}/chatter/users",
        "feed_items": f"{data}/chatter/feed-items",
        "feed_elements": f"{data}/chatter/feed-elements",
        "custom_domain": base,
    }


def _photos(state: State) -> dict[str, str]:
    return {
        "picture": f"{state.instance_url}/profilephoto/005/F",
        "thumbnail": f"{state.instance_url}/profilephoto/005/T",
    }


def _user_settings(state: State, org: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """The fields the identity URL and userinfo answer alike, in their order."""
    return {
        "urls": _identity_urls(state, org["id"], user["id"]),
        "active": bool(user.get("active", True)),
        "user_type": "STANDARD",
        "language": user.get("language", "en_US"),
        "locale": user.get("locale", "en_US"),
        "utcOffset": user.get("utc_offset", -28800000),
    }


def _authorised_user(state: State, request: Request) -> dict[str, Any] | None:
    grant = state.tokens.access(bearer_token(request))
    if grant is None:
        return None
    set_context(request, grant["org_id"], grant["user_id"])
    return state.directory.users.get(grant["user_id"])


def identity(state: State, request: Request, org_id: str, user_id: str) -> Response:
    user = _authorised_user(state, request)
    if user is None:
        return Response("Bad_OAuth_Token", status=403, content_type="text/plain;charset=UTF-8")
    if user["org_id"] != org_id[:15] and user["org_id"] != org_id:
        return Response("Bad_Id", status=403, content_type="text/plain;charset=UTF-8")
    target = state.directory.users.get(user_id)
    if target is None or target["org_id"] != user["org_id"]:
        return Response("Bad_Id", status=404, content_type="text/plain;charset=UTF-8")
    org = state.directory.orgs[target["org_id"]]
    name = " ".join(p for p in (target.get("first_name"), target["last_name"]) if p)
    return json_response(
        {
            "id": _identity_url(state, org["id"], target["id"]),
            "asserted_user": target["id"] == user["id"],
            "user_id": target["id"],
            "organization_id": org["id"],
            "username": target["username"],
            "nick_name": target["username"].split("@")[0],
            "display_name": name,
            "email": target["email"],
            "email_verified": True,
            "first_name": target.get("first_name"),
            "last_name": target["last_name"],
            "timezone": target.get("timezone", "America/Los_Angeles"),
            "photos": _photos(state),
            "addr_street": None,
            "addr_city": None,
            "addr_state": None,
            "addr_country": None,
            "addr_zip": None,
            "mobile_phone": None,
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            **_user_settings(state, org, target),
            "last_modified_date": org.get("created_date"),
            "is_app_installed": True,
        }
    )


def userinfo(state: State, request: Request) -> Response:
    user = _authorised_user(state, request)
    if user is None:
        return Response("Bad_OAuth_Token", status=403, content_type="text/plain;charset=UTF-8")
    org = state.directory.orgs[user["org_id"]]
    name = " ".join(p for p in (user.get("first_name"), user["last_name"]) if p)
    identity_url = _identity_url(state, org["id"], user["id"])
    return json_response(
        {
            "sub": identity_url,
            "user_id": user["id"],
            "organization_id": org["id"],
            "preferred_username": user["username"],
            "nickname": user["username"].split("@")[0],
            "name": name,
            "email": user["email"],
            "email_verified": True,
            "given_name": user.get("first_name"),
            "family_name": user["last_name"],
            "zoneinfo": user.get("timezone", "America/Los_Angeles"),
            "photos": _photos(state),
            "profile": f"{state.instance_url}/{user['id']}",
            "picture": f"{state.instance_url}/profilephoto/005/F",
            "address": {},
            "is_salesforce_integration_user": False,
            **_user_settings(state, org, user),
            "updated_at": org.get("created_date"),
            "is_app_installed": True,
        }
    )
