"""Issue 6, Security "Secrets": tokens are encrypted in the database, and neither the tokens nor
the client secret appear in logs, pages or error messages.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connection as db
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import oauth
from integrations.salesforce.errors import SalesforceError
from integrations.salesforce.lookup import find_contact
from integrations.salesforce.models import SalesforceConnection
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import client_for
from tests.integrations.salesforce.flow import connect_via_views, disconnect_url, manage_url

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def raw_tokens(pk: int) -> tuple[str, str]:
    table = SalesforceConnection._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(f"SELECT access_token, refresh_token FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


def test_secrets_tokens_encrypted_in_the_database_also_after_a_refresh(connection, sf):
    access, refresh = connection.access_token, connection.refresh_token
    raw_access, raw_refresh = raw_tokens(connection.pk)
    assert raw_access.startswith("gAAAA") and raw_refresh.startswith("gAAAA")  # Fernet tokens
    assert access not in raw_access and refresh not in raw_refresh
    # The client saves a refreshed token with QuerySet.update(): still encrypted.
    sf.expire_sessions(ACME_ORG_ID)
    find_contact(connection, email="jane.cooper@northwind.example")
    stored = SalesforceConnection.objects.get(pk=connection.pk)
    assert stored.access_token != access
    raw_access, _ = raw_tokens(connection.pk)
    assert raw_access.startswith("gAAAA") and stored.access_token not in raw_access


def _secrets(sf, *connections) -> dict[str, str]:
    found = {"client secret": sf.client_secret}
    for conn in connections:
        if conn.access_token:
            found[f"access token …{conn.access_token[-6:]}"] = conn.access_token
        if conn.refresh_token:
            found[f"refresh token …{conn.refresh_token[-6:]}"] = conn.refresh_token
    return found


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


def test_secrets_never_in_logs_through_connect_lookup_refresh_disconnect(
    client, sf, owner, agent, acme, caplog
):
    """All logging at DEBUG on the root logger (the configured INFO floor of the oauthlib loggers,
    which print token bodies at DEBUG, stays as settings say)."""
    caplog.set_level(logging.DEBUG)
    seen: dict[str, str] = {}

    def remember():
        conn = SalesforceConnection.objects.get(workspace=acme)
        seen.update(_secrets(sf, conn))
        return conn

    client_for(client, owner)
    assert connect_via_views(client).status_code == 302
    remember()
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    agent_client = client.__class__()
    client_for(agent_client, agent)
    panel = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    assert b"Northwind" in agent_client.get(panel, headers=HTMX).content
    sf.expire_sessions(ACME_ORG_ID)  # the next lookup refreshes the token
    assert b"Northwind" in agent_client.get(panel + "?refresh=1", headers=HTMX).content
    conn = remember()
    assert conn.access_token in seen.values()  # a refreshed token, remembered too
    sf.set_fault("http_500", org_id=ACME_ORG_ID)  # an error path logs too
    Contact.objects.filter(pk=jane.pk).update(email="other@northwind.example")
    agent_client.get(panel, headers=HTMX)
    sf.clear_faults()
    assert client.post(disconnect_url()).status_code == 302
    # Client secret, first access + refresh tokens, then the refreshed access token and (the demo
    # app rotates refresh tokens, T1) the rotated refresh token.
    assert len(seen) == 5

    records = caplog.records
    assert any("refreshed" in r.getMessage() for r in records)  # the capture saw the refresh
    leaks = []
    for record in records:
        text = record.getMessage() + " " + repr(record.args) + " " + repr(record.__dict__)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        leaks += [f"{record.name}: {name}" for name in _leaks(text, seen)]
    assert not leaks, leaks


def test_secrets_never_in_pages(client, sf, owner, agent, connection, acme):
    secrets = _secrets(sf, connection)
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    for user in (owner, agent):
        client_for(client, user)
        for url in [
            manage_url(),
            reverse("integrations:list", args=["acme"]),
            reverse("contacts:detail", args=["acme", jane.pk]),
            reverse("contacts:panel", args=["acme", jane.pk, "salesforce"]),
        ]:
            response = client.get(url)
            assert response.status_code == 200
            assert not _leaks(response.content.decode(), secrets), url


@pytest.mark.parametrize(
    "fault",
    ["http_500", "http_503", "malformed_body", "request_limit_exceeded", "api_disabled_org"],
)
def test_secrets_never_in_error_messages_or_health(client, sf, agent, connection, acme, fault):
    secrets = _secrets(sf, connection)
    sf.set_fault(fault, org_id=ACME_ORG_ID)
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    html = client.get(
        reverse("contacts:panel", args=["acme", jane.pk, "salesforce"]), headers=HTMX
    ).content.decode()
    assert 'role="alert"' in html
    assert not _leaks(html, secrets)
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.last_error and not _leaks(conn.last_error, secrets)


def test_secrets_never_in_oauth_error_messages(sf, connection):
    """Refused refresh, exchange and revoke: the exceptions' messages and details carry none."""
    secrets = _secrets(sf, connection)
    errors: list[SalesforceError] = []
    for call in (
        lambda: oauth.refresh_access_token(login_url=sf.login_url, refresh_token="bogus-refresh"),
        lambda: oauth.exchange_code(
            login_url=sf.login_url, code="bogus", code_verifier="v" * 50, redirect_uri="http://x/"
        ),
        lambda: oauth.revoke(login_url=sf.login_url, token="bogus"),
    ):
        with pytest.raises(SalesforceError) as info:
            call()
        errors.append(info.value)
    for exc in errors:
        text = f"{exc} {exc.user_message} {exc.detail} {exc!r} {exc.__cause__!r}"
        assert not _leaks(text, secrets), text
    tokens = oauth.refresh_access_token(
        login_url=sf.login_url, refresh_token=connection.refresh_token
    )
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)


def test_secrets_oauth_libraries_never_log_at_debug():
    """docs/decisions.md: at DEBUG, oauthlib and requests_oauthlib print token bodies and the secret."""
    for name in ("oauthlib", "requests_oauthlib", "requests_oauthlib.oauth2_session"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
