"""Fixtures for the Salesforce emulator's tests: one live emulator per session, reset per test.

These tests need no Django: they talk to the emulator over real HTTP.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from simple_salesforce import Salesforce

from integrations.salesforce.transport import InstanceSession
from salesforce_emulator import demo_names
from salesforce_emulator.testing import EmulatorServer, consent, running_emulator

ACME = demo_names.ACME_ORG_ID
ACME_SANDBOX = demo_names.ACME_SANDBOX_ORG_ID
INITECH = demo_names.INITECH_ORG_ID
ADMIN = demo_names.ACME_ADMIN
NOAPI = demo_names.NOAPI_USER
SANDBOX_ADMIN = demo_names.ACME_SANDBOX_ADMIN
PETER = demo_names.INITECH_USER
CALLBACK = "http://127.0.0.1:8000/integrations/salesforce/callback/"


@pytest.fixture(scope="session")
def sf_emulator():
    with running_emulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def sf_reset(request):
    """Reset the session emulator after each test that used it (data, tokens, faults, logs)."""
    yield
    if "sf_emulator" in request.fixturenames:
        request.getfixturevalue("sf_emulator").reset()


def pending_id(html: str) -> str:
    return re.search(r'name="pending" value="([^"]+)"', html).group(1)


def authorize(
    emulator: EmulatorServer,
    username: str = ADMIN,
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
    location = consent(url, username=username, decision=decision, http=http)
    assert location.startswith(redirect_uri)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def issue_token(emulator: EmulatorServer, username: str = ADMIN, **params) -> dict:
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


def simple_sf(token: dict, version: str = "62.0") -> Salesforce:
    session = InstanceSession(token["instance_url"], timeout=5)
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version=version,
        session=session,
    )


@pytest.fixture
def acme_token(sf_emulator):
    return issue_token(sf_emulator, ADMIN)


@pytest.fixture
def sf(acme_token):
    return simple_sf(acme_token)
