"""OAuth 2.0 web server flow, driven with requests-oauthlib and plain requests over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
import requests
from requests_oauthlib import OAuth2Session

from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID
from tests.salesforce_support import CALLBACK, authorize, issue_token, pending_id

from .conftest import simple_sf


@pytest.fixture
def insecure_ok(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


def drive_browser(url: str, username: str = ACME_ADMIN, decision: str = "allow") -> str:
    """Open the authorize URL, pick the user, answer the consent page; return the redirect."""
    http = requests.Session()
    page = http.get(url, timeout=5)
    assert page.status_code == 200
    assert '<select id="username" name="username">' in page.text
    assert '<label for="username">Username</label>' in page.text
    assert ">Log In</button>" in page.text
    assert '<optgroup label="Acme Corporation (Full Sandbox) [sandbox]">' in page.text
    pid = pending_id(page.text)
    consent = http.post(
        url.split("?")[0], data={"pending": pid, "step": "login", "username": username}
    )
    assert "Allow Access?" in consent.text and "Team Inbox" in consent.text
    assert ">Allow</button>" in consent.text and ">Deny</button>" in consent.text
    answer = http.post(
        url.split("?")[0],
        data={"pending": pid, "step": "consent", "decision": decision},
        allow_redirects=False,
    )
    assert answer.status_code == 302
    return answer.headers["Location"]


def token_post(emulator, auth=None, **data):
    return requests.post(emulator.token_url, data=data, auth=auth, timeout=5)


def test_code_flow_with_pkce_and_refresh_via_requests_oauthlib(sf_emulator, insecure_ok):
    oauth = OAuth2Session(
        sf_emulator.client_id, redirect_uri=CALLBACK, scope=["api", "refresh_token"], pkce="S256"
    )
    url, state = oauth.authorization_url(sf_emulator.authorize_url, prompt="login consent")
    assert "code_challenge=" in url
    location = drive_browser(url)
    assert f"state={state}" in location
    verifier = oauth._code_verifier
    # The product keeps the verifier server-side and hands it back on the callback.
    fresh = OAuth2Session(sf_emulator.client_id, redirect_uri=CALLBACK, state=state)
    token = fresh.fetch_token(
        sf_emulator.token_url,
        authorization_response=location,
        client_secret=sf_emulator.client_secret,
        code_verifier=verifier,
    )
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == sf_emulator.instance_url
    assert token["id"] == f"{sf_emulator.login_url}/id/{ACME_ORG_ID}/0055g00000AdaAdAAJ"
    assert token["access_token"].startswith("00D5g000004AcmE!")
    assert token["scope"] == ["api", "refresh_token"]  # oauthlib splits "api refresh_token"
    assert "expires_in" not in token and "expires_at" not in token
    expected_sig = base64.b64encode(
        hmac.new(
            sf_emulator.client_secret.encode(),
            (token["id"] + token["issued_at"]).encode(),
            hashlib.sha256,
        ).digest()
    ).decode()
    assert token["signature"] == expected_sig
    assert abs(int(token["issued_at"]) / 1000 - time.time()) < 60

    refreshed = fresh.refresh_token(
        sf_emulator.token_url,
        refresh_token=token["refresh_token"],
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
    )
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["instance_url"] == sf_emulator.instance_url
    sf = simple_sf(refreshed)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 45


def test_token_answer_has_salesforce_fields_and_no_expires_in(sf_emulator):
    body = issue_token(sf_emulator)
    assert set(body) == {
        "access_token", "refresh_token", "signature", "scope", "instance_url", "id",
        "token_type", "issued_at",
    }  # fmt: skip
    assert isinstance(body["issued_at"], str)


def test_unknown_client_id_gets_error_page_not_redirect(sf_emulator):
    r = requests.get(
        sf_emulator.authorize_url,
        params={"response_type": "code", "client_id": "nope", "redirect_uri": CALLBACK},
        allow_redirects=False,
        timeout=5,
    )
    assert r.status_code == 400
    assert "Location" not in r.headers
    assert "error=invalid_client_id" in r.text


def test_unregistered_redirect_uri_gets_error_page(sf_emulator):
    r = requests.get(
        sf_emulator.authorize_url,
        params={
            "response_type": "code",
            "client_id": sf_emulator.client_id,
            "redirect_uri": "https://evil.example/cb",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert r.status_code == 400
    assert "Location" not in r.headers
    assert "redirect_uri_mismatch" in r.text


def test_loopback_callbacks_allowed_on_any_port(sf_emulator):
    params = authorize(sf_emulator, redirect_uri="http://localhost:51234/cb")
    assert "code" in params and params["state"] == "st-123"


def test_unsupported_response_type_redirects_with_error(sf_emulator):
    r = requests.get(
        sf_emulator.authorize_url,
        params={
            "response_type": "token",
            "client_id": sf_emulator.client_id,
            "redirect_uri": CALLBACK,
            "state": "s1",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert r.status_code == 302
    assert "error=unsupported_response_type" in r.headers["Location"]
    assert "state=s1" in r.headers["Location"]


def test_deny_redirects_with_access_denied(sf_emulator):
    params = authorize(sf_emulator, decision="deny")
    assert params == {
        "error": "access_denied",
        "error_description": "end-user denied authorization",
        "state": "st-123",
    }


def _code(emulator, **params):
    return authorize(emulator, **params)["code"]


def test_wrong_secret_is_invalid_client(sf_emulator):
    r = token_post(
        sf_emulator,
        grant_type="authorization_code",
        code=_code(sf_emulator),
        client_id=sf_emulator.client_id,
        client_secret="wrong",
        redirect_uri=CALLBACK,
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


def test_unknown_client_at_token_endpoint(sf_emulator):
    r = token_post(sf_emulator, grant_type="authorization_code", code="x", client_id="nope")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_client_id")
    assert r.json()["error_description"] == "client identifier invalid"


def test_replayed_code_is_invalid_grant(sf_emulator):
    data = {
        "grant_type": "authorization_code",
        "code": _code(sf_emulator),
        "redirect_uri": CALLBACK,
    }
    auth = (sf_emulator.client_id, sf_emulator.client_secret)  # HTTP Basic
    assert token_post(sf_emulator, auth=auth, **data).status_code == 200
    again = token_post(sf_emulator, auth=auth, **data)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "invalid authorization code",
    }


def test_expired_code(sf_emulator):
    code = _code(sf_emulator)
    sf_emulator.advance_clock(16 * 60)  # codes live 15 minutes
    r = token_post(
        sf_emulator,
        grant_type="authorization_code",
        code=code,
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
        redirect_uri=CALLBACK,
    )
    assert r.json() == {"error": "invalid_grant", "error_description": "expired authorization code"}


def test_redirect_uri_must_match(sf_emulator):
    r = token_post(
        sf_emulator,
        grant_type="authorization_code",
        code=_code(sf_emulator),
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
        redirect_uri="http://localhost:8000/integrations/salesforce/callback/",
    )
    assert r.status_code == 400
    assert r.json()["error"] == "redirect_uri_mismatch"


def test_pkce_mismatch_is_invalid_grant(sf_emulator):
    verifier = "a" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    base = {
        "grant_type": "authorization_code",
        "client_id": sf_emulator.client_id,
        "client_secret": sf_emulator.client_secret,
        "redirect_uri": CALLBACK,
    }
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    bad = token_post(sf_emulator, code=_code(sf_emulator, **pkce), code_verifier="b" * 50, **base)
    assert bad.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}
    missing = token_post(sf_emulator, code=_code(sf_emulator, **pkce), **base)
    assert missing.status_code == 400
    good = token_post(sf_emulator, code=_code(sf_emulator, **pkce), code_verifier=verifier, **base)
    assert good.status_code == 200


def test_unsupported_grant_type(sf_emulator):
    r = token_post(sf_emulator, grant_type="password", client_id=sf_emulator.client_id)
    assert r.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }


def test_refresh_grant_answer_and_basic_auth(sf_emulator):
    token = issue_token(sf_emulator)
    r = token_post(
        sf_emulator,
        auth=(sf_emulator.client_id, sf_emulator.client_secret),
        grant_type="refresh_token",
        refresh_token=token["refresh_token"],
    )
    assert r.status_code == 200
    body = r.json()
    # The demo app rotates refresh tokens (T9): the answer carries the replacement.
    assert body["refresh_token"] != token["refresh_token"]
    assert {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "scope",
    } <= set(body)


def test_revoked_refresh_token_is_invalid_grant_and_ends_access_tokens(sf_emulator):
    token = issue_token(sf_emulator)
    r = requests.post(
        f"{sf_emulator.login_url}/services/oauth2/revoke",
        data={"token": token["refresh_token"]},
        timeout=5,
    )
    assert (r.status_code, r.content) == (200, b"")
    refresh = token_post(
        sf_emulator,
        grant_type="refresh_token",
        refresh_token=token["refresh_token"],
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
    )
    assert refresh.status_code == 400
    assert refresh.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }
    rest = requests.get(
        f"{token['instance_url']}/services/data/v62.0/limits",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert rest.status_code == 401


def test_revoke_access_token_via_get_and_unknown_token(sf_emulator):
    token = issue_token(sf_emulator)
    revoke = f"{sf_emulator.login_url}/services/oauth2/revoke"
    assert (
        requests.get(revoke, params={"token": token["access_token"]}, timeout=5).status_code == 200
    )
    bad = requests.post(revoke, data={"token": "nope"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_token", "error_description": "invalid token"}


def test_identity_url_and_userinfo(sf_emulator):
    token = issue_token(sf_emulator)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    ident = requests.get(token["id"], headers=auth, timeout=5)
    assert ident.status_code == 200
    body = ident.json()
    assert body["organization_id"] == ACME_ORG_ID
    assert body["username"] == ACME_ADMIN
    assert body["display_name"] == "Ada Admin"
    assert body["user_type"] == "STANDARD"
    assert body["urls"]["rest"] == f"{sf_emulator.instance_url}/services/data/v{{version}}/"
    assert body["urls"]["query"].endswith("/services/data/v{version}/query/")
    bad = requests.get(token["id"], headers={"Authorization": "Bearer nope"}, timeout=5)
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")
    for base in (sf_emulator.login_url, sf_emulator.instance_url):
        info = requests.get(f"{base}/services/oauth2/userinfo", headers=auth, timeout=5).json()
        assert info["sub"] == token["id"]
        assert info["preferred_username"] == ACME_ADMIN
        assert info["organization_id"] == ACME_ORG_ID
