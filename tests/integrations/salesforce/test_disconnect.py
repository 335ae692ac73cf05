"""Disconnecting (S14, S4): revoke at Salesforce, forget tokens locally, reconnect later."""

from __future__ import annotations

import pytest

from integrations.salesforce import oauth
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.connection import disconnect
from integrations.salesforce.errors import ReconnectNeeded, SalesforceError
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import client_for
from tests.salesforce_support import connect_workspace
from workspace.models import Membership, Role

from .flow import connect_via_views, disconnect_url

pytestmark = pytest.mark.django_db

SANDBOX_USER = "admin@acme-corp.example.fullsb"


def test_s14_disconnect_revokes_and_deletes_tokens(client, sf, owner, connection):
    old_refresh = connection.refresh_token
    generation = connection.cache_generation
    client_for(client, owner)
    response = client.post(disconnect_url(), follow=True)
    assert b"Salesforce disconnected" in response.content
    revokes = [e for e in sf.request_log() if e["path"] == "/services/oauth2/revoke"]
    assert len(revokes) == 1 and revokes[0]["method"] == "POST"
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == "disconnected" and conn.disconnected_at is not None
    assert conn.access_token == "" and conn.refresh_token == ""
    assert conn.cache_generation == generation + 1  # cached lookups are unreachable
    event = conn.events.get(kind=SalesforceEvent.Kind.DISCONNECTED)
    assert event.actor == owner
    # The row, its field set and audit stay (docs/decisions.md: disconnect keeps the row).
    assert conn.org_id == ACME_ORG_ID and conn.field_names
    # Salesforce really forgot the token.
    with pytest.raises(ReconnectNeeded):
        oauth.refresh_access_token(login_url=sf.login_url, refresh_token=old_refresh)
    with pytest.raises(SalesforceError):
        SalesforceClient(conn)


def test_s14_failed_revoke_still_disconnects_and_says_so(client, sf, owner, connection):
    SalesforceConnection.objects.filter(pk=connection.pk).update(login_url="http://127.0.0.1:9")
    client_for(client, owner)
    response = client.post(disconnect_url(), follow=True)
    assert response.status_code == 200
    assert b"Salesforce could not be told" in response.content
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == "disconnected" and not conn.refresh_token and not conn.access_token
    kinds = set(conn.events.values_list("kind", flat=True))
    assert {"disconnected", "revoke_failed"} <= kinds


def test_s14_disconnect_when_not_connected_is_harmless(client, sf, owner, acme):
    client_for(client, owner)
    response = client.post(disconnect_url(), follow=True)
    assert b"Salesforce is not connected" in response.content
    assert not SalesforceConnection.objects.filter(workspace=acme).exists()


def test_s14_disconnect_after_reconnect_needed_does_not_warn(client, sf, owner, connection):
    sf.revoke_refresh_tokens(connection.org_id)
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        status="reconnect_needed", access_token=""
    )
    client_for(client, owner)
    response = client.post(disconnect_url(), follow=True)
    assert b"could not be told" not in response.content
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "disconnected"


def test_s04_disconnecting_one_workspace_leaves_the_other_working(sf, acme, globex, owner):
    a = connect_workspace(acme, login_url=sf.login_url, user=owner)
    g = connect_workspace(globex, login_url=sf.login_url)
    assert disconnect(connection=a, actor=owner).revoked
    g = SalesforceConnection.objects.get(pk=g.pk)
    result = SalesforceClient(g).query("SELECT Id, Name FROM Organization")
    assert result["records"][0]["Name"] == "Acme Corporation"
    # Even after its access token expires, its own refresh token still works.
    sf.expire_sessions(ACME_ORG_ID)
    assert SalesforceClient(g).query("SELECT Id FROM Contact LIMIT 1")["totalSize"] >= 0


def test_s14_reconnect_after_disconnect_works_and_keeps_field_set(client, sf, owner, acme):
    client_for(client, owner)
    connect_via_views(client)
    fields = ["Name", "Email", "Department"]
    SalesforceConnection.objects.filter(workspace=acme).update(field_names=fields)
    client.post(disconnect_url())
    assert connect_via_views(client).status_code == 302
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.is_connected and conn.field_names == fields
    assert conn.field_meta["Department"]["label"]  # described at reconnect
    assert conn.events.first().kind == SalesforceEvent.Kind.RECONNECTED
    assert SalesforceClient(conn).query("SELECT Id FROM Contact LIMIT 1")["totalSize"] >= 0


def test_s14_reconnect_to_another_org_resets_field_set(client, sf, owner, acme):
    client_for(client, owner)
    connect_via_views(client)
    SalesforceConnection.objects.filter(workspace=acme).update(
        field_names=["Name", "Department"], dropped_fields=["Foo__c"]
    )
    client.post(disconnect_url())
    assert connect_via_views(client, username=SANDBOX_USER).status_code == 302
    conn = SalesforceConnection.objects.get(workspace=acme)
    assert conn.org_id != ACME_ORG_ID
    assert conn.field_names == SalesforceConnection._meta.get_field("field_names").default()
    assert conn.dropped_fields == []
    assert "field set reset" in conn.events.first().detail


def test_s14_manager_may_disconnect(client, sf, manager, connection):
    client_for(client, manager)
    assert client.post(disconnect_url()).status_code == 302
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "disconnected"


def test_s01_demoted_admin_cannot_disconnect(client, sf, manager, acme, connection):
    Membership.objects.filter(user=manager, workspace=acme).update(role=Role.AGENT)
    client_for(client, manager)
    assert client.post(disconnect_url()).status_code == 403
    assert SalesforceConnection.objects.get(pk=connection.pk).is_connected
