"""W1, W2: workspace membership decides everything; another workspace's URLs answer 404."""

import pytest
from django.urls import reverse

from tests.conftest import client_for
from workspace.models import Membership, Role

pytestmark = pytest.mark.django_db


def acme_urls(contact, conversation):
    return [
        reverse("inbox:list", args=["acme"]),
        reverse("inbox:detail", args=["acme", conversation.pk]),
        reverse("contacts:list", args=["acme"]),
        reverse("contacts:detail", args=["acme", contact.pk]),
        reverse("contacts:edit", args=["acme", contact.pk]),
        reverse("contacts:panel", args=["acme", contact.pk, "details"]),
        reverse("integrations:list", args=["acme"]),
        reverse("workspace:members", args=["acme"]),
    ]


def test_w2_member_of_another_workspace_gets_404_on_every_acme_url(
    client, outsider, contact, conversation
):
    client_for(client, outsider)
    for url in acme_urls(contact, conversation):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Jane Cooper" not in response.content


def test_w2_object_of_another_workspace_under_own_slug_is_404(client, outsider, contact):
    """Globex's agent asks for an Acme contact id under the Globex slug: still 404."""
    client_for(client, outsider)
    response = client.get(reverse("contacts:detail", args=["globex", contact.pk]))
    assert response.status_code == 404


def test_w2_non_member_posts_are_404_and_change_nothing(client, outsider, contact, conversation):
    client_for(client, outsider)
    response = client.post(
        reverse("contacts:edit", args=["acme", contact.pk]),
        {"name": "Hacked", "email": "", "phone": ""},
    )
    assert response.status_code == 404
    response = client.post(reverse("inbox:reply", args=["acme", conversation.pk]), {"body": "x"})
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.name == "Jane Cooper"
    assert conversation.messages.count() == 1


def test_w1_anonymous_is_sent_to_sign_in(client, acme):
    response = client.get(reverse("inbox:list", args=["acme"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("workspace:login"))


def test_w1_person_in_two_workspaces_has_a_role_in_each_and_a_switcher(client, agent, globex):
    Membership.objects.create(user=agent, workspace=globex, role=Role.MANAGER)
    client_for(client, agent)
    home = client.get("/")
    assert home.status_code == 200  # several workspaces: the switcher
    assert b"Acme Support" in home.content and b"Globex Help" in home.content
    page = client.get(reverse("inbox:list", args=["globex"]))
    assert page.status_code == 200
    assert b"Manager" in page.content
    assert client.get(reverse("inbox:list", args=["acme"])).status_code == 200


def test_w1_sign_in_with_email_and_password(client, agent):
    from tests.conftest import PASSWORD

    response = client.post(
        reverse("workspace:login"), {"username": "agent@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # one workspace: straight to its inbox


def test_w1_wrong_password_is_refused_with_a_clear_error(client, agent):
    response = client.post(
        reverse("workspace:login"), {"username": "agent@acme.test", "password": "nope"}
    )
    assert response.status_code == 200
    assert b"email and password do not match" in response.content


def test_w1_sign_out_needs_post(client, agent):
    client_for(client, agent)
    response = client.post(reverse("workspace:logout"))
    assert response.status_code == 302
    assert client.get(reverse("inbox:list", args=["acme"])).status_code == 302


def test_w1_m3_owners_change_any_role_managers_only_agents(client, owner, manager, agent):
    """M3 (issue 26) widened W1's "only Owners change roles": Managers change Agents' roles,
    never to Owner, and never another Manager's or an Owner's."""
    agent_url = reverse(
        "workspace:member_role", args=["acme", Membership.objects.get(user=agent).pk]
    )
    manager_url = reverse(
        "workspace:member_role", args=["acme", Membership.objects.get(user=manager).pk]
    )
    client_for(client, manager)
    assert client.post(agent_url, {"role": "owner"}).status_code == 403
    assert Membership.objects.get(user=agent).role == Role.AGENT
    assert client.post(manager_url, {"role": "agent"}).status_code == 403
    assert Membership.objects.get(user=manager).role == Role.MANAGER
    assert client.post(agent_url, {"role": "manager"}).status_code == 302
    assert Membership.objects.get(user=agent).role == Role.MANAGER
    client_for(client, owner)
    assert client.post(agent_url, {"role": "owner"}).status_code == 302
    assert Membership.objects.get(user=agent).role == Role.OWNER


def test_w1_last_owner_cannot_be_demoted(client, owner):
    url = reverse("workspace:member_role", args=["acme", Membership.objects.get(user=owner).pk])
    client_for(client, owner)
    response = client.post(url, {"role": "agent"}, follow=True)
    assert b"at least one Owner" in response.content
    assert Membership.objects.get(user=owner).role == Role.OWNER
