"""Fixtures for the Salesforce integration: the live emulator, consent, a connected workspace."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.salesforce import oauth
from integrations.salesforce.models import SalesforceConnection
from salesforce_emulator.testing import consent as emulator_consent
from salesforce_emulator.testing import running_emulator

ACME_ORG_ID = "00D5g000004AcmEEAS"
ACME_ADMIN = "admin@acme-corp.example"
NOAPI_USER = "noapi@acme-corp.example"
INITECH_USER = "peter@initech.example"
CALLBACK = "http://127.0.0.1:8000/integrations/salesforce/callback/"


@pytest.fixture(scope="session")
def emulator():
    """One live emulator (real HTTP on loopback) for the whole test session."""
    with running_emulator() as server:
        yield server


@pytest.fixture
def sf(emulator, settings, monkeypatch):
    """The emulator, reset, with the product's settings pointed at it."""
    emulator.reset()
    # What config/settings.py does when SALESFORCE_LOGIN_URL is a loopback http URL.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    settings.SALESFORCE_LOGIN_URL = emulator.login_url
    settings.SALESFORCE_LOGIN_URLS = []
    settings.SALESFORCE_CLIENT_ID = emulator.client_id
    settings.SALESFORCE_CLIENT_SECRET = emulator.client_secret
    settings.SALESFORCE_CALLBACK_URL = CALLBACK  # registered in the emulator's Connected App
    settings.SALESFORCE_TIMEOUT = 3.0
    settings.SALESFORCE_CONNECT_TIMEOUT = 1.0
    yield emulator
    emulator.reset()


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


@pytest.fixture
def connection(sf, acme, owner):
    """Acme connected to the emulator's Acme Corporation org as admin@acme-corp.example."""
    conn = connect_workspace(acme, login_url=sf.login_url, user=owner)
    sf.reset_log()
    return conn


@pytest.fixture
def other_process_env(sf, settings):
    """Environment for a separate Python process on this test's database, cache and emulator.

    Needs ``django_db(transaction=True)``: another process sees only committed rows.
    """
    import os

    from django.db import connection as db

    db_settings = db.settings_dict
    if db_settings["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db_settings['NAME']}"
    else:
        database_url = (
            f"postgres://{db_settings['USER']}:{db_settings['PASSWORD']}@{db_settings['HOST']}:"
            f"{db_settings['PORT'] or 5432}/{db_settings['NAME']}"
        )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "SALESFORCE_CLIENT_ID": settings.SALESFORCE_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": settings.SALESFORCE_CLIENT_SECRET,
        "SALESFORCE_LOGIN_URL": settings.SALESFORCE_LOGIN_URL,
        "SECRET_KEY": settings.SECRET_KEY,
    }
