"""Connecting Salesforce through the product's views against the live emulator (S1–S5)."""

from __future__ import annotations

import time

import pytest
from django.db import connection as db
from django.urls import reverse

from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from integrations.salesforce.pending import PENDING_SESSION_KEY
from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID, INITECH_USER, NOAPI_USER
from tests.conftest import client_for
from tests.salesforce_support import CALLBACK, consent
from workspace.models import Membership, Role

from .flow import (
    CALLBACK_PATH,
    callback,
    connect_url,
    connect_via_views,
    disconnect_url,
    manage_url,
    query,
    start,
)

pytestmark = pytest.mark.django_db


def _pending(client) -> dict:
    return client.session.get(PENDING_SESSION_KEY) or {}


def _nothing_stored(workspace) -> bool:
    return not SalesforceConnection.objects.filter(workspace=workspace).exists()


# --- S1: who may connect ------------------------------------------------------------------
def test_s01_agent_sees_status_but_no_connect(client, sf, agent):
    client_for(client, agent)
    response = client.get(manage_url())
    assert response.status_code == 200
    assert b"Not connected" in response.content
    assert b"Connect Salesforce" not in response.content
    assert b"sf-connect-form" not in response.content


def test_s01_admin_sees_connect(client, sf, manager):
    client_for(client, manager)
    response = client.get(manage_url())
    assert b"Connect Salesforce" in response.content
    # S2, U5: the form is checked in this tab first (htmx), then consent opens in a new tab.
    assert b'hx-post="' + connect_url().encode() in response.content


def test_s01_agent_gets_403_on_connect_and_disconnect(client, sf, agent):
    client_for(client, agent)
    assert client.post(connect_url(), {"login_choice": sf.login_url}).status_code == 403
    assert client.post(disconnect_url()).status_code == 403
    assert not _pending(client)


def test_s01_non_member_gets_404(client, sf, acme, outsider):
    client_for(client, outsider)
    assert client.get(manage_url()).status_code == 404
    assert client.post(connect_url(), {"login_choice": sf.login_url}).status_code == 404
    assert client.post(disconnect_url()).status_code == 404


def test_s01_u7_get_on_actions_is_405_with_a_way_back(client, sf, owner):
    client_for(client, owner)
    response = client.get(connect_url())
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert f'href="{manage_url()}"'.encode() in response.content  # U7: not a blank page
    # U4: Disconnect's GET is its confirmation step (when there is something to disconnect).
    assert client.get(disconnect_url()).status_code == 302


def test_s01_integrations_page_links_to_manage(client, sf, owner):
    client_for(client, owner)
    response = client.get(reverse("integrations:list", args=["acme"]))
    assert b"Salesforce" in response.content and b"Not connected" in response.content
    assert manage_url().encode() in response.content


# --- S2: the redirect to Salesforce -------------------------------------------------------
def test_s02_connect_redirects_to_authorize_with_pkce_and_state(client, sf, owner, acme):
    client_for(client, owner)
    url = start(client)
    assert url.startswith(sf.authorize_url + "?")
    params = query(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == sf.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) >= 43
    assert params["state"]
    assert set(params["scope"].split()) == {"api", "refresh_token"}
    stored = _pending(client)[params["state"]]
    assert stored["workspace_id"] == acme.pk and stored["user_id"] == owner.pk
    assert stored["login_url"] == sf.login_url and stored["code_verifier"]
    assert stored["code_verifier"] not in url  # only the challenge travels


def test_s02_redirect_uri_built_from_request_when_not_configured(client, sf, owner, settings):
    settings.SALESFORCE_CALLBACK_URL = ""
    client_for(client, owner)
    params = query(start(client))
    assert params["redirect_uri"] == "http://testserver/integrations/salesforce/callback/"


@pytest.mark.parametrize(
    "data,host",
    [
        ({"login_choice": "https://login.salesforce.com"}, "login.salesforce.com"),
        ({"login_choice": "https://test.salesforce.com"}, "test.salesforce.com"),
        (
            {"login_choice": "mydomain", "my_domain_url": "https://Acme.my.salesforce.com/"},
            "acme.my.salesforce.com",
        ),
        (
            {
                "login_choice": "mydomain",
                "my_domain_url": "https://acme--uat.sandbox.my.salesforce.com",
            },
            "acme--uat.sandbox.my.salesforce.com",
        ),
    ],
)
def test_s02_production_sandbox_and_my_domain(client, sf, owner, data, host):
    client_for(client, owner)
    response = client.post(connect_url(), data)
    assert response.status_code == 302
    assert response["Location"].startswith(f"https://{host}/services/oauth2/authorize?")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com",
        "http://acme.my.salesforce.com",
        "https://acme.my.salesforce.com/x",
        "",
    ],
)
def test_s02_bad_my_domain_gets_a_form_error(client, sf, owner, url):
    client_for(client, owner)
    response = client.post(connect_url(), {"login_choice": "mydomain", "my_domain_url": url})
    assert response.status_code == 400
    assert b"form-error" in response.content
    assert not _pending(client)


def test_s02_default_login_url_is_first_choice(client, sf, owner):
    client_for(client, owner)
    html = client.get(manage_url()).content.decode()
    first = html.index(f'value="{sf.login_url}"')
    assert first < html.index('value="https://login.salesforce.com"')
    assert f'value="{sf.login_url}"' in html and "checked" in html[first - 200 : first + 200]


def test_s02_not_configured_is_a_clear_message(client, sf, owner, settings):
    settings.SALESFORCE_CLIENT_ID = ""
    client_for(client, owner)
    response = client.post(connect_url(), {"login_choice": sf.login_url}, follow=True)
    assert b"SALESFORCE_CLIENT_ID" in response.content
    assert not _pending(client)


# --- S3: a completed connect ---------------------------------------------------------------
def test_s03_connect_stores_connection_and_shows_confirmation(client, sf, owner, acme):
    client_for(client, owner)
    response = connect_via_views(client)
    assert response.status_code == 302 and response["Location"] == manage_url()
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.status == "connected" and conn.is_connected
    assert conn.org_id == ACME_ORG_ID and conn.org_name == "Acme Corporation"
    assert conn.sf_username == ACME_ADMIN and conn.sf_user_id == sf.user_id(ACME_ADMIN)
    assert conn.instance_url == sf.instance_url.rstrip("/")
    assert conn.login_url == sf.login_url
    assert conn.connected_by == owner and conn.connected_at is not None
    assert conn.refresh_token and conn.access_token
    event = conn.events.get()
    assert event.kind == SalesforceEvent.Kind.CONNECTED and event.actor == owner

    page = client.get(manage_url()).content.decode()
    assert "Salesforce connected: Acme Corporation" in page
    assert "Acme Corporation" in page and ACME_ORG_ID in page
    assert ACME_ADMIN in page and conn.instance_url in page
    assert owner.email in page
    assert f"Data is read as {ACME_ADMIN}" in page
    assert conn.access_token not in page and conn.refresh_token not in page
    assert not _pending(client)


def test_s03_connect_verifies_with_one_query_and_fills_field_meta(client, sf, owner, acme):
    client_for(client, owner)
    authorize_url = start(client)
    params = consent(authorize_url)
    sf.reset_log()
    callback(client, params)
    paths = [e["path"] for e in sf.request_log()]
    # Issue 24 (E7): the setup check at connect adds one Tooling API query (and a Composite).
    queries = [p for p in paths if "/query" in p and "/tooling/" not in p]
    assert len(queries) == 1
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.field_meta["LeadSource"]["type"] == "picklist"
    assert conn.field_meta["LeadSource"]["picklist"]  # value -> label
    assert conn.field_meta["Account.Name"] == {"label": "Account Name", "type": "string"}
    assert conn.field_meta["Email"]["label"]
    assert conn.api_usage_max  # the verify call's usage is kept (B3)


def test_s03_tokens_are_encrypted_at_rest(client, sf, owner, acme):
    client_for(client, owner)
    connect_via_views(client)
    conn = SalesforceConnection.objects.get(workspace=acme)
    table = SalesforceConnection._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(f"SELECT access_token, refresh_token FROM {table} WHERE id = %s", [conn.pk])
        raw_access, raw_refresh = cursor.fetchone()
    assert raw_access and raw_refresh
    assert conn.access_token not in raw_access and conn.refresh_token not in raw_refresh
    assert conn.refresh_token not in raw_access


# --- S4: one connection per workspace, several workspaces per org -----------------------------
def test_s04_second_connect_refused_while_connected(client, sf, owner, acme):
    client_for(client, owner)
    connect_via_views(client)
    response = client.post(connect_url(), {"login_choice": sf.login_url}, follow=True)
    assert b"Disconnect it first" in response.content
    assert not _pending(client)
    assert SalesforceConnection.objects.get(workspace=acme).events.count() == 1


def test_s04_connect_completed_elsewhere_meanwhile_is_refused(client, sf, owner, manager, acme):
    client_for(client, owner)
    authorize_url = start(client)
    other = client.__class__()
    client_for(other, manager)
    connect_via_views(other)
    tokens_before = SalesforceConnection.objects.get(workspace=acme).refresh_token
    response = callback(client, consent(authorize_url))
    assert response.status_code == 400
    assert b"Disconnect it first" in response.content
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.refresh_token == tokens_before and conn.connected_by == manager


def test_s04_two_workspaces_on_one_org_each_have_own_tokens(client, sf, owner, acme, globex):
    globex_owner = owner.__class__.objects.create_user(email="owner@globex.test", password="x" * 20)
    Membership.objects.create(user=globex_owner, workspace=globex, role=Role.OWNER)
    client_for(client, owner)
    connect_via_views(client)
    other = client.__class__()
    client_for(other, globex_owner)
    assert connect_via_views(other, "globex").status_code == 302
    a = SalesforceConnection.objects.get(workspace=acme)
    g = SalesforceConnection.objects.get(workspace=globex)
    assert a.org_id == g.org_id == ACME_ORG_ID
    assert a.refresh_token != g.refresh_token and a.access_token != g.access_token
    assert SalesforceClient(g).query("SELECT Id FROM Contact LIMIT 1")["totalSize"] >= 0


def test_s04_reconnect_needed_may_reconnect(client, sf, owner, acme):
    client_for(client, owner)
    connect_via_views(client)
    SalesforceConnection.objects.filter(workspace=acme).update(
        status="reconnect_needed", access_token=""
    )
    assert connect_via_views(client).status_code == 302
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.is_connected
    assert conn.events.first().kind == SalesforceEvent.Kind.RECONNECTED


# --- S5: API access required --------------------------------------------------------------
@pytest.mark.parametrize("username", [NOAPI_USER, INITECH_USER])
def test_s05_api_access_required_at_connect_stores_nothing(client, sf, owner, acme, username):
    client_for(client, owner)
    authorize_url = start(client)
    params = consent(authorize_url, username=username)
    sf.reset_log()
    response = callback(client, params)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Salesforce API access required" in page
    assert "API Enabled" in page  # what to ask the Salesforce admin
    assert _nothing_stored(acme)
    # The just-issued token is revoked, not left behind at Salesforce.
    assert any(e["path"] == "/services/oauth2/revoke" for e in sf.request_log())


# --- state security -------------------------------------------------------------------------
def test_callback_requires_sign_in(client, sf):
    response = client.get(CALLBACK_PATH, {"state": "x", "code": "y"})
    assert response.status_code == 302
    assert reverse("workspace:login") in response["Location"]


def test_s02_missing_state_is_refused(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    params.pop("state")
    response = callback(client, params)
    assert response.status_code == 400
    assert b"no state" in response.content
    assert _nothing_stored(acme)


def test_s02_forged_state_is_refused(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    params["state"] = params["state"][:-2] + "xx"
    response = callback(client, params)
    assert response.status_code == 400
    assert b"unknown or was already used" in response.content
    assert _nothing_stored(acme)


def test_s02_replayed_state_is_refused(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    assert callback(client, params).status_code == 302
    SalesforceConnection.objects.filter(workspace=acme).update(status="disconnected")
    response = callback(client, params)
    assert response.status_code == 400
    assert b"already used" in response.content
    assert SalesforceConnection.objects.get(workspace=acme).status == "disconnected"


def test_s02_state_from_another_session_is_unknown(client, sf, owner, manager, acme):
    client_for(client, owner)
    params = consent(start(client))
    other = client.__class__()
    client_for(other, manager)
    response = callback(other, params)
    assert response.status_code == 400
    assert _nothing_stored(acme)


def test_s02_state_of_another_user_is_refused(client, sf, owner, manager, acme):
    client_for(client, owner)
    params = consent(start(client))
    pending = _pending(client)
    other = client.__class__()
    client_for(other, manager)
    session = other.session
    session[PENDING_SESSION_KEY] = pending  # the owner's pending state, in someone else's session
    session.save()
    response = callback(other, params)
    assert response.status_code == 403
    assert b"started by someone else" in response.content
    assert _nothing_stored(acme)


def test_s02_expired_state_is_refused(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    session = client.session
    session[PENDING_SESSION_KEY][params["state"]]["created"] = time.time() - 11 * 60
    session.save()
    response = callback(client, params)
    assert response.status_code == 400
    assert _nothing_stored(acme)


def test_s02_expired_state_inside_its_window_is_fine_but_single_use(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    session = client.session
    session[PENDING_SESSION_KEY][params["state"]]["created"] = time.time() - 9 * 60
    session.save()
    assert callback(client, params).status_code == 302
    assert not _pending(client)


def test_s02_user_no_longer_admin_is_refused(client, sf, manager, acme):
    client_for(client, manager)
    params = consent(start(client))
    Membership.objects.filter(user=manager, workspace=acme).update(role=Role.AGENT)
    response = callback(client, params)
    assert response.status_code == 403
    assert b"no longer an Owner or Manager" in response.content
    assert _nothing_stored(acme)


def test_s02_access_denied_creates_nothing(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client), decision="deny")
    assert params["error"] == "access_denied"
    response = callback(client, params)
    assert response.status_code == 400
    assert b"You declined access in Salesforce; nothing was connected." in response.content
    assert _nothing_stored(acme)
    assert not _pending(client)  # the state is spent


def test_s02_replayed_code_is_refused(client, sf, owner, acme):
    client_for(client, owner)
    first = consent(start(client))
    assert callback(client, first).status_code == 302
    client.post(disconnect_url())
    fresh = query(start(client))  # a new, valid state, with the old code
    response = callback(client, {"state": fresh["state"], "code": first["code"]})
    assert response.status_code == 400
    assert b"refused the authorization code" in response.content
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.status == "disconnected" and not conn.refresh_token


def test_s02_pkce_verifier_mismatch_is_refused(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    session = client.session
    session[PENDING_SESSION_KEY][params["state"]]["code_verifier"] = "x" * 64
    session.save()
    response = callback(client, params)
    assert response.status_code == 400
    assert _nothing_stored(acme)


def test_s02_pending_states_are_bounded(client, sf, owner):
    client_for(client, owner)
    for _ in range(8):
        start(client)
    assert 1 <= len(_pending(client)) <= 5


def test_s02_connect_refused_before_consent_without_an_encryption_key(client, sf, owner, settings):
    settings.FIELD_ENCRYPTION_KEY = []
    client_for(client, owner)
    response = client.post(
        reverse("integrations:salesforce:connect", args=["acme"]),
        {"login_choice": settings.SALESFORCE_LOGIN_URL},
        follow=True,
    )
    assert b"FIELD_ENCRYPTION_KEY is not set" in response.content
    assert not any("/authorize" in e["path"] for e in sf.request_log())
