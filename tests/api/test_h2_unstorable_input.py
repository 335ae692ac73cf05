"""H2: values the database cannot hold are refused with a 400 naming the field, never a 5xx."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.db import DataError
from django.urls import reverse

from api.models import InboundMessage
from contacts.models import Contact
from inbox.models import Conversation, Message
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/w/acme/messages"


def _body(**overrides) -> dict:
    body = {
        "external_id": "wa-0001",
        "channel": "whatsapp",
        "from": {"name": "Jane Cooper", "email": "jane.cooper@northwind.example"},
        "text": "Hello, my order is late.",
    }
    body.update(overrides)
    return body


def _post(client, key: str, body) -> object:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        URL, data=data, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )


def _counts():
    return (
        Contact.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        InboundMessage.objects.count(),
    )


def _refused(response, field: str) -> None:
    assert response.status_code == 400, response.content
    assert "Retry-After" not in response
    data = response.json()
    assert data["detail"] == "Invalid input."
    assert field in data["errors"], data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(text="before\x00after"), "text"),
        (_body(external_id="wa-\x00-1"), "external_id"),
        (_body(**{"from": {"name": "Ja\x00ne", "email": "jane@example.com"}}), "from.name"),
        (_body(text="bell \x07"), "text"),
        (_body(text="escape \x1b[31m red"), "text"),
        (_body(**{"from": {"name": "Jane\x08", "phone": "+15550100"}}), "from.name"),
        (_body(**{"from": {"name": "Jane", "email": "ja\x00ne@example.com"}}), "from.email"),
    ],
)
def test_h2_control_characters_are_refused_with_the_field_named(client, api_key, body, field):
    before = _counts()
    _refused(_post(client, api_key[1], body), field)
    assert _counts() == before


def test_h2_unpaired_surrogate_is_refused_not_a_database_error(client, api_key):
    # JSON may spell a lone surrogate; PostgreSQL's UTF-8 cannot store it.
    raw = json.dumps(_body()).replace("late.", "late \\ud800")
    before = _counts()
    _refused(_post(client, api_key[1], raw), "text")
    assert _counts() == before


def test_h2_tab_and_line_breaks_are_kept(client, api_key):
    response = _post(client, api_key[1], _body(text="line one\r\nline\ttwo\nthree"))
    assert response.status_code == 201, response.content
    assert Message.objects.get().body == "line one\r\nline\ttwo\nthree"


@pytest.mark.parametrize(
    "sent_at",
    [
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "1899-12-31T23:59:59Z",
        "1900-01-01T04:59:59+05:00",  # 1899 in UTC
        "2201-01-01T00:00:00Z",
        "2200-12-31T23:00:00-05:00",  # 2201 in UTC
    ],
)
def test_h2_dates_outside_1900_to_2200_utc_are_refused(client, api_key, sent_at):
    before = _counts()
    _refused(_post(client, api_key[1], _body(sent_at=sent_at)), "sent_at")
    assert _counts() == before


@pytest.mark.parametrize(
    ("sent_at", "stored"),
    [
        ("1900-01-01T05:00:00+05:00", "1900-01-01T00:00:00+00:00"),
        ("2200-12-31T23:59:59Z", "2200-12-31T23:59:59+00:00"),
    ],
)
def test_h2_dates_at_the_edges_are_stored_and_the_conversation_page_opens(
    client, api_key, agent, sent_at, stored
):
    response = _post(client, api_key[1], _body(sent_at=sent_at))
    assert response.status_code == 201, response.content
    message = Message.objects.get()
    assert message.created_at.isoformat() == stored
    page = client_for(client, agent).get(
        reverse("inbox:detail", kwargs={"slug": "acme", "pk": message.conversation_id})
    )
    assert page.status_code == 200


def test_h2_a_value_the_database_refuses_is_a_400_without_retry_after(client, api_key):
    # The last line behind validation: a DataError is bad input, not "database unavailable".
    with mock.patch("api.api.receive_message", side_effect=DataError("value too long")):
        response = _post(client, api_key[1], _body())
    _refused(response, "body")
