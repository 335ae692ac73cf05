"""H3: emailed links and the OAuth callback start with SITE_URL (required without DEBUG), never
with the request's Host header."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from tests.conftest import client_for
from tests.integrations.salesforce.flow import connect_url
from workspace.onboarding import workspace_create

ROOT = Path(__file__).resolve().parents[2]
SITE = "https://inbox.example.com"
EVIL = "evil.example"


@pytest.fixture
def any_host(settings):
    """The worst case the issue names: a wildcard ALLOWED_HOSTS, so any Host header is served."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = SITE


def _links(text: str) -> list[str]:
    return re.findall(r"https?://\S+", text)


def _start(**env) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SITE_URL")}
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_h3_without_debug_site_url_is_required():
    missing = _start(DEBUG="0")
    assert missing.returncode != 0
    assert "SITE_URL is not set" in missing.stderr
    assert _start(DEBUG="0", SITE_URL="inbox.example.com").returncode != 0  # no scheme
    assert _start(DEBUG="0", SITE_URL=SITE).returncode == 0, _start(DEBUG="0", SITE_URL=SITE).stderr
    assert _start(DEBUG="1").returncode == 0


@pytest.mark.django_db
def test_h3_invitation_link_ignores_the_host_header(client, owner, any_host, mailoutbox):
    client_for(client, owner)
    response = client.post(
        reverse("workspace:invite", kwargs={"slug": "acme"}),
        {"email": "new.agent@example.com", "role": "agent"},
        headers={"host": EVIL},
    )
    assert response.status_code == 302, response.content[:300]
    links = _links(mailoutbox[0].body)
    assert links and all(link.startswith(f"{SITE}/invitations/") for link in links), links
    assert EVIL not in mailoutbox[0].body


@pytest.mark.django_db
def test_h3_password_reset_link_ignores_the_host_header(client, owner, any_host, mailoutbox):
    response = client.post(
        reverse("password_reset"), {"email": "owner@acme.test"}, headers={"host": EVIL}
    )
    assert response.status_code == 302
    links = _links(mailoutbox[0].body)
    assert links and all(link.startswith(f"{SITE}/password-reset/") for link in links), links
    assert EVIL not in mailoutbox[0].body


@pytest.mark.django_db
def test_h3_createworkspace_link_starts_with_site_url(settings):
    settings.SITE_URL = SITE
    created = workspace_create(name="Initech", owner_email="peter@initech.example")
    assert created.set_password_url.startswith(f"{SITE}/password-reset/")


@pytest.mark.django_db
def test_h3_oauth_callback_is_built_from_site_url(client, sf, owner, any_host, settings):
    settings.SALESFORCE_CALLBACK_URL = ""
    client_for(client, owner)
    response = client.post(
        connect_url("acme"), {"login_choice": settings.SALESFORCE_LOGIN_URL}, headers={"host": EVIL}
    )
    assert response.status_code == 302, response.content[:300]
    params = parse_qs(urlsplit(response["Location"]).query)
    assert params["redirect_uri"] == [f"{SITE}/integrations/salesforce/callback/"]


@pytest.mark.django_db
def test_h3_with_debug_and_no_site_url_links_follow_the_request(
    client, owner, settings, mailoutbox
):
    settings.SITE_URL = ""
    client_for(client, owner)
    client.post(
        reverse("workspace:invite", kwargs={"slug": "acme"}),
        {"email": "new.agent@example.com", "role": "agent"},
    )
    assert _links(mailoutbox[0].body)[0].startswith("http://testserver/invitations/")
