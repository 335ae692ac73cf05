"""T9: the emulator's token rules per Connected/External Client App, and the REST API versions.

Driven over real HTTP with requests-oauthlib, simple-salesforce and plain requests; the emulator's
clock is moved through its control endpoint instead of sleeping.
"""

from __future__ import annotations

import copy
import json
import threading

import pytest
import requests
from requests_oauthlib import OAuth2Session
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceResourceNotFound,
)

from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID, ACME_SANDBOX_ADMIN
from salesforce_emulator.state import DEMO_DATA, load_data_file
from salesforce_emulator.testing import running_emulator, spawn_emulator
from tests.salesforce_support import CALLBACK, authorize, issue_token

from .conftest import simple_sf

INVALID_GRANT = {"error": "invalid_grant", "error_description": "expired access/refresh token"}
DAY = 86400
DEMO_POLICY = {
    "refresh_token_rotation": True,
    "refresh_token_policy": "infinite",
    "session_timeout_seconds": 7200,
    "max_approvals_per_user": 5,
}


@pytest.fixture
def insecure_ok(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


def refresh(emulator, refresh_token: str, *, client_id=None, client_secret=None):
    return requests.post(
        emulator.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id or emulator.client_id,
            "client_secret": client_secret or emulator.client_secret,
        },
        timeout=5,
    )


def issue_token_for(
    emulator, client_id: str, client_secret: str, username: str = ACME_ADMIN
) -> dict:
    """A token response from another app of the data file (code flow)."""
    code = authorize(emulator, username, client_id=client_id)["code"]
    response = requests.post(
        emulator.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": CALLBACK,
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def works(token: dict) -> bool:
    """Does this access token still answer a query (simple-salesforce)?"""
    try:
        simple_sf(token).query("SELECT COUNT() FROM Contact")
    except SalesforceExpiredSession as exc:
        assert exc.content[0]["errorCode"] == "INVALID_SESSION_ID"
        return False
    return True


def token_entries(emulator, grant_type: str | None = None) -> list[dict]:
    return [
        e
        for e in emulator.request_log()
        if e["path"] == "/services/oauth2/token"
        and (grant_type is None or e["grant_type"] == grant_type)
    ]


# ---------------------------------------------------------------- the demo app's policy


def test_t9_demo_app_rotates_and_reports_its_policy(sf_emulator):
    assert sf_emulator.token_policy() == DEMO_POLICY
    assert sf_emulator.info()["connected_app"]["token_policy"] == DEMO_POLICY


# ---------------------------------------------------------------- rotation and reuse


def test_t9_rotation_answers_a_new_refresh_token_with_requests_oauthlib(sf_emulator, insecure_ok):
    first = issue_token(sf_emulator)
    session = OAuth2Session(sf_emulator.client_id, token=first)
    second = session.refresh_token(
        sf_emulator.token_url,
        refresh_token=first["refresh_token"],
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = session.refresh_token(
        sf_emulator.token_url,
        refresh_token=second["refresh_token"],
        client_id=sf_emulator.client_id,
        client_secret=sf_emulator.client_secret,
    )
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert works(third)
    entries = token_entries(sf_emulator, "refresh_token")
    assert [(e["outcome"], e["rotated"], e["reuse_detected"]) for e in entries] == [
        ("ok", True, False),
        ("ok", True, False),
    ]
    assert entries[0]["family_id"] == entries[1]["family_id"]


def test_t9_reuse_of_a_rotated_out_token_revokes_the_whole_family(sf_emulator):
    first = issue_token(sf_emulator)
    other = issue_token(sf_emulator)  # a second approval of the same user: another family
    second = refresh(sf_emulator, first["refresh_token"]).json()
    assert works(first) and works(second)

    again = refresh(sf_emulator, first["refresh_token"])
    assert (again.status_code, again.json()) == (400, INVALID_GRANT)

    # Every access and refresh token of that family is gone ...
    assert not works(first) and not works(second)
    assert refresh(sf_emulator, second["refresh_token"]).json() == INVALID_GRANT
    # ... and only that family.
    assert works(other)
    assert refresh(sf_emulator, other["refresh_token"]).status_code == 200

    reuse = [e for e in token_entries(sf_emulator) if e["reuse_detected"]]
    assert len(reuse) == 1
    assert reuse[0]["outcome"] == "invalid_grant"
    assert reuse[0]["reason"] == "reuse"
    assert reuse[0]["revoked_families"] == 1
    assert reuse[0]["revoke_reason"] == "refresh_token_reuse"
    assert reuse[0]["org_id"] == ACME_ORG_ID and reuse[0]["status"] == 400
    refused = token_entries(sf_emulator, "refresh_token")[2]
    assert (refused["reason"], refused["reuse_detected"]) == ("revoked", False)
    assert sf_emulator.token_summary() == {
        "refresh_grants": 4,
        "refresh_grants_ok": 2,
        "refresh_grants_refused": 2,
        "code_grants": 2,
        "reuse_detected": 1,
        "revoked_families": 1,
    }
    families = {f["id"]: f for f in sf_emulator.token_families()}
    assert families[reuse[0]["family_id"]]["revoke_reason"] == "refresh_token_reuse"
    assert sum(f["revoked"] for f in families.values()) == 1


def test_t9_presenting_a_rotated_out_token_again_is_reuse_each_time(sf_emulator):
    first = issue_token(sf_emulator)
    refresh(sf_emulator, first["refresh_token"])
    for _ in range(2):
        assert refresh(sf_emulator, first["refresh_token"]).json() == INVALID_GRANT
    summary = sf_emulator.token_summary()
    assert summary["reuse_detected"] == 2
    assert summary["revoked_families"] == 1  # the family is revoked once


def test_t9_two_refreshes_racing_with_one_token_revoke_the_family(sf_emulator):
    token = issue_token(sf_emulator)
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def race():
        start.wait()
        answers.append(refresh(sf_emulator, token["refresh_token"]))

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(a.status_code for a in answers) == [200, 400]
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert not works(winner)  # the loser's reuse took the winner's tokens down too
    assert sf_emulator.token_summary()["reuse_detected"] == 1


def test_t9_rotation_off_keeps_the_refresh_token(sf_emulator):
    policy = sf_emulator.set_token_policy(refresh_token_rotation=False)
    assert policy == {**DEMO_POLICY, "refresh_token_rotation": False}
    token = issue_token(sf_emulator)
    for _ in range(3):
        answer = refresh(sf_emulator, token["refresh_token"])
        assert answer.status_code == 200
        assert "refresh_token" not in answer.json()
        assert works(answer.json())
    assert sf_emulator.token_summary()["reuse_detected"] == 0


def test_t9_switching_rotation_on_at_run_time_applies_to_live_tokens(sf_emulator):
    sf_emulator.set_token_policy(refresh_token_rotation=False)
    token = issue_token(sf_emulator)
    assert "refresh_token" not in refresh(sf_emulator, token["refresh_token"]).json()
    sf_emulator.set_token_policy(refresh_token_rotation=True)
    rotated = refresh(sf_emulator, token["refresh_token"]).json()
    assert rotated["refresh_token"] != token["refresh_token"]
    assert refresh(sf_emulator, token["refresh_token"]).json() == INVALID_GRANT


# ---------------------------------------------------------------- session lifetime


def test_t9_sessions_expire_on_the_clock(sf_emulator):
    sf_emulator.set_token_policy(session_timeout_seconds=60)
    token = issue_token(sf_emulator)
    sf = simple_sf(token)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 45
    sf_emulator.advance_clock(59)
    assert works(token)
    sf_emulator.advance_clock(2)
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.query("SELECT COUNT() FROM Contact")
    assert exc.value.status == 401
    assert exc.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    renewed = refresh(sf_emulator, token["refresh_token"])
    assert renewed.status_code == 200
    assert works(renewed.json())


def test_t9_demo_sessions_last_two_hours(sf_emulator):
    token = issue_token(sf_emulator)
    sf_emulator.advance_clock(7200 - 5)
    assert works(token)
    sf_emulator.advance_clock(10)
    assert not works(token)


def test_t9_no_session_timeout_means_no_clock_expiry(sf_emulator):
    sf_emulator.set_token_policy(session_timeout_seconds=None)
    token = issue_token(sf_emulator)
    sf_emulator.advance_clock(365 * DAY)
    assert works(token)


# ---------------------------------------------------------------- refresh token policies


def test_t9_idle_refresh_tokens_expire(sf_emulator):
    sf_emulator.set_token_policy(refresh_token_policy="specific_inactivity:30:DAYS")
    token = issue_token(sf_emulator)
    current = token["refresh_token"]
    for _ in range(3):  # used every 29 days: stays alive (each use restarts the window)
        sf_emulator.advance_clock(29 * DAY)
        answer = refresh(sf_emulator, current)
        assert answer.status_code == 200
        current = answer.json()["refresh_token"]
    sf_emulator.advance_clock(30 * DAY + 1)
    refused = refresh(sf_emulator, current)
    assert (refused.status_code, refused.json()) == (400, INVALID_GRANT)
    last = token_entries(sf_emulator, "refresh_token")[-1]
    assert (last["reason"], last["reuse_detected"], last["revoked_families"]) == (
        "idle_expired",
        False,
        0,
    )
    assert sf_emulator.token_families()[0]["revoke_reason"] == "idle_expired"


def test_t9_idle_expiry_without_rotation(sf_emulator):
    sf_emulator.set_token_policy(
        refresh_token_rotation=False, refresh_token_policy="specific_inactivity:2:HOURS"
    )
    token = issue_token(sf_emulator)
    sf_emulator.advance_clock(7000)
    assert refresh(sf_emulator, token["refresh_token"]).status_code == 200
    sf_emulator.advance_clock(7201)
    assert refresh(sf_emulator, token["refresh_token"]).json() == INVALID_GRANT


def test_t9_refresh_token_lifetime_counts_from_the_approval(sf_emulator):
    sf_emulator.set_token_policy(refresh_token_policy="specific_lifetime:1:HOURS")
    token = issue_token(sf_emulator)
    sf_emulator.advance_clock(1800)
    rotated = refresh(sf_emulator, token["refresh_token"]).json()
    sf_emulator.advance_clock(1801)  # 3601 s after the approval, 1801 s after the rotation
    assert refresh(sf_emulator, rotated["refresh_token"]).json() == INVALID_GRANT
    assert token_entries(sf_emulator, "refresh_token")[-1]["reason"] == "lifetime_expired"


def test_t9_immediately_expire_refuses_every_refresh_grant(sf_emulator):
    sf_emulator.set_token_policy(refresh_token_policy="immediately")
    token = issue_token(sf_emulator)
    assert token["refresh_token"]  # still handed out with the code grant
    assert works(token)  # the session itself is fine
    refused = refresh(sf_emulator, token["refresh_token"])
    assert (refused.status_code, refused.json()) == (400, INVALID_GRANT)
    entry = token_entries(sf_emulator, "refresh_token")[-1]
    assert (entry["outcome"], entry["reason"]) == ("invalid_grant", "immediate_expiry")
    assert works(token)


# ---------------------------------------------------------------- the approval limit


def test_t9_sixth_approval_silently_revokes_the_oldest(sf_emulator):
    tokens = [issue_token(sf_emulator) for _ in range(5)]
    sandbox = issue_token(sf_emulator, ACME_SANDBOX_ADMIN)  # another user: counted apart
    assert all(works(t) for t in tokens)
    sixth = issue_token(sf_emulator)  # answered like any other approval
    assert set(sixth) >= {"access_token", "refresh_token", "instance_url"}

    oldest, kept = tokens[0], tokens[1:]
    assert not works(oldest)
    assert refresh(sf_emulator, oldest["refresh_token"]).json() == INVALID_GRANT
    assert all(works(t) for t in [*kept, sixth, sandbox])
    for t in kept:  # rotation still applies to the survivors
        assert refresh(sf_emulator, t["refresh_token"]).status_code == 200

    code = token_entries(sf_emulator, "authorization_code")
    assert [e["revoked_families"] for e in code] == [0, 0, 0, 0, 0, 0, 1]
    assert code[-1]["revoke_reason"] == "approval_limit"
    families = sf_emulator.token_families()
    assert code[-1]["revoked_family_ids"] == [families[0]["id"]]
    assert [(f["revoked"], f["revoke_reason"]) for f in families] == [(True, "approval_limit")] + [
        (False, None)
    ] * 6


def test_t9_approval_limit_is_switchable(sf_emulator):
    sf_emulator.set_token_policy(max_approvals_per_user=2)
    first, second, third = (issue_token(sf_emulator) for _ in range(3))
    assert [works(t) for t in (first, second, third)] == [False, True, True]
    sf_emulator.set_token_policy(max_approvals_per_user=None)
    more = [issue_token(sf_emulator) for _ in range(6)]
    assert all(works(t) for t in [second, third, *more])


# ---------------------------------------------------------------- control endpoint


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"refresh_token_policy": "specific_inactivity:0:DAYS"}, "refresh_token_policy"),
        ({"refresh_token_policy": "sometimes"}, "refresh_token_policy"),
        ({"refresh_token_policy": "specific_lifetime:3:WEEKS"}, "UNIT"),
        ({"session_timeout_seconds": -5}, "session_timeout_seconds"),
        ({"session_timeout_seconds": "2h"}, "session_timeout_seconds"),
        ({"max_approvals_per_user": 0}, "max_approvals_per_user"),
        ({"refresh_token_rotation": "yes"}, "refresh_token_rotation"),
        ({"rotation": True}, "unknown token policy key"),
    ],
)
def test_t9_bad_policy_values_are_refused_with_a_reason(sf_emulator, changes, message):
    with pytest.raises(RuntimeError, match=message):
        sf_emulator.set_token_policy(**changes)
    assert sf_emulator.token_policy() == DEMO_POLICY


def test_t9_clock_control(sf_emulator):
    r = requests.post(f"{sf_emulator.login_url}/__emulator__/clock", json={}, timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": "advance_seconds is required"})
    r = requests.post(
        f"{sf_emulator.login_url}/__emulator__/clock", json={"advance_seconds": -1}, timeout=5
    )
    assert r.status_code == 400
    assert sf_emulator.advance_clock(30) == 30
    assert sf_emulator.advance_clock(2.5) == 32.5
    clock = requests.get(f"{sf_emulator.login_url}/__emulator__/clock", timeout=5).json()
    assert clock["offset_seconds"] == 32.5
    token = issue_token(sf_emulator)  # issued_at follows the emulator's clock
    assert abs(int(token["issued_at"]) / 1000 - clock["now"]) < 60


def test_t9_reset_restores_the_data_files_policy_and_clock(sf_emulator):
    sf_emulator.set_token_policy(
        refresh_token_rotation=False,
        refresh_token_policy="immediately",
        session_timeout_seconds=2,
        max_approvals_per_user=1,
    )
    sf_emulator.advance_clock(3 * DAY)
    issue_token(sf_emulator)
    sf_emulator.reset()
    assert sf_emulator.token_policy() == DEMO_POLICY
    assert sf_emulator.info()["clock_offset_seconds"] == 0
    assert sf_emulator.token_families() == []


def test_t9_request_log_never_holds_token_values(sf_emulator):
    token = issue_token(sf_emulator)
    rotated = refresh(sf_emulator, token["refresh_token"]).json()
    refresh(sf_emulator, token["refresh_token"])
    requests.post(
        f"{sf_emulator.login_url}/services/oauth2/revoke",
        data={"token": rotated["refresh_token"]},
        timeout=5,
    )
    text = json.dumps(sf_emulator.request_log())
    for value in (
        token["access_token"],
        token["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        sf_emulator.client_secret,
    ):
        assert value not in text


def test_t9_revoke_endpoint_logs_the_family_it_ends(sf_emulator):
    token = issue_token(sf_emulator)
    revoke = f"{sf_emulator.login_url}/services/oauth2/revoke"
    assert requests.post(revoke, data={"token": token["refresh_token"]}, timeout=5).ok
    assert requests.post(revoke, data={"token": token["refresh_token"]}, timeout=5).status_code == (
        400
    )
    entries = [e for e in sf_emulator.request_log() if e["path"] == "/services/oauth2/revoke"]
    assert [(e["outcome"], e["revoked_families"]) for e in entries] == [
        ("ok", 1),
        ("invalid_token", 0),
    ]
    assert entries[0]["token_kind"] == "refresh" and entries[0]["org_id"] == ACME_ORG_ID
    assert not works(token)
    assert sf_emulator.token_summary()["revoked_families"] == 1


# ---------------------------------------------------------------- several apps in the data file


def two_apps() -> dict:
    data = copy.deepcopy(load_data_file(DEMO_DATA))
    rotating = data.pop("connected_app")
    steady = {
        **copy.deepcopy(rotating),
        "name": "Legacy Sync",
        "client_id": "3MVG9LegacySyncClientId",
        "client_secret": "LegacySyncSecret",
        "token_policy": {"refresh_token_rotation": False, "max_approvals_per_user": 1},
    }
    data["connected_apps"] = [rotating, steady]
    return data


def test_t9_each_app_in_a_list_has_its_own_policy():
    with running_emulator(two_apps()) as emu:
        steady_id, steady_secret = "3MVG9LegacySyncClientId", "LegacySyncSecret"
        assert emu.client_id != steady_id  # the first app is the default
        assert emu.token_policy() == DEMO_POLICY
        assert emu.token_policy(steady_id) == {
            "refresh_token_rotation": False,
            "refresh_token_policy": "infinite",
            "session_timeout_seconds": None,
            "max_approvals_per_user": 1,
        }
        assert [a["client_id"] for a in emu.info()["connected_apps"]] == [emu.client_id, steady_id]

        rotating = issue_token(emu)
        steady_tokens = [issue_token_for(emu, steady_id, steady_secret) for _ in range(2)]
        # The steady app keeps one approval per user; the rotating app's approval is untouched.
        assert [works(t) for t in steady_tokens] == [False, True]
        assert works(rotating)
        steady = refresh(
            emu, steady_tokens[1]["refresh_token"], client_id=steady_id, client_secret=steady_secret
        )
        assert steady.status_code == 200 and "refresh_token" not in steady.json()
        assert refresh(emu, rotating["refresh_token"]).json()["refresh_token"]
        # A refresh token only works for the app it was issued to.
        crossed = refresh(emu, steady_tokens[1]["refresh_token"], client_id=emu.client_id)
        assert crossed.json() == INVALID_GRANT
        emu.set_token_policy(steady_id, session_timeout_seconds=10)
        assert emu.token_policy()["session_timeout_seconds"] == 7200
        emu.advance_clock(11)
        assert not works(steady.json()) and works(rotating)


def test_t9_single_app_data_without_a_policy_gets_the_defaults():
    data = copy.deepcopy(load_data_file(DEMO_DATA))
    del data["connected_app"]["token_policy"]
    with running_emulator(data) as emu:
        assert emu.token_policy() == {
            "refresh_token_rotation": False,
            "refresh_token_policy": "infinite",
            "session_timeout_seconds": None,
            "max_approvals_per_user": 5,
        }
        token = issue_token(emu)
        assert "refresh_token" not in refresh(emu, token["refresh_token"]).json()


# ---------------------------------------------------------------- REST API versions


@pytest.mark.parametrize("version", ["31.0", "50.0", "59.0", "62.0", "66.0"])
def test_t9_every_served_version_answers(acme_token, version):
    """jsforce's default v50.0 included."""
    sf = simple_sf(acme_token, version=version)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 45
    describe = sf.Contact.describe()
    assert describe["name"] == "Contact"
    auth = {"Authorization": f"Bearer {acme_token['access_token']}"}
    for root in (f"v{version}", f"v{version}/"):  # both spellings, no redirect
        r = requests.get(
            f"{acme_token['instance_url']}/services/data/{root}",
            headers=auth,
            allow_redirects=False,
            timeout=5,
        )
        assert r.status_code == 200
        assert r.json()["query"] == f"/services/data/v{version}/query"


@pytest.mark.parametrize("version", ["30.0", "21.0", "20.0", "7.0"])
def test_t9_retired_versions_answer_410(sf_emulator, acme_token, version):
    sf = simple_sf(acme_token, version=version)
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT COUNT() FROM Contact")
    assert exc.value.status == 410
    assert exc.value.content == [
        {"errorCode": "GONE", "message": "The requested resource has been retired or removed."}
    ]
    bare = requests.get(f"{sf_emulator.instance_url}/services/data/v{version}/", timeout=5)
    assert bare.status_code == 410  # with or without a session


@pytest.mark.parametrize("version", ["67.0", "99.0", "abc", "50"])
def test_t9_versions_never_served_are_not_found(acme_token, version):
    sf = simple_sf(acme_token, version=version)
    with pytest.raises(SalesforceResourceNotFound):
        sf.query("SELECT COUNT() FROM Contact")


# ---------------------------------------------------------------- command line


def test_t9_spawned_emulator_takes_token_policy_flags():
    with spawn_emulator(
        token_policy={
            "session_timeout_seconds": 2,
            "refresh_token_policy": "specific_inactivity:7:DAYS",
        }
    ) as emu:
        expected = {
            **DEMO_POLICY,
            "session_timeout_seconds": 2,
            "refresh_token_policy": "specific_inactivity:7:DAYS",
        }
        assert emu.token_policy() == expected
        emu.set_token_policy(session_timeout_seconds=None)
        emu.reset()  # back to the data file plus the command line
        assert emu.token_policy() == expected
        token = issue_token(emu)
        emu.advance_clock(3)
        assert not works(token)


def test_t9_bad_token_policy_flag_stops_the_emulator():
    with pytest.raises(RuntimeError, match="session_timeout_seconds"):
        spawn_emulator(token_policy={"session_timeout_seconds": -1}, startup_timeout=10)
