"""Phone numbers as real orgs store them (issue 11, P1–P7), against the live emulator."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup, services
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from tests.conftest import client_for

from .phone_corpus import corpus
from .test_sidebar import HTMX, badges_url_of, panel, rest_queries

pytestmark = pytest.mark.django_db

GRACE_SF = "(415) 555-0123"  # the emulator's demo Grace Hopper (US locale formatting)
CORPUS_ID = "0035g00000Corp1AAB"


def any_format(connection):
    services.set_phone_matching(connection, mode="any_format", actor=None)


# --- P1: the default country ------------------------------------------------------------------
def test_p1_admins_set_the_default_country_agents_cannot(client, owner, agent, acme):
    url = reverse("workspace:general", args=["acme"])
    client_for(client, agent)
    assert client.get(url).status_code == 403
    client_for(client, owner)
    assert "Default country for phone numbers" in client.get(url).content.decode()
    assert client.post(url, {"phone_region": "ZZ"}).status_code == 400
    assert client.post(url, {"phone_region": "GB"}).status_code == 302
    acme.refresh_from_db()
    assert acme.phone_region == "GB"


def test_p1_contact_keeps_the_phone_as_typed_and_shows_its_international_form(client, agent, acme):
    contact = Contact.objects.create(workspace=acme, name="Ana", phone="(415) 555-0123")
    client_for(client, agent)
    page = client.get(reverse("contacts:detail", args=["acme", contact.pk])).content.decode()
    assert "(415) 555-0123" in page and "international form +14155550123" in page
    contact.refresh_from_db()
    assert contact.phone == "(415) 555-0123"


# --- P2: the mode ------------------------------------------------------------------------------
def test_p2_mode_is_exact_by_default_changed_by_admins_audited_and_at_once(
    client, owner, agent, connection, acme, sf
):
    assert connection.phone_matching == "exact"
    url = reverse("integrations:salesforce:phone_matching", args=["acme"])
    client_for(client, agent)
    assert client.post(url, {"phone_matching": "any_format"}).status_code == 403
    grace = Contact.objects.create(workspace=acme, name="Grace", phone="+14155550123")
    assert lookup.find_contact(connection, phone=grace.phone).matches == ()
    client_for(client, owner)
    page = client.get(reverse("integrations:salesforce:manage", args=["acme"])).content.decode()
    assert "Exact (character for character)" in page and "Same number in any format" in page
    assert client.post(url, {"phone_matching": "bogus"}).status_code == 302
    assert client.post(url, {"phone_matching": "any_format"}).status_code == 302
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.phone_matching == "any_format"
    event = row.events.get(kind=SalesforceEvent.Kind.PHONE_MATCHING)
    assert event.actor == owner and "Same number in any format" in event.detail
    # At once: the cached "no match" of a minute ago is not what the sidebar shows now.
    assert lookup.find_contact(row, phone=grace.phone).primary.values["Phone"] == GRACE_SF


def test_p2_email_stays_exact_in_any_format_mode(connection, sf):
    any_format(connection)
    result = lookup.find_contact(connection, email="kim.lee@example.net")  # " kim.lee@... " in SF
    assert result.matches == ()
    assert lookup.find_contact(connection, email="MARCUS.REED@contoso.example").primary


# --- P3: any format, one query, never a different number -------------------------------------
@pytest.mark.parametrize(
    "ours,theirs",
    [
        ("+14155550123", GRACE_SF),  # E.164 from a messaging channel vs US locale
        ("+44 20 7946 0958", "020 7946 0958"),  # international vs UK national
        ("+1 617-555-0199 ext. 123", "(617) 555-0199 x123"),  # extensions
        ("(415) 555-0188", "415.555.0188"),  # dots, on MobilePhone
        ("+442079460999", "+44 20 7946 0999"),
    ],
)
def test_p3_p6_same_number_in_any_format_one_query(connection, sf, ours, theirs):
    any_format(connection)
    result = lookup.find_contact(connection, phone=ours)
    assert result.primary is not None
    assert theirs in (result.primary.values.get("Phone"), result.primary.values.get("MobilePhone"))
    assert len(rest_queries(sf)) == 1


@pytest.mark.parametrize("ours", ["+14155550124", "(415) 555-0123 x9", "+44 20 7946 0959"])
def test_p3_a_different_number_never_matches(connection, sf, ours):
    any_format(connection)
    assert lookup.find_contact(connection, phone=ours).matches == ()


# --- P4: exact mode hints with normalised numbers, in the same query ---------------------------
def test_p4_exact_mode_hints_the_same_number_with_both_values_in_one_query(
    client, agent, connection, acme, sf
):
    grace = Contact.objects.create(workspace=acme, name="Grace", phone="+14155550123")
    client_for(client, agent)
    html = panel(client, grace).content.decode()
    assert "No Salesforce Contact matches" in html
    assert "Near match" in html and GRACE_SF in html and "+14155550123" in html
    assert "same number written differently" in html
    assert len(rest_queries(sf)) == 1


def test_p4_country_codes_no_longer_hide_the_hint(connection, sf):
    """Raw digits differ ("1415..." vs "415..."): normalised numbers are equal."""
    result = lookup.find_contact(connection, phone="+14155550123")
    assert [(m.field, m.salesforce_value) for m in result.near_misses] == [("Phone", GRACE_SF)]


# --- P5: badges follow the mode, one query per page --------------------------------------------
def test_p5_badges_follow_the_mode_with_one_query(client, agent, connection, acme, sf):
    grace = Contact.objects.create(workspace=acme, name="Grace", phone="+14155550123")
    Contact.objects.create(workspace=acme, name="Jane", email="jane.cooper@northwind.example")
    client_for(client, agent)
    html = client.get(badges_url_of(client), headers=HTMX).content.decode()
    assert f'<span id="badge-{grace.pk}" hx-swap-oob="true"></span>' in html  # exact: no
    any_format(connection)
    sf.reset_log()
    html = client.get(badges_url_of(client), headers=HTMX).content.decode()
    assert html.count("In Salesforce</span>") == 2
    assert len(rest_queries(sf)) == 1


# --- P7: the corpus, on the live emulator ------------------------------------------------------
def test_p7_corpus_any_format_finds_every_same_number_and_no_other(connection, sf, acme):
    pairs = corpus()
    assert len(pairs) >= 200 and len({p.region for p in pairs}) >= 5
    figures = {"same": 0, "found": 0, "different": 0, "false": 0, "exact_fmt": 0, "hinted": 0}
    formatting = 0
    for pair in pairs:
        sf.update_record("Contact", CORPUS_ID, Phone=pair.salesforce, MobilePhone=None,
                         LastName="Corpus", org_id=connection.org_id)  # fmt: skip
        acme.phone_region = pair.region
        acme.save(update_fields=["phone_region"])
        connection.workspace = acme
        for mode in ("any_format", "exact"):
            connection.phone_matching = mode
            services.drop_cached_answers(connection)  # a fresh answer for each pair
            result = lookup.find_contact(connection, phone=pair.contact)
            matched = CORPUS_ID in {m.id for m in result.matches}
            hinted = CORPUS_ID in {m.match.id for m in result.near_misses}
            if mode == "any_format":
                figures["same" if pair.same else "different"] += 1
                figures["found" if pair.same else "false"] += matched
            elif pair.same and pair.salesforce != pair.contact:
                formatting += 1
                figures["exact_fmt"] += matched
                figures["hinted"] += hinted
            else:
                assert matched == (pair.salesforce == pair.contact), pair
    assert figures["found"] == figures["same"], figures  # 100% of same-number pairs
    assert figures["false"] == 0, figures
    assert figures["exact_fmt"] == 0, figures  # exact matches no formatting difference...
    assert figures["hinted"] == formatting, figures  # ...and hints every one of them
