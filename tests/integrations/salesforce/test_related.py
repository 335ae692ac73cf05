"""Beyond one Contact (issue 12): an optional Lead match (R3) and "Create in Salesforce" (R4)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup, services
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from tests.conftest import client_for

from .test_sidebar import HTMX, badges_url_of, panel, rest_queries

pytestmark = pytest.mark.django_db
LENA_LEAD = "00Q5g00000Led01EAB"  # only a Lead has lena.lead@example.org


# --- R3: the Lead match ------------------------------------------------------------------------
def test_r3_leads_are_off_by_default_contacts_only(connection, sf):
    assert connection.match_leads is False
    result = lookup.find_contact(connection, email="lena.lead@example.org")
    assert result.matches == () and result.lead is None
    assert len(rest_queries(sf)) == 1


def test_r3_admin_turns_leads_on_audited_and_at_once(client, owner, agent, connection, acme, sf):
    url = reverse("integrations:salesforce:lead_matching", args=["acme"])
    lena = Contact.objects.create(workspace=acme, name="Lena", email="lena.lead@example.org")
    client_for(client, agent)
    assert client.post(url, {"match_leads": "on"}).status_code == 403
    assert "No Salesforce Contact matches" in panel(client, lena).content.decode()
    client_for(client, owner)
    assert client.post(url, {"match_leads": "on"}).status_code == 302
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.match_leads is True
    assert row.events.filter(kind=SalesforceEvent.Kind.LEAD_MATCHING, actor=owner).exists()
    client_for(client, agent)
    sf.reset_log()
    html = panel(client, lena).content.decode()
    assert (
        ">Lead</span>" in html and "Lead Generation Co" in html and "Open - Not Contacted" in html
    )
    assert f"/lightning/r/Lead/{LENA_LEAD}/view" in html
    assert "Create in Salesforce" not in html
    queries = rest_queries(sf)
    assert len(queries) == 2 and " FROM Lead " in queries[1]["query"]  # one more, for the Lead


def test_r3_a_contact_always_wins_and_costs_one_query(connection, sf):
    services.set_lead_matching(connection, on=True, actor=None)
    result = lookup.find_contact(connection, email="jane.cooper@northwind.example")
    assert result.primary is not None and result.lead is None
    assert len(rest_queries(sf)) == 1


def test_r3_lead_by_phone_follows_the_phone_mode(connection, sf):
    services.set_lead_matching(connection, on=True, actor=None)
    assert lookup.find_contact(connection, phone="+15550501000").lead is None  # exact mode
    services.set_phone_matching(connection, mode="any_format", actor=None)
    lead = lookup.find_contact(connection, phone="+15550501000").lead
    assert lead is not None and lead.values["Company"] == "Prospect Partners"


def test_r3_badges_say_lead_with_at_most_one_more_query(client, agent, connection, acme, sf):
    services.set_lead_matching(connection, on=True, actor=None)
    lena = Contact.objects.create(workspace=acme, name="Lena", email="lena.lead@example.org")
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    html = client.get(badges_url_of(client), headers=HTMX).content.decode()
    assert f'<span id="badge-{lena.pk}" hx-swap-oob="true"><span class="badge lead"' in html
    assert f'<span id="badge-{jane.pk}" hx-swap-oob="true"><span class="badge match"' in html
    assert len(rest_queries(sf)) == 2


def test_r3_lead_lookup_respects_the_api_budget(connection, sf):
    from integrations.salesforce.errors import RateLimited

    services.set_lead_matching(connection, on=True, actor=None)
    sf.set_api_usage(connection.org_id, used=14_900, limit=15_000)
    lookup.find_contact(connection, email="jane.cooper@northwind.example")  # reads the usage
    with pytest.raises(RateLimited):
        lookup.find_contact(connection, email="lena.lead@example.org")


# --- R4: Create in Salesforce ------------------------------------------------------------------
def test_r4_no_match_links_to_a_prefilled_new_contact_page(client, agent, connection, acme, sf):
    noah = Contact.objects.create(
        workspace=acme, name="Noah Van Nomatch", email="noah@nowhere.example", phone="+1 555, 0199"
    )
    client_for(client, agent)
    html = panel(client, noah).content.decode()
    href = html.split('class="sf-create" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert href.startswith(connection.instance_url + "/lightning/o/Contact/new?defaultFieldValues=")
    encoded = urlsplit(href).query.removeprefix("defaultFieldValues=")
    pairs = dict(pair.split("=", 1) for pair in encoded.split(","))
    assert {k: unquote(v) for k, v in pairs.items()} == {
        "FirstName": "Noah Van",
        "LastName": "Nomatch",
        "Email": "noah@nowhere.example",
        "Phone": "+1 555, 0199",  # a comma in a value cannot split the list
    }
    assert 'target="_blank"' in html.split('class="sf-create"', 1)[1][:400]
    assert sf.writes() == []  # the product never writes (S11)


def test_r4_no_create_link_when_a_contact_matches(client, agent, connection, acme):
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    assert "Create in Salesforce" not in panel(client, jane).content.decode()
