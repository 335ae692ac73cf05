"""H9: the inbound API driven with generated senders, texts and times, on PostgreSQL (CI's
PostgreSQL pass; skipped on SQLite, whose text and date rules are not the ones that broke).

Every answer is 2xx or 400 (never the 5xx of a value the database cannot hold, never the last-line
``errors.body`` answer), every stored conversation's page answers 200, and no contact holds two
distinct normalised addresses while every normalised address has one contact.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.keys import api_key_create
from contacts.models import Contact
from tests.conftest import client_for
from workspace.emails import email_key

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="runs in CI's PostgreSQL pass (H9)"
    ),
    pytest.mark.django_db,
]

URL = "/api/v1/w/acme/messages"
FIELDS = {
    "external_id",
    "channel",
    "from",
    "from.name",
    "from.email",
    "from.phone",
    "text",
    "sent_at",
}

# Senders often differ only by case or by a letter PostgreSQL's UPPER() folds into an ASCII one
# (dotless ı, long ſ, the Kelvin sign), so same-address and look-alike pairs both come up.
LOCALS = ["jane.cooper", "marcus.reed", "kim.sisk"]
LOOK_ALIKES = {
    "as typed": lambda s: s,
    "upper": str.upper,
    "title": str.title,
    "long s": lambda s: s.replace("s", "\u017f"),
    "dotless i": lambda s: s.replace("i", "\u0131"),
    "kelvin": lambda s: s.replace("k", "\u212a"),
}
DOMAINS = [
    "northwind.example",
    "NorthWind.Example",
    "northw\u0131nd.example",
    "m\u00fcller.de",
    "xn--mller-kva.de",
]
# Mostly storable text (so most messages are stored and their pages opened), sometimes not.
plain_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=80
)
unstorable = st.sampled_from(["\x00", "a\x1bb", "\ud800", "\x7f\x85", "\u202e", "\t\r\n", " "])
texts = st.one_of(
    plain_text,
    plain_text,
    plain_text,
    st.lists(st.one_of(plain_text, unstorable), min_size=1, max_size=3).map("".join),
)
emails = st.builds(
    lambda local, change, domain: f"{LOOK_ALIKES[change](local)}@{domain}",
    st.sampled_from(LOCALS),
    st.sampled_from(sorted(LOOK_ALIKES)),
    st.sampled_from(DOMAINS),
)
phones = st.sampled_from(["+15550100", "+1 555 0100", "555-0101", "call me", "+44 20 7946 0000"])
offsets = st.sampled_from([-14, -5, 0, 5, 14]).map(lambda h: timezone(timedelta(hours=h)))
sent_ats = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
    ).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "1900-01-01T00:00:00Z",
            "yesterday",
        ]
    ),
)
senders = st.one_of(
    st.fixed_dictionaries({"email": emails}, optional={"name": texts}),
    st.fixed_dictionaries({"email": emails}),
    st.fixed_dictionaries({"phone": phones}, optional={"name": texts}),
)
bodies = st.fixed_dictionaries(
    {
        "external_id": st.one_of(st.uuids().map(str), st.uuids().map(str), texts),
        "channel": st.sampled_from(["sms", "email", "whatsapp", "sms", "what's app"]),
        "from": senders,
        "text": texts,
    },
    optional={"sent_at": sent_ats},
)


settings_for_ci = hypothesis_settings(
    max_examples=120,
    deadline=None,
    database=None,  # nothing written to .hypothesis/ in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_h9_generated_messages_never_break_the_api_the_pages_or_email_identity(
    client, acme, agent, settings
):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    settings.API_FAILED_KEYS_PER_MINUTE = 0
    key = api_key_create(workspace=acme, name="Hypothesis", created_by=None).secret
    client_for(client, agent)
    keys_by_contact: dict[int, set[str]] = {}

    @settings_for_ci
    @given(body=bodies)
    def one_message(body):
        response = client.post(
            URL,
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code in (200, 201, 400), (response.status_code, body)
        assert "Retry-After" not in response
        data = response.json()
        if response.status_code == 400:
            assert set(data.get("errors", {})) <= FIELDS, (data, body)
            return
        page = client.get(reverse("inbox:detail", args=["acme", data["conversation_id"]]))
        assert page.status_code == 200, body
        if response.status_code == 201 and "email" in body["from"]:
            sender_key = email_key(body["from"]["email"])
            contact = Contact.objects.get(pk=data["contact_id"])
            assert contact.email_key == sender_key, (contact.email, body["from"]["email"])
            keys_by_contact.setdefault(contact.pk, set()).add(sender_key)
            assert len(keys_by_contact[contact.pk]) == 1
            same_key = Contact.objects.filter(workspace=acme, email_key=sender_key)
            assert same_key.count() == 1, [c.email for c in same_key]

    one_message()


def test_h9_postgresql_upper_folds_look_alikes_which_is_why_identity_is_a_key(acme):
    """The cause, kept visible: on PostgreSQL ``email__iexact`` (UPPER) merges look-alikes."""
    marcus = Contact.objects.create(
        workspace=acme, name="Marcus Reed", email="marcus.reed@contoso.example"
    )
    look_alike = "marcuſ.reed@contoso.example"
    assert Contact.objects.filter(email__iexact=look_alike).first() == marcus
    assert not Contact.objects.filter(email_key=email_key(look_alike)).exists()
