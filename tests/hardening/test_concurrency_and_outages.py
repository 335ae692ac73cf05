"""Issue 6, Faults: an expired token under concurrency (S15), a revoked refresh token and the
reconnect (S15, S14), a disconnect while lookups are in flight, and the cache or the database
briefly unavailable: no 500 page, no half-saved connection, nothing lost.
"""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import oauth
from integrations.salesforce.errors import Unavailable
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import PASSWORD, client_for, run_threads
from tests.integrations.salesforce.flow import connect_via_views, disconnect_url, manage_url

HTMX = {"HX-Request": "true"}
TOKEN_PATH = "/services/oauth2/token"
DEMO_EMAILS = [
    "jane.cooper@northwind.example",
    "evan@tailspin.example",
    "support@fabrikam.example",
]


def panel_url(contact) -> str:
    return reverse("contacts:panel", args=[contact.workspace.slug, contact.pk, "salesforce"])


def token_calls(sf) -> list[dict]:
    return [e for e in sf.request_log() if e["path"] == TOKEN_PATH]


# --- S15: expired access token, 10 parallel sidebars ------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_s15_ten_parallel_sidebars_with_an_expired_token_refresh_once(connection, sf, acme, agent):
    contacts = [
        Contact.objects.create(
            workspace=acme,
            name=f"Person {i}",
            email=DEMO_EMAILS[i] if i < len(DEMO_EMAILS) else f"person{i}@nowhere.example",
        )
        for i in range(10)
    ]  # ten DIFFERENT lookups: the lookup's single-flight cannot hide the refresh path
    clients = []
    for _ in range(10):
        browser = Client()
        browser.force_login(agent)
        clients.append(browser)
    old_access = connection.access_token
    assert sf.expire_sessions(ACME_ORG_ID) >= 1

    def view(i):
        response = clients[i].get(panel_url(contacts[i]), headers=HTMX)
        return response.status_code, response.content.decode()

    results, failures = run_threads(10, view)
    assert not failures, failures
    assert all(status == 200 for status, _ in results)
    assert all('data-state="result"' in html for _, html in results), [
        html for _, html in results if 'data-state="result"' not in html
    ]
    assert "Northwind Traders" in results[0][1]
    assert len(token_calls(sf)) == 1  # exactly ONE refresh for all ten
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.access_token != old_access and conn.status == "connected"


# --- S15: refresh token revoked at Salesforce, then reconnect ---------------------------------
@pytest.mark.django_db
def test_s15_revoked_refresh_token_reconnect_needed_then_reconnect_restores_everything(
    client, sf, connection, acme, owner, agent
):
    chosen = ["Title", "Name", "Email", "Customer_Tier__c"]
    connection.field_names = chosen
    connection.save(update_fields=["field_names"])
    jane = Contact.objects.create(workspace=acme, name="Jane", email=DEMO_EMAILS[0])
    sf.revoke_refresh_tokens(ACME_ORG_ID)
    sf.expire_sessions(ACME_ORG_ID)

    agent_client = Client()
    client_for(agent_client, agent)
    first = agent_client.get(panel_url(jane), headers=HTMX).content.decode()
    assert "reconnected" in first and 'data-state="result"' not in first
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == SalesforceConnection.Status.RECONNECT_NEEDED
    assert conn.events.filter(kind=SalesforceEvent.Kind.RECONNECT_NEEDED).count() == 1
    assert not conn.access_token  # the dead access token is gone; nothing half-valid remains

    # Agents: a short note, no Reconnect action.
    note = agent_client.get(panel_url(jane), headers=HTMX).content.decode()
    assert "Salesforce needs to be reconnected" in note and "Ask a workspace Owner" in note
    assert (
        b"Reconnect needed" in agent_client.get(reverse("integrations:list", args=["acme"])).content
    )
    # Admins: the note with a way to act, and the Integrations page says so.
    client_for(client, owner)
    note = client.get(panel_url(jane), headers=HTMX).content.decode()
    assert "Salesforce needs to be reconnected" in note and manage_url() in note
    assert b"Reconnect needed" in client.get(reverse("integrations:list", args=["acme"])).content
    assert b"Reconnect needed" in client.get(manage_url()).content

    assert connect_via_views(client).status_code == 302
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == "connected" and conn.is_connected
    assert conn.field_names == chosen  # the field configuration survives the reconnect
    assert conn.events.first().kind == SalesforceEvent.Kind.RECONNECTED
    html = agent_client.get(panel_url(jane), headers=HTMX).content.decode()
    # the Contact's fields (A1, issue 23: the related lists come before them)
    fields = html.split('<dl class="facts compact sf-fields">', 1)[1].split("</dl>", 1)[0]
    assert 'data-state="result"' in html and "Northwind" not in fields  # Account.Name not chosen
    assert "<dt>Title</dt>" in html and html.index("<dt>Title</dt>") < html.index("<dt>Email</dt>")


# --- Disconnect while lookups are in flight ---------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_disconnect_during_a_slow_lookup_is_clean(sf, connection, acme, owner, agent):
    sf.set_fault("latency", org_id=ACME_ORG_ID, value=1.0)
    jane = Contact.objects.create(workspace=acme, name="Jane", email=DEMO_EMAILS[0])
    agent_client, owner_client = Client(), Client()
    agent_client.force_login(agent)
    owner_client.force_login(owner)
    started = threading.Event()

    def lookup(_):
        started.set()
        response = agent_client.get(panel_url(jane), headers=HTMX)
        return response.status_code

    holder = {}
    thread = threading.Thread(target=lambda: holder.update(r=run_threads(1, lookup)))
    thread.start()
    started.wait(5)
    threading.Event().wait(0.3)  # the lookup is now waiting on Salesforce
    assert owner_client.post(disconnect_url()).status_code == 302
    thread.join(30)
    results, failures = holder["r"]
    assert not failures and results == [200]

    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == SalesforceConnection.Status.DISCONNECTED
    assert conn.access_token == "" and conn.refresh_token == ""
    sf.clear_faults()
    html = agent_client.get(panel_url(jane), headers=HTMX).content.decode()
    assert 'data-state="not_connected"' in html  # the late answer shows nowhere after disconnect


@pytest.mark.django_db(transaction=True)
def test_disconnect_during_a_token_refresh_never_resurrects_tokens(
    sf, connection, acme, owner, agent, monkeypatch
):
    """The refresh answers AFTER the disconnect (and the revoke failed, so Salesforce still grants
    it): the late token must not be written onto the disconnected row."""
    jane = Contact.objects.create(workspace=acme, name="Jane", email=DEMO_EMAILS[0])
    refreshing, disconnected = threading.Event(), threading.Event()
    real_refresh = oauth.refresh_access_token

    def slow_refresh(**kwargs):
        refreshing.set()
        disconnected.wait(10)
        return real_refresh(**kwargs)

    def failing_revoke(**kwargs):
        raise Unavailable("Salesforce could not be reached to revoke access.", detail="timeout")

    monkeypatch.setattr(oauth, "refresh_access_token", slow_refresh)
    monkeypatch.setattr(oauth, "revoke", failing_revoke)
    sf.expire_sessions(ACME_ORG_ID)
    agent_client, owner_client = Client(), Client()
    agent_client.force_login(agent)
    owner_client.force_login(owner)

    holder = {}
    thread = threading.Thread(
        target=lambda: holder.update(
            r=run_threads(1, lambda _: agent_client.get(panel_url(jane), headers=HTMX))
        )
    )
    thread.start()
    assert refreshing.wait(10)
    assert owner_client.post(disconnect_url()).status_code == 302
    disconnected.set()
    thread.join(30)
    (response,), failures = holder["r"]
    assert not failures and response.status_code == 200
    assert len(token_calls(sf)) == 1  # the refresh did happen, late

    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == SalesforceConnection.Status.DISCONNECTED
    assert conn.access_token == "" and conn.refresh_token == ""
    assert conn.events.filter(kind=SalesforceEvent.Kind.REVOKE_FAILED).exists()


@pytest.mark.django_db(transaction=True)
def test_revoked_refresh_answered_after_disconnect_stays_disconnected(
    sf, connection, acme, owner, agent, monkeypatch
):
    """invalid_grant arriving after a disconnect must not turn it into "Reconnect needed"."""
    jane = Contact.objects.create(workspace=acme, name="Jane", email=DEMO_EMAILS[0])
    refreshing, disconnected = threading.Event(), threading.Event()
    real_refresh = oauth.refresh_access_token

    def slow_refresh(**kwargs):
        refreshing.set()
        disconnected.wait(10)
        return real_refresh(**kwargs)

    monkeypatch.setattr(oauth, "refresh_access_token", slow_refresh)
    sf.expire_sessions(ACME_ORG_ID)
    agent_client, owner_client = Client(), Client()
    agent_client.force_login(agent)
    owner_client.force_login(owner)
    holder = {}
    thread = threading.Thread(
        target=lambda: holder.update(
            r=run_threads(1, lambda _: agent_client.get(panel_url(jane), headers=HTMX))
        )
    )
    thread.start()
    assert refreshing.wait(10)
    assert owner_client.post(disconnect_url()).status_code == 302  # revokes the refresh token
    disconnected.set()
    thread.join(30)
    (response,), failures = holder["r"]
    assert not failures and response.status_code == 200
    conn = SalesforceConnection.objects.get(pk=connection.pk)
    assert conn.status == SalesforceConnection.Status.DISCONNECTED
    assert conn.access_token == "" and conn.refresh_token == ""
    assert not conn.events.filter(kind=SalesforceEvent.Kind.RECONNECT_NEEDED).exists()


# --- The cache briefly unavailable -----------------------------------------------------------
@pytest.mark.django_db
def test_cache_outage_degrades_lookups_to_uncached_never_a_500(
    cache_refused, client, sf, connection, acme, agent, conversation, caplog
):
    jane = Contact.objects.create(workspace=acme, name="Jane", email=DEMO_EMAILS[0])
    client_for(client, agent)
    for _ in range(2):
        response = client.get(panel_url(jane), headers=HTMX)
        assert response.status_code == 200
        assert "Northwind Traders" in response.content.decode()
    queries = [e for e in sf.request_log() if "/query" in e["path"]]
    assert len(queries) == 2  # uncached: one Salesforce call each
    assert any("Cache unavailable" in r.getMessage() for r in caplog.records)  # logged

    sf.expire_sessions(ACME_ORG_ID)  # the shared refresh lock lives in the cache too
    response = client.get(panel_url(jane) + "?refresh=1", headers=HTMX)
    assert response.status_code == 200 and "Northwind Traders" in response.content.decode()
    assert len(token_calls(sf)) == 1

    sf.set_fault("http_503", org_id=ACME_ORG_ID)  # a failure with no stale copy to show
    response = client.get(panel_url(jane), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Salesforce is not answering right now." in html
    sf.clear_faults()

    for url in [
        reverse("inbox:list", args=["acme"]),
        reverse("inbox:detail", args=["acme", conversation.pk]),
        reverse("contacts:list", args=["acme"]),
        reverse("contacts:detail", args=["acme", jane.pk]),
        reverse("integrations:salesforce:badges", args=["acme"]),
        reverse("integrations:list", args=["acme"]),
        manage_url(),
    ]:
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_cache_outage_sign_in_still_works(cache_refused, client, owner):
    response = client.post("/signin/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 302


# --- The database briefly unavailable ---------------------------------------------------------
def _database_down(execute, sql, params, many, context):
    raise OperationalError("could not connect to server: Connection refused")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        lambda c: reverse("inbox:list", args=["acme"]),
        lambda c: reverse("contacts:detail", args=["acme", c.pk]),
        lambda c: panel_url(c),
        lambda c: reverse("integrations:list", args=["acme"]),
    ],
    ids=["inbox", "contact", "panel", "integrations"],
)
def test_database_outage_is_a_friendly_503_page(client, owner, contact, url):
    client_for(client, owner)
    target = url(contact)
    assert client.get(target).status_code == 200
    client.raise_request_exception = False
    with db.execute_wrapper(_database_down):
        response = client.get(target)
    assert response.status_code == 503
    html = response.content.decode()
    assert "Temporarily unavailable" in html and "Nothing you saved is lost" in html
    assert "OperationalError" not in html and "Traceback" not in html


@pytest.mark.django_db
def test_database_outage_on_a_post_is_a_503_and_nothing_half_saved(client, owner, conversation):
    client_for(client, owner)
    client.raise_request_exception = False
    before = conversation.messages.count()
    with db.execute_wrapper(_database_down):
        response = client.post(
            reverse("inbox:reply", args=["acme", conversation.pk]), {"body": "On its way"}
        )
    assert response.status_code == 503
    assert conversation.messages.count() == before


@pytest.mark.django_db
def test_database_outage_on_the_sign_in_page_is_a_503(client, owner):
    client.raise_request_exception = False
    with db.execute_wrapper(_database_down):
        response = client.post("/signin/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.content


@pytest.mark.django_db
def test_error_handlers_never_need_the_database(rf, owner):
    """A database failure outside any view (a session saved by middleware) reaches handler500:
    it answers the 503 page; any other error the 500 page; neither queries the database."""
    from workspace.views import server_error

    request = rf.get("/w/acme/inbox/")
    request.user = owner
    with db.execute_wrapper(_database_down):
        try:
            raise OperationalError("server closed the connection unexpectedly")
        except OperationalError:
            response = server_error(request)
        assert response.status_code == 503 and b"Temporarily unavailable" in response.content
        try:
            raise RuntimeError("a bug")
        except RuntimeError:
            response = server_error(request)
        assert response.status_code == 500 and b"Something went wrong" in response.content
