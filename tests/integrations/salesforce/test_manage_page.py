"""The Salesforce manage page: status, details, health (B3), audit (B5), reconnect needed (S15)."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from integrations.salesforce.services import record_event
from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID
from tests.conftest import client_for

from .flow import connect_via_views, manage_url, start

pytestmark = pytest.mark.django_db


def test_s03_confirmation_shows_org_user_instance_and_who_when(client, sf, owner, acme):
    client_for(client, owner)
    connect_via_views(client)
    conn = SalesforceConnection.objects.get(workspace=acme)
    page = client.get(manage_url()).content.decode()
    assert "Acme Corporation" in page and ACME_ORG_ID in page
    assert ACME_ADMIN in page and conn.instance_url in page
    assert owner.email in page
    local = timezone.localtime(conn.connected_at, acme.tzinfo)
    assert local.strftime("%H:%M") in page  # shown in the workspace's time zone
    assert f"Data is read as {ACME_ADMIN}" in page


def test_s01_agent_sees_connected_details_but_no_actions(client, sf, agent, connection):
    client_for(client, agent)
    page = client.get(manage_url()).content.decode()
    assert "Connected" in page and "Acme Corporation" in page
    assert "Disconnect Salesforce" not in page
    assert "Connect Salesforce" not in page and "Choose fields" not in page


def test_s14_admin_sees_disconnect_and_no_connect_form_when_connected(
    client, sf, owner, connection
):
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "Disconnect Salesforce" in page
    assert "sf-connect-form" not in page
    try:
        fields_url = reverse("integrations:salesforce:fields", args=["acme"])
    except NoReverseMatch:
        fields_url = None
    if fields_url:
        assert fields_url in page


def test_s15_reconnect_needed_is_shown_to_admins(client, sf, owner, agent, connection):
    sf.expire_sessions(connection.org_id)
    sf.revoke_refresh_tokens(connection.org_id)
    with pytest.raises(Exception):  # noqa: B017 - ReconnectNeeded; the page is what is tested
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "Reconnect needed" in page
    assert "Reconnect Salesforce" in page and "sf-connect-form" in page
    assert "Reconnect needed" in page.split("sf-events")[1]  # and in the audit trail
    listing = client.get(reverse("integrations:list", args=["acme"])).content.decode()
    assert "Reconnect needed" in listing
    client_for(client, agent)
    page = client.get(manage_url()).content.decode()
    assert "needs to be reconnected by a workspace Owner or Manager" in page
    assert "sf-connect-form" not in page


def test_b03_api_usage_and_health_are_shown(client, sf, owner, connection):
    sf.set_api_usage(connection.org_id, used=1499, limit=15000)
    SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        last_error="Salesforce is not answering right now. [timeout]", last_error_at=timezone.now()
    )
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "1,500 / 15,000" in page and "(10%)" in page
    assert "Last successful call" in page and "None yet" not in page
    assert "Salesforce is not answering right now. [timeout]" in page


def test_b05_audit_trail_shows_events_with_actor(client, sf, owner, manager, acme):
    client_for(client, owner)
    connect_via_views(client)
    conn = SalesforceConnection.objects.get(workspace=acme)
    record_event(
        connection=conn,
        kind=SalesforceEvent.Kind.FIELDS_CHANGED,
        actor=manager,
        detail="Added Department",
    )
    record_event(connection=conn, kind=SalesforceEvent.Kind.FIELD_DROPPED, detail="Foo__c")
    page = client.get(manage_url()).content.decode()
    events = page.split('id="sf-events"')[1]
    assert "Connected" in events and owner.email in events
    assert "Fields changed" in events and manager.email in events and "Added Department" in events
    assert "Field dropped" in events and "System" in events


def test_dropped_fields_note(client, sf, owner, connection):
    SalesforceConnection.objects.filter(pk=connection.pk).update(dropped_fields=["Foo__c"])
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "Salesforce no longer knows Foo__c" in page


def test_secrets_are_never_rendered(client, sf, owner, connection):
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert connection.access_token not in page and connection.refresh_token not in page


def test_s02_original_tab_refreshes_its_status_block(client, sf, owner):
    """The status block reloads itself (htmx, no inline script) when the person returns."""
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert 'hx-trigger="visibilitychange from:document, focus from:window"' in page
    assert "every 3s" not in page
    assert "<script>" not in page and "hx-on" not in page
    start(client)  # a connect is now pending for this workspace: poll until it completes
    partial = client.get(manage_url(), headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith("<section") and "<html" not in partial
    assert "every 3s" in partial
    connect_via_views(client)
    partial = client.get(manage_url(), headers={"HX-Request": "true"}).content.decode()
    assert "Acme Corporation" in partial and "every 3s" not in partial
