"""Issue 6, Security "Injection": SOQL metacharacters never change the query's meaning (S7), and
HTML/JS in Salesforce values, contact names and messages renders inert (S6, I1, I3).

The SOQL half runs against the live emulator, whose SOQL parser is a real one: a query that a
value had broken would come back MALFORMED_QUERY (HTTP 400), and a widened one would match rows.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Contact
from inbox.models import Conversation, Message
from integrations.salesforce import soql
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.lookup import find_contact
from integrations.salesforce.matching import MatchValues
from salesforce_emulator.demo_names import ACME_ORG_ID
from tests.conftest import client_for
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}

HOSTILE_VALUES = [
    "' OR Name LIKE '%",
    "x' OR Email != null OR Phone = 'x",
    "\\' OR Name != null OR Name = \\'",
    "%",
    "_",
    "%%' OR Id != null --",
    "555\n' OR Name != null",
    "\\",
    "'",
    '") OR (Name != null',
    "555 0100' LIMIT 1 --",
]


def queries(sf) -> list[dict]:
    return [e for e in sf.request_log() if "/query" in e["path"]]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_s07_soql_metacharacters_in_phone_find_nothing_with_one_well_formed_query(
    connection, sf, value
):
    result = find_contact(connection, phone=value)
    assert result.matches == () and result.near_misses == ()
    sent = queries(sf)
    assert sent, "no query reached Salesforce"
    assert all(e["status"] == 200 for e in sent), sent  # none MALFORMED_QUERY
    values = MatchValues.for_connection(connection, "", value)
    assert sent[0]["query"] == soql.lookup_query(
        soql.selected_fields(connection), values, related=connection.related_lists
    )
    assert sent[0]["query"].count(" FROM Contact WHERE ") == 1


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_s07_soql_metacharacters_in_email_find_nothing(connection, sf, value):
    result = find_contact(connection, email=f"a{value}@example.com")
    assert result.matches == () and result.near_misses == ()
    assert all(e["status"] == 200 for e in queries(sf))


@pytest.mark.parametrize(
    "stored",
    [
        "+1 555 0100' OR 'x'='x",
        "back\\slash\\' 555",
        "100%_sure",
        "line one\nline two",
    ],
)
def test_s07_a_value_with_metacharacters_matches_itself_exactly(connection, sf, stored):
    """The meaning is kept, not merely defused: the hostile value finds the record that has it,
    character for character, and a near variant does not."""
    sf.update_record(
        "Contact",
        "0035g00000Hst01AAB",
        org_id=ACME_ORG_ID,
        LastName="Hostile",
        Phone=stored,
        AccountId="0015g00000Acc04AAB",
    )
    result = find_contact(connection, phone=stored)
    assert [m.id for m in result.matches] == ["0035g00000Hst01AAB"]
    variant = stored.replace("%", "x").replace("_", "y").replace("\\", "/").replace("'", "`")
    variant = variant.replace("\n", " ")
    assert find_contact(connection, phone=variant).matches == ()


def test_b1_like_wildcards_in_email_are_literal_in_the_lookup_query(connection, sf):
    """The lookup's near-miss condition uses LIKE: ``%`` and ``_`` must not match everything."""
    statement = soql.lookup_query(["Id"], MatchValues.of("%", ""))
    answer = SalesforceClient(connection).query(statement)
    assert answer["totalSize"] == 0
    statement = soql.lookup_query(["Id"], MatchValues.of("_", ""))
    assert SalesforceClient(connection).query(statement)["totalSize"] == 0
    # Control: an unescaped LIKE '%%%' would have matched every Contact with an email.
    assert (
        SalesforceClient(connection).query("SELECT Id FROM Contact WHERE Email LIKE '%%%'")[
            "totalSize"
        ]
        > 3
    )


def test_s07_field_names_cannot_carry_soql(connection):
    connection.field_names = ["Name", "Email FROM Lead WHERE Name != null --"]
    with pytest.raises(ValueError):
        soql.lookup_query(soql.selected_fields(connection), MatchValues.of("a@b.c", ""))


# --- HTML / JS renders inert ------------------------------------------------------------------
SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"


def _inert(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "onerror=alert(1)>" not in html


def panel(client, contact, **params):
    url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    return client.get(url, params, headers=HTMX)


def test_s06_html_in_any_salesforce_field_renders_inert(client, agent, connection, acme):
    """Evan Script's Title and Description (emulator demo data) hold HTML; shown escaped."""
    connection.field_names = [*connection.field_names, "Description"]
    connection.save(update_fields=["field_names"])
    evan = Contact.objects.create(workspace=acme, name="Evan", email="evan@tailspin.example")
    client_for(client, agent)
    html = panel(client, evan).content.decode()
    _inert(html)
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&lt;b&gt;VP Sales&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; notes &amp; &quot;quotes&quot;" in html


def test_s08_b1_html_in_names_of_other_matches_and_near_misses_renders_inert(
    client, agent, connection, acme, sf
):
    for n, phone in ((1, "+1 555 777 0001"), (2, "+1 555 777 0001")):
        sf.update_record(
            "Contact",
            f"0035g00000Xss0{n}AAB",
            org_id=ACME_ORG_ID,
            FirstName=SCRIPT,
            LastName=IMG,
            Phone=phone,
            Email=f"{IMG}{n}@x.example",
        )
    client_for(client, agent)
    several = Contact.objects.create(workspace=acme, name="Several", phone="+1 555 777 0001")
    html = panel(client, several).content.decode()
    assert "1 more match" in html
    _inert(html)
    near = Contact.objects.create(workspace=acme, name="Near", phone="+15557770001")
    html = panel(client, near).content.decode()
    assert "Near match" in html
    _inert(html)


def test_s16_b2_html_in_stale_data_renders_inert(client, agent, connection, acme, sf):
    evan = Contact.objects.create(workspace=acme, name="Evan", email="evan@tailspin.example")
    client_for(client, agent)
    panel(client, evan)
    from django.core.cache import cache

    cache.delete(lookup_cache_key(connection, "lookup", evan.email, ""))
    sf.set_fault("http_503", org_id=ACME_ORG_ID)
    html = panel(client, evan).content.decode()
    assert "last successful lookup" in html
    _inert(html)


def test_i1_i3_html_in_contact_names_values_and_messages_renders_inert(
    client, agent, connection, acme, owner
):
    hostile = Contact.objects.create(
        workspace=acme, name=f"{SCRIPT}{IMG}", email='"<script>x"@evil.example', phone=IMG[:40]
    )
    conversation = Conversation.objects.create(workspace=acme, contact=hostile, subject=SCRIPT)
    Message.objects.create(conversation=conversation, direction=Message.Direction.IN, body=IMG)
    client_for(client, agent)
    reply = client.post(
        reverse("inbox:reply", args=["acme", conversation.pk]), {"body": f"{SCRIPT} {IMG}"}
    )
    assert reply.status_code in (200, 302)
    pages = [
        reverse("inbox:list", args=["acme"]),
        reverse("inbox:detail", args=["acme", conversation.pk]),
        reverse("contacts:list", args=["acme"]),
        reverse("contacts:list", args=["acme"]) + "?q=" + SCRIPT,
        reverse("contacts:detail", args=["acme", hostile.pk]),
        reverse("contacts:edit", args=["acme", hostile.pk]),
        reverse("integrations:salesforce:badges", args=["acme"]),
        reverse("contacts:panel", args=["acme", hostile.pk, "salesforce"]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        _inert(response.content.decode())
    html = panel(client, hostile).content.decode()
    _inert(html)
    assert "&lt;script&gt;x" in html  # the looked-up email is named (S9), escaped
