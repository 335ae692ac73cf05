"""O5: inbound messages over real HTTP on loopback (pytest-django's live server)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from api.inbound import Sender, receive_message
from api.keys import api_key_revoke
from api.models import InboundMessage
from contacts.models import Contact
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


def _body(**overrides) -> dict:
    body = {
        "external_id": "wa-0001",
        "channel": "whatsapp",
        "from": {"name": "Jane Cooper", "email": "jane.cooper@northwind.example", "phone": ""},
        "text": "Hello, my order is late.",
        "sent_at": "2026-11-20T10:00:00Z",
    }
    body.update(overrides)
    return body


def post(live_server, key: str | None, body, slug: str = "acme", **kwargs):
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    return requests.post(
        f"{live_server.url}/api/v1/w/{slug}/messages",
        data=data,
        headers=headers,
        timeout=10,
        **kwargs,
    )


def _counts():
    return (
        Contact.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        InboundMessage.objects.count(),
    )


def test_o5_message_finds_the_contact_opens_a_conversation_and_answers_201(
    live_server, api_key, contact
):
    response = post(live_server, api_key[1], _body())
    assert response.status_code == 201, response.text
    data = response.json()
    message = Message.objects.get(pk=data["message_id"])
    assert data == {
        "external_id": "wa-0001",
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "contact_id": contact.pk,
    }
    assert message.direction == Message.Direction.IN
    assert message.body == "Hello, my order is late."
    assert message.created_at.isoformat() == "2026-11-20T10:00:00+00:00"
    conversation = message.conversation
    assert conversation.channel == "whatsapp"
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.subject == "Hello, my order is late."
    assert Contact.objects.filter(workspace__slug="acme").count() == 1  # found, not created


def test_o5_email_match_ignores_case_and_phone_matches_exactly(live_server, api_key, acme):
    by_email = Contact.objects.create(workspace=acme, name="Jane", email="jane@example.com")
    by_phone = Contact.objects.create(workspace=acme, name="Omar", phone="+1 (555) 010-3000")
    r1 = post(
        live_server, api_key[1], _body(external_id="a", **{"from": {"email": "JANE@example.com"}})
    )
    r2 = post(
        live_server, api_key[1], _body(external_id="b", **{"from": {"phone": "+1 (555) 010-3000"}})
    )
    # Same digits, other formatting: not the same phone, so a new contact.
    r3 = post(
        live_server, api_key[1], _body(external_id="c", **{"from": {"phone": "+15550103000"}})
    )
    assert r1.json()["contact_id"] == by_email.pk
    assert r2.json()["contact_id"] == by_phone.pk
    new = Contact.objects.get(pk=r3.json()["contact_id"])
    assert new.pk not in (by_email.pk, by_phone.pk)
    assert (new.name, new.phone, new.email) == ("+15550103000", "+15550103000", "")


def test_o5_unknown_sender_gets_a_new_contact_and_later_messages_append(live_server, api_key):
    sender = {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "+44 20 7946 0000"}
    first = post(live_server, api_key[1], _body(external_id="1", **{"from": sender}))
    second = post(live_server, api_key[1], _body(external_id="2", **{"from": sender}))
    other_channel = post(
        live_server, api_key[1], _body(external_id="3", channel="sms", **{"from": sender})
    )
    assert first.status_code == second.status_code == other_channel.status_code == 201
    contact = Contact.objects.get(pk=first.json()["contact_id"])
    assert (contact.name, contact.email, contact.phone) == (
        "Ada Lovelace",
        "ada@example.org",
        "+44 20 7946 0000",
    )
    assert second.json()["conversation_id"] == first.json()["conversation_id"]
    assert other_channel.json()["conversation_id"] != first.json()["conversation_id"]
    assert other_channel.json()["contact_id"] == contact.pk
    assert Conversation.objects.get(pk=first.json()["conversation_id"]).messages.count() == 2


def test_n7_a_customer_message_reopens_the_closed_conversation(live_server, api_key, contact):
    """Issue 22 (N7) replaces O5's "a closed conversation is not reused": same thread, reopened."""
    first = post(live_server, api_key[1], _body(external_id="x1"))
    conversation_id = first.json()["conversation_id"]
    until = timezone.now() + timedelta(days=1)
    Conversation.objects.filter(pk=conversation_id).update(status="closed", snoozed_until=until)
    second = post(live_server, api_key[1], _body(external_id="x2"))
    assert second.status_code == 201
    assert second.json()["conversation_id"] == conversation_id
    conversation = Conversation.objects.get(pk=conversation_id)
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert conversation.messages.count() == 2
    assert Conversation.objects.filter(contact=contact).count() == 1


def test_o5_same_external_id_answers_200_with_the_same_body_and_stores_nothing(
    live_server, api_key, contact
):
    first = post(live_server, api_key[1], _body())
    before = _counts()
    again = post(live_server, api_key[1], _body(text="a different text, same id"))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert _counts() == before


def test_o5_concurrent_repeats_store_exactly_one_message(live_server, api_key):
    body = _body(external_id="race-1", **{"from": {"email": "new.person@example.com"}})
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post(live_server, api_key[1], body), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert Message.objects.count() == 1
    assert Contact.objects.filter(email="new.person@example.com").count() == 1


def test_o5_first_messages_from_one_new_customer_make_one_contact(live_server, api_key):
    sender = {"email": "burst@example.com"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(
            pool.map(
                lambda i: post(
                    live_server, api_key[1], _body(external_id=f"b{i}", **{"from": sender})
                ),
                range(6),
            )
        )
    assert [r.status_code for r in responses] == [201] * 6
    assert Contact.objects.filter(email="burst@example.com").count() == 1
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(external_id=""), "external_id"),
        (_body(channel="what's app"), "channel"),
        (_body(channel="x" * 33), "channel"),
        (_body(text="   "), "text"),
        (_body(**{"from": {"name": "No way to reach"}}), "from"),
        (_body(**{"from": {"email": "not-an-email"}}), "from.email"),
        (_body(**{"from": {"phone": "call me maybe"}}), "from.phone"),
        (_body(sent_at="2026-11-20T10:00:00"), "sent_at"),
        (_body(sent_at="yesterday"), "sent_at"),
        ({"channel": "sms"}, "external_id"),
    ],
)
def test_o5_bad_input_answers_400_with_field_errors_and_changes_nothing(
    live_server, api_key, body, field
):
    before = _counts()
    response = post(live_server, api_key[1], body)
    assert response.status_code == 400, response.text
    data = response.json()
    assert data["detail"] == "Invalid input."
    assert field in data["errors"], data
    assert _counts() == before


def test_o5_malformed_json_answers_400(live_server, api_key):
    response = post(live_server, api_key[1], b'{"external_id": ')
    assert response.status_code == 400
    assert response.json() == {"detail": "The body is not valid JSON."}
    assert _counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("auth", [None, "Bearer ", "Bearer tik_nope_nope", "Basic abc", "Token x"])
def test_o5_missing_or_wrong_key_answers_401(live_server, api_key, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    response = post(live_server, None, _body(), headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    assert _counts() == (0, 0, 0, 0)


def test_o5_revoked_key_answers_401_and_a_tampered_key_too(live_server, api_key):
    key, secret = api_key
    tampered = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    assert post(live_server, tampered, _body()).status_code == 401
    api_key_revoke(api_key=key, revoked_by=None)
    assert post(live_server, secret, _body()).status_code == 401
    assert _counts() == (0, 0, 0, 0)


def test_o5_other_workspaces_slug_answers_404_like_a_missing_one(
    live_server, api_key, globex, globex_key
):
    other = post(live_server, api_key[1], _body(), slug="globex")
    missing = post(live_server, api_key[1], _body(), slug="no-such-workspace")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert _counts() == (0, 0, 0, 0)
    # And Globex's own key works on Globex only.
    assert post(live_server, globex_key[1], _body(), slug="globex").status_code == 201


def test_o5_body_over_64_kb_answers_413(live_server, api_key):
    body = json.dumps(_body(text="x" * (65 * 1024)))
    response = post(live_server, api_key[1], body)
    assert response.status_code == 413
    assert "64 KB" in response.json()["detail"]
    assert _counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_o5_non_json_body_answers_415(live_server, api_key, content_type):
    response = post(
        live_server, api_key[1], json.dumps(_body()), headers={"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert _counts() == (0, 0, 0, 0)


def test_o5_over_the_per_key_rate_answers_429_with_retry_after(
    live_server, api_key, globex_key, settings
):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    statuses = [
        post(live_server, api_key[1], _body(external_id=f"r{i}")).status_code for i in range(3)
    ]
    limited = post(live_server, api_key[1], _body(external_id="r-over"))
    assert statuses == [201, 201, 201]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert not InboundMessage.objects.filter(external_id="r-over").exists()
    # The limit is per key: another key is not slowed down.
    assert post(live_server, globex_key[1], _body(), slug="globex").status_code == 201


def test_o5_key_use_is_recorded_as_last_used(live_server, api_key):
    key, secret = api_key
    assert key.last_used_at is None
    post(live_server, secret, _body())
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_o5_openapi_schema_and_docs_page_are_served_locally(live_server):
    schema = requests.get(f"{live_server.url}/api/v1/openapi.json", timeout=10)
    assert schema.status_code == 200
    operation = schema.json()["paths"]["/api/v1/w/{slug}/messages"]["post"]
    assert {"201", "200", "400", "401", "404", "413", "415", "429"} <= set(operation["responses"])
    docs = requests.get(f"{live_server.url}/api/v1/docs", timeout=10)
    assert docs.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    script = requests.get(f"{live_server.url}/static/ninja/swagger-ui-bundle.js", timeout=10)
    assert script.status_code == 200


def test_o5_receive_message_function_is_idempotent_in_process(acme):
    kwargs = dict(
        workspace=acme,
        api_key=None,
        external_id="fn-1",
        channel="email",
        sender=Sender(email="x@example.com"),
        text="hi",
        sent_at=None,
    )
    first = receive_message(**kwargs)
    second = receive_message(**kwargs)
    assert first.created and not second.created
    assert first.as_json() == second.as_json()


def test_o5_a_signed_in_browser_without_a_key_gets_401_not_a_csrf_hole(live_server, owner):
    """The API ignores the session cookie: only the bearer key authenticates (no CSRF surface)."""
    browser = requests.Session()
    page = browser.get(f"{live_server.url}/signin/", timeout=10)
    token = page.cookies.get("csrftoken") or browser.cookies.get("csrftoken")
    browser.post(
        f"{live_server.url}/signin/",
        data={
            "username": owner.email,
            "password": "correct-horse-battery",
            "csrfmiddlewaretoken": token,
        },
        timeout=10,
    )
    assert "sessionid" in browser.cookies
    response = browser.post(
        f"{live_server.url}/api/v1/w/acme/messages",
        data=json.dumps(_body()),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 401
    assert _counts() == (0, 0, 0, 0)
