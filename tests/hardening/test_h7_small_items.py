"""H7: the smaller items: proxy header, mailto, bidi controls, wrong-key throttle, Owners'
invitations, the requests floor, Permissions-Policy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
from django.urls import reverse
from requests.adapters import HTTPAdapter

from api.keys import api_key_create
from contacts.models import Contact
from inbox.models import Conversation, Message
from tests.conftest import client_for
from workspace.emails import mailto_url
from workspace.invitations import InvitationError, invitation_create, invitation_revoke
from workspace.models import Invitation, Role

ROOT = Path(__file__).resolve().parents[2]
RLO = "\u202e"


# --- proxy header -------------------------------------------------------------------------------
def _proxy_header(**env) -> str:
    keep = {k: v for k, v in os.environ.items() if k != "TRUSTED_PROXY_COUNT"}
    return subprocess.run(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.SECURE_PROXY_SSL_HEADER)",
        ],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


def test_h7_x_forwarded_proto_is_believed_only_behind_a_declared_proxy():
    assert _proxy_header() == "None"
    assert _proxy_header(TRUSTED_PROXY_COUNT="1") == "('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.django_db
def test_h7_a_forged_proto_header_does_not_make_plain_http_secure(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(reverse("workspace:login"), headers={"x-forwarded-proto": "https"})
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


# --- mailto -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "href"),
    [
        ("jane.cooper@northwind.example", "mailto:jane.cooper@northwind.example"),
        ("o'brien@example.com", "mailto:o'brien@example.com"),
        ("jane?cc=boss@example.com", "mailto:jane%3Fcc=boss@example.com"),
        ("a&body=x#y@example.com", "mailto:a%26body=x%23y@example.com"),
        ('"x?cc=evil@attacker.example&body=hi"@example.com', None),
        ("", None),
    ],
)
def test_h7_mailto_links_address_only_the_contact(address, href):
    assert mailto_url(address) == href


@pytest.mark.django_db
def test_h7_no_mailto_link_for_a_quoted_local_part(client, agent, acme):
    quoted = Contact.objects.create(
        workspace=acme, name="Quoted", email='"x?cc=evil@attacker.example&body=hi"@example.com'
    )
    page = client_for(client, agent).get(
        reverse("contacts:panel", args=["acme", quoted.pk, "details"])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "mailto:" not in html
    assert "x?cc=evil@attacker.example&amp;body=hi" in html  # still shown, as text


# --- bidi controls ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_h7_bidi_controls_never_reach_a_page(client, agent, acme):
    contact = Contact.objects.create(
        workspace=acme, name=f"invoice{RLO}fdp.exe \u2067Ann\u2069", email="ann@example.com"
    )
    conversation = Conversation.objects.create(
        workspace=acme, contact=contact, subject=f"Refund {RLO}321"
    )
    Message.objects.create(conversation=conversation, direction="in", body=f"hi {RLO}there")
    client_for(client, agent)
    pages = [
        reverse("contacts:list", args=["acme"]),
        reverse("contacts:detail", args=["acme", contact.pk]),
        reverse("inbox:list", args=["acme"]),
        reverse("inbox:detail", args=["acme", conversation.pk]),
    ]
    for url in pages:
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", html), url
        if response.has_header("Content-Length"):
            assert int(response["Content-Length"]) == len(response.content)
    assert "invoicefdp.exe" in client.get(pages[0]).content.decode()
    contact.refresh_from_db()
    assert RLO in contact.name  # stored as given; only pages drop it


# --- wrong API keys -----------------------------------------------------------------------------
def _api(client, key: str, address: str):
    body = {
        "external_id": "x",
        "channel": "sms",
        "from": {"phone": "+15550100"},
        "text": "hi",
    }
    return client.post(
        "/api/v1/w/acme/messages",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
def test_h7_wrong_api_keys_are_throttled_per_address(client, acme, settings):
    settings.API_FAILED_KEYS_PER_MINUTE = 3
    api_key = (None, api_key_create(workspace=acme, name="Bridge", created_by=None).secret)
    wrong = api_key[1][:-4] + "XXXX"
    statuses = [_api(client, wrong, "203.0.113.7").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    throttled = _api(client, wrong, "203.0.113.7")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert _api(client, wrong, "198.51.100.9").status_code == 401  # another address
    assert _api(client, api_key[1], "198.51.100.9").status_code == 201


# --- Owners' invitations ------------------------------------------------------------------------
@pytest.mark.django_db
def test_h7_only_owners_revoke_owners_invitations(client, owner, manager, acme, mailoutbox):
    invitation = invitation_create(
        workspace=acme, email="co-owner@example.com", role=Role.OWNER, invited_by=owner
    )
    url = reverse("workspace:invitation_revoke", args=["acme", invitation.pk])
    assert client_for(client, manager).post(url).status_code == 403
    with pytest.raises(InvitationError):
        invitation_revoke(invitation=invitation, actor=manager)
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    assert client_for(client, owner).post(url).status_code == 302
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


@pytest.mark.django_db
def test_h7_managers_still_revoke_agents_invitations(client, owner, manager, acme, mailoutbox):
    invitation = invitation_create(
        workspace=acme, email="new.agent@example.com", role=Role.AGENT, invited_by=manager
    )
    url = reverse("workspace:invitation_revoke", args=["acme", invitation.pk])
    assert client_for(client, manager).post(url).status_code == 302
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


# --- requests floor -----------------------------------------------------------------------------
def test_h7_requests_floor_has_the_hook_address_pinning_overrides():
    # api.webhooks._PinnedHostAdapter overrides build_connection_pool_key_attributes, public
    # since requests 2.32.3; an older requests would silently skip the override (no pinning).
    assert hasattr(HTTPAdapter, "build_connection_pool_key_attributes")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.match(r"requests[><=]", d))
    floor = tuple(int(p) for p in re.search(r">=([\d.]+)", spec).group(1).split("."))
    assert floor >= (2, 32, 3), spec
    assert tuple(int(p) for p in requests.__version__.split(".")[:3]) >= floor


# --- Permissions-Policy -------------------------------------------------------------------------
@pytest.mark.django_db
def test_h7_permissions_policy_header_on_pages_and_the_api(client):
    for response in (
        client.get(reverse("workspace:login")),
        client.post("/api/v1/w/acme/messages", data="{}", content_type="application/json"),
    ):
        policy = response["Permissions-Policy"]
        for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
            assert feature in policy
