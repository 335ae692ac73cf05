"""Issue 6, Security "Headers and settings": CSRF on every state-changing request, a CSP the pages
work under, secure cookies and HSTS in production, ``check --deploy`` clean with production values.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, client_for

from .test_access_sweep import build_url, product_routes, workspace_routes

pytestmark = pytest.mark.django_db
BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture
def world(acme, owner, agent, conversation, contact):
    from workspace.models import Membership

    return {
        "contacts": contact.pk,
        "inbox": conversation.pk,
        "deliveries": conversation.pk,  # a reply's retry, served by api beside its conversation
        "workspace": Membership.objects.get(user=agent, workspace=acme).pk,
        "panel": "salesforce",
        "api": 1,  # an API key's id (issue 14): the POST is refused before any lookup
    }


# The inbound API (issue 14) authenticates with a bearer key, never the session cookie, so CSRF
# does not apply to it (tests/api/test_inbound_api.py: a signed-in browser without a key gets 401).
BEARER_ONLY_PREFIX = "api/v1/"


def _is_csrf_failure(response) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


def test_csrf_enforced_on_every_post_of_the_product(world, owner):
    """Every URL, posted without a token by an Owner (who may do everything): 403 CSRF."""
    browser = Client(enforce_csrf_checks=True)
    client_for(browser, owner)
    urls = [build_url(route, name, world) for route, name, _ in workspace_routes()]
    urls += [
        "/" + route
        for route, _, _ in product_routes()
        if not route.startswith(("w/", BEARER_ONLY_PREFIX))
    ]
    refused = {url: browser.post(url, {"body": "x", "role": "agent"}) for url in urls}
    failures = {url: r.status_code for url, r in refused.items() if not _is_csrf_failure(r)}
    assert not failures, failures
    assert len(refused) >= 15


def test_csrf_sign_in_form_needs_its_token(acme, owner):
    browser = Client(enforce_csrf_checks=True)
    login = reverse("workspace:login")
    response = browser.post(login, {"username": owner.email, "password": PASSWORD})
    assert _is_csrf_failure(response)
    page = browser.get(login)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = browser.post(
        login, {"username": owner.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302  # with the token the same request works


def test_csrf_htmx_requests_carry_the_token_header(client, owner, conversation):
    """htmx posts (reply, close) send the token through hx-headers on <body> (docs/decisions.md)."""
    client_for(client, owner)
    html = client.get(reverse("inbox:detail", args=["acme", conversation.pk])).content.decode()
    assert re.search(r"<body[^>]*hx-headers='\{&quot;X-CSRFToken&quot;: &quot;[^&]+", html) or (
        re.search(r"<body[^>]*hx-headers=[\"'][^>]*X-CSRFToken", html)
    ), "no CSRF header for htmx on <body>"


PAGES = [
    ("inbox:list", lambda w: ["acme"]),
    ("inbox:detail", lambda w: ["acme", w["inbox"]]),
    ("contacts:list", lambda w: ["acme"]),
    ("contacts:detail", lambda w: ["acme", w["contacts"]]),
    ("contacts:edit", lambda w: ["acme", w["contacts"]]),
    ("integrations:list", lambda w: ["acme"]),
    ("integrations:salesforce:manage", lambda w: ["acme"]),
    ("workspace:members", lambda w: ["acme"]),
]


@pytest.mark.parametrize("name,args", PAGES, ids=[p[0] for p in PAGES])
def test_csp_header_on_pages_and_pages_work_under_it(client, world, owner, name, args):
    """django-csp sends the policy; the pages need nothing it forbids (no inline script/style)."""
    client_for(client, owner)
    response = client.get(reverse(name, args=args(world)))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip()
    )
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, f"inline script blocked by CSP: {tag}"
    assert not re.search(r"<style\b", html), "inline <style> blocked by CSP"
    assert not re.search(r"\sstyle=", html), "style attribute blocked by CSP"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler blocked by CSP"
    assert not re.search(r"hx-on[:-]", html), "hx-on evaluates code: blocked with allowEval false"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_csp_on_the_sign_in_page(client):
    response = client.get(reverse("workspace:login"))
    assert "default-src 'self'" in response["Content-Security-Policy"]


def _production_env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECURE_", "SALESFORCE_", "DEBUG", "PYTEST"))
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="inbox.example.com",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_PRELOAD="1",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        SALESFORCE_CLIENT_ID="3MVG9production-client-id",
        SALESFORCE_CLIENT_SECRET=secrets.token_hex(32),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(extra)
    return env


def _run(code: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, *code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_is_clean_with_production_values():
    """README's production values (plus SECURE_SSL_REDIRECT and HSTS preload) pass --deploy."""
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_when_the_proxy_redirects_and_preload_is_not_wanted():
    """README: behind a proxy that redirects to https, the two checks are silenced on purpose."""
    env = _production_env(
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_PRELOAD="0",
        SILENCED_SYSTEM_CHECKS="security.W008,security.W021",
    )
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_have_secure_cookies_and_hsts():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.DEBUG, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = _run(["-c", code], _production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True True True True True False True ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_production_https_responses_carry_hsts_and_secure_cookies(client, owner, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/signin/").status_code == 301  # plain http is sent to https
    response = client.get("/signin/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.cookies["csrftoken"]["secure"]
    login = client.post("/signin/", {"username": owner.email, "password": PASSWORD}, secure=True)
    assert login.status_code == 302
    session_cookie = login.cookies[settings.SESSION_COOKIE_NAME]
    assert session_cookie["secure"] and session_cookie["httponly"]
