"""Issue 13, the agent's screen, server side (U2–U8) against the live emulator; the browser side
(layout boxes, axe-core, the confirmation and connect flows in chromium) is in tests/e2e."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import caching
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from integrations.salesforce.pending import PENDING_SESSION_KEY
from integrations.salesforce.templatetags.salesforce_display import timedelta_ago
from tests.conftest import client_for
from tests.salesforce_support import consent

from .flow import callback, connect_url, disconnect_url, manage_url, start
from .test_sidebar import HTMX, badges_url_of, make, panel, rest_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane(acme):
    return make(acme, "Jane Cooper", email="jane.cooper@northwind.example")


# --- U2: errors in the agent's words, a Retry, a short failure memory -------------------------
def test_u2_error_has_retry_and_no_http_code(client, agent, connection, jane, sf):
    sf.set_fault("http_503", org_id=connection.org_id)
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert "Salesforce is not answering right now." in html
    assert "HTTP" not in html and "503" not in html
    assert ">Retry</button>" in html and "refresh=1" in html
    assert 'hx-disabled-elt="this"' in html  # U7: no double clicks while it works
    # The admin's health line keeps Salesforce's code, for whoever has to ask Salesforce.
    last_error = SalesforceConnection.objects.get(pk=connection.pk).last_error
    assert last_error == "Salesforce is not answering right now. [SERVER_UNAVAILABLE]"


class FailureClock:
    """The clock that ends remembered failures (``caching.clock``), moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def failure_clock(monkeypatch, settings) -> FailureClock:
    """U2 on an injected clock instead of real sleeps. The lengths are long in real time (the
    cache's own timeout only cleans up and must not end a failure before the test's clock does)
    and the test moves its clock across them in an instant."""
    clock = FailureClock()
    monkeypatch.setattr(caching, "clock", lambda: clock.now)
    settings.SALESFORCE_FAILURE_SECONDS = 60
    settings.SALESFORCE_FAILURE_MAX_SECONDS = 240
    return clock


def test_u2_failure_is_remembered_seconds_not_the_cache_window(
    client, agent, connection, jane, sf, failure_clock
):
    """A reload soon after Salesforce recovers shows the data: the failure was kept briefly."""
    sf.set_fault("http_503", org_id=connection.org_id)
    client_for(client, agent)
    assert "not answering" in panel(client, jane).content.decode()
    failure_clock.advance(59)
    assert "not answering" in panel(client, jane).content.decode()  # remembered: not asked
    assert len(rest_queries(sf)) == 1
    sf.clear_faults()
    failure_clock.advance(1)  # the first failure is remembered SALESFORCE_FAILURE_SECONDS
    html = panel(client, jane).content.decode()
    assert "Northwind Traders" in html and "not answering" not in html
    assert len(rest_queries(sf)) == 2


def test_u2_failures_in_a_row_back_off(client, agent, connection, jane, sf, failure_clock):
    """60 s, then 120 s, then 240 s (the maximum), then still 240 s: each failure in a row is
    remembered twice as long as the one before, at most SALESFORCE_FAILURE_MAX_SECONDS."""
    sf.set_fault("http_503", org_id=connection.org_id)
    client_for(client, agent)
    asked = []
    for remembered in (60, 120, 240, 240):
        panel(client, jane)  # the previous failure is over: Salesforce is asked again
        asked.append(len(rest_queries(sf)))
        failure_clock.advance(remembered - 1)
        panel(client, jane)  # a second before its end: not asked
        assert len(rest_queries(sf)) == asked[-1]
        failure_clock.advance(1)
    assert asked == [1, 2, 3, 4]


def test_u2_retry_recovers_at_once(client, agent, connection, jane, sf):
    sf.set_fault("http_503", org_id=connection.org_id)
    client_for(client, agent)
    assert "not answering" in panel(client, jane).content.decode()
    sf.clear_faults()
    html = panel(client, jane, refresh="1").content.decode()  # the Retry button's request
    assert "Northwind Traders" in html and "not answering" not in html


@pytest.mark.parametrize(
    "age,text",
    [
        (timedelta(seconds=0), "less than a minute ago"),
        (timedelta(seconds=59), "less than a minute ago"),
        (timedelta(minutes=3, seconds=5), "3\xa0minutes ago"),
        (timedelta(hours=2, minutes=1), "2\xa0hours, 1\xa0minute ago"),
    ],
)
def test_u2_stale_copy_says_its_real_age(age, text):
    assert timedelta_ago(age) == text


# --- U3: badges during an outage and without a connection ------------------------------------
def test_u3_no_salesforce_column_when_not_connected(client, agent, acme):
    make(acme, "Jane Cooper", email="jane.cooper@northwind.example")
    client_for(client, agent)
    page = client.get(reverse("contacts:list", args=["acme"])).content.decode()
    assert "Jane Cooper" in page
    assert "Salesforce" not in page.split('id="contact-table"')[1].split("</table>")[0]
    assert "/salesforce/badges/" not in page


def test_u3_column_returns_with_a_connection(client, agent, acme, connection):
    make(acme, "Jane Cooper", email="jane.cooper@northwind.example")
    client_for(client, agent)
    page = client.get(reverse("contacts:list", args=["acme"])).content.decode()
    assert 'id="sf-column"' in page and 'data-label="Salesforce"' in page
    assert badges_url_of(client)


# --- U4: destructive actions ask first --------------------------------------------------------
def test_u4_disconnect_asks_first_and_says_what_happens(client, owner, connection, sf):
    client_for(client, owner)
    manage = client.get(manage_url()).content.decode()
    assert f'href="{disconnect_url()}"' in manage  # a link to the confirmation, not a POST
    page = client.get(disconnect_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Disconnect Salesforce from" in html and "revoked at Salesforce" in html
    assert "<script" not in html.split("</head>")[1]  # strict CSP: no inline script needed
    # Nothing happened yet.
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "connected"
    assert not [e for e in sf.request_log() if e["path"].endswith("/revoke")]
    client.post(disconnect_url())
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "disconnected"


def test_u4_agent_cannot_open_the_disconnect_confirmation(client, agent, connection):
    client_for(client, agent)
    assert client.get(disconnect_url()).status_code == 403


def test_u4_delete_contact_asks_first(client, agent, acme):
    ann = make(acme, "Ann Lee", email="ann@example.com")
    url = reverse("contacts:delete", args=["acme", ann.pk])
    client_for(client, agent)
    detail = client.get(reverse("contacts:detail", args=["acme", ann.pk])).content.decode()
    assert f'href="{url}"' in detail
    html = client.get(url).content.decode()
    assert "Delete Ann Lee?" in html and "cannot be undone" in html
    assert Contact.objects.filter(pk=ann.pk).exists()
    assert client.post(url).status_code == 302
    assert not Contact.objects.filter(pk=ann.pk).exists()


def test_u4_delete_confirmation_explains_a_contact_with_conversations(client, agent, conversation):
    url = reverse("contacts:delete", args=["acme", conversation.contact.pk])
    client_for(client, agent)
    html = client.get(url).content.decode()
    assert "cannot be deleted" in html and "<form" not in html.split('class="card confirm"')[1]


# --- U5: the connect form ---------------------------------------------------------------------
def test_u5_connect_errors_show_in_this_tab_before_any_new_tab(client, owner, sf):
    client_for(client, owner)
    response = client.post(
        connect_url(), {"login_choice": "mydomain", "my_domain_url": ""}, headers=HTMX
    )
    assert response.status_code == 422  # swapped into this tab by htmx (base.html config)
    assert "HX-Trigger" not in response  # nothing opens
    html = response.content.decode()
    assert 'id="sf-status"' in html and 'class="form-error"' in html
    assert not client.session.get(PENDING_SESSION_KEY)
    foreign = client.post(
        connect_url(),
        {"login_choice": "mydomain", "my_domain_url": "https://evil.example.com"},
        headers=HTMX,
    )
    assert foreign.status_code == 422 and "HX-Trigger" not in foreign


def test_u5_accepted_connect_opens_consent_in_a_new_tab(client, owner, sf):
    client_for(client, owner)
    response = client.post(connect_url(), {"login_choice": sf.login_url}, headers=HTMX)
    assert response.status_code == 200
    url = json.loads(response["HX-Trigger"])["salesforce-open"]["url"]
    assert url.startswith(sf.login_url + "/services/oauth2/authorize?")
    html = response.content.decode()
    assert "Waiting for Salesforce since" in html and "expires at" in html
    # A popup blocker cannot strand the admin: the same URL is a link on the page.
    assert 'target="_blank"' in html and "sf-open-consent" in html
    # ...and it is the real flow: consenting there connects this workspace.
    assert callback(client, consent(url)).status_code == 302
    assert SalesforceConnection.objects.get(workspace__slug="acme").status == "connected"


def test_u5_without_javascript_the_flow_stays_in_this_tab(client, owner, sf):
    client_for(client, owner)
    response = client.post(connect_url(), {"login_choice": "mydomain", "my_domain_url": ""})
    assert response.status_code == 400 and b"form-error" in response.content
    assert start(client).startswith(sf.login_url)  # a plain POST redirects this tab


def test_u5_stop_waiting_forgets_the_attempt(client, owner, sf):
    client_for(client, owner)
    authorize_url = start(client)
    assert "Waiting for Salesforce" in client.get(manage_url()).content.decode()
    client.post(reverse("integrations:salesforce:cancel_connect", args=["acme"]))
    assert "Waiting for Salesforce" not in client.get(manage_url()).content.decode()
    # The abandoned attempt can no longer land.
    assert callback(client, consent(authorize_url)).status_code == 400


def test_u5_waiting_stops_when_the_attempt_expires(client, owner, sf):
    client_for(client, owner)
    start(client)
    session = client.session
    pending = session[PENDING_SESSION_KEY]
    for data in pending.values():
        data["created"] -= 11 * 60
    session[PENDING_SESSION_KEY] = pending
    session.save()
    page = client.get(manage_url()).content.decode()
    assert "Waiting for Salesforce" not in page and "every 3s" not in page


def test_u5_failed_connect_shows_in_activity_and_as_last_error(client, owner, connection, sf):
    """A reconnect that Salesforce answers with a denial leaves its trace in the first tab."""
    client_for(client, owner)
    SalesforceConnection.objects.filter(pk=connection.pk).update(status="reconnect_needed")
    params = consent(start(client), decision="deny")
    assert callback(client, params).status_code == 400
    event = SalesforceEvent.objects.filter(workspace__slug="acme").first()
    assert event.kind == "connect_failed" and event.actor == owner
    page = client.get(manage_url()).content.decode()
    assert "Connect failed" in page and "You declined access in Salesforce" in page
    assert 'id="sf-connect-failed"' in page
    last_error = SalesforceConnection.objects.get(pk=connection.pk).last_error
    assert last_error.startswith("Connect failed: You declined access")


def test_u5_failed_first_connect_is_in_activity(client, owner, acme, sf):
    client_for(client, owner)
    assert callback(client, consent(start(client), decision="deny")).status_code == 400
    assert not SalesforceConnection.objects.filter(workspace=acme).exists()  # nothing stored
    page = client.get(manage_url()).content.decode()
    assert 'id="sf-connect-failed"' in page and "Connect failed" in page


# --- U6: invisible differences made visible ---------------------------------------------------
def test_u6_near_miss_shows_spaces_and_says_fix_in_salesforce(client, agent, connection, acme):
    # The demo org holds " kim.lee@example.net " (spaces around it), as orgs fed by imports do.
    ann = make(acme, "Kim Lee", email="kim.lee@example.net")
    client_for(client, agent)
    html = panel(client, ann).content.decode()
    assert "Near match" in html
    assert html.count('<mark class="ws" title="space">') == 2  # one before, one after
    assert "Remove them in Salesforce" in html
    assert "make them identical to link them" not in html


# --- U7: dates with the workspace's zone; the 405 page --------------------------------------
def test_u7_fetched_time_has_date_and_zone(client, agent, connection, jane, acme):
    acme.time_zone = "Europe/Paris"
    acme.save()
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    fetched = html.split("sf-fetched")[1].split("</time>")[0]
    assert re.search(r">\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d CES?T$", fetched), fetched
    assert 'hx-indicator="closest .panel"' in html  # U7: Refresh shows progress


def test_u7_get_on_a_reply_url_leads_back_to_the_conversation(client, agent, conversation):
    client_for(client, agent)
    url = reverse("inbox:reply", args=["acme", conversation.pk])
    response = client.get(url)
    assert response.status_code == 405  # docs/decisions.md: 405 for everyone
    back = reverse("inbox:detail", args=["acme", conversation.pk])
    assert f'href="{back}"'.encode() in response.content


# --- U8: help-text ids match aria-describedby --------------------------------------------------
def test_u8_help_text_ids_match_aria_describedby(client, owner, sf):
    client_for(client, owner)
    html = client.get(manage_url()).content.decode()
    described = re.findall(r'aria-describedby="([^"]+)"', html)
    assert described
    for ids in described:
        for one in ids.split():
            assert f'id="{one}"' in html, one


def test_u8_panel_placeholder_is_a_polite_live_region(client, agent, conversation):
    client_for(client, agent)
    html = client.get(reverse("inbox:detail", args=["acme", conversation.pk])).content.decode()
    assert 'class="panel-body" aria-live="polite" aria-busy="true"' in html
    assert 'src="/static/js/app.js"' in html
