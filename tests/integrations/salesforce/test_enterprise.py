"""Salesforce as enterprise orgs configure it (issue 24, E1..E9), against the live emulator."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import responses
from django.core.management import call_command

from contacts.models import Contact
from integrations.salesforce import oauth, tokens
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import InvalidField, OAuthFailed
from integrations.salesforce.models import SalesforceConnection
from tests.conftest import client_for

from .flow import connect_via_views
from .test_sidebar import panel, rest_queries

pytestmark = pytest.mark.django_db
ACME = "00D5g000004AcmEEAS"
JANE_DEAL = "0065g00000Opp01AAB"  # Jane Cooper's open opportunity (48,000)


def _moved(instance_url: str) -> str:
    """The same listener under another loopback name: a new host, as a My Domain change gives."""
    parts = urlsplit(instance_url)
    return f"{parts.scheme}://localhost:{parts.port}"


# --- E5: every token answer's instance URL replaces the stored one ---------------------------
def test_e5_refresh_after_a_my_domain_move_stores_the_new_instance_and_retries_there(
    connection, sf
):
    new_url = _moved(connection.instance_url)
    sf.move_my_domain(connection.org_id, new_url)

    answer = SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")

    assert answer["records"]
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.instance_url == new_url
    assert row.record_view_url("003X").startswith(new_url + "/lightning/")
    calls = [e for e in sf.request_log() if e["listener"] == "instance"]
    # The old host refused the session, one refresh named the new host, the retry went there.
    assert [(e["status"], e["host"].split(":")[0]) for e in calls] == [
        (401, "127.0.0.1"),
        (200, "localhost"),
    ]


def test_e5_keepalive_refresh_also_takes_the_new_instance(connection, sf):
    new_url = _moved(connection.instance_url)
    sf.move_my_domain(connection.org_id, new_url)
    with tokens.refresh_lock(connection.pk):
        tokens._refresh_locked(connection)
    assert SalesforceConnection.objects.get(pk=connection.pk).instance_url == new_url


@responses.activate
def test_e5_a_refresh_answer_naming_a_foreign_instance_is_refused_and_nothing_is_saved(
    settings,
):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    login = "https://acme.my.salesforce.com"
    responses.post(
        f"{login}/services/oauth2/token",
        json={
            "access_token": "00Dx!new",
            "instance_url": "https://evil.example.com",
            "id": f"{login}/id/00D/005",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "x",
            "scope": "api refresh_token",
        },
    )
    with pytest.raises(OAuthFailed):
        oauth.refresh_access_token(login_url=login, refresh_token="5Aep")


@responses.activate
def test_e5_a_refresh_answer_with_a_new_my_domain_host_is_taken(settings):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    login = "https://acme.my.salesforce.com"
    responses.post(
        f"{login}/services/oauth2/token",
        json={
            "access_token": "00Dx!new",
            "instance_url": "https://acme-new.my.salesforce.com",
            "id": f"{login}/id/00D/005",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "x",
            "scope": "api refresh_token",
        },
    )
    answer = oauth.refresh_access_token(login_url=login, refresh_token="5Aep")
    assert answer.instance_url == "https://acme-new.my.salesforce.com"


# --- E1: multi-currency -------------------------------------------------------------------------
def _jane_panel(client, agent, acme) -> tuple[str, str]:
    jane = Contact.objects.create(
        workspace=acme, name="Jane", email="jane.cooper@northwind.example"
    )
    client_for(client, agent)
    html = panel(client, jane).content.decode()
    return html.split('data-list="OpportunityContactRoles"', 1)[1].split("</section>", 1)[0], html


def test_e1_a_multi_currency_org_shows_each_amount_in_its_own_currency(
    client, owner, agent, acme, sf
):
    sf.set_org_settings(ACME, multi_currency=True, currencies=["USD", "EUR"])
    sf.update_record("Opportunity", JANE_DEAL, CurrencyIsoCode="EUR")
    client_for(client, owner)
    connect_via_views(client)
    row = SalesforceConnection.objects.get(workspace=acme)
    assert row.multi_currency is True and row.currency == "USD"
    sf.reset_log()

    deals, _ = _jane_panel(client, agent, acme)

    assert "EUR 48,000.00" in deals and "USD" not in deals
    queries = rest_queries(sf)
    assert len(queries) == 1 and "Opportunity.CurrencyIsoCode" in queries[0]["query"]


def test_e1_a_single_currency_org_keeps_todays_query(client, owner, agent, acme, sf):
    client_for(client, owner)
    connect_via_views(client)
    assert SalesforceConnection.objects.get(workspace=acme).multi_currency is False
    sf.reset_log()

    deals, _ = _jane_panel(client, agent, acme)

    assert "USD 48,000.00" in deals
    queries = rest_queries(sf)
    assert len(queries) == 1 and "CurrencyIsoCode" not in queries[0]["query"]


def test_e1_the_emulator_refuses_currency_in_a_single_currency_org(connection, sf):
    with pytest.raises(InvalidField):
        SalesforceClient(connection).query("SELECT Id, CurrencyIsoCode FROM Opportunity")
    names = {f["name"] for f in SalesforceClient(connection).describe("Opportunity")["fields"]}
    assert "CurrencyIsoCode" not in names


def test_e1_the_daily_describe_notices_currencies_switched_on_later(connection, sf, capsys):
    assert connection.multi_currency is False
    sf.set_org_settings(ACME, multi_currency=True, currencies=["GBP", "EUR"])
    generation = connection.cache_generation

    call_command("salesforce_org_profile")

    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.multi_currency is True and row.cache_generation > generation
    assert "multi-currency on" in capsys.readouterr().out
    # Records that had no currency take the corporate one when the org switches.
    answer = SalesforceClient(row).query(
        f"SELECT CurrencyIsoCode FROM Opportunity WHERE Id = '{JANE_DEAL}'"
    )
    assert answer["records"][0]["CurrencyIsoCode"] == "GBP"


# --- E2: encrypted match fields -----------------------------------------------------------------
def _encrypt(sf, connection, **schemes):
    sf.set_org_settings(ACME, encryption=schemes)
    from integrations.salesforce.org_profile import refresh_profile

    refresh_profile(connection)
    connection.refresh_from_db()
    sf.reset_log()


def test_e2_probabilistic_email_is_never_filtered_the_lookup_is_one_sosl_search(connection, sf):
    from integrations.salesforce import lookup

    _encrypt(sf, connection, Email="probabilistic")
    assert connection.match_field_info["Email"] == {
        "filterable": False,
        "encrypted": True,
        "caseSensitive": False,
        "scheme": "probabilistic",
    }
    # What today's query would do in such an org: refused.
    with pytest.raises(InvalidField):
        SalesforceClient(connection).query(
            "SELECT Id FROM Contact WHERE Email = 'jane.cooper@northwind.example'"
        )
    sf.reset_log()

    result = lookup.find_contact(connection, email="JANE.COOPER@northwind.example")

    assert result.primary is not None and result.primary.id == "0035g00000Con01AAB"
    calls = [e for e in sf.request_log() if e["path"].startswith("/services/data")]
    assert len(calls) == 1 and "/search" in calls[0]["path"]
    assert calls[0]["query"].startswith('FIND {"JANE.COOPER@northwind.example"} IN EMAIL FIELDS')


def test_e2_sosl_answers_are_confirmed_by_exact_equality(connection, sf):
    from integrations.salesforce import lookup

    _encrypt(sf, connection, Email="probabilistic")
    # SOSL finds words: "cooper@northwind.example" is inside Jane's address, but is not hers.
    result = lookup.find_contact(connection, email="cooper@northwind.example")
    assert result.matches == ()


def test_e2_reserved_characters_are_escaped_in_the_search(connection, sf):
    from integrations.salesforce import encrypted, lookup

    assert encrypted.escape("a+b-c(d)") == "a\\+b\\-c\\(d\\)"
    _encrypt(sf, connection, Phone="probabilistic", MobilePhone="probabilistic")
    result = lookup.find_contact(connection, phone="+1 (555) 010-1000")
    calls = [e for e in sf.request_log() if e["path"].startswith("/services/data")]
    assert len(calls) == 1 and calls[0]["status"] == 200
    assert "\\+1 \\(555\\) 010\\-1000" in calls[0]["query"]
    assert "IN PHONE FIELDS" in calls[0]["query"]
    assert result is not None


def test_e2_case_sensitive_deterministic_email_is_asked_as_given_and_lower_cased(connection, sf):
    from integrations.salesforce import lookup

    _encrypt(sf, connection, Email="deterministic_case_sensitive")
    sf.update_record("Contact", "0035g00000Con01AAB", Email="jane.cooper@northwind.example")

    result = lookup.find_contact(connection, email="Jane.Cooper@Northwind.example")

    assert result.primary is not None and result.primary.id == "0035g00000Con01AAB"
    (call,) = [e for e in sf.request_log() if "/query" in e["path"]]
    assert (
        "Email IN ('Jane.Cooper@Northwind.example','jane.cooper@northwind.example')"
        in call["query"]
    )
    assert "LIKE" not in call["query"]  # no scheme supports LIKE


# --- E4: connect with an integration user (client credentials) ---------------------------------
INTEGRATION_USER = "admin@acme-corp.example"


def _cc_connect(client, sf, **overrides):
    from django.urls import reverse

    fields = {
        "my_domain_url": sf.login_url,
        "client_id": sf.client_id,
        "client_secret": sf.client_secret,
        **overrides,
    }
    data = {f"cc-{name}": value for name, value in fields.items()}
    return client.post(
        reverse("integrations:salesforce:connect_integration_user", args=["acme"]), data
    )


def test_e4_an_admin_connects_with_the_client_credentials_flow(client, owner, acme, sf):
    sf.enable_client_credentials(INTEGRATION_USER)
    client_for(client, owner)
    response = _cc_connect(client, sf)
    assert response.status_code == 302, response.content[:800]
    row = SalesforceConnection.objects.get(workspace=acme)
    assert row.is_connected and row.auth_flow == "client_credentials"
    assert row.refresh_token == "" and row.sf_username == INTEGRATION_USER
    assert row.app_client_secret == sf.client_secret  # stored encrypted (the field's job)
    from django.db import connection as db

    with db.cursor() as cursor:
        table = SalesforceConnection._meta.db_table
        cursor.execute(f"SELECT app_client_secret FROM {table} WHERE id = %s", [row.pk])  # noqa: S608
        raw = cursor.fetchone()[0]
    assert raw and sf.client_secret not in raw
    grants = [e for e in sf.request_log() if e["path"].endswith("/oauth2/token")]
    assert [g["grant_type"] for g in grants] == ["client_credentials"]
    page = client.get("/w/acme/settings/integrations/salesforce/").content.decode()
    assert "integration user, client credentials flow" in page
    assert sf.client_secret not in page


def test_e4_the_form_sits_beside_the_connect_form_with_its_own_ids(client, owner, sf):
    import re

    client_for(client, owner)
    page = client.get("/w/acme/settings/integrations/salesforce/").content.decode()
    assert 'id="sf-connect-integration-user"' in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate element ids on the Manage page"


def test_e4_an_expired_session_is_renewed_by_the_same_flow(client, owner, acme, sf):
    from integrations.salesforce import lookup

    sf.enable_client_credentials(INTEGRATION_USER)
    client_for(client, owner)
    _cc_connect(client, sf)
    row = SalesforceConnection.objects.get(workspace=acme)
    sf.expire_sessions(row.org_id)
    sf.reset_log()
    result = lookup.find_contact(row, email="jane.cooper@northwind.example")
    assert result.primary is not None
    grants = [e for e in sf.request_log() if e["path"].endswith("/oauth2/token")]
    assert [g["grant_type"] for g in grants] == ["client_credentials"]


def test_e4_a_refused_key_connects_nothing_and_says_what_to_check(client, owner, acme, sf):
    client_for(client, owner)
    response = _cc_connect(client, sf)  # the flow is not enabled on the app: no run-as user
    assert response.status_code == 400
    assert "client credentials flow enabled with a run-as user" in response.content.decode()
    assert not SalesforceConnection.objects.filter(workspace=acme, status="connected").exists()


def test_e4_login_salesforce_com_is_refused_for_client_credentials(client, owner, sf):
    client_for(client, owner)
    response = _cc_connect(client, sf, my_domain_url="https://login.salesforce.com")
    assert response.status_code == 400 and "My Domain" in response.content.decode()


def test_e4_disconnect_revokes_and_forgets_the_secret(client, owner, acme, sf):
    from django.urls import reverse

    sf.enable_client_credentials(INTEGRATION_USER)
    client_for(client, owner)
    _cc_connect(client, sf)
    response = client.post(reverse("integrations:salesforce:disconnect", args=["acme"]))
    assert response.status_code == 302
    row = SalesforceConnection.objects.get(workspace=acme)
    assert row.status == "disconnected" and row.app_client_secret == "" and row.access_token == ""
    revokes = [e for e in sf.request_log() if e["path"].endswith("/oauth2/revoke")]
    assert revokes and revokes[-1]["outcome"] == "ok"
