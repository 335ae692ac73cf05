"""Issue 6, Security "Sign-in throttling": django-axes locks an email+IP pair after 5 failures."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/signin/"


def sign_in(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _locked(response) -> bool:
    return response.status_code == 429 and b"Too many failed sign-in attempts" in response.content


def test_sixth_attempt_is_locked_out_even_with_the_right_password(client, owner):
    for attempt in range(4):
        response = sign_in(client, owner.email, "wrong-password")
        assert response.status_code == 200, attempt  # the form again, with its error
        assert b"do not match an account" in response.content
    assert _locked(sign_in(client, owner.email, "wrong-password"))  # the 5th failure locks
    response = sign_in(client, owner.email, PASSWORD)  # the 6th attempt, right password
    assert _locked(response)
    assert "_auth_user_id" not in client.session
    # The lockout page is the product's, with a way back; no stack trace.
    assert reverse("workspace:login").encode() in response.content


def test_lockout_counts_case_and_whitespace_variants_of_one_email(client, owner):
    """The email form lowercases and trims: ``OWNER@ACME.TEST`` must not be a fresh counter."""
    variants = [owner.email.upper(), f" {owner.email} ", owner.email.title(), "Owner@acme.test"]
    for username in variants:
        assert sign_in(client, username, "wrong-password").status_code == 200
    assert _locked(sign_in(client, owner.email, "wrong-password"))
    assert _locked(sign_in(client, owner.email.upper(), PASSWORD))
    assert _locked(sign_in(client, owner.email, PASSWORD))


def test_lockout_is_per_email_and_ip(client, owner, manager):
    for _ in range(5):
        sign_in(client, owner.email, "wrong-password", ip="10.0.0.1")
    assert _locked(sign_in(client, owner.email, PASSWORD, ip="10.0.0.1"))
    # Another person from the same address, and the same person elsewhere, still sign in.
    assert sign_in(client, manager.email, PASSWORD, ip="10.0.0.1").status_code == 302
    client.logout()
    assert sign_in(client, owner.email, PASSWORD, ip="10.0.0.2").status_code == 302


def test_fewer_failures_then_success_resets_the_counter(client, owner):
    for _ in range(4):
        sign_in(client, owner.email, "wrong-password")
    assert sign_in(client, owner.email, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, owner.email, "wrong-password")
    assert sign_in(client, owner.email, PASSWORD).status_code == 302  # AXES_RESET_ON_SUCCESS
