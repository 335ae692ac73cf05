"""The token lifecycle as real orgs set it (issue 9, T1–T8), against the live emulator."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from integrations.salesforce import oauth, services
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import OAuthFailed
from integrations.salesforce.models import SalesforceConnection
from tests.conftest import client_for, run_processes, run_threads
from tests.salesforce_support import connect_workspace
from workspace.models import Membership, Role, Workspace

from .flow import connect_via_views, disconnect_url, manage_url

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def token_grants(sf, grant_type: str = "refresh_token") -> list[dict]:
    """The emulator's log of token-endpoint calls of one grant type."""
    return [
        e
        for e in sf.request_log()
        if e["path"].endswith("/oauth2/token") and e.get("grant_type", grant_type) == grant_type
    ]


# --- T1: one refresh grant, both tokens saved ------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_t1_many_threads_meeting_an_expired_session_cause_one_refresh_grant(connection, sf):
    sf.expire_sessions(connection.org_id)

    def lookup(i):
        row = SalesforceConnection.objects.get(pk=connection.pk)
        return SalesforceClient(row).query("SELECT Id FROM Contact LIMIT 1")

    results, failures = run_threads(12, lookup)
    assert failures == [] and len(results) == 12
    assert len(token_grants(sf)) == 1
    assert SalesforceConnection.objects.get(pk=connection.pk).status == "connected"


def test_t1_refresh_saves_access_token_and_timestamp_in_one_write(connection, sf):
    before = connection.last_refreshed_at
    sf.expire_sessions(connection.org_id)
    SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.access_token == connection.access_token
    assert row.refresh_token == connection.refresh_token
    assert row.last_refreshed_at and row.last_refreshed_at != before


# --- T3: keep-alive --------------------------------------------------------------------------
def _age(connection, days: float) -> None:
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        last_refreshed_at=timezone.now() - timedelta(days=days)
    )


def test_t3_keepalive_refreshes_only_connections_older_than_the_setting(
    sf, acme, globex, owner, settings, capsys
):
    settings.SALESFORCE_KEEPALIVE_DAYS = 7
    old = connect_workspace(acme, login_url=sf.login_url, user=owner)
    recent = connect_workspace(globex, login_url=sf.login_url)
    _age(old, 8)
    _age(recent, 1)
    sf.reset_log()
    call_command("salesforce_keepalive")
    out = capsys.readouterr().out
    assert "refreshed connection" in out and "workspace acme" in out
    assert "workspace globex" not in out
    assert "1 connection(s) older than 7 day(s): 1 ok, 0 failed." in out
    assert len(token_grants(sf)) == 1
    row = SalesforceConnection.objects.get(pk=old.pk)
    assert row.last_refreshed_at > timezone.now() - timedelta(minutes=1)
    # Idempotent: a second run finds nothing to do.
    call_command("salesforce_keepalive")
    assert "0 connection(s) older than 7 day(s)" in capsys.readouterr().out
    assert len(token_grants(sf)) == 1
    # And the refreshed tokens work.
    SalesforceClient(row).query("SELECT Id FROM Contact LIMIT 1")


def test_t3_keepalive_exits_non_zero_and_names_the_failure(connection, sf, capsys):
    _age(connection, 30)
    sf.revoke_refresh_tokens(connection.org_id)
    with pytest.raises(CommandError, match="1 Salesforce connection"):
        call_command("salesforce_keepalive")
    err = capsys.readouterr().err
    assert "failed" in err and "workspace acme" in err
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.status == "reconnect_needed"
    assert row.reconnect_reason == "refresh_rejected"


def test_t3_keepalive_skips_a_connection_refreshed_meanwhile(connection, sf):
    from integrations.salesforce.tokens import keep_alive

    stale_view = SalesforceConnection.objects.get(pk=connection.pk)
    _age(stale_view, 30)  # it looked due when the command listed it...
    _age(connection, 0)  # ...but another machine refreshed it before this one took the lock
    result = keep_alive(stale_view)
    assert result.outcome == "skipped"
    assert token_grants(sf) == []


KEEPALIVE = [sys.executable, "manage.py", "salesforce_keepalive"]


@pytest.mark.django_db(transaction=True)
def test_t3_keepalive_on_several_machines_at_once_refreshes_once(
    sf, acme, owner, other_process_env
):
    connection = connect_workspace(acme, login_url=sf.login_url, user=owner)
    _age(connection, 30)
    sf.set_fault("latency", org_id=connection.org_id, value=0.5)  # widen the race
    sf.reset_log()
    outputs = run_processes(KEEPALIVE, other_process_env, 3, timeout=60)
    lines = [line for out in outputs for line in out.splitlines() if "workspace acme" in line]
    assert sorted(line.split()[0] for line in lines).count("refreshed") <= 1
    assert len(token_grants(sf)) == 1


# --- T5: at most 5 approvals per user per app ------------------------------------------------
def _workspaces_with_admin(n: int, owner) -> list[Workspace]:
    spaces = []
    for i in range(n):
        ws = Workspace.objects.create(name=f"Team {i}", slug=f"team-{i}")
        Membership.objects.create(user=owner, workspace=ws, role=Role.OWNER)
        spaces.append(ws)
    return spaces


def test_t5_sixth_approval_marks_the_oldest_and_names_it(client, sf, owner):
    spaces = _workspaces_with_admin(6, owner)
    client_for(client, owner)
    for ws in spaces[:5]:
        assert connect_via_views(client, ws.slug).status_code == 302
    page = client.get(manage_url(spaces[4].slug)).content.decode()
    assert "authorises 5 of the 5 connections Salesforce allows this app" in page
    response = connect_via_views(client, spaces[5].slug)
    assert response.status_code == 302
    oldest = SalesforceConnection.objects.get(workspace=spaces[0])
    assert oldest.status == "reconnect_needed"
    assert oldest.reconnect_reason == "approval_limit"
    assert all(
        SalesforceConnection.objects.get(workspace=ws).status == "connected" for ws in spaces[1:]
    )
    page = client.get(response["Location"]).content.decode()
    assert "it revoked the oldest: “Team 0” must reconnect" in page
    oldest_page = client.get(manage_url(spaces[0].slug)).content.decode()
    assert "Salesforce revoked this connection for a newer one" in oldest_page
    assert "“Team 5”, a sixth connection" in oldest_page
    assert "Disconnect Salesforce" in oldest_page  # T6


def test_t5_approval_count_shown_from_four(client, sf, owner):
    spaces = _workspaces_with_admin(4, owner)
    client_for(client, owner)
    for ws in spaces[:3]:
        connect_via_views(client, ws.slug)
    assert "of the 5 connections" not in client.get(manage_url(spaces[0].slug)).content.decode()
    connect_via_views(client, spaces[3].slug)
    page = client.get(manage_url(spaces[0].slug)).content.decode()
    assert "authorises 4 of the 5 connections Salesforce allows this app" in page


def test_t5_connect_page_explains_the_limit(client, sf, owner):
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "at most 5 authorisations of this app per Salesforce user" in page
    assert "dedicated integration user" in page


# --- T6: disconnect whenever tokens are held -------------------------------------------------
def test_t6_reconnect_needed_can_be_disconnected_and_revokes(client, sf, owner, connection):
    from integrations.salesforce.services import mark_reconnect_needed

    refresh_token = connection.refresh_token
    mark_reconnect_needed(connection, reason="approval_limit", detail="test")
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "Disconnect Salesforce" in page
    sf.reset_log()
    client.post(disconnect_url())
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.status == "disconnected" and row.refresh_token == "" and row.reconnect_reason == ""
    revokes = [e for e in sf.request_log() if e["path"].endswith("/oauth2/revoke")]
    assert len(revokes) == 1
    # The revoked token no longer refreshes.
    with pytest.raises(Exception, match="invalid_grant|ReconnectNeeded|reconnected"):
        oauth.refresh_access_token(login_url=sf.login_url, refresh_token=refresh_token)


# --- T7: the token answer is checked ---------------------------------------------------------
LOGIN = "https://login.salesforce.com"


def _token_answer(**overrides) -> dict:
    answer = {
        "access_token": "00Dxx!AQ0AQ.fake",
        "refresh_token": "5Aep861.fake",
        "instance_url": "https://acme.my.salesforce.com",
        "id": "https://login.salesforce.com/id/00D5g000004AcmEEAS/0055g00000AdaAdAAJ",
        "token_type": "Bearer",
        "issued_at": "1764100000000",
        "signature": "c2ln",
        "scope": "api refresh_token",
    }
    answer.update(overrides)
    return answer


@pytest.mark.parametrize(
    "field,value",
    [
        ("instance_url", "https://evil.example"),
        ("instance_url", "http://acme.my.salesforce.com"),  # not https
        ("instance_url", "https://salesforce.com.evil.example"),
        ("instance_url", "https://acme.my.salesforce.com:99999"),  # a ValueError in urllib
        ("instance_url", "https://[::1"),  # unparseable: was a 500
        ("instance_url", "http://127.0.0.1:8001"),  # loopback, but the login host is not
        ("id", "https://evil.example/id/00D/005"),
        ("instance_url", 42),
    ],
)
@responses.activate
def test_t7_untrusted_token_answer_aborts_and_revokes(settings, field, value):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    responses.post(f"{LOGIN}/services/oauth2/token", json=_token_answer(**{field: value}))
    with pytest.raises(OAuthFailed) as raised:
        oauth.exchange_code(
            login_url=LOGIN, code="c", code_verifier="v", redirect_uri="https://app.example/cb"
        )
    assert "not a Salesforce address" in raised.value.user_message


@pytest.mark.parametrize(
    "host",
    [
        "https://acme.my.salesforce.com",
        "https://acme--uat.sandbox.my.salesforce.com",
        "https://acme.lightning.force.com",
        "https://na224.salesforce.com",
        "https://acme.my.salesforce-setup.com",
        "https://acme.my.salesforce.mil",
    ],
)
@responses.activate
def test_t7_salesforce_domains_are_trusted(settings, host):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    responses.post(f"{LOGIN}/services/oauth2/token", json=_token_answer(instance_url=host))
    tokens = oauth.exchange_code(
        login_url=LOGIN, code="c", code_verifier="v", redirect_uri="https://app.example/cb"
    )
    assert tokens.instance_url == host


def test_t7_any_failure_after_the_exchange_revokes_the_fresh_tokens(
    client, sf, owner, acme, monkeypatch
):
    """Whatever its type: an unexpected error gives a clear page, not a 500, and no live tokens."""

    def broken(**kwargs):
        raise ValueError("an odd answer")

    monkeypatch.setattr(services, "record_connected", broken)
    client_for(client, owner)
    sf.reset_log()
    response = connect_via_views(client)
    assert response.status_code == 400
    assert "failed unexpectedly; the new access was revoked" in response.content.decode()
    assert not SalesforceConnection.objects.filter(workspace=acme).exists()
    revokes = [e for e in sf.request_log() if e["path"].endswith("/oauth2/revoke")]
    assert len(revokes) == 1


# --- T8: people's sessions -------------------------------------------------------------------
def test_t8_signed_in_pages_are_not_cached(client, owner):
    client_for(client, owner)
    response = client.get(reverse("inbox:list", args=["acme"]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_t8_idle_session_ends(client, owner, settings, monkeypatch):
    import workspace.middleware as middleware

    settings.SESSION_IDLE_TIMEOUT = 2 * 3600
    now = [1_000_000.0]
    monkeypatch.setattr(middleware, "_now", lambda: now[0])
    client_for(client, owner)
    inbox = reverse("inbox:list", args=["acme"])
    assert client.get(inbox).status_code == 200
    now[0] += 3600  # an hour later: still signed in, and seen again
    assert client.get(inbox).status_code == 200
    now[0] += 2 * 3600 - 10  # less than the idle timeout since the last request
    assert client.get(inbox).status_code == 200
    now[0] += 2 * 3600 + 1
    response = client.get(inbox)
    assert response.status_code == 302 and "/signin/" in response["Location"]
    assert client.get(inbox).status_code == 302  # really signed out


def test_t8_absolute_session_timeout(client, owner, settings, monkeypatch):
    import workspace.middleware as middleware

    settings.SESSION_ABSOLUTE_TIMEOUT = 12 * 3600
    settings.SESSION_IDLE_TIMEOUT = 2 * 3600
    now = [1_000_000.0]
    monkeypatch.setattr(middleware, "_now", lambda: now[0])
    client_for(client, owner)
    inbox = reverse("inbox:list", args=["acme"])
    for _ in range(12):  # busy all day, never idle
        assert client.get(inbox).status_code == 200
        now[0] += 3600 - 1
    now[0] += 60
    assert client.get(inbox).status_code == 302


def test_t8_no_secret_key_without_debug_refuses_to_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0"}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    ok = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "SECRET_KEY": "x" * 60, "SITE_URL": "https://inbox.example.com"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr


# --- with the emulator's token policies (T9 rules, product reactions T1–T5) ------------------
def _rotating(sf, **policy):
    sf.set_token_policy(refresh_token_rotation=True, **policy)


@pytest.mark.django_db(transaction=True)
def test_t1_rotation_many_threads_one_grant_no_reuse_and_the_new_token_is_kept(connection, sf):
    _rotating(sf)
    first = SalesforceConnection.objects.get(pk=connection.pk).refresh_token
    for expiry in range(3):  # several expiries in a row: each needs the token the last one saved
        sf.expire_sessions(connection.org_id)

        def lookup(i):
            row = SalesforceConnection.objects.get(pk=connection.pk)
            return SalesforceClient(row).query("SELECT Id FROM Contact LIMIT 1")

        results, failures = run_threads(8, lookup)
        assert failures == [], (expiry, failures)
    summary = sf.token_summary()
    assert summary["refresh_grants"] == summary["refresh_grants_ok"] == 3
    assert summary["reuse_detected"] == 0
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.status == "connected" and row.refresh_token != first


REFRESH_IN_ANOTHER_PROCESS = """
import django, sys
django.setup()
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.models import SalesforceConnection
row = SalesforceConnection.objects.get(pk=int(sys.argv[1]))
print(SalesforceClient(row).query("SELECT Id FROM Contact LIMIT 1")["totalSize"])
"""


@pytest.mark.django_db(transaction=True)
def test_t1_several_processes_meeting_an_expired_session_cause_one_grant(
    connection, sf, other_process_env
):
    _rotating(sf)
    sf.set_fault("latency", org_id=connection.org_id, value=0.3)  # widen the race
    sf.expire_sessions(connection.org_id)
    sf.reset_log()
    argv = [sys.executable, "-c", REFRESH_IN_ANOTHER_PROCESS, str(connection.pk)]
    run_processes(argv, other_process_env, 4)
    summary = sf.token_summary()
    assert (summary["refresh_grants"], summary["reuse_detected"]) == (1, 0)


def test_t2_lost_answer_then_invalid_grant_says_why_and_what_to_do(
    client, owner, connection, sf, monkeypatch
):
    """Salesforce rotated, the product never saved the answer: the next refresh is refused."""
    from django.db import OperationalError

    _rotating(sf)
    sf.expire_sessions(connection.org_id)
    real_save = services.record_refreshed_tokens

    def database_down(*args, **kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(services, "record_refreshed_tokens", database_down)
    with pytest.raises(OperationalError):
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    monkeypatch.setattr(services, "record_refreshed_tokens", real_save)
    with pytest.raises(Exception, match="reconnected"):
        SalesforceClient(SalesforceConnection.objects.get(pk=connection.pk)).query(
            "SELECT Id FROM Contact LIMIT 1"
        )
    assert sf.token_summary()["reuse_detected"] == 1  # the rotated-out token, sent once
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert (row.status, row.reconnect_reason) == ("reconnect_needed", "refresh_rejected")
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "Salesforce refused the stored refresh token: it was rotated, revoked or expired" in page
    assert "What to do: reconnect below" in page


def test_t3_keepalive_keeps_an_idle_expiring_token_alive(connection, sf, settings, capsys):
    sf.set_token_policy(refresh_token_policy="specific_inactivity:3:DAYS")
    settings.SALESFORCE_KEEPALIVE_DAYS = 1
    for _ in range(4):  # eight quiet days, the job running every other day
        sf.advance_clock(2 * 86400)
        _age(connection, 2)
        call_command("salesforce_keepalive")
    row = SalesforceConnection.objects.get(pk=connection.pk)
    assert row.status == "connected"
    sf.expire_sessions(connection.org_id)
    SalesforceClient(row).query("SELECT Id FROM Contact LIMIT 1")  # still renews


def test_t3_without_keepalive_an_idle_token_expires(connection, sf):
    sf.set_token_policy(refresh_token_policy="specific_inactivity:3:DAYS")
    sf.advance_clock(4 * 86400)
    sf.expire_sessions(connection.org_id)
    with pytest.raises(Exception, match="reconnected"):
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    assert SalesforceConnection.objects.get(pk=connection.pk).reconnect_reason == (
        "refresh_rejected"
    )


def test_t4_immediate_expiry_is_refused_at_connect_with_the_fix(client, sf, owner, acme):
    sf.set_token_policy(refresh_token_policy="immediately")
    client_for(client, owner)
    response = connect_via_views(client)
    page = response.content.decode()
    assert response.status_code == 400
    assert "“Immediately expire refresh token”" in page
    assert "“Refresh token is valid until revoked”" in page
    assert not SalesforceConnection.objects.filter(workspace=acme).exists()
    assert all(family["revoked"] for family in sf.token_families())  # nothing left live


def test_t4_immediate_expiry_set_later_marks_reconnect_needed(client, owner, connection, sf):
    sf.set_token_policy(refresh_token_policy="immediately")
    sf.expire_sessions(connection.org_id)
    with pytest.raises(Exception, match="reconnected"):
        SalesforceClient(connection).query("SELECT Id FROM Contact LIMIT 1")
    client_for(client, owner)
    page = client.get(manage_url()).content.decode()
    assert "“Immediately expire” or a short expiry ends it" in page
    assert "“Refresh token is valid until revoked” keeps the connection working" in page


def test_t5_the_oldest_is_really_revoked_at_salesforce(client, sf, owner):
    spaces = _workspaces_with_admin(6, owner)
    client_for(client, owner)
    for ws in spaces:
        connect_via_views(client, ws.slug)
    oldest = SalesforceConnection.objects.get(workspace=spaces[0])
    with pytest.raises(Exception, match="reconnected"):
        oauth.refresh_access_token(login_url=sf.login_url, refresh_token=oldest.refresh_token)
    newest = SalesforceConnection.objects.get(workspace=spaces[5])
    assert oauth.refresh_access_token(login_url=sf.login_url, refresh_token=newest.refresh_token)
