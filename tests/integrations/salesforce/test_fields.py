"""S6: admins choose and order the sidebar's fields from the org's describe (custom included)."""

import pytest
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce.models import SalesforceConnection
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def url():
    return reverse("integrations:salesforce:fields", args=["acme"])


def test_s06_field_list_comes_from_describe_with_custom_fields(client, owner, connection):
    client_for(client, owner)
    html = client.get(url()).content.decode()
    assert 'value="Customer_Tier__c"' in html and "custom" in html
    assert 'value="Account.Name"' in html
    assert 'value="AccountId"' not in html  # references show the record's name, never an Id


def test_s06_describe_cached_for_an_hour(client, owner, connection, sf):
    client_for(client, owner)
    client.get(url())
    client.get(url())
    describes = [e for e in sf.request_log() if e["path"].endswith("/describe")]
    assert len(describes) == 1


def test_s06_b5_choose_and_order_fields(client, owner, agent, connection, acme, sf):
    client_for(client, owner)
    response = client.post(
        url(),
        {
            "field": ["Title", "Customer_Tier__c", "Email"],
            "position-Title": "2",
            "position-Customer_Tier__c": "1",
            "position-Email": "3",
        },
    )
    assert response.status_code == 302
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.field_names == ["Customer_Tier__c", "Title", "Email"]
    assert conn.field_meta["Customer_Tier__c"]["label"]
    assert conn.cache_generation == connection.cache_generation + 1
    event = conn.events.get(kind="fields_changed")
    assert event.actor == owner
    jane = Contact.objects.create(workspace=acme, name="J", email="jane.cooper@northwind.example")
    client_for(client, agent)
    html = client.get(
        reverse("contacts:panel", args=["acme", jane.pk, "salesforce"]), headers={"HX-Request": "1"}
    ).content.decode()
    labels = [conn.field_meta[p]["label"] for p in conn.field_names]
    positions = [html.index(f"<dt>{label}</dt>") for label in labels]
    assert positions == sorted(positions)
    assert "Lead Source" not in html


def test_s06_unknown_field_is_refused_and_nothing_saved(client, owner, connection):
    client_for(client, owner)
    response = client.post(url(), {"field": ["Title", "Password__c"]})
    assert response.status_code == 400
    assert b"does not know Password__c" in response.content
    assert SalesforceConnection.objects.get(pk=connection.pk).field_names == connection.field_names


def test_s06_empty_choice_is_refused(client, owner, connection):
    client_for(client, owner)
    assert client.post(url(), {}).status_code == 400


def test_s01_agents_cannot_choose_fields(client, agent, connection):
    client_for(client, agent)
    assert client.get(url()).status_code == 403
    assert client.post(url(), {"field": ["Title"]}).status_code == 403


def test_fields_page_needs_a_connection(client, owner, acme):
    client_for(client, owner)
    response = client.get(url(), follow=True)
    assert b"Connect Salesforce first" in response.content


def test_system_checks_name_missing_salesforce_settings(settings):
    from integrations.salesforce.checks import salesforce_settings

    settings.SALESFORCE_CLIENT_ID = ""
    settings.FIELD_ENCRYPTION_KEY = []
    assert {c.id for c in salesforce_settings()} == {"salesforce.W001", "salesforce.W002"}
    settings.SALESFORCE_CLIENT_ID = settings.SALESFORCE_CLIENT_SECRET = "x"
    settings.FIELD_ENCRYPTION_KEY = ["not-a-key"]
    assert [c.id for c in salesforce_settings()] == ["salesforce.E001"]


def test_fields_page_works_while_the_cache_is_down(client, owner, connection, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    client_for(client, owner)
    assert client.get(url()).status_code == 200
