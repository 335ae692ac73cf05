"""E3 Person Accounts (issue 24), the product against the live emulator over HTTP.

A person account is an Account with a person record type and ONE person contact whose Email,
Phone and MobilePhone are the Account's PersonEmail, Phone and PersonMobilePhone (see
tests/emulator/test_e3_person_accounts.py for the emulator's side of the rule).
"""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import unquote, urlsplit

import pytest
import requests
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup, selectors, setup_check
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.models import SalesforceConnection
from tests.conftest import client_for

from .flow import connect_via_views
from .test_listener import live_sf  # noqa: F401 - a fixture
from .test_sidebar import panel

pytestmark = pytest.mark.django_db
ACME = "00D5g000004AcmEEAS"
PERSON_TYPE = "012Em00000PerAcIAJ"  # the emulator's "PersonAccount" record type
PIA_EMAIL = "pia.person@b2c.example"


def _instance_calls(sf) -> list[dict]:
    return [e for e in sf.request_log() if e["path"].startswith("/services/data/")]


@pytest.fixture
def b2c(client, owner, acme, sf):
    """Acme's org with Person Accounts on, connected through the views; one person account
    (Pia Person) with an open Opportunity on her Account and none as a contact role."""
    sf.set_org_settings(ACME, person_accounts=True)
    client_for(client, owner)
    connect_via_views(client)
    connection = SalesforceConnection.objects.get(workspace=acme)
    api = SalesforceClient(connection)
    account_id = api.create(
        "Account",
        {
            "RecordTypeId": connection.person_record_type_id,
            "FirstName": "Pia",
            "LastName": "Person",
            "PersonEmail": PIA_EMAIL,
            "PersonMobilePhone": "+1 415 555 0177",
            "PersonBirthdate": "1990-04-01",
        },
    )
    api.create(
        "Opportunity",
        {
            "Name": "Pia's new sofa",
            "StageName": "Prospecting",
            "CloseDate": "2027-02-15",
            "Amount": 2400,
            "AccountId": account_id,
        },
    )
    sf.reset_log()
    return connection, account_id


def _pia(acme) -> Contact:
    return Contact.objects.create(workspace=acme, name="Pia Person", email=PIA_EMAIL)


def _view_url(html: str) -> str:
    found = re.search(r'class="button sf-view" href="([^"]+)"', html)
    assert found, "no View in Salesforce button"
    return html_lib.unescape(found.group(1))


def test_e3_connect_detects_person_accounts_and_their_record_type(b2c):
    connection, _ = b2c
    assert connection.person_accounts is True
    assert connection.person_record_type_id == PERSON_TYPE


def test_e3_an_org_without_person_accounts_is_detected_as_such(client, owner, acme, sf):
    client_for(client, owner)
    connect_via_views(client)
    connection = SalesforceConnection.objects.get(workspace=acme)
    assert (connection.person_accounts, connection.person_record_type_id) == (False, "")


def test_e3_a_matched_person_account_is_labelled_and_opens_its_account(client, agent, acme, b2c):
    connection, account_id = b2c
    client_for(client, agent)

    html = panel(client, _pia(acme)).content.decode()

    head = html.split('class="sf-head"', 1)[1].split("</div>", 1)[0]
    assert "Pia Person" in head and "Person Account" in head
    assert _view_url(html) == f"{connection.instance_url}/lightning/r/Account/{account_id}/view"
    # The emulator's Account page is the record the link names.
    page = requests.get(_view_url(html), timeout=5)
    assert page.status_code == 200 and "Pia Person" in page.text


def test_e3_a_business_contact_in_the_same_org_is_unchanged(client, agent, acme, b2c):
    connection, _ = b2c
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)

    html = panel(client, jane).content.decode()

    assert "Person Account" not in html
    assert _view_url(html) == connection.record_view_url("0035g00000Con01AAB")


def test_e3_person_account_opportunities_come_from_the_account_in_one_api_call(
    client, agent, acme, sf, b2c
):
    connection, account_id = b2c
    used_before = sf.info()["orgs"][0]["api_usage"]
    client_for(client, agent)

    html = panel(client, _pia(acme)).content.decode()

    deals = html.split('data-list="OpportunityContactRoles"', 1)[1].split("</section>", 1)[0]
    assert "Pia&#x27;s new sofa" in deals or "Pia's new sofa" in deals
    assert "2,400.00" in deals
    calls = _instance_calls(sf)
    # ONE Composite request (the Contact lookup and the person accounts' Opportunities), which
    # Salesforce counts as one API call.
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in calls] == [("POST", "composite")]
    assert sf.info()["orgs"][0]["api_usage"] == used_before + 1


def test_e3_the_lookup_query_selects_the_person_fields_and_chosen_account_fields(
    client, owner, agent, acme, sf, b2c
):
    connection, account_id = b2c
    client_for(client, owner)
    url = reverse("integrations:salesforce:fields", args=["acme"])
    page = client.get(url).content.decode()
    assert "Person account fields (from the Account)" in page
    assert "Account.PersonBirthdate" in page
    response = client.post(
        url,
        {
            "field": list(connection.field_names),
            "account-field": ["PersonBirthdate"],
            "account_fields_shown": "1",
            "related_lists_shown": "1",
            "related": list(connection.related_lists),
        },
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.account_fields == ["PersonBirthdate"]
    assert connection.account_field_meta["PersonBirthdate"]["type"] == "date"
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    sf.reset_log()

    pia_html = panel(client, _pia(acme)).content.decode()
    jane_html = panel(client, jane).content.decode()

    assert 'data-field="Account.PersonBirthdate">1 Apr 1990<' in pia_html
    assert "Account.PersonBirthdate" not in jane_html  # shown for person accounts only
    composite = [c for c in _instance_calls(sf) if c["path"].endswith("/composite")]
    assert len(composite) == 2  # one per lookup, however the org's contacts are shaped


def test_e3_an_org_without_person_accounts_keeps_its_single_query(
    client, agent, acme, sf, connection
):
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)

    panel(client, jane)

    calls = _instance_calls(sf)
    assert len(calls) == 1 and calls[0]["path"].rstrip("/").endswith("/query")
    assert "IsPersonAccount" not in calls[0]["query"]


def test_e3_create_in_salesforce_offers_a_person_account(client, agent, acme, sf, b2c):
    connection, _ = b2c
    noah = Contact.objects.create(
        workspace=acme, name="Noah Van Nomatch", email="noah@nowhere.example", phone="+1 555 0199"
    )
    client_for(client, agent)
    writes = len(sf.writes())  # the fixture's person account and opportunity

    html = panel(client, noah).content.decode()

    found = re.search(r'class="sf-create-person" href="([^"]+)"', html)
    assert found and "Create a Person Account in Salesforce" in html
    href = html_lib.unescape(found.group(1))
    assert href.startswith(
        f"{connection.instance_url}/lightning/o/Account/new?recordTypeId={PERSON_TYPE}&"
    )
    encoded = urlsplit(href).query.split("defaultFieldValues=", 1)[1]
    pairs = dict(pair.split("=", 1) for pair in encoded.split(","))
    assert {k: unquote(v) for k, v in pairs.items()} == {
        "FirstName": "Noah Van",
        "LastName": "Nomatch",
        "PersonEmail": "noah@nowhere.example",
        "Phone": "+1 555 0199",
    }
    # The emulator's new-Account page takes every value as an Account field.
    page = requests.get(href, timeout=5).text
    assert "Not fields of Account" not in page and 'data-received="PersonEmail"' in page
    assert len(sf.writes()) == writes  # the product never writes (S11)


def test_e3_no_person_account_link_where_the_org_has_none(client, agent, acme, connection):
    noah = Contact.objects.create(workspace=acme, name="Noah", email="noah@nowhere.example")
    client_for(client, agent)
    html = panel(client, noah).content.decode()
    assert "Create in Salesforce" in html and "sf-create-person" not in html


def test_e3_the_setup_check_reports_person_accounts_within_its_calls(b2c, sf):
    connection, _ = b2c
    SalesforceConnection.objects.filter(pk=connection.pk).update(person_record_type_id="")
    connection.refresh_from_db()
    sf.reset_log()

    lines = setup_check.run(connection, audit=False)

    line = next(x for x in lines if x.topic == "Person Accounts")
    assert line.status == "pass" and "Person Account" in line.text
    connection.refresh_from_db()
    assert connection.person_record_type_id == PERSON_TYPE  # read again in the same Composite
    assert len(_instance_calls(sf)) <= 3


def test_e3_a_user_who_cannot_see_opportunities_still_gets_the_person_account(
    client, agent, acme, sf, b2c
):
    connection, account_id = b2c
    sf.hide_objects("Opportunity", org_id=ACME)
    client_for(client, agent)

    html = panel(client, _pia(acme)).content.decode()

    assert _view_url(html).endswith(f"/lightning/r/Account/{account_id}/view")
    assert 'data-list="OpportunityContactRoles"' not in html
    connection.refresh_from_db()
    assert "OpportunityContactRoles" not in connection.related_lists  # dropped, noted (R2)
    # The refused Composite request, then the single query without the list.
    paths = [c["path"].rstrip("/").rsplit("/", 1)[-1] for c in _instance_calls(sf)]
    assert paths == ["composite", "query"]


@pytest.mark.django_db(transaction=True)
def test_e3_a_new_deal_on_a_person_account_drops_its_cached_lookup(
    live_sf,  # noqa: F811
    connection,
):
    """F3 for person accounts: the new Opportunity's event names only the Account."""
    from .test_listener import cached, running_listener, subscribed, wait_for

    live_sf.set_org_settings(ACME, person_accounts=True)
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        person_accounts=True, related_lists=["OpportunityContactRoles"]
    )
    connection.refresh_from_db()
    api = SalesforceClient(connection)
    account_id = api.create(
        "Account", {"RecordTypeId": PERSON_TYPE, "LastName": "Live", "PersonEmail": PIA_EMAIL}
    )
    topic = "/data/OpportunityChangeEvent"
    with running_listener():
        wait_for(
            lambda: subscribed(connection) and selectors.replay_id(connection.pk, topic),
            "the Opportunity stream positioned",
        )
        before = lookup.find_contact(connection, email=PIA_EMAIL)
        assert before.primary.related.get("OpportunityContactRoles") == []
        assert cached(connection, email=PIA_EMAIL)
        api.create(
            "Opportunity",
            {
                "Name": "Live deal",
                "StageName": "Prospecting",
                "CloseDate": "2027-03-01",
                "AccountId": account_id,
            },
        )
        wait_for(lambda: not cached(connection, email=PIA_EMAIL), "the Opportunity's event")
    after = lookup.find_contact(connection, email=PIA_EMAIL)
    deals = after.primary.related["OpportunityContactRoles"]
    assert [d["Opportunity"]["Name"] for d in deals] == ["Live deal"]


def test_e3_the_daily_describe_notices_person_accounts_enabled_later(connection, sf, capsys):
    from django.core.management import call_command

    assert connection.person_accounts is False
    sf.set_org_settings(ACME, person_accounts=True)

    call_command("salesforce_org_profile")

    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert (row.person_accounts, row.person_record_type_id) == (True, PERSON_TYPE)
    assert "person accounts on" in capsys.readouterr().out
