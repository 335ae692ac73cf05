"""Salesforce helpers for tests: the emulator's consent pages, a workspace connected for real.

The fixtures built on them (``emulator``, ``sf``, ``connection``, ``other_process_env``) live in
tests/conftest.py, shared with tests/hardening; the demo org's names are in
salesforce_emulator/demo_names.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from integrations.salesforce import oauth
from integrations.salesforce.models import SalesforceConnection
from salesforce_emulator.demo_names import ACME_ADMIN
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
