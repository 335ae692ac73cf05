"""I1, I2: the Inbox list, conversation page, reply, close/reopen, assign, contact sidebar."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation, Message
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_conversations(acme, contact, agent):
    now = timezone.now()
    old = Conversation.objects.create(
        workspace=acme, contact=contact, subject="Old", last_activity_at=now - timedelta(days=2)
    )
    new = Conversation.objects.create(
        workspace=acme, contact=contact, subject="New", last_activity_at=now, assignee=agent
    )
    closed = Conversation.objects.create(
        workspace=acme,
        contact=contact,
        subject="Done",
        status="closed",
        last_activity_at=now - timedelta(days=1),
    )
    return old, new, closed


def subjects(response):
    return [c.subject for c in response.context["page"].object_list]


def test_i1_list_newest_activity_first_with_filters(client, agent, three_conversations):
    client_for(client, agent)
    url = reverse("inbox:list", args=["acme"])
    assert subjects(client.get(url)) == ["New", "Old"]
    assert subjects(client.get(url, {"filter": "closed"})) == ["Done"]
    assert subjects(client.get(url, {"filter": "mine"})) == ["New"]
    assert subjects(client.get(url, {"filter": "all"})) == ["New", "Done", "Old"]


def test_i1_reply_adds_a_message_and_bumps_activity(client, agent, conversation):
    client_for(client, agent)
    before = conversation.last_activity_at
    response = client.post(
        reverse("inbox:reply", args=["acme", conversation.pk]), {"body": "On its way!"}
    )
    assert response.status_code == 302
    reply = conversation.messages.last()
    assert (reply.body, reply.direction, reply.author) == ("On its way!", "out", agent)
    conversation.refresh_from_db()
    assert conversation.last_activity_at > before
    page = client.get(reverse("inbox:detail", args=["acme", conversation.pk]))
    assert b"On its way!" in page.content and b"Where is it?" in page.content


def test_i1_empty_reply_is_refused(client, agent, conversation):
    client_for(client, agent)
    response = client.post(reverse("inbox:reply", args=["acme", conversation.pk]), {"body": "  "})
    assert response.status_code == 400
    assert conversation.messages.count() == 1


def test_i1_close_and_reopen(client, agent, conversation):
    client_for(client, agent)
    url = reverse("inbox:status", args=["acme", conversation.pk])
    client.post(url, {"status": "closed"})
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    client.post(url, {"status": "open"})
    conversation.refresh_from_db()
    assert conversation.status == "open"
    client.post(url, {"status": "deleted"})
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_i1_assign_only_to_members_of_the_workspace(client, agent, outsider, conversation):
    client_for(client, agent)
    url = reverse("inbox:assign", args=["acme", conversation.pk])
    client.post(url, {"assignee": outsider.pk})
    conversation.refresh_from_db()
    assert conversation.assignee is None
    client.post(url, {"assignee": agent.pk})
    conversation.refresh_from_db()
    assert conversation.assignee == agent


def test_i2_conversation_page_links_the_contact_to_its_sidebar(client, agent, conversation):
    client_for(client, agent)
    response = client.get(reverse("inbox:detail", args=["acme", conversation.pk]))
    panel = reverse("contacts:panel", args=["acme", conversation.contact.pk, "details"])
    assert b'href="#contact-sidebar"' in response.content
    assert b'id="contact-sidebar"' in response.content
    # Beside a conversation the panels know it (issue 23, A5: Log to Salesforce)
    assert f'hx-get="{panel}?conversation={conversation.pk}"'.encode() in response.content


def test_i1_messages_render_html_inert(client, agent, conversation):
    Message.objects.create(conversation=conversation, direction="in", body="<script>x()</script>")
    client_for(client, agent)
    response = client.get(reverse("inbox:detail", args=["acme", conversation.pk]))
    assert b"<script>x()</script>" not in response.content
    assert b"&lt;script&gt;x()&lt;/script&gt;" in response.content
