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


# --- R1, R2: open Cases and Opportunities, in the same query ---------------------------------
def test_r1_r2_open_cases_and_deals_in_the_one_lookup_query(client, agent, connection, acme, sf):
    connection.currency = "USD"  # what the connect reads from Organization (test_r1_currency_...)
    connection.save(update_fields=["currency"])
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    cases = html.split('data-list="Cases"', 1)[1].split("</section>", 1)[0]
    assert "00001001 Delivery tracking page shows the wrong ETA" in cases
    assert "00001002 Invoice PDF is missing our VAT number" in cases
    assert "Password reset" not in cases  # closed
    assert "/lightning/r/Case/5005g00000Cas01AAB/view" in cases and 'target="_blank"' in cases
    deals = html.split('data-list="OpportunityContactRoles"', 1)[1].split("</section>", 1)[0]
    assert "Northwind - Fleet Expansion 2027" in deals and "Negotiation/Review" in deals
    assert "USD 48,000.00" in deals and "/lightning/r/Opportunity/0065g00000Opp01AAB/view" in deals
    assert "Annual Renewal" not in deals  # closed won
    queries = rest_queries(sf)
    assert len(queries) == 1  # R2: a cold lookup with both lists is still one call
    assert (
        "FROM Cases" in queries[0]["query"]
        and "FROM OpportunityContactRoles" in queries[0]["query"]
    )


def test_r1_more_than_three_open_cases_link_to_the_related_list(client, agent, connection, acme):
    marcus = Contact.objects.create(
        workspace=acme, name="Marcus", email="marcus.reed@contoso.example"
    )
    client_for(client, agent)
    html = panel(client, marcus).content.decode()
    cases = html.split('data-list="Cases"', 1)[1].split("</section>", 1)[0]
    assert cases.count("<li>") == 3
    assert "1 more in Salesforce" in cases
    assert "/lightning/r/Contact/0035g00000Con04AAB/related/Cases/view" in cases


def test_r2_admins_switch_lists_off_on_the_field_chooser(
    client, owner, agent, connection, acme, sf
):
    client_for(client, owner)
    url = reverse("integrations:salesforce:fields", args=["acme"])
    page = client.get(url).content.decode()
    assert "Open cases" in page and "Open opportunities" in page
    fields = list(SalesforceConnection.objects.get(pk=connection.pk).field_names)
    data = {"field": fields, "related": ["OpportunityContactRoles"], "related_lists_shown": "1"}
    assert client.post(url, data).status_code == 302
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.related_lists == ["OpportunityContactRoles"]
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    sf.reset_log()
    html = panel(client, jane).content.decode()
    assert 'data-list="Cases"' not in html and 'data-list="OpportunityContactRoles"' in html
    assert "FROM Cases" not in rest_queries(sf)[0]["query"]


@pytest.mark.parametrize(
    "hidden,dropped", [("Case", "Cases"), ("Opportunity", "OpportunityContactRoles")]
)
def test_r2_a_list_the_user_cannot_see_is_dropped_and_the_sidebar_works(
    client, owner, agent, connection, acme, sf, hidden, dropped
):
    sf.hide_objects(hidden, org_id=connection.org_id)
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert 'data-state="result"' in html and "Northwind Traders" in html
    assert f'data-list="{dropped}"' not in html
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert dropped not in row.related_lists and row.dropped_related == [dropped]
    assert row.events.filter(kind=SalesforceEvent.Kind.FIELD_DROPPED).exists()
    client_for(client, owner)
    manage = client.get(reverse("integrations:salesforce:manage", args=["acme"])).content.decode()
    assert "cannot see" in manage and dropped in manage


def test_r1_badges_never_stand_in_for_a_sidebar_with_related_lists(client, agent, connection, acme):
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    client.get(badges_url_of(client), headers=HTMX)  # learns that Jane matches...
    html = panel(client, jane).content.decode()  # ...but not her open cases
    assert "Delivery tracking page shows the wrong ETA" in html


def test_r1_the_connect_reads_the_orgs_currency(client, owner, acme, sf):
    from .flow import connect_via_views

    client_for(client, owner)
    connect_via_views(client)
    assert SalesforceConnection.objects.get(workspace=acme).currency == "USD"
