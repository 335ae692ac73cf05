"""Issue 6, Security "OAuth": what tests/integrations/salesforce/test_connect.py does not already
prove (missing, forged, replayed state, replayed code and PKCE mismatch live there):
another workspace's state, foreign login hosts, and a callback that never redirects off-site.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.salesforce import oauth
from integrations.salesforce.models import SalesforceConnection
from integrations.salesforce.pending import PENDING_SESSION_KEY
from tests.conftest import PASSWORD, client_for
from tests.integrations.salesforce.flow import callback, connect_url, manage_url, start
from tests.salesforce_support import consent
from workspace.models import Membership, Role

pytestmark = pytest.mark.django_db


def _nothing_stored() -> bool:
    return not SalesforceConnection.objects.exists()


@pytest.fixture
def two_hats(acme, globex, agent):
    """Agent in Acme, Owner in Globex: may connect Globex, never Acme."""
    Membership.objects.create(user=agent, workspace=globex, role=Role.OWNER)
    return agent


def test_s02_state_is_bound_to_the_workspace_it_was_started_for(client, sf, owner, acme, globex):
    """An admin of both workspaces starts in Globex: only Globex gets connected, whatever page
    the callback lands on."""
    Membership.objects.create(user=owner, workspace=globex, role=Role.OWNER)
    client_for(client, owner)
    params = consent(start(client, "globex"))
    client.get(manage_url("acme"))  # the person wanders to Acme's page meanwhile
    response = callback(client, params)
    assert response.status_code == 302 and response["Location"] == manage_url("globex")
    assert SalesforceConnection.objects.get().workspace == globex


def test_s02_other_workspace_state_is_refused(client, sf, two_hats, acme, globex):
    """A state started for Globex, re-pointed at Acme (where this person is an Agent): refused."""
    client_for(client, two_hats)
    params = consent(start(client, "globex"))
    session = client.session
    session[PENDING_SESSION_KEY][params["state"]]["workspace_id"] = acme.pk
    session.save()
    response = callback(client, params)
    assert response.status_code == 403
    assert b"no longer an Owner or Manager" in response.content
    assert _nothing_stored()
    assert not client.session[PENDING_SESSION_KEY]  # spent, not reusable for Globex either
    assert callback(client, params).status_code == 400
    assert _nothing_stored()


def test_s02_agent_of_acme_cannot_start_a_flow_for_acme(client, sf, two_hats, acme):
    client_for(client, two_hats)
    assert client.post(connect_url("acme"), {"login_choice": sf.login_url}).status_code == 403
    assert not client.session.get(PENDING_SESSION_KEY)


def test_s02_state_of_a_workspace_the_person_left_is_refused(client, sf, owner, acme, globex):
    Membership.objects.create(user=owner, workspace=globex, role=Role.OWNER)
    client_for(client, owner)
    params = consent(start(client, "globex"))
    Membership.objects.filter(user=owner, workspace=globex).delete()
    response = callback(client, params)
    assert response.status_code == 403
    assert _nothing_stored()


@pytest.mark.parametrize("next_param", ["next", "return_to", "redirect_uri", "RelayState"])
def test_s02_callback_never_redirects_to_a_foreign_url(client, sf, owner, acme, next_param):
    client_for(client, owner)
    params = consent(start(client))
    params[next_param] = "https://evil.example.com/phish"
    response = callback(client, params)
    assert response.status_code == 302
    assert response["Location"] == manage_url()  # our own relative URL, nothing else


def test_s02_refused_callback_links_only_to_our_own_pages(client, sf, owner, acme):
    client_for(client, owner)
    params = consent(start(client))
    response = callback(
        client, {"state": "forged", "code": params["code"], "next": "https://evil.example.com/"}
    )
    assert response.status_code == 400
    assert b"evil.example.com" not in response.content
    assert _nothing_stored()


def test_sign_in_next_to_a_foreign_host_is_ignored(client, owner, acme):
    response = client.post(
        reverse("workspace:login") + "?next=https://evil.example.com/",
        {"username": owner.email, "password": PASSWORD, "next": "https://evil.example.com/"},
    )
    assert response.status_code == 302
    assert "evil.example.com" not in response["Location"]


# --- the Connect form's login host (S2, docs/decisions.md "Login host per connection") -------
FOREIGN_HOSTS = [
    "https://evil.example.com",
    "https://login.salesforce.com.evil.example.com",
    "https://evil.example.com/.my.salesforce.com",
    "https://evil.example.com?.my.salesforce.com",
    "https://evil.example.com#.my.salesforce.com",
    "https://login.salesforce.com@evil.example.com",
    "https://user:pw@acme.my.salesforce.com",
    # Browsers read "\" as "/" in https URLs: this is evil.example.com with a path.
    "https://evil.example.com\\.my.salesforce.com",
    "https://evil.example.com%2f.my.salesforce.com",
    "https://evil.example.com;.my.salesforce.com",
    "https://evil.example.com&.my.salesforce.com",
    "https://a b.my.salesforce.com",
    "https://.my.salesforce.com",
    "https://acme..my.salesforce.com",
    "https://evil.example.com:443.my.salesforce.com",
    "https://acme.my.salesforce.com:8443",
    "http://acme.my.salesforce.com",
    "javascript:alert(1)//acme.my.salesforce.com",
    "//evil.example.com",
    "https://my.salesforce.com.evil.example.com",
    "https://evilmy.salesforce.com",
]


@pytest.mark.parametrize("url", FOREIGN_HOSTS)
def test_s02_validate_login_url_refuses_foreign_hosts(settings, url):
    settings.SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
    settings.SALESFORCE_LOGIN_URLS = []
    with pytest.raises(ValueError):
        oauth.validate_login_url(url)


@pytest.mark.parametrize(
    "url,origin",
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://TEST.salesforce.com/", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com"),
        ("https://acme-1.my.salesforce.com:443", "https://acme-1.my.salesforce.com"),
        (
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://acme--uat.sandbox.my.salesforce.com",
        ),
    ],
)
def test_s02_validate_login_url_accepts_salesforce_hosts(settings, url, origin):
    settings.SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
    settings.SALESFORCE_LOGIN_URLS = []
    assert oauth.validate_login_url(url) == origin


@pytest.mark.parametrize(
    "url", ["https://evil.example.com\\.my.salesforce.com", "https://evil.example.com"]
)
def test_s02_connect_never_redirects_to_a_foreign_host(client, sf, owner, acme, url):
    client_for(client, owner)
    response = client.post(connect_url(), {"login_choice": "mydomain", "my_domain_url": url})
    assert response.status_code == 400
    assert not client.session.get(PENDING_SESSION_KEY)
    response = client.post(connect_url(), {"login_choice": url})  # not one of the offered choices
    assert response.status_code == 400
    assert not client.session.get(PENDING_SESSION_KEY)
