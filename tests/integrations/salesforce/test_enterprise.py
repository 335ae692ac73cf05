"""Salesforce as enterprise orgs configure it (issue 24, E1..E9), against the live emulator."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import responses

from integrations.salesforce import oauth, tokens
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import OAuthFailed
from integrations.salesforce.models import SalesforceConnection

pytestmark = pytest.mark.django_db


def _moved(instance_url: str) -> str:
    """The same listener under another loopback name: a new host, as a My Domain change gives."""
    parts = urlsplit(instance_url)
    return f"{parts.scheme}://localhost:{parts.port}"


# --- E5: every token answer's instance URL replaces the stored one ---------------------------
def test_e5_refresh_after_a_my_domain_move_stores_the_new_instance_and_retries_there(
    connection, sf
):
    new_url = _moved(connection.instance_url)
    sf.move_my_domain(connection.org_id, new_url)

    answer = SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")

    assert answer["records"]
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.instance_url == new_url
    assert row.record_view_url("003X").startswith(new_url + "/lightning/")
    calls = [e for e in sf.request_log() if e["listener"] == "instance"]
    # The old host refused the session, one refresh named the new host, the retry went there.
    assert [(e["status"], e["host"].split(":")[0]) for e in calls] == [
        (401, "127.0.0.1"),
        (200, "localhost"),
    ]


def test_e5_keepalive_refresh_also_takes_the_new_instance(connection, sf):
    new_url = _moved(connection.instance_url)
    sf.move_my_domain(connection.org_id, new_url)
    with tokens.refresh_lock(connection.pk):
        tokens._refresh_locked(connection)
    assert SalesforceConnection.objects.get(pk=connection.pk).instance_url == new_url


@responses.activate
def test_e5_a_refresh_answer_naming_a_foreign_instance_is_refused_and_nothing_is_saved(
    settings,
):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    login = "https://acme.my.salesforce.com"
    responses.post(
        f"{login}/services/oauth2/token",
        json={
            "access_token": "00Dx!new",
            "instance_url": "https://evil.example.com",
            "id": f"{login}/id/00D/005",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "x",
            "scope": "api refresh_token",
        },
    )
    with pytest.raises(OAuthFailed):
        oauth.refresh_access_token(login_url=login, refresh_token="5Aep")


@responses.activate
def test_e5_a_refresh_answer_with_a_new_my_domain_host_is_taken(settings):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    login = "https://acme.my.salesforce.com"
    responses.post(
        f"{login}/services/oauth2/token",
        json={
            "access_token": "00Dx!new",
            "instance_url": "https://acme-new.my.salesforce.com",
            "id": f"{login}/id/00D/005",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "x",
            "scope": "api refresh_token",
        },
    )
    answer = oauth.refresh_access_token(login_url=login, refresh_token="5Aep")
    assert answer.instance_url == "https://acme-new.my.salesforce.com"
