"""The OAuth and REST client against Salesforce's documented answers, fast (``responses``).

The bodies in ``recorded/`` were recorded from the emulator (``recorded_answers.py``); this file
checks them against Salesforce's documentation (SALESFORCE_NOTES: REST API error codes, OAuth
token errors), replays each with ``responses`` to prove the product maps it to the right error,
and checks the live emulator still gives the same answer (so the two can't drift apart).
"""

from __future__ import annotations

import pytest
import responses

from integrations.salesforce import oauth
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import (
    ApiAccessRequired,
    InvalidField,
    OAuthFailed,
    QueryFailed,
    RateLimited,
    ReconnectNeeded,
    Unavailable,
)

from .recorded_answers import OAUTH_CASES, REST_CASES, VERSION, drive, load

INSTANCE = "https://acme.my.salesforce.com"
LOGIN = "https://login.salesforce.com"
QUERY_URL = f"{INSTANCE}/services/data/v{VERSION}/query/"

# Salesforce's documentation: (status, errorCode, message or None when the message varies).
DOCUMENTED_REST = {
    "rest_401_invalid_session": (401, "INVALID_SESSION_ID", "Session expired or invalid"),
    "rest_403_request_limit_exceeded": (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    "rest_403_api_disabled_for_org": (403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization."),
    "rest_403_api_currently_disabled": (403, "API_CURRENTLY_DISABLED", "API is disabled for this User"),
    "rest_400_malformed_query": (400, "MALFORMED_QUERY", None),
    "rest_400_invalid_field": (400, "INVALID_FIELD", None),
    "rest_400_invalid_type": (400, "INVALID_TYPE", None),
    "rest_500": (500, None, None),
    "rest_503": (503, None, None),
}  # fmt: skip
DOCUMENTED_OAUTH = {
    "oauth_invalid_grant_refresh": ("invalid_grant", "expired access/refresh token"),
    "oauth_invalid_client_id": ("invalid_client_id", "client identifier invalid"),
    "oauth_invalid_client": ("invalid_client", "invalid client credentials"),
}
# What the product makes of each (the sidebar's message and the health line follow from it).
PRODUCT_ERROR = {
    "rest_403_request_limit_exceeded": RateLimited,
    "rest_403_api_disabled_for_org": ApiAccessRequired,
    "rest_403_api_currently_disabled": ApiAccessRequired,
    "rest_400_malformed_query": QueryFailed,
    "rest_400_invalid_field": InvalidField,
    # An object the user cannot see (R2): the lookup drops what needs it, or says QueryFailed.
    "rest_400_invalid_type": InvalidField,
    "rest_500": Unavailable,
    "rest_503": Unavailable,
    "rest_401_invalid_session": Unavailable,  # an unsaved client cannot renew its session
}


@pytest.mark.parametrize("name", sorted(REST_CASES))
def test_s05_s16_recorded_rest_errors_are_salesforces_documented_bodies(name):
    status, code, message = DOCUMENTED_REST[name]
    recorded = load(name)
    assert recorded["status"] == status
    body = recorded["body"]
    assert isinstance(body, list) and set(body[0]) >= {"errorCode", "message"}
    if code:
        assert body[0]["errorCode"] == code
    if message:
        assert body[0]["message"] == message


@pytest.mark.parametrize("name", sorted(OAUTH_CASES))
def test_s15_recorded_oauth_errors_are_salesforces_documented_bodies(name):
    recorded = load(name)
    assert recorded["status"] == 400
    assert (recorded["body"]["error"], recorded["body"]["error_description"]) == DOCUMENTED_OAUTH[
        name
    ]


@pytest.mark.parametrize("name", sorted(REST_CASES))
@responses.activate
def test_s05_s16_client_maps_each_documented_rest_error(name, settings):
    recorded = load(name)
    responses.get(QUERY_URL, json=recorded["body"], status=recorded["status"])
    client = SalesforceClient.unsaved(instance_url=INSTANCE, access_token="00D!token")
    with pytest.raises(PRODUCT_ERROR[name]) as raised:
        client.query("SELECT Id FROM Contact")
    assert "last_error" in client.health  # the health line records it (B3)
    assert "00D!token" not in raised.value.user_message


@responses.activate
def test_b03_client_reads_api_usage_from_sforce_limit_info():
    responses.get(
        QUERY_URL,
        json={"totalSize": 0, "done": True, "records": []},
        headers={"Sforce-Limit-Info": "api-usage=18/15000"},
    )
    client = SalesforceClient.unsaved(instance_url=INSTANCE, access_token="t")
    assert client.query("SELECT Id FROM Contact")["records"] == []
    assert (client.health["api_usage_used"], client.health["api_usage_max"]) == (18, 15000)


@pytest.mark.parametrize(
    "name,error",
    [
        ("oauth_invalid_grant_refresh", ReconnectNeeded),
        ("oauth_invalid_client_id", Unavailable),
        ("oauth_invalid_client", Unavailable),
    ],
)
@responses.activate
def test_s15_refresh_maps_each_documented_oauth_error(name, error, settings):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    recorded = load(name)
    responses.post(f"{LOGIN}/services/oauth2/token", json=recorded["body"], status=400)
    with pytest.raises(error):
        oauth.refresh_access_token(login_url=LOGIN, refresh_token="5Aep.token")


@responses.activate
def test_s02_code_exchange_refused_is_oauth_failed(settings):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    body = {"error": "invalid_grant", "error_description": "invalid authorization code"}
    responses.post(f"{LOGIN}/services/oauth2/token", json=body, status=400)
    with pytest.raises(OAuthFailed):
        oauth.exchange_code(
            login_url=LOGIN, code="c", code_verifier="v", redirect_uri="https://x/cb"
        )


@responses.activate
def test_t1_refresh_keeps_a_rotated_refresh_token(settings):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    answer = {
        "access_token": "00D!new",
        "refresh_token": "5Aep.rotated",
        "instance_url": INSTANCE,
        "id": f"{LOGIN}/id/00D5g000004AcmEEAS/0055g00000AdaAdAAJ",
        "token_type": "Bearer",
        "issued_at": "1764100000000",
        "signature": "c2ln",
    }
    responses.post(f"{LOGIN}/services/oauth2/token", json=answer)
    tokens = oauth.refresh_access_token(login_url=LOGIN, refresh_token="5Aep.old")
    assert tokens.refresh_token == "5Aep.rotated"
    del answer["refresh_token"]  # rotation off: Salesforce sends none, the old one stays
    responses.replace(responses.POST, f"{LOGIN}/services/oauth2/token", json=answer)
    assert oauth.refresh_access_token(login_url=LOGIN, refresh_token="5Aep.old").refresh_token == (
        "5Aep.old"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted([*REST_CASES, *OAUTH_CASES]))
def test_s05_s15_s16_the_live_emulator_still_answers_as_recorded(name, connection, sf):
    live = drive(sf, name, connection.access_token)
    recorded = load(name)
    assert live.status_code == recorded["status"]
    assert live.json() == recorded["body"]
