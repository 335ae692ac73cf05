"""H1: one email identity (domain IDNA-lowercased, local part case-folded only when ASCII).

Look-alikes never meet (on PostgreSQL ``UPPER('ı')`` is ``'I'`` and ``UPPER('ſ')`` is ``'S'``, so
``email__iexact`` merged them); the same address in other capitals does.
"""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps

from contacts.models import Contact
from inbox.models import Conversation
from tests.conftest import make_user
from workspace.emails import email_key
from workspace.invitations import invitation_create
from workspace.models import Membership, Role, User
from workspace.onboarding import workspace_create

URL = "/api/v1/w/acme/messages"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("Jane.Cooper@NorthWind.Example", "jane.cooper@northwind.example"),
        ("  jane.cooper@northwind.example ", "jane.cooper@northwind.example"),
        ("jane.cooper@northwınd.example", "jane.cooper@xn--northwnd-ykb.example"),
        ("jane@MÜLLER.de", "jane@xn--mller-kva.de"),
        ("jane@xn--MLLER-kva.de", "jane@xn--mller-kva.de"),
        ("marcuſ.reed@contoso.example", "marcuſ.reed@contoso.example"),
        ("JÖRG@Example.DE", "JÖRG@example.de"),  # non-ASCII local part: kept as given
        ("jo\u0308rg@example.de", "j\u00f6rg@example.de"),  # ... after NFC
        ("", ""),
    ],
)
def test_h1_email_key_normalises_one_way(address, key):
    assert email_key(address) == key


def test_h1_look_alikes_have_other_keys_and_capitals_the_same():
    assert email_key("marcuſ.reed@contoso.example") != email_key("marcus.reed@contoso.example")
    assert email_key("jane.cooper@northwınd.example") != email_key("JANE.COOPER@NORTHWIND.EXAMPLE")
    assert email_key("Jane.Cooper@NORTHWIND.example") == email_key("jane.cooper@northwind.example")


def _post(client, key: str, external_id: str, email: str):
    body = {
        "external_id": external_id,
        "channel": "email",
        "from": {"name": "Someone", "email": email},
        "text": "Hello",
    }
    return client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "look_alike", ["jane.cooper@northwınd.example", "jane.cooper@northwind.examp\u0142e"]
)
def test_h1_a_look_alike_domain_never_joins_the_contacts_thread(
    client, api_key, contact, conversation, look_alike
):
    response = _post(client, api_key[1], "x1", look_alike)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["contact_id"] != contact.pk
    assert data["conversation_id"] != conversation.pk
    assert Contact.objects.get(pk=data["contact_id"]).email == look_alike


@pytest.mark.django_db
def test_h1_a_look_alike_local_part_never_joins_the_contacts_thread(client, api_key, acme):
    marcus = Contact.objects.create(
        workspace=acme, name="Marcus Reed", email="marcus.reed@contoso.example"
    )
    response = _post(client, api_key[1], "x2", "marcuſ.reed@contoso.example")
    assert response.status_code == 201, response.content
    assert response.json()["contact_id"] != marcus.pk
    assert not Conversation.objects.filter(contact=marcus).exists()


@pytest.mark.django_db
def test_h1_the_same_address_in_other_capitals_meets_and_the_typed_email_is_kept(
    client, api_key, acme
):
    first = _post(client, api_key[1], "c1", "Ada.Lovelace@Example.ORG")
    second = _post(client, api_key[1], "c2", "ada.lovelace@EXAMPLE.org")
    idn = _post(client, api_key[1], "c3", "ada.lovelace@XN--MLLER-KVA.de")
    idn_again = _post(client, api_key[1], "c4", "Ada.Lovelace@müller.DE")
    assert first.json()["contact_id"] == second.json()["contact_id"]
    assert first.json()["conversation_id"] == second.json()["conversation_id"]
    assert idn.json()["contact_id"] == idn_again.json()["contact_id"]
    contact = Contact.objects.get(pk=first.json()["contact_id"])
    # Salesforce matching uses the typed value: it is stored as typed.
    assert (contact.email, contact.email_key) == (
        "Ada.Lovelace@Example.ORG",
        "ada.lovelace@example.org",
    )


@pytest.mark.django_db
def test_h1_contact_edits_keep_the_key_in_step(contact):
    contact.email = "Jane@Elsewhere.Example"
    contact.save(update_fields=["email"])
    contact.refresh_from_db()
    assert contact.email_key == "jane@elsewhere.example"


@pytest.mark.django_db
def test_h1_existing_rows_migrate(acme, contact):
    user = make_user("Owner@Acme.Test")
    Contact.objects.filter(pk=contact.pk).update(email="Jane@NorthWınd.Example", email_key="")
    User.objects.filter(pk=user.pk).update(email_key="")
    for module in (
        "contacts.migrations.0004_email_identity",
        "workspace.migrations.0004_email_identity",
    ):
        importlib.import_module(module).fill_email_keys(apps, None)
    contact.refresh_from_db()
    user.refresh_from_db()
    assert contact.email_key == "jane@xn--northwnd-ykb.example"
    assert user.email_key == "owner@acme.test"


@pytest.mark.django_db
def test_h1_invitations_and_owners_never_take_a_look_alikes_account(acme, owner, mailoutbox):
    marcus = make_user("marcus.reed@contoso.example")
    Membership.objects.create(user=marcus, workspace=acme, role=Role.AGENT)
    # Not "already a member": the look-alike is someone else.
    invitation = invitation_create(
        workspace=acme, email="marcuſ.reed@contoso.example", role=Role.AGENT, invited_by=owner
    )
    assert invitation.email == "marcuſ.reed@contoso.example"
    created = workspace_create(name="Other", owner_email="marcuſ.reed@contoso.example")
    assert created.owner.pk != marcus.pk
    # The same address in capitals is the same account.
    again = workspace_create(name="Third", owner_email="MARCUS.REED@contoso.example")
    assert again.owner.pk == marcus.pk
