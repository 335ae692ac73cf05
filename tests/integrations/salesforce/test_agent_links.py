"""A2 pick and link, A3 search and link, A4 why no match: against the live emulator over HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup, services
from integrations.salesforce.models import SalesforceContactLink, SalesforceEvent
from integrations.salesforce.search import search_sosl, sosl_escape
from tests.conftest import client_for

from .test_sidebar import HTMX, panel, rest_queries

pytestmark = pytest.mark.django_db
FIONA = "0035g00000Con05AAB"  # support@fabrikam.example, the newer of the two
FRANK = "0035g00000Con06AAB"  # support@fabrikam.example too
JANE = "0035g00000Con01AAB"


@pytest.fixture
def fabrikam(acme):
    return Contact.objects.create(
        workspace=acme, name="Fabrikam Support", email="support@fabrikam.example"
    )


def link(client, contact, record_id, name=""):
    url = reverse("integrations:salesforce:link", args=["acme", contact.pk])
    return client.post(url, {"record_id": record_id, "record_name": name}, headers=HTMX)


# --- A2 ---------------------------------------------------------------------------------------
def test_a2_several_matches_listed_with_what_tells_them_apart(client, agent, connection, fabrikam):
    client_for(client, agent)
    html = panel(client, fabrikam).content.decode()
    assert "which one is this customer?" in html
    assert html.count('class="sf-choice"') == 2
    assert html.count("This is the customer") == 2
    assert "Fabrikam" in html and "owner " in html and "modified 20" in html


def test_a2_link_is_stored_audited_shown_and_asked_first_in_one_query(
    client, agent, connection, fabrikam, sf
):
    client_for(client, agent)
    panel(client, fabrikam)
    first = panel(client, fabrikam).content.decode()
    shown_first = first.index("This is the customer")
    newest = FIONA if first.index(FIONA) < first.index(FRANK) else FRANK
    older = FRANK if newest == FIONA else FIONA
    assert shown_first
    sf.reset_log()
    html = link(client, fabrikam, older, "The older one").content.decode()
    stored = SalesforceContactLink.objects.get(contact=fabrikam)
    assert (stored.record_id, stored.linked_by) == (older, agent)
    assert connection.events.filter(kind=SalesforceEvent.Kind.LINKED, actor=agent).exists()
    assert "Linked by agent@acme.test on" in html and "Unlink" in html
    # the linked record is the one shown, although another matches and is newer
    assert html.index(f"/lightning/r/Contact/{older}/view") < html.find(
        f"/lightning/r/Contact/{newest}/view"
    )
    assert "which one is this customer?" not in html
    (query,) = rest_queries(sf)  # ONE query: Id = X OR the email condition
    assert f"Id = '{older}' OR Email = 'support@fabrikam.example'" in query["query"]


def test_a2_linked_record_without_matching_values_still_first(connection, sf):
    result = lookup.find_contact(connection, email="nobody@nowhere.example", linked_id=JANE)
    assert result.primary.id == JANE and not result.link_missing
    assert len(rest_queries(sf)) == 1


def test_a2_deleted_or_merged_link_falls_back_with_a_notice(
    client, agent, connection, fabrikam, sf
):
    client_for(client, agent)
    link(client, fabrikam, FRANK, "Frank Helpdesk")
    sf.delete_record("Contact", FRANK)  # a merge deletes the losing record too
    lookup_cache_cleared = client.get(
        reverse("contacts:panel", args=["acme", fabrikam.pk, "salesforce"]),
        {"refresh": "1"},
        headers=HTMX,
    ).content.decode()
    assert "no longer exists: it was deleted or merged" in lookup_cache_cleared
    assert FIONA in lookup_cache_cleared  # matching by email again
    result = lookup.find_contact(connection, email=fabrikam.email, linked_id=FRANK)
    assert result.link_missing and result.primary.id == FIONA


def test_a2_unlink_audited_and_matching_again(client, agent, connection, fabrikam):
    client_for(client, agent)
    link(client, fabrikam, FRANK, "Frank")
    url = reverse("integrations:salesforce:unlink", args=["acme", fabrikam.pk])
    html = client.post(url, headers=HTMX).content.decode()
    assert not SalesforceContactLink.objects.filter(contact=fabrikam).exists()
    assert connection.events.filter(kind=SalesforceEvent.Kind.UNLINKED, actor=agent).exists()
    assert "which one is this customer?" in html


def test_a2_bad_ids_and_other_workspaces_refused(client, agent, outsider, connection, fabrikam):
    client_for(client, agent)
    assert link(client, fabrikam, "001' OR Id != '").status_code == 400
    assert link(client, fabrikam, "0015g00000Acc01AAB").status_code == 400  # not a Contact
    client_for(client, outsider)
    assert link(client, fabrikam, FRANK).status_code == 404
    assert not SalesforceContactLink.objects.exists()


# --- A3 ---------------------------------------------------------------------------------------
def test_a3_sosl_escapes_reserved_characters():
    assert sosl_escape("o'brien+x-y (a) {b} *?") == "o\\'brien\\+x\\-y \\(a\\) \\{b\\} \\*\\?"
    sosl = search_sosl("  jane   o'brien ", leads=False)
    assert sosl.startswith("FIND {jane o\\'brien} IN ALL FIELDS RETURNING Contact(")
    assert sosl.endswith("LIMIT 10") and "Lead(" not in sosl
    assert "Lead(" in search_sosl("jane", leads=True)


def test_a3_search_finds_and_links_nothing_written(client, agent, connection, acme, sf):
    noah = Contact.objects.create(workspace=acme, name="Noah", email="noah@nowhere.example")
    client_for(client, agent)
    html = panel(client, noah).content.decode()
    assert "Search Salesforce" in html and "Why no match?" in html
    url = reverse("integrations:salesforce:search", args=["acme", noah.pk])
    sf.reset_log()
    found = client.get(url, {"q": "o'brien@example.com"}, headers=HTMX).content.decode()
    assert "Liam O&#x27;Brien" in found and "Link" in found
    (call,) = [e for e in sf.request_log() if e["path"].rstrip("/").endswith("/search")]
    assert "FIND {o\\'brien\\@example.com}" not in call["query"]  # @ is not reserved
    assert "FIND {o\\'brien@example.com} IN ALL FIELDS" in call["query"]
    assert call["status"] == 200
    html = link(client, noah, "0035g00000Con02AAB", "Liam O'Brien").content.decode()
    assert "Linked by" in html and "Liam" in html
    assert sf.writes() == []  # nothing written to Salesforce


def test_a3_search_with_leads_on_and_short_terms(client, agent, connection, acme, sf):
    services.set_lead_matching(connection, on=True, actor=None)
    noah = Contact.objects.create(workspace=acme, name="Noah", email="noah@nowhere.example")
    client_for(client, agent)
    url = reverse("integrations:salesforce:search", args=["acme", noah.pk])
    html = client.get(url, {"q": "lena"}, headers=HTMX).content.decode()
    assert "Lena Lead" in html and ">Lead</span>" in html
    sf.reset_log()
    assert "at least 2 characters" in client.get(url, {"q": "x"}, headers=HTMX).content.decode()
    assert sf.request_log() == []


# --- A4 ---------------------------------------------------------------------------------------
def test_a4_why_no_match_lists_values_mode_and_user(client, agent, connection, acme):
    # Priya Shah holds "+1 555 010 2000": the same number, another format (a near miss)
    kim = Contact.objects.create(workspace=acme, name="Kim", phone="+15550102000")
    client_for(client, agent)
    html = panel(client, kim).content.decode()
    assert "Why no match?" in html
    why = html[html.index("Why no match?") :]
    assert "+15550102000" in why and "+1 555 010 2000" in why  # the spellings asked for
    assert "differs only by format" in why and "exact" in why.lower()
    assert "Leads are not searched" in why
    assert "Records not shared with admin@acme-corp.example" in why


def test_a4_lead_matching_off_is_named_as_a_cause(client, agent, connection, acme):
    lena = Contact.objects.create(workspace=acme, name="Lena", email="lena.lead@example.org")
    client_for(client, agent)
    url = reverse("integrations:salesforce:why", args=["acme", lena.pk])
    html = client.get(url, headers=HTMX).content.decode()
    assert 'data-cause="lead_off"' in html and "Lena Lead" in html


def test_a4_no_other_cause_when_none(client, agent, connection, acme):
    noah = Contact.objects.create(workspace=acme, name="Noah", email="noah@nowhere.example")
    client_for(client, agent)
    url = reverse("integrations:salesforce:why", args=["acme", noah.pk])
    assert "no Lead matches" in client.get(url, headers=HTMX).content.decode()
