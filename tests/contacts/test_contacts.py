"""I3, I4: contacts list, search, pagination, detail with sidebar, validated editing."""

import pytest
from django.urls import reverse

from contacts.models import Contact
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_i3_search_by_name_email_and_phone(client, agent, acme, globex):
    Contact.objects.create(workspace=acme, name="Ada Byron", email="ada@x.example", phone="+44 1")
    Contact.objects.create(workspace=acme, name="Bob Stone", email="bob@y.example", phone="555-9")
    Contact.objects.create(workspace=globex, name="Ada Globex", email="ada@g.example")
    client_for(client, agent)
    url = reverse("contacts:list", args=["acme"])
    for q, expected in [
        ("ada", ["Ada Byron"]),
        ("y.example", ["Bob Stone"]),
        ("555", ["Bob Stone"]),
    ]:
        names = [c.name for c in client.get(url, {"q": q}).context["page"].object_list]
        assert names == expected, q


def test_i3_pagination(client, agent, acme):
    Contact.objects.bulk_create(
        Contact(workspace=acme, name=f"Person {i:03d}", email=f"p{i}@x.example") for i in range(60)
    )
    client_for(client, agent)
    url = reverse("contacts:list", args=["acme"])
    first = client.get(url)
    second = client.get(url + first.context["links"]["next"])
    third = client.get(url + second.context["links"]["next"])
    assert len(first.context["page"].object_list) == 25
    assert [c.name for c in third.context["page"].object_list][0] == "Person 050"
    assert "1–25 of 60" in first.content.decode()  # M6: counted, 60 <= 1,000
    assert "51–60 of 60" in third.content.decode()


def test_i3_detail_shows_details_and_lazy_sidebar_panels(client, agent, contact):
    client_for(client, agent)
    response = client.get(reverse("contacts:detail", args=["acme", contact.pk]))
    assert response.status_code == 200
    panel_url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    assert f'hx-get="{panel_url}"'.encode() in response.content
    assert b'hx-trigger="load"' in response.content
    # M6: the page shows the contact's details itself; the sidebar does not repeat them.
    details_url = reverse("contacts:panel", args=["acme", contact.pk, "details"])
    assert details_url.encode() not in response.content


def test_i3_details_panel_answers_htmx_with_the_partial(client, agent, contact):
    client_for(client, agent)
    url = reverse("contacts:panel", args=["acme", contact.pk, "details"])
    partial = client.get(url, headers={"HX-Request": "true"})
    assert b"jane.cooper@northwind.example" in partial.content
    assert b"<html" not in partial.content
    full = client.get(url)
    assert b"<html" in full.content and b"jane.cooper@northwind.example" in full.content
    assert (
        client.get(reverse("contacts:panel", args=["acme", contact.pk, "nope"])).status_code == 404
    )


def test_i4_create_and_edit_keep_values_as_typed(client, agent, acme):
    client_for(client, agent)
    response = client.post(
        reverse("contacts:create", args=["acme"]),
        {"name": "Priya Shah", "email": " Priya@Example.com ", "phone": " +1 (555) 010-2000 "},
    )
    assert response.status_code == 302
    contact = Contact.objects.get(workspace=acme, name="Priya Shah")
    assert contact.email == "Priya@Example.com"  # trimmed, never case-folded
    assert contact.phone == "+1 (555) 010-2000"
    client.post(
        reverse("contacts:edit", args=["acme", contact.pk]),
        {"name": "Priya Shah", "email": "", "phone": "555 0100"},
    )
    contact.refresh_from_db()
    assert (contact.email, contact.phone) == ("", "555 0100")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("email", "not-an-email", b"Enter a valid email address."),
        ("phone", "5" * 2000, b"at most 40 characters"),
        ("phone", "call me maybe", b"Enter a phone number"),
        ("phone", "<script>", b"Enter a phone number"),
        ("name", "", b"This field is required."),
    ],
)
def test_i4_bad_input_gets_a_clear_error_and_changes_nothing(
    client, agent, contact, field, value, message
):
    client_for(client, agent)
    data = {"name": contact.name, "email": contact.email, "phone": contact.phone, field: value}
    response = client.post(reverse("contacts:edit", args=["acme", contact.pk]), data)
    assert response.status_code == 400
    assert message in response.content
    assert b"Nothing was saved" in response.content
    fresh = Contact.objects.get(pk=contact.pk)
    assert (fresh.name, fresh.email, fresh.phone) == (contact.name, contact.email, contact.phone)


def test_i4_bad_input_on_create_creates_nothing(client, agent, acme):
    client_for(client, agent)
    before = Contact.objects.count()
    response = client.post(
        reverse("contacts:create", args=["acme"]), {"name": "X", "email": "bad@", "phone": ""}
    )
    assert response.status_code == 400
    assert Contact.objects.count() == before


def test_i4_delete_keeps_conversation_history(client, agent, conversation):
    client_for(client, agent)
    contact = conversation.contact
    response = client.post(reverse("contacts:delete", args=["acme", contact.pk]), follow=True)
    assert b"cannot be deleted" in response.content
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_i4_delete_contact_without_conversations(client, agent, contact):
    client_for(client, agent)
    client.post(reverse("contacts:delete", args=["acme", contact.pk]))
    assert not Contact.objects.filter(pk=contact.pk).exists()
