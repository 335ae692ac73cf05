"""K2 (issue 27): the token refresh decisions (tokens.py), each stated by a fast test.

Salesforce's token endpoint is ``responses`` here (its answers are the documented ones the
emulator tests also drive): which connection is refreshed, what each answer means (a new pair of
tokens, a new instance URL, ``invalid_grant``), how an integration user renews, when the
keep-alive acts, which approvals the sixth one displaced, and how long the token lock waits. The
lock's clock is moved by the test (``tokens._clock``/``tokens._pause``), never slept.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from django.core.cache import cache
from django.db import connection as db
from django.utils import timezone

from core.cache import CacheLock
from integrations.salesforce import oauth, tokens
from integrations.salesforce.errors import ReconnectNeeded, Unavailable
from integrations.salesforce.models import SalesforceConnection
from workspace.models import Workspace

pytestmark = pytest.mark.django_db

LOGIN = "https://acme.my.salesforce.com"
MOVED = "https://acme-new.my.salesforce.com"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
REVOKE_URL = f"{LOGIN}/services/oauth2/revoke"
ORG, USER = "00D5g000004AcmEEAS", "0055g00000AdaAdAAJ"
LOCK_KEY = "salesforce:refresh-lock:{}"


@pytest.fixture(autouse=True)
def _salesforce_app(settings):
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "id", "secret"
    settings.SALESFORCE_TIMEOUT, settings.SALESFORCE_CONNECT_TIMEOUT = 3.0, 1.0
    settings.SALESFORCE_KEEPALIVE_DAYS = 7


def _row(workspace: Workspace, **fields) -> SalesforceConnection:
    now = timezone.now()
    values = {
        "status": SalesforceConnection.Status.CONNECTED,
        "login_url": LOGIN,
        "instance_url": LOGIN,
        "org_id": ORG,
        "sf_user_id": USER,
        "sf_username": "admin@acme-corp.example",
        "access_token": "00D!old",
        "refresh_token": "5Aep.old",
        "connected_at": now - timedelta(days=30),
        "last_refreshed_at": now - timedelta(days=1),
        **fields,
    }
    return SalesforceConnection.objects.create(workspace=workspace, **values)


@pytest.fixture
def row(acme, globex) -> SalesforceConnection:
    """Acme's connection; Globex's, made first, is the one a query without its id would find."""
    _row(globex, access_token="00D!globex", refresh_token="5Aep.globex")
    return _row(acme)


def _answer(access="00D!new", refresh=None, instance=LOGIN) -> dict:
    body = {
        "access_token": access,
        "instance_url": instance,
        "id": f"{LOGIN}/id/{ORG}/{USER}",
        "token_type": "Bearer",
        "issued_at": "1764100000000",
        "signature": "c2ln",
        "scope": "api refresh_token",
    }
    if refresh:
        body["refresh_token"] = refresh
    return body


def _sent() -> list[dict]:
    """The form fields of each call to the token endpoint."""
    return [
        {k: v[0] for k, v in parse_qs(call.request.body).items()}
        for call in responses.calls
        if call.request.url == TOKEN_URL
    ]


def _stored(row) -> SalesforceConnection:
    return SalesforceConnection.objects.get(pk=row.pk)


# --- which token is refreshed, and what a new pair of tokens does (S15, T1, E5) --------------
@responses.activate
def test_k2_the_failed_token_still_stored_is_refreshed_once_and_the_answer_saved(row):
    responses.post(TOKEN_URL, json=_answer("00D!new", "5Aep.new", MOVED))
    before = row.last_refreshed_at

    assert tokens.current_access_token(row, stale="00D!old") == "00D!new"

    (sent,) = _sent()  # one grant, with the stored refresh token
    assert (sent["grant_type"], sent["refresh_token"]) == ("refresh_token", "5Aep.old")
    stored = _stored(row)
    assert (stored.access_token, stored.refresh_token, stored.instance_url) == (
        "00D!new",
        "5Aep.new",
        MOVED,  # E5: the answer's instance URL replaces the stored one
    )
    assert stored.last_refreshed_at > before
    # The caller's copy is the stored row now: the retry goes to the new instance.
    assert (row.access_token, row.refresh_token, row.instance_url, row.last_refreshed_at) == (
        stored.access_token,
        stored.refresh_token,
        stored.instance_url,
        stored.last_refreshed_at,
    )


@responses.activate
def test_k2_a_stored_token_newer_than_the_failed_one_is_taken_without_a_grant(row):
    """Another request refreshed first: its token, refresh token and instance are adopted."""
    later = timezone.now()
    SalesforceConnection.objects.filter(pk=row.pk).update(
        access_token="00D!theirs", refresh_token="5Aep.theirs", instance_url=MOVED
    )
    SalesforceConnection.objects.filter(pk=row.pk).update(last_refreshed_at=later)

    assert tokens.current_access_token(row, stale="00D!old") == "00D!theirs"

    assert len(responses.calls) == 0
    assert (row.access_token, row.refresh_token, row.instance_url, row.last_refreshed_at) == (
        "00D!theirs",
        "5Aep.theirs",
        MOVED,
        later,
    )


@responses.activate
def test_k2_under_the_lock_a_token_refreshed_meanwhile_is_taken_without_a_grant(row):
    """The row is read again inside the lock: the refresh the waiter queued for was done."""
    SalesforceConnection.objects.filter(pk=row.pk).update(access_token="00D!theirs")
    with tokens.refresh_lock(row.pk):
        assert tokens._refresh_locked(row, stale="00D!old") == "00D!theirs"
    assert len(responses.calls) == 0
    assert row.access_token == "00D!theirs"


def test_k2_renewed_meanwhile_compares_the_failed_token_and_the_keepalive_cutoff(row):
    at = row.last_refreshed_at
    assert tokens.renewed_meanwhile(row, stale="00D!older")
    assert not tokens.renewed_meanwhile(row, stale="00D!old")
    assert not tokens.renewed_meanwhile(row)  # nothing to compare: refresh
    # Keep-alive: refreshed after the cutoff means done; at or before it, due.
    assert tokens.renewed_meanwhile(row, cutoff=at - timedelta(microseconds=1))
    assert not tokens.renewed_meanwhile(row, cutoff=at)
    assert not tokens.renewed_meanwhile(row, cutoff=at + timedelta(seconds=1))
    row.last_refreshed_at = None  # never refreshed since connect: due
    assert not tokens.renewed_meanwhile(row, cutoff=at)


@responses.activate
@pytest.mark.django_db(transaction=True)
def test_k2_the_grant_runs_in_a_transaction_only_where_rows_lock(row, monkeypatch):
    """PostgreSQL: the row stays locked (SELECT ... FOR UPDATE) across the grant. SQLite has no
    row locks, and a transaction held across the HTTP call would lock its whole database."""
    during_grant = []
    renew = tokens._renew

    def spy(locked_row):
        during_grant.append(db.in_atomic_block)
        return renew(locked_row)

    monkeypatch.setattr(tokens, "_renew", spy)
    responses.post(TOKEN_URL, json=_answer())
    assert tokens.current_access_token(row, stale="00D!old") == "00D!new"
    assert during_grant == [db.features.has_select_for_update]


# --- what a refusal means (S15, T2) -----------------------------------------------------------
@responses.activate
def test_k2_invalid_grant_marks_reconnect_needed_and_says_why(row):
    body = {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    responses.post(TOKEN_URL, json=body, status=400)

    with pytest.raises(ReconnectNeeded):
        tokens.current_access_token(row, stale="00D!old")

    stored = _stored(row)
    assert (stored.status, stored.reconnect_reason, stored.access_token) == (
        "reconnect_needed",
        "refresh_rejected",
        "",
    )
    assert stored.reconnect_detail == (
        "Salesforce refused the stored refresh token: it was rotated, revoked or expired."
    )
    assert (row.status, row.access_token) == ("reconnect_needed", "")
    # The next request does not ask again: it is told to reconnect at once.
    with pytest.raises(ReconnectNeeded):
        tokens.current_access_token(_stored(row), stale="")
    assert len(_sent()) == 1


@responses.activate
def test_k2_another_refusal_is_unavailable_and_the_connection_stays(row):
    responses.post(TOKEN_URL, json={"error": "invalid_client_id"}, status=400)
    with pytest.raises(Unavailable):
        tokens.current_access_token(row, stale="00D!old")
    stored = _stored(row)
    assert (stored.status, stored.access_token, stored.refresh_token) == (
        "connected",
        "00D!old",
        "5Aep.old",
    )


@responses.activate
@pytest.mark.parametrize(
    "status,error",
    [("disconnected", Unavailable), ("reconnect_needed", ReconnectNeeded)],
)
def test_k2_a_connection_no_longer_connected_is_never_refreshed(row, status, error):
    SalesforceConnection.objects.filter(pk=row.pk).update(status=status)
    with pytest.raises(error) as raised:
        tokens.current_access_token(row, stale="00D!old")
    if error is Unavailable:
        assert raised.value.detail == "disconnected"
        assert raised.value.user_message == "Salesforce was disconnected."
    with tokens.refresh_lock(row.pk), pytest.raises(error):
        tokens._refresh_locked(row)
    assert len(responses.calls) == 0


@responses.activate
def test_k2_a_deleted_connection_is_disconnected_not_refreshed(row):
    SalesforceConnection.objects.filter(pk=row.pk).delete()
    with pytest.raises(Unavailable) as raised:
        tokens.current_access_token(row, stale="00D!old")
    assert raised.value.detail == "disconnected"
    assert len(responses.calls) == 0


# --- an integration user (E4) -----------------------------------------------------------------
@responses.activate
def test_k2_an_integration_user_is_renewed_by_the_client_credentials_flow(acme):
    row = _row(
        acme,
        auth_flow=SalesforceConnection.AuthFlow.CLIENT_CREDENTIALS,
        app_client_id="3MVG.own-app",
        app_client_secret="own-secret",
        refresh_token="",
    )
    responses.post(TOKEN_URL, json=_answer("00D!cc"))

    assert tokens.current_access_token(row, stale="00D!old") == "00D!cc"

    assert _sent() == [
        {"grant_type": "client_credentials", "client_id": "3MVG.own-app",
         "client_secret": "own-secret"}
    ]  # fmt: skip
    assert (_stored(row).access_token, _stored(row).refresh_token) == ("00D!cc", "")


# --- rotation: logged as such, never the token (T1) -------------------------------------------
@responses.activate
def test_k2_the_log_says_whether_the_refresh_token_rotated_and_never_shows_one(row, caplog):
    responses.post(TOKEN_URL, json=_answer("00D!one", "5Aep.rotated"))
    caplog.set_level(logging.INFO, logger="integrations.salesforce.tokens")
    tokens.current_access_token(row, stale="00D!old")
    responses.replace(responses.POST, TOKEN_URL, json=_answer("00D!two"))  # rotation off
    tokens.current_access_token(row, stale="00D!one")

    lines = [r.getMessage() for r in caplog.records if r.name == tokens.__name__]
    assert lines == [
        f"Salesforce tokens refreshed for connection {row.pk} (refresh token rotated)",
        f"Salesforce tokens refreshed for connection {row.pk} (refresh token kept)",
    ]
    assert _stored(row).refresh_token == "5Aep.rotated"


@responses.activate
def test_k2_tokens_nobody_can_own_are_revoked_at_once(row):
    """The conditional write matched nothing (the connection was replaced): the fresh refresh
    token is revoked, not left live at Salesforce, and the caller hears "disconnected"."""
    responses.post(REVOKE_URL, body="")
    replaced = SalesforceConnection.objects.get(pk=row.pk)
    replaced.connected_at = row.connected_at - timedelta(days=1)  # not the stored connection
    fresh = oauth.TokenSet(
        access_token="00D!orphan",
        refresh_token="5Aep.orphan",
        instance_url=LOGIN,
        identity_url=f"{LOGIN}/id/{ORG}/{USER}",
        scope="api",
    )
    with pytest.raises(Unavailable) as raised:
        tokens._save_refreshed(row, replaced, fresh)
    assert raised.value.detail == "disconnected"
    assert raised.value.user_message == "Salesforce was disconnected."
    assert [parse_qs(c.request.body) for c in responses.calls] == [{"token": ["5Aep.orphan"]}]
    assert _stored(row).access_token == "00D!old"


# --- the keep-alive (T3) ----------------------------------------------------------------------
def test_k2_keepalive_is_due_for_tokens_issued_before_the_setting(acme, globex):
    now = timezone.now()
    assert tokens.keepalive_cutoff(now) == now - timedelta(days=7)
    old = _row(acme, last_refreshed_at=now - timedelta(days=8))
    never = _row(globex, last_refreshed_at=None)
    third = Workspace.objects.create(name="Initech", slug="initech")
    recent = _row(third, last_refreshed_at=now - timedelta(days=6))
    fourth = Workspace.objects.create(name="Hooli", slug="hooli")
    _row(fourth, status="reconnect_needed", last_refreshed_at=now - timedelta(days=30))

    assert list(tokens.keepalive_due()) == [old, never]
    assert list(tokens.keepalive_due(now + timedelta(days=2))) == [old, never, recent]
    assert list(tokens.keepalive_due(now - timedelta(days=2))) == [never]
    assert tokens.keepalive_due()[0].workspace.name == "Acme Support"


@responses.activate
def test_k2_keepalive_refreshes_what_is_due_and_skips_what_was_refreshed(acme, globex):
    responses.post(TOKEN_URL, json=_answer("00D!kept-alive"))
    now = timezone.now()
    due = _row(acme, last_refreshed_at=now - timedelta(days=8))
    never = _row(globex, last_refreshed_at=None)
    third = Workspace.objects.create(name="Initech", slug="initech")
    recent = _row(third, last_refreshed_at=now - timedelta(days=6))

    results = [tokens.keep_alive(c) for c in (due, never, recent)]

    assert [(r.outcome, r.message, r.failed) for r in results] == [
        ("refreshed", "", False),
        ("refreshed", "", False),
        ("skipped", "refreshed recently", False),
    ]
    assert [r.connection for r in results] == [due, never, recent]
    with pytest.raises(dataclasses.FrozenInstanceError):
        results[0].outcome = "failed"  # type: ignore[misc]
    assert len(_sent()) == 2
    assert _stored(due).access_token == _stored(never).access_token == "00D!kept-alive"
    assert _stored(recent).access_token == "00D!old"


@responses.activate
def test_k2_keepalive_names_a_refused_refresh_as_failed(row):
    SalesforceConnection.objects.filter(pk=row.pk).update(last_refreshed_at=None)
    responses.post(TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    result = tokens.keep_alive(row)
    assert (result.outcome, result.failed) == ("failed", True)
    assert result.message == ReconnectNeeded().user_message
    assert _stored(row).status == "reconnect_needed"


# --- the 5-approval limit (T5) ----------------------------------------------------------------
def _approvals(n: int, *, same_time: bool = False) -> list[SalesforceConnection]:
    start = timezone.now() - timedelta(days=n)
    rows = []
    for i in range(n):
        ws = Workspace.objects.create(name=f"Team {i}", slug=f"team-{i}")
        at = start if same_time else start + timedelta(days=i)
        rows.append(_row(ws, connected_at=at, access_token=f"00D!{i}", refresh_token=f"5Aep.{i}"))
    return rows


def test_k2_five_approvals_mark_nothing(acme):
    rows = _approvals(5)
    assert tokens.enforce_approval_limit(rows[-1]) == []
    assert {_stored(r).status for r in rows} == {"connected"}


def test_k2_the_sixth_approval_marks_the_oldest_and_says_why(acme):
    rows = _approvals(6)
    assert tokens.enforce_approval_limit(rows[-1]) == [rows[0]]
    oldest = _stored(rows[0])
    assert (oldest.status, oldest.reconnect_reason) == ("reconnect_needed", "approval_limit")
    assert oldest.reconnect_detail == (
        "Salesforce user admin@acme-corp.example authorised Team Inbox for workspace “Team 5”, "
        "a sixth connection; Salesforce keeps at most 5 per user and app and revoked this one, "
        "the oldest."
    )
    assert [_stored(r).status for r in rows[1:]] == ["connected"] * 5


def test_k2_approvals_of_the_same_moment_are_ordered_by_creation(acme):
    rows = _approvals(7, same_time=True)
    assert tokens.enforce_approval_limit(rows[-1]) == [rows[1], rows[0]]  # newest first


def test_k2_an_integration_user_has_no_approvals_to_count(acme):
    rows = _approvals(6)
    rows[-1].auth_flow = SalesforceConnection.AuthFlow.CLIENT_CREDENTIALS
    assert tokens.enforce_approval_limit(rows[-1]) == []
    assert {_stored(r).status for r in rows} == {"connected"}


# --- the token lock (T1) ----------------------------------------------------------------------
class LockClock:
    """``tokens._clock`` and ``tokens._pause``: each pause moves the clock, nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []
        self.on_pause = None

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        if self.on_pause:
            self.on_pause(len(self.pauses))


@pytest.fixture
def lock_clock(monkeypatch) -> LockClock:
    clock = LockClock()
    monkeypatch.setattr(tokens, "_clock", lambda: clock.now)
    monkeypatch.setattr(tokens, "_pause", clock.pause)
    return clock


def _free(connection_id: int) -> bool:
    """Neither lock is held: the process lock can be taken and the cache key is gone."""
    local = tokens._process_lock(connection_id)
    if not local.acquire(blocking=False):
        return False
    local.release()
    return cache.get(LOCK_KEY.format(connection_id)) is None


def test_k2_the_lock_is_held_in_the_cache_inside_and_given_back_after(row, lock_clock):
    with tokens.refresh_lock(row.pk):
        assert cache.get(LOCK_KEY.format(row.pk))  # other machines see it
        assert not tokens._process_lock(row.pk).acquire(blocking=False)  # other threads too
    assert _free(row.pk)
    assert lock_clock.pauses == []
    with tokens.refresh_lock(row.pk):  # and it can be taken again at once
        pass
    assert _free(row.pk)


def test_k2_the_lock_waits_for_another_machine_then_takes_it(row, lock_clock):
    other = CacheLock(LOCK_KEY.format(row.pk), seconds=30)
    assert other.take()
    lock_clock.on_pause = lambda n: n == 3 and other.release()
    with tokens.refresh_lock(row.pk):
        assert cache.get(LOCK_KEY.format(row.pk)) not in (None, other.owner)
    assert lock_clock.pauses == [0.05] * 3
    assert _free(row.pk)


def test_k2_the_lock_gives_up_after_the_timeout_plus_its_lifetime(row, lock_clock, settings):
    """Another machine holds the lock too long: Unavailable after SALESFORCE_TIMEOUT + 30 s
    (longer than any refresh grant), and its lock is left to it."""
    other = CacheLock(LOCK_KEY.format(row.pk), seconds=30)
    assert other.take()
    with pytest.raises(Unavailable) as raised, tokens.refresh_lock(row.pk):
        pytest.fail("entered a lock someone else holds")
    assert raised.value.detail == "refresh_lock"
    assert raised.value.user_message == "Salesforce's session renewal took too long."
    waited = sum(lock_clock.pauses)
    assert settings.SALESFORCE_TIMEOUT + 30 <= waited < settings.SALESFORCE_TIMEOUT + 30.1
    assert other.held()
    assert tokens._process_lock(row.pk).acquire(blocking=False)  # the thread's lock is back
    tokens._process_lock(row.pk).release()


def test_k2_the_lock_gives_up_at_once_when_its_thread_lock_stays_taken(
    row, lock_clock, monkeypatch, settings
):
    class Taken:
        """A thread lock another thread keeps past the budget."""

        def __init__(self):
            self.timeouts = []

        def acquire(self, timeout):
            self.timeouts.append(timeout)
            return False

    taken = Taken()
    monkeypatch.setitem(tokens._process_locks, row.pk, taken)
    with pytest.raises(Unavailable) as raised, tokens.refresh_lock(row.pk):
        pytest.fail("entered without the thread lock")
    assert raised.value.detail == "refresh_lock"
    assert raised.value.user_message == "Salesforce's session renewal took too long."
    assert taken.timeouts == [settings.SALESFORCE_TIMEOUT + 30]
    assert cache.get(LOCK_KEY.format(row.pk)) is None  # the cache lock was not taken


@responses.activate
def test_k2_a_cache_outage_does_not_stop_the_refresh(row, cache_refused, lock_clock, caplog):
    responses.post(TOKEN_URL, json=_answer("00D!despite"))
    with tokens.refresh_lock(row.pk):
        assert not tokens._process_lock(row.pk).acquire(blocking=False)
    assert tokens.current_access_token(row, stale="00D!old") == "00D!despite"
    assert lock_clock.pauses == []
    assert "Cache unavailable: Salesforce token lock held by the database only" in [
        r.getMessage() for r in caplog.records
    ]
    local = tokens._process_lock(row.pk)
    assert local.acquire(blocking=False)
    local.release()
