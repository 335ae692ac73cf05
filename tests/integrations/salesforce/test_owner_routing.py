"""A6: route a new conversation by the Salesforce Contact Owner's email, after arrival, by a worker.

Against the live emulator: its request log counts the Salesforce calls (at most 1 per new contact,
0 when the shared cache holds it).
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from api.inbound import Sender, receive_message
from contacts.models import Contact
from inbox.models import Conversation
from integrations.salesforce import lookup, services
from integrations.salesforce.models import SalesforceEvent, SalesforceRouting
from integrations.salesforce.routing import route_due
from tests.conftest import _member, client_for
from workspace.emails import email_key as email_identity

from .test_sidebar import rest_queries

pytestmark = pytest.mark.django_db
ADA = "ada.admin@acme-corp.example"  # owns Jane Cooper (Gold, T1) and Evan Script (Silver, T2)


@pytest.fixture
def routing_on(connection, owner):
    services.set_owner_routing(
        connection, on=True, priority_field="Customer_Tier__c", priority_value="T1", actor=owner
    )
    return connection


@pytest.fixture
def ada(acme):
    # A member whose email is the Contact Owner's, written differently (case): same identity
    return _member(acme, "Ada.Admin@ACME-corp.example", "agent")


def arrive(acme, *, email="", phone="", name="Customer", external_id="m1"):
    return receive_message(
        workspace=acme,
        api_key=None,
        external_id=external_id,
        channel="email",
        sender=Sender(name=name, email=email, phone=phone),
        text="Hello",
        sent_at=None,
    )


def test_a6_email_identity_rule():
    assert email_identity(" Ada.Admin@ACME-Corp.Example ") == "ada.admin@acme-corp.example"
    assert email_identity("Jörg@Bücher.Example") == "Jörg@xn--bcher-kva.example"
    assert email_identity("jo@x.example") != email_identity("jö@x.example")


def test_a6_off_by_default_switch_audited(client, owner, agent, connection):
    assert connection.route_by_owner is False
    url = reverse("integrations:salesforce:owner_routing", args=["acme"])
    client_for(client, agent)
    assert client.post(url, {"route_by_owner": "on"}).status_code == 403
    client_for(client, owner)
    response = client.post(
        url, {"route_by_owner": "on", "priority_field": "Customer_Tier__c", "priority_value": "T1"}
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.route_by_owner and connection.priority_field == "Customer_Tier__c"
    assert connection.events.filter(kind=SalesforceEvent.Kind.ROUTING, actor=owner).exists()


def test_a6_inbound_never_calls_salesforce_worker_assigns_by_owner(acme, routing_on, ada, sf):
    sf.reset_log()
    result = arrive(acme, email="evan@tailspin.example")
    assert sf.request_log() == []  # the inbound request did not wait on Salesforce
    conversation = Conversation.objects.get(pk=result.conversation_id)
    assert conversation.assignee is None
    assert route_due() == 1
    conversation.refresh_from_db()
    assert conversation.assignee == ada and conversation.priority is False  # Silver
    (query,) = rest_queries(sf)
    assert "Owner.Email" in query["query"] and "Customer_Tier__c" in query["query"]
    decision = SalesforceRouting.objects.get(conversation=conversation)
    assert decision.owner_email == ADA and "assigned to" in decision.outcome
    assert route_due() == 0  # decided once


def test_a6_priority_mark_and_unknown_owner_left_unassigned(acme, routing_on, sf, client, owner):
    # Jane Cooper is Gold (T1); her owner is not a member here
    result = arrive(acme, email="jane.cooper@northwind.example")
    route_due()
    conversation = Conversation.objects.get(pk=result.conversation_id)
    assert conversation.assignee is None and conversation.priority is True
    assert "not a member" in SalesforceRouting.objects.get(conversation=conversation).outcome
    client_for(client, owner)
    html = client.get(reverse("inbox:list", args=["acme"])).content.decode()
    assert '<span class="badge priority">Priority</span>' in html


def test_a6_no_match_left_unassigned(acme, routing_on, ada):
    result = arrive(acme, email="nobody@nowhere.example")
    route_due()
    conversation = Conversation.objects.get(pk=result.conversation_id)
    assert conversation.assignee is None
    assert (
        "no Salesforce Contact" in SalesforceRouting.objects.get(conversation=conversation).outcome
    )


def test_a6_cost_one_call_per_new_contact_zero_when_cached(acme, routing_on, ada, sf):
    # Cached: the sidebar already looked this contact up (same single query, same fields)
    lookup.find_contact(routing_on, email="jane.cooper@northwind.example")
    sf.reset_log()
    arrive(acme, email="jane.cooper@northwind.example", external_id="a")
    route_due()
    assert rest_queries(sf) == []
    # New contacts: one call each
    emails = ["marcus.reed@contoso.example", "evan@tailspin.example", "noone@x.example"]
    for i, email in enumerate(emails):
        arrive(acme, email=email, external_id=f"n{i}", name=f"N{i}")
    route_due()
    assert len(rest_queries(sf)) == len(emails)


def test_a6_existing_assignment_and_old_conversations_untouched(acme, contact, ada, connection):
    old = Conversation.objects.create(workspace=acme, contact=contact, subject="Before")
    services.set_owner_routing(
        connection, on=True, priority_field="", priority_value="", actor=None
    )
    mine = Conversation.objects.create(
        workspace=acme, contact=contact, subject="Taken", assignee=ada
    )
    assert route_due() == 0
    assert not SalesforceRouting.objects.filter(conversation__in=[old, mine]).exists()


@pytest.mark.django_db(transaction=True)
def test_a6_worker_command_once(acme, routing_on, ada):
    result = arrive(acme, email="jane.cooper@northwind.example")
    call_command("route_conversations", "--once")
    routed = Conversation.objects.get(pk=result.conversation_id)
    assert (routed.assignee, routed.priority) == (ada, True)
    assert Contact.objects.filter(workspace=acme).count() == 1
