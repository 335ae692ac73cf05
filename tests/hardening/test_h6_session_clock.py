"""H6: session timeouts count from sign-in, not from the first request after it."""

from __future__ import annotations

import pytest
from django.urls import reverse

import workspace.middleware as middleware
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT = 12 * 3600
    settings.SESSION_IDLE_TIMEOUT = 2 * 3600
    now = [1_000_000.0]
    monkeypatch.setattr(middleware, "_now", lambda: now[0])
    return now


def _sign_in(client) -> None:
    response = client.post(
        reverse("workspace:login"), {"username": "owner@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 302, response.content[:300]


def test_h6_idle_timeout_counts_from_sign_in(client, owner, clock):
    _sign_in(client)
    clock[0] += 2 * 3600 + 1  # no request at all since signing in
    response = client.get(reverse("inbox:list", args=["acme"]))
    assert response.status_code == 302 and "/signin/" in response["Location"]


def test_h6_absolute_timeout_counts_from_sign_in(client, owner, clock, settings):
    settings.SESSION_IDLE_TIMEOUT = 24 * 3600  # only the absolute timeout can end it here
    _sign_in(client)
    clock[0] += 12 * 3600 - 10
    inbox = reverse("inbox:list", args=["acme"])
    assert client.get(inbox).status_code == 200  # the first request, late in the day
    clock[0] += 11
    response = client.get(inbox)
    assert response.status_code == 302 and "/signin/" in response["Location"]


def test_h6_a_session_used_at_once_still_works_within_the_timeouts(client, owner, clock):
    _sign_in(client)
    clock[0] += 2 * 3600 - 10
    assert client.get(reverse("inbox:list", args=["acme"])).status_code == 200
