"""H2 on the pages: a value the database cannot hold is bad input (400), never the outage 503."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import DataError, OperationalError
from django.urls import reverse

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_h2_a_nul_in_the_contacts_search_is_dropped_not_a_database_error(client, agent, contact):
    client_for(client, agent)
    url = reverse("contacts:list", args=["acme"])
    for query in ("Jane\x00 Cooper", "jane.cooper@northwind.example\x00"):
        response = client.get(url, {"q": query})
        assert response.status_code == 200, query
        assert "Jane Cooper" in response.content.decode()


def test_h2_a_data_error_answers_400_without_retry_after(client, agent):
    client_for(client, agent)
    with mock.patch("contacts.views.contact_page", side_effect=DataError("NUL in literal")):
        response = client.get(reverse("contacts:list", args=["acme"]))
    assert response.status_code == 400
    assert "Retry-After" not in response
    assert "Nothing was changed" in response.content.decode()


def test_h2_a_real_outage_still_answers_503(client, agent):
    client_for(client, agent)
    with mock.patch("contacts.views.contact_page", side_effect=OperationalError("gone")):
        response = client.get(reverse("contacts:list", args=["acme"]))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
