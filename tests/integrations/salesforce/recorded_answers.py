"""Salesforce's documented answers, recorded from the emulator: the cases and how to get each.

``python -m tests.integrations.salesforce.recorded_answers`` re-records them into ``recorded/``
from a fresh emulator. ``test_client_recorded.py`` replays them with ``responses`` (fast, no
emulator), checks each against Salesforce's documentation, and checks the live emulator still
answers the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import requests

from salesforce_emulator.demo_names import ACME_ADMIN, ACME_ORG_ID

HERE = Path(__file__).resolve().parent / "recorded"
VERSION = "62.0"

# name: (kind, fault or None, what to send)
REST_CASES = {
    "rest_401_invalid_session": (None, {"q": "SELECT Id FROM Contact"}, "bogus-token"),
    "rest_403_request_limit_exceeded": ("request_limit_exceeded", {"q": "SELECT Id FROM Contact"}, None),
    "rest_403_api_disabled_for_org": ("api_disabled_org", {"q": "SELECT Id FROM Contact"}, None),
    "rest_403_api_currently_disabled": ("api_disabled_user", {"q": "SELECT Id FROM Contact"}, None),
    "rest_400_malformed_query": (None, {"q": "SELECT FROM Contact"}, None),
    "rest_400_invalid_field": (None, {"q": "SELECT Id, Shoe_Size__c FROM Contact"}, None),
    "rest_400_invalid_type": (None, {"q": "SELECT Id FROM Spaceship__c"}, None),
    "rest_500": ("http_500", {"q": "SELECT Id FROM Contact"}, None),
    "rest_503": ("http_503", {"q": "SELECT Id FROM Contact"}, None),
}  # fmt: skip
OAUTH_CASES = {
    "oauth_invalid_grant_refresh": {"grant_type": "refresh_token", "refresh_token": "5Aep.bogus"},
    "oauth_invalid_client_id": {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nope"},
    "oauth_invalid_client": {"grant_type": "refresh_token", "refresh_token": "x", "client_secret": "nope"},
}  # fmt: skip


def drive(emulator, name: str, access_token: str) -> requests.Response:
    """Ask the live emulator for case ``name`` (faults set and cleared around the request)."""
    if name in REST_CASES:
        fault, params, token = REST_CASES[name]
        if fault:
            user = ACME_ADMIN if fault == "api_disabled_user" else None
            emulator.set_fault(fault, org_id=ACME_ORG_ID, username=user)
        try:
            return requests.get(
                f"{emulator.instance_url}/services/data/v{VERSION}/query/",
                params=params,
                headers={"Authorization": f"Bearer {token or access_token}"},
                timeout=10,
            )
        finally:
            if fault:
                emulator.clear_faults()
    form = {"client_id": emulator.client_id, "client_secret": emulator.client_secret}
    form.update(OAUTH_CASES[name])
    return requests.post(f"{emulator.login_url}/services/oauth2/token", data=form, timeout=10)


def load(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text())


def record() -> None:
    from salesforce_emulator.testing import running_emulator
    from tests.salesforce_support import issue_token

    with running_emulator() as emulator:
        token = issue_token(emulator)["access_token"]
        HERE.mkdir(exist_ok=True)
        for name in [*REST_CASES, *OAUTH_CASES]:
            answer = drive(emulator, name, token)
            body = {"status": answer.status_code, "body": answer.json()}
            (HERE / f"{name}.json").write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
            print(name, answer.status_code)


if __name__ == "__main__":
    record()
