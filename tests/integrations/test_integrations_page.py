"""W3: the Integrations page lists integrations; admins manage, agents see status."""

import pytest
from django.urls import reverse

from integrations.registry import integrations
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_w3_integrations_page_lists_every_registered_integration(client, agent):
    client_for(client, agent)
    response = client.get(reverse("integrations:list", args=["acme"]))
    assert response.status_code == 200
    for integration in integrations():
        assert integration.name.encode() in response.content
    assert b"View status" in response.content
    assert b">Manage<" not in response.content


def test_w3_admins_get_manage(client, manager):
    client_for(client, manager)
    response = client.get(reverse("integrations:list", args=["acme"]))
    assert integrations(), "Salesforce registers itself from its AppConfig.ready"
    assert b">Manage<" in response.content
