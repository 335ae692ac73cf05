"""Fixtures for the Salesforce emulator's tests: one live emulator per session, reset per test.

These tests use no database: they talk to the emulator over real HTTP. The demo org's names are
in salesforce_emulator/demo_names.py; the code flow (``authorize``, ``issue_token``) is in
tests/salesforce_support.py, shared with the re-recording script (recorded_answers.py).
"""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce

from integrations.salesforce.transport import InstanceSession
from salesforce_emulator.demo_names import ACME_ADMIN
from salesforce_emulator.testing import running_emulator
from tests.salesforce_support import issue_token


@pytest.fixture(scope="session")
def sf_emulator():
    with running_emulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def sf_reset(request):
    """Reset the session emulator after each test that used it (data, tokens, faults, logs)."""
    yield
    if "sf_emulator" in request.fixturenames:
        request.getfixturevalue("sf_emulator").reset()


def simple_sf(token: dict, version: str = "62.0") -> Salesforce:
    session = InstanceSession(token["instance_url"], timeout=5)
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version=version,
        session=session,
    )


@pytest.fixture
def acme_token(sf_emulator):
    return issue_token(sf_emulator, ACME_ADMIN)


@pytest.fixture
def sf(acme_token):
    return simple_sf(acme_token)
