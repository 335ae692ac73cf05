"""Check setup (issue 24, E7), against the live emulator (Composite and the Tooling API)."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests
from django.urls import reverse

from integrations.salesforce import setup_check
from integrations.salesforce.models import SalesforceConnection
from tests.conftest import client_for

from .flow import connect_via_views, manage_url

pytestmark = pytest.mark.django_db
ACME = "00D5g000004AcmEEAS"


def _api_calls(sf) -> list[dict]:
    return [e for e in sf.request_log() if e["path"].startswith("/services/data")]


def _by_topic(lines, topic):
    return [line for line in lines if line.topic == topic]


def test_e7_the_check_takes_at_most_3_api_calls_composite_counting_as_one(connection, sf):
    used_before = sf.info()["orgs"][0]["api_usage"]
    lines = setup_check.run(connection)
    calls = _api_calls(sf)
    assert len(calls) <= 3
    assert [c["path"].rsplit("/", 1)[-1] for c in calls] == ["composite", "query"]
    assert sf.info()["orgs"][0]["api_usage"] - used_before == len(calls)
    assert {line.topic for line in lines} >= {
        "API access",
        "Fields",
        "Matching",
        "Person Accounts",
        "Currencies",
        "Object access",
        "API requests",
        "Live updates",
        "Approvals",
        "Refresh token policy",
    }


def test_e7_each_line_says_pass_warning_or_problem_with_the_fix(connection, sf):
    sf.set_org_settings(ACME, encryption={"Email": "probabilistic"}, multi_currency=True)
    sf.set_cdc_entities(ACME, "Contact")
    sf.hide_objects("Lead", username=connection.sf_username)
    connection.field_names = [*connection.field_names, "Secret_Field__c"]
    connection.live_updates = True
    connection.save(update_fields=["field_names", "live_updates"])

    lines = setup_check.run(connection)

    (email,) = [line for line in _by_topic(lines, "Matching") if line.text.startswith("Email")]
    assert email.status == "warning" and "probabilistic" in email.text
    assert "Setup › Platform Encryption" in email.fix
    (secret,) = [line for line in _by_topic(lines, "Fields") if "Secret_Field__c" in line.text]
    assert secret.status == "problem" and "Set Field-Level Security" in secret.fix
    (cdc,) = _by_topic(lines, "Live updates")
    assert cdc.status == "problem" and "Case" in cdc.text and "Change Data Capture" in cdc.fix
    (lead,) = [line for line in _by_topic(lines, "Object access") if "Lead" in line.text]
    assert lead.status == "warning"
    assert "Multiple currencies are on" in _by_topic(lines, "Currencies")[0].text
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.multi_currency is True  # the check refreshes what describe says
    assert row.match_field_info["Email"]["scheme"] == "probabilistic"


def test_e7_api_access_off_is_one_problem_line(connection, sf):
    sf.set_fault("api_disabled_user", username=connection.sf_username)
    (line,) = setup_check.run(connection)
    assert line.status == "problem" and "API Enabled" in line.fix


def test_e7_runs_at_connect_and_on_demand_from_the_manage_page(client, owner, agent, acme, sf):
    client_for(client, owner)
    connect_via_views(client)
    row = SalesforceConnection.objects.get(workspace=acme)
    assert row.setup_check["lines"]  # at connect
    page = client.get(manage_url()).content.decode()
    assert 'id="sf-setup-check"' in page and "Pass</span>" in page
    # When it ran, written as the page's other times are ("6 Dec 2026, 19:02 GMT")
    checked = datetime.fromisoformat(row.setup_check["checked_at"])
    assert f"Checked {checked:%-d %b %Y, %H:%M} GMT." in page
    sf.reset_log()
    response = client.post(reverse("integrations:salesforce:check_setup", args=["acme"]))
    assert response.status_code == 302 and len(_api_calls(sf)) == 2
    client_for(client, agent)
    assert (
        client.post(reverse("integrations:salesforce:check_setup", args=["acme"])).status_code
        == 403
    )


def test_e7_emulator_composite_refuses_more_than_25_subrequests(connection, sf):
    base = "/services/data/v62.0"
    body = {
        "compositeRequest": [
            {"method": "GET", "url": f"{base}/limits", "referenceId": f"r{n}"} for n in range(26)
        ]
    }
    answer = requests.post(
        f"{connection.instance_url}{base}/composite",
        json=body,
        headers={"Authorization": f"Bearer {connection.access_token}"},
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_INPUT"
