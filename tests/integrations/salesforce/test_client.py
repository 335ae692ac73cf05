"""The REST client against the live emulator: scheme/port honoured, errors mapped, refresh once."""

import pytest

from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import (
    ApiAccessRequired,
    QueryFailed,
    RateLimited,
    ReconnectNeeded,
    Unavailable,
)
from integrations.salesforce.models import SalesforceConnection
from tests.salesforce_support import connect_workspace

pytestmark = pytest.mark.django_db


def test_query_over_plain_http_instance_url_with_its_port(connection, sf):
    assert connection.instance_url.startswith("http://127.0.0.1:")
    result = SalesforceClient(connection).query("SELECT Id, Name FROM Organization")
    assert result["records"][0]["Name"] == "Acme Corporation"
    log = sf.request_log()
    assert [e["method"] for e in log] == ["GET"]


def test_b3_api_usage_and_health_are_recorded(connection, sf):
    SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    connection.refresh_from_db()
    assert connection.api_usage_used >= 1 and connection.api_usage_max == 15000
    assert connection.last_success_at is not None


def test_s15_expired_session_is_refreshed_once_and_saved(connection, sf):
    old = connection.access_token
    sf.expire_sessions(connection.org_id)
    SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    fresh = SalesforceConnection.objects.get(pk=connection.pk)
    assert fresh.access_token and fresh.access_token != old
    token_calls = [e for e in sf.request_log() if e["path"].endswith("/oauth2/token")]
    assert len(token_calls) == 1


def test_s15_revoked_refresh_token_marks_reconnect_needed(connection, sf):
    sf.expire_sessions(connection.org_id)
    sf.revoke_refresh_tokens(connection.org_id)
    with pytest.raises(ReconnectNeeded):
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    fresh = SalesforceConnection.objects.get(pk=connection.pk)
    assert fresh.status == "reconnect_needed"
    assert fresh.access_token == ""
    assert fresh.events.filter(kind="reconnect_needed").exists()


@pytest.mark.parametrize(
    "fault,error",
    [
        ("api_disabled_org", ApiAccessRequired),
        ("request_limit_exceeded", RateLimited),
        ("http_500", Unavailable),
        ("http_503", Unavailable),
        ("malformed_body", Unavailable),
    ],
)
def test_s16_faults_map_to_specific_errors_and_health(connection, sf, fault, error):
    sf.set_fault(fault, org_id=connection.org_id)
    with pytest.raises(error) as raised:
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    assert "Traceback" not in raised.value.user_message
    fresh = SalesforceConnection.objects.get(pk=connection.pk)
    assert fresh.last_error and fresh.last_error_at


def test_s5_api_disabled_for_the_user(connection, sf):
    sf.set_fault("api_disabled_user", username="admin@acme-corp.example")
    with pytest.raises(ApiAccessRequired) as raised:
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    assert "API access required" in raised.value.user_message


def test_s16_timeout_is_unavailable_with_the_limit(connection, sf, settings):
    settings.SALESFORCE_TIMEOUT = 0.3
    sf.set_fault("latency", org_id=connection.org_id, value=1.0)
    with pytest.raises(Unavailable) as raised:
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    assert "0.3 seconds" in raised.value.user_message


def test_s16_connection_refused_is_unavailable(connection):
    connection.instance_url = "http://127.0.0.1:9"
    with pytest.raises(Unavailable, match="could not be reached"):
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")


def test_malformed_query_is_query_failed(connection):
    with pytest.raises(QueryFailed):
        SalesforceClient(connection).query("SELECT FROM Contact")


def test_s15_t1_stale_copy_refreshes_with_the_stored_token_not_its_own(connection, sf, acme, owner):
    """A lookup still holding an older connection's tokens neither sends its refresh token nor
    flags the connection that replaced them: the refresh uses the token in the database."""
    stale = SalesforceConnection.objects.get(pk=connection.pk)
    fresh = connect_workspace(acme, login_url=sf.login_url, user=owner)  # a reconnect
    assert fresh.refresh_token != stale.refresh_token
    sf.revoke_refresh_tokens(connection.org_id)  # the org revokes everything...
    fresh = connect_workspace(acme, login_url=sf.login_url, user=owner)  # ...and admin reconnects
    sf.expire_sessions(connection.org_id)
    sf.reset_log()
    SalesforceClient(stale).query("SELECT Id FROM Contact LIMIT 1")
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "connected"
    grants = [e for e in sf.request_log() if e["path"].endswith("/oauth2/token")]
    assert len(grants) == 1
