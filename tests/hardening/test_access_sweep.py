"""Issue 6, Security: the access-control sweep over EVERY URL pattern of the product (W2, W3, S1).

The sweep walks the resolver, so a URL added tomorrow is swept too:

- every ``/w/<slug>/...`` view must carry :func:`workspace.access.workspace_view` (its
  ``workspace_roles`` attribute), else the sweep fails;
- a non-member (member of Globex only) gets 404 for every Acme URL, GET and POST;
- an Agent (and a Manager, for Owner-only actions) gets 403 on every action their role lacks;
- a method the view does not take answers 405 for everyone, member or not, existing workspace
  or not (docs/decisions.md: 405 for everyone), so 405 tells nobody that a workspace exists.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from api.keys import api_key_create
from inbox.models import Conversation
from tests.conftest import client_for
from workspace.models import Membership

pytestmark = pytest.mark.django_db

# Routes outside any workspace, each reviewed by hand: a new one must be added here on purpose.
PUBLIC_ROUTES = {
    "",  # home: sign-in required, redirects to the person's own workspace
    "signin/",
    "signout/",
    "welcome/",  # M3: sign-in required; asks a person without a name for one (their own row)
    "integrations/salesforce/callback/",  # the fixed OAuth callback; state names the workspace
    # Issue 14: the signed invitation link and Django's password-reset views (no workspace yet).
    "invitations/<str:token>/",
    "password-reset/",
    "password-reset/sent/",
    "password-reset/<uidb64>/<token>/",
    "password-reset/done/",
    # The inbound API (its own bearer-key auth: another workspace's slug answers 404), its
    # OpenAPI schema and docs, and Django Ninja's root (a 404 that names the docs URL).
    "api/v1/w/<slug>/messages",
    "api/v1/openapi.json",
    "api/v1/docs",
    "api/v1/",
}
WORKSPACE_PREFIX = "w/<slug:slug>/"


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            full_ns = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), full_ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else (entry.name or "")
            yield prefix + str(entry.pattern), name, entry.callback


def product_routes() -> list[tuple[str, str, object]]:
    routes = []
    for route, name, view in _walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "static/", "^static", "media/")):
            continue
        routes.append((route, name, view))
    return routes


def workspace_routes():
    return [r for r in product_routes() if r[0].startswith(WORKSPACE_PREFIX)]


@pytest.fixture
def world(acme, globex, owner, manager, agent, outsider, conversation, contact):
    """Real Acme objects to put in the URLs, so a 404 is about membership, not a missing row."""
    return {
        "slug": "acme",
        "contacts": contact.pk,
        "inbox": conversation.pk,
        "deliveries": conversation.pk,  # a reply's retry, served by api beside its conversation
        "workspace": Membership.objects.get(user=agent, workspace=acme).pk,
        "panel": "salesforce",
        # Issue 14: an API key; <pk> of an invitation route reuses "workspace" (a 404 or 403 either way).
        "api": api_key_create(workspace=acme, name="Sweep", created_by=None).api_key.pk,
    }


def build_url(route: str, name: str, world: dict, slug: str = "acme") -> str:
    def value(match: re.Match) -> str:
        arg = match.group(2)
        if arg == "slug":
            return slug
        if arg == "panel":
            return world["panel"]
        if arg == "pk":
            return str(world[name.split(":")[0]])
        if arg == "contact_pk":  # issue 15: the Salesforce panel's change check (F5)
            return str(world["contacts"])
        if arg == "conversation_pk":  # issue 23: Log to Salesforce (A5)
            return str(world["inbox"])
        raise AssertionError(f"the sweep does not know how to fill <{arg}> in {route}")

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


def _status(client, method: str, url: str) -> int:
    response = getattr(client, method)(url)
    return response.status_code


def test_w2_the_sweep_sees_the_products_urls():
    """Guard against a vacuous sweep: the URLs the SPEC names are among those walked."""
    names = {name for _, name, _ in workspace_routes()}
    for expected in [
        "inbox:list",
        "inbox:reply",
        "contacts:detail",
        "contacts:panel",
        "contacts:delete",
        "integrations:list",
        "integrations:salesforce:manage",
        "integrations:salesforce:connect",
        "integrations:salesforce:disconnect",
        "integrations:salesforce:fields",
        "integrations:salesforce:badges",
        "workspace:member_role",
    ]:
        assert expected in names, expected


def test_w2_every_workspace_url_uses_the_one_permission_helper():
    """A /w/<slug>/ view without @workspace_view (no ``workspace_roles``) fails this test."""
    missing = [
        f"/{route} ({name})"
        for route, name, view in workspace_routes()
        if not hasattr(view, "workspace_roles")
    ]
    assert not missing, f"workspace URLs without @workspace_view: {missing}"


def test_w2_urls_outside_a_workspace_are_the_reviewed_few():
    others = {route for route, _, _ in product_routes() if not route.startswith(WORKSPACE_PREFIX)}
    assert others <= PUBLIC_ROUTES, f"new URL outside /w/<slug>/: {others - PUBLIC_ROUTES}"


def test_w2_non_member_gets_404_for_every_acme_url_get_and_post(client, world, outsider):
    client_for(client, outsider)
    stranger = Client()  # a non-member asking about a workspace that does not exist at all
    client_for(stranger, outsider)
    failures = []
    for route, name, _ in workspace_routes():
        url = build_url(route, name, world)
        missing_ws_url = build_url(route, name, world, slug="no-such-workspace")
        answered = set()
        for method in ("get", "post"):
            status = _status(client, method, url)
            answered.add(status)
            if status == 405:
                # Method check first, for everyone: the same answer for a workspace that doesn't exist.
                if _status(stranger, method, missing_ws_url) != 405:
                    failures.append(f"{method.upper()} {url}: 405 leaks the workspace")
            elif status != 404:
                failures.append(f"{method.upper()} {url}: {status}")
        if answered == {405}:
            failures.append(f"{url}: answered 405 to both GET and POST")
    assert not failures, failures
    assert not Conversation.objects.get(pk=world["inbox"]).messages.filter(author=outsider).exists()


@pytest.mark.parametrize("role_fixture", ["agent", "manager"])
def test_s01_w3_role_without_permission_gets_403_get_and_post(request, client, world, role_fixture):
    """An Agent gets 403 on every Owner/Manager action; a Manager on every Owner-only one."""
    user = request.getfixturevalue(role_fixture)
    role = Membership.objects.get(user=user, workspace__slug="acme").role
    client_for(client, user)
    outsider_client = Client()
    client_for(outsider_client, request.getfixturevalue("outsider"))
    restricted, failures = [], []
    for route, name, view in workspace_routes():
        roles = view.workspace_roles
        if roles is None or role in roles:
            continue
        restricted.append(name)
        url = build_url(route, name, world)
        for method in ("get", "post"):
            status = _status(client, method, url)
            if status == 405 and _status(outsider_client, method, url) == 405:
                continue  # the method is not taken at all: 405 for everyone
            if status != 403:
                failures.append(f"{role} {method.upper()} {url}: {status}")
    assert not failures, failures
    if role_fixture == "agent":
        assert {
            "integrations:salesforce:connect",
            "integrations:salesforce:disconnect",
            "integrations:salesforce:fields",
            "workspace:member_role",
        } <= set(restricted)
    else:
        # M3: no route is Owner-only any more; which member a Manager may change or remove
        # (Agents only) is decided per row (tests/workspace/test_members.py).
        assert restricted == []


def test_w2_members_reach_every_url_their_role_allows(client, world, agent):
    """Positive control: the sweep's URLs are real, so the 404s above are about membership."""
    client_for(client, agent)
    for route, name, view in workspace_routes():
        if view.workspace_roles is not None:
            continue
        url = build_url(route, name, world)
        statuses = {m: _status(client, m, url) for m in ("get", "post")}
        assert 404 not in statuses.values() and 403 not in statuses.values(), (url, statuses)
        assert 500 not in statuses.values(), (url, statuses)
