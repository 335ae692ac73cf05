"""Issue 6, Faults: each Salesforce failure ends in a specific sidebar message, a fast page, and
nothing lost (S15, S16, B2, B3), through the sidebar panel endpoint as the browser calls it.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import lookup_cache
from integrations.salesforce.models import SalesforceConnection
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import client_for
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
JANE = "jane.cooper@northwind.example"


@pytest.fixture
def jane(acme):
    return Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE)


def panel(client, contact, **params):
    url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    return client.get(url, params, headers=HTMX)


def sf_calls(sf, since: float = 0.0) -> list[dict]:
    """Calls to the instance; with ``since``, only those asked from then on (an earlier test's
    slow call can finish, and be logged, during this one)."""
    return [e for e in sf.request_log() if e["listener"] == "instance" and e["started"] >= since]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _age_stale(connection, email: str, hours: int = 2) -> None:
    """Make the last good result look ``hours`` old and the fresh copy expired."""
    stale = lookup_cache.stale_result(connection, email=email, phone="")
    older = dataclasses.replace(stale, fetched_at=stale.fetched_at - timedelta(hours=hours))
    cache.set(lookup_cache_key(connection, "stale", email, ""), older, 3600)
    cache.delete(lookup_cache_key(connection, "lookup", email, ""))


FAULTS = [
    # U2: in the agent's words, never an HTTP code (the code stays in the admin's health line).
    pytest.param("http_500", True, "Salesforce is not answering right now.", id="500"),
    pytest.param("http_503", True, "Salesforce is not answering right now.", id="503"),
    pytest.param("malformed_body", True, "could not be read", id="malformed"),
    pytest.param("request_limit_exceeded", True, "REQUEST_LIMIT_EXCEEDED", id="limit"),
    pytest.param("api_disabled_org", True, "Salesforce API access required", id="api-disabled"),
    pytest.param("latency", 2.0, "no answer within 0.5 seconds", id="timeout"),
    pytest.param("refused", None, "Salesforce could not be reached right now.", id="refused"),
]


def _inject(sf, connection, fault, value, settings):
    settings.SALESFORCE_TIMEOUT = 0.5
    if fault == "refused":
        SalesforceConnection.objects.filter(pk=connection.pk).update(
            instance_url=f"http://127.0.0.1:{closed_port()}"
        )
    else:
        sf.set_fault(fault, org_id=ACME_ORG_ID, value=value)


@pytest.mark.parametrize("fault,value,message", FAULTS)
def test_s16_b2_fault_shows_specific_message_with_stale_data_and_its_age(
    client, agent, connection, jane, sf, settings, fault, value, message
):
    client_for(client, agent)
    assert b"Northwind Traders" in panel(client, jane).content  # a good lookup first
    _age_stale(connection, JANE, hours=2)
    _inject(sf, connection, fault, value, settings)
    sf.reset_log()

    started = time.monotonic()
    response = panel(client, jane)
    elapsed = time.monotonic() - started
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html and message in html
    assert "Traceback" not in html and "Exception" not in html
    assert "Showing data from 2" in html and "hours ago (the last successful lookup" in html
    assert "HTTP" not in html  # U2
    assert "Northwind Traders" in html  # the last good data beside the error (B2)
    assert elapsed < settings.SALESFORCE_TIMEOUT + settings.SALESFORCE_CONNECT_TIMEOUT + 1.0

    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.last_error_at is not None and conn.last_error  # health records it (B3)
    assert conn.status == SalesforceConnection.Status.CONNECTED  # nothing lost

    # No retry storm: the failing org is not asked again while the failure is remembered (U2).
    asked = len(sf_calls(sf))
    assert asked <= 1
    for _ in range(3):
        assert message in panel(client, jane).content.decode()
    assert len(sf_calls(sf)) == asked


@pytest.mark.parametrize("fault,value,message", FAULTS)
def test_s16_fault_without_earlier_data_shows_the_message_alone(
    client, agent, connection, jane, sf, settings, fault, value, message
):
    _inject(sf, connection, fault, value, settings)
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert message in html and "last successful lookup" not in html


def test_s16_pages_load_at_full_speed_while_salesforce_is_slow(
    client, agent, connection, jane, conversation, sf, settings
):
    """The Inbox and Contacts pages never ask Salesforce: the sidebar loads itself (htmx)."""
    settings.SALESFORCE_TIMEOUT = 0.5
    sf.set_fault("latency", org_id=ACME_ORG_ID, value=3.0)
    client_for(client, agent)
    since = time.time()
    for url in [
        reverse("inbox:list", args=["acme"]),
        reverse("inbox:detail", args=["acme", conversation.pk]),
        reverse("contacts:list", args=["acme"]),
        reverse("contacts:detail", args=["acme", jane.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200
    # Not a timing assertion (benchmarks measure speed): the pages made no Salesforce call at all,
    # so there was nothing to wait for.
    assert sf_calls(sf, since) == []


def test_s16_budget_backoff_in_the_sidebar(client, agent, connection, jane, sf, acme):
    """Past 90 % of the org's daily API use, lookups pause with a message (one probe per window)."""
    sf.set_api_usage(ACME_ORG_ID, used=14000, limit=15000)
    client_for(client, agent)
    panel(client, jane)  # this call reads the usage: 93 %
    omar = Contact.objects.create(workspace=acme, name="Omar", phone="+1 (555) 010-3000")
    panel(client, omar)  # the one probe of the window re-reads it
    noah = Contact.objects.create(workspace=acme, name="Noah", email="noah@nowhere.example")
    sf.reset_log()
    html = panel(client, noah).content.decode()
    assert "Salesforce lookups are paused" in html and "93%" in html
    assert sf_calls(sf) == []


def test_s15_malformed_token_answer_during_refresh_is_a_message(
    client, agent, connection, jane, sf, monkeypatch
):
    """A refresh that fails for a reason other than invalid_grant keeps the connection."""
    from integrations.salesforce import oauth
    from integrations.salesforce.errors import Unavailable

    def broken(**kwargs):
        raise Unavailable("Salesforce's token answer was incomplete.", detail="token_response")

    monkeypatch.setattr(oauth, "refresh_access_token", broken)
    sf.expire_sessions(ACME_ORG_ID)
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    assert "token answer was incomplete" in html
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == SalesforceConnection.Status.CONNECTED and conn.refresh_token
