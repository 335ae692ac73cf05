"""Admins hear about trouble (issue 24, E8), against the live emulator."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup, services
from integrations.salesforce.errors import SalesforceError
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from tests.conftest import client_for

from .flow import manage_url
from .test_sidebar import panel

pytestmark = pytest.mark.django_db
JANE_EMAIL = "jane.cooper@northwind.example"
Reason = SalesforceConnection.ReconnectReason


def _fail_a_lookup(connection):
    with pytest.raises(SalesforceError):
        lookup.find_contact(connection, email=JANE_EMAIL)


def test_e8_an_outage_shows_degraded_with_what_and_since_when_until_a_lookup_works(
    client, owner, connection, sf
):
    sf.set_fault("http_503", org_id=connection.org_id)
    _fail_a_lookup(connection)
    client_for(client, owner)

    listing = client.get(reverse("integrations:list", args=["acme"])).content.decode()
    assert ">Degraded</span>" in listing and "Connected</span>" not in listing
    assert "Salesforce is not answering right now" in listing and "Since " in listing
    page = client.get(manage_url()).content.decode()
    assert 'id="sf-degraded"' in page and ">Degraded</span>" in page
    assert SalesforceEvent.objects.filter(kind=SalesforceEvent.Kind.DEGRADED).count() == 1

    _fail_a_lookup(connection)  # still the same incident: one event
    assert SalesforceEvent.objects.filter(kind=SalesforceEvent.Kind.DEGRADED).count() == 1
    sf.set_fault("http_503", org_id=connection.org_id, value=False)
    lookup.find_contact(connection, email=JANE_EMAIL, refresh=True)

    listing = client.get(reverse("integrations:list", args=["acme"])).content.decode()
    assert "Connected</span>" in listing and "Degraded" not in listing
    assert SalesforceEvent.objects.filter(kind=SalesforceEvent.Kind.RECOVERED).exists()


def test_e8_reconnect_needed_emails_owners_and_managers_once_per_incident(
    connection, manager, agent, owner
):
    refresh_token = connection.refresh_token
    assert services.mark_reconnect_needed(
        connection, reason=Reason.REFRESH_REJECTED, detail="expired"
    )
    assert not services.mark_reconnect_needed(
        connection, reason=Reason.REFRESH_REJECTED, detail="expired"
    )
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sorted(sent.to) == sorted([owner.email, manager.email])  # never the agent
    assert "Reconnect Salesforce" in sent.subject and "expired" in sent.body
    assert "/w/acme/settings/integrations/salesforce/" in sent.body
    assert refresh_token and refresh_token not in sent.body


def test_e8_admins_see_a_reconnect_banner_across_the_app_agents_do_not(
    client, owner, agent, connection
):
    services.mark_reconnect_needed(connection, reason=Reason.REFRESH_REJECTED, detail="x")
    inbox = reverse("inbox:list", args=["acme"])
    client_for(client, owner)
    page = client.get(inbox).content.decode()
    assert 'id="sf-reconnect-banner"' in page and "#sf-reconnect" in page
    client_for(client, agent)
    assert 'id="sf-reconnect-banner"' not in client.get(inbox).content.decode()


def test_e8_the_reconnect_button_is_at_the_top_of_the_manage_page(client, owner, connection, sf):
    services.mark_reconnect_needed(connection, reason=Reason.REFRESH_REJECTED, detail="x")
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert page.index('id="sf-reconnect"') < page.index('id="sf-connection-details"')
    assert page.index('id="sf-reconnect"') < page.index('id="sf-disconnect"')
    # The button starts the consent at the connection's own login host.
    response = client.post(
        reverse("integrations:salesforce:connect", args=["acme"]),
        {"login_choice": "mydomain", "my_domain_url": connection.login_url},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(connection.login_url + "/services/oauth2/authorize")


def test_e8_with_api_access_off_agents_get_the_agents_sentence(
    client, owner, agent, connection, acme, sf
):
    sf.set_fault("api_disabled_user", username=connection.sf_username)
    jane = Contact.objects.create(workspace=acme, name="Jane", email=JANE_EMAIL)
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert "a workspace Owner or Manager has been told" in html
    assert "permission set" not in html
    client_for(client, owner)
    html = panel(client, jane, refresh="1").content.decode()
    assert "permission set with the “API Enabled” permission" in html
