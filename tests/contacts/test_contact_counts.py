"""M6 (issue 26): an exact count when it is cheap (at most 1,000 rows, counted under a LIMIT of
1,001), "of many" above; the contact page shows each value once, and its conversations dated."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts import selectors
from contacts.models import Contact
from inbox.models import Conversation
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _contacts(acme, n: int, prefix: str = "Person") -> None:
    Contact.objects.bulk_create(
        Contact(workspace=acme, name=f"{prefix} {i:04d}", email=f"{prefix.lower()}{i}@x.example")
        for i in range(n)
    )


def test_m6_about_sixty_contacts_are_counted_exactly(client, agent, acme):
    _contacts(acme, 61)
    client_for(client, agent)
    url = reverse("contacts:list", args=["acme"])
    assert "1–25 of 61" in client.get(url).content.decode()
    assert "1–25 of 61" in client.get(url, {"q": "person"}).content.decode()


def test_m6_above_the_limit_the_list_says_many_and_the_count_stays_bounded(
    client, agent, acme, monkeypatch
):
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 30)
    _contacts(acme, 31)
    client_for(client, agent)
    url = reverse("contacts:list", args=["acme"])
    with CaptureQueriesContext(connection) as queries:
        html = client.get(url).content.decode()
    assert "1–25 of many" in html
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 31" in counts[0].upper()
    # Exactly at the limit: still exact.
    Contact.objects.filter(workspace=acme).order_by("-id")[:1].get().delete()
    assert "1–25 of 30" in client.get(url).content.decode()


def test_m6_the_contact_page_shows_each_value_once_and_dated_conversations(
    client, agent, acme, contact
):
    contact.phone = "+44 20 7946 0000"
    contact.save()
    older = Conversation.objects.create(workspace=acme, contact=contact, subject="First order")
    newer = Conversation.objects.create(workspace=acme, contact=contact, subject="Refund")
    when = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    Conversation.objects.filter(pk=older.pk).update(
        last_activity_at=when, created_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    client_for(client, agent)
    response = client.get(reverse("contacts:detail", args=["acme", contact.pk]))
    html = response.content.decode()
    # The page, not a sidebar panel, shows the contact's values: each once.
    main = html[html.index("<main") : html.index("</main>")]
    assert main.count("jane.cooper@northwind.example") == 1
    assert main.count("+44 20 7946 0000") == 1
    assert [p["key"] for p in response.context["panels"]] == ["salesforce"]
    # Conversations, newest activity first, each with its dates (workspace time: London, BST/GMT).
    items = re.findall(r"<li>.*?</li>", html[html.index('id="contact-conversations"') :], re.S)
    assert "Refund" in items[0] and "First order" in items[1]
    assert "last activity" in items[1] and "4 Mar 2026, 09:30" in items[1]
    assert "started" in items[1] and "1 Mar 2026" in items[1]
    assert f'datetime="{newer.last_activity_at.astimezone(acme.tzinfo).isoformat()}"' in items[0]
