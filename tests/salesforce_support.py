"""Salesforce helpers for tests: the emulator's consent pages, a workspace connected for real,
and the OAuth code flow against the emulator alone (``authorize``, ``issue_token``).

The fixtures built on them (``emulator``, ``sf``, ``connection``, ``other_process_env``) live in
tests/conftest.py, shared with tests/hardening; the demo org's names are in
salesforce_emulator/demo_names.py.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests

from integrations.salesforce import oauth
from integrations.salesforce.lookup_cache import entry_key
from integrations.salesforce.matching import MatchValues
from integrations.salesforce.models import SalesforceConnection
from salesforce_emulator.demo_names import ACME_ADMIN
from salesforce_emulator.testing import EmulatorServer
from salesforce_emulator.testing import consent as emulator_consent

CALLBACK = "http://127.0.0.1:8000/integrations/salesforce/callback/"


def consent(authorize_url: str, *, username: str = ACME_ADMIN, decision: str = "allow") -> dict:
    """Drive the emulator's sign-in and consent pages; return the callback's query params."""
    location = emulator_consent(authorize_url, username=username, decision=decision)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()} | {
        "_location": location
    }


def connect_workspace(workspace, *, login_url: str, username: str = ACME_ADMIN, user=None):
    """Real tokens from the emulator, stored as the product stores them (no views involved)."""
    request = oauth.authorization_request(login_url=login_url, redirect_uri=CALLBACK)
    params = consent(request.url, username=username)
    tokens = oauth.exchange_code(
        login_url=login_url,
        code=params["code"],
        code_verifier=request.code_verifier,
        redirect_uri=CALLBACK,
    )
    identity = oauth.fetch_identity(
        identity_url=tokens.identity_url, access_token=tokens.access_token
    )
    connection, _ = SalesforceConnection.objects.update_or_create(
        workspace=workspace,
        defaults={
            "status": SalesforceConnection.Status.CONNECTED,
            "login_url": login_url,
            "org_id": identity["organization_id"],
            "org_name": "Acme Corporation",
            "instance_url": tokens.instance_url,
            "identity_url": tokens.identity_url,
            "sf_user_id": identity["user_id"],
            "sf_username": identity["username"],
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "connected_by": user,
        },
    )
    return connection


def lookup_cache_key(connection, kind: str, email: str, phone: str, linked_id: str = "") -> str:
    """The cache key of a lookup ("lookup", "stale", "badge") for a contact's email and phone,
    built as ``lookup_cache`` builds it (tests set or drop entries with it)."""
    return entry_key(
        connection, kind, MatchValues.for_connection(connection, email, phone, linked_id)
    )


# --- the emulator alone (tests/emulator, recorded_answers.py): the code flow without the product
def pending_id(html: str) -> str:
    return re.search(r'name="pending" value="([^"]+)"', html).group(1)


def authorize(
    emulator: EmulatorServer,
    username: str = ACME_ADMIN,
    *,
    decision: str = "allow",
    redirect_uri: str = CALLBACK,
    http: requests.Session | None = None,
    **params,
) -> dict[str, str]:
    """Drive the login and consent pages like a browser; return the callback's query params."""
    http = http or requests.Session()
    query = {
        "response_type": "code",
        "client_id": emulator.client_id,
        "redirect_uri": redirect_uri,
        "scope": "api refresh_token",
        "state": "st-123",
        **params,
    }
    url = requests.Request("GET", emulator.authorize_url, params=query).prepare().url
    location = emulator_consent(url, username=username, decision=decision, http=http)
    assert location.startswith(redirect_uri)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def issue_token(emulator: EmulatorServer, username: str = ACME_ADMIN, **params) -> dict:
    """A token response for ``username`` via the real code flow (no PKCE)."""
    code = authorize(emulator, username, **params)["code"]
    response = requests.post(
        emulator.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "redirect_uri": CALLBACK,
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()
