"""K2 (issue 27): api/inbound.py's find-or-create rules, each stated by a fast test.

The survivors the issue names: the repeat lookup without its workspace filter (two workspaces
with the same external id, or the same customer, must not share), the conversation's activity
time on a new message, and the subject's truncation. On PostgreSQL the last test also states the
advisory locks (skipped on SQLite, which has none: docs/mutation.md).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from api import inbound
from api.inbound import SUBJECT_LENGTH, InboundResult, Sender, receive_message
from api.keys import api_key_create
from api.models import InboundMessage
from contacts.models import Contact
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db

JANE = "jane.cooper@northwind.example"
SENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def receive(workspace, external_id="m-1", *, channel="email", text="Hello", sent_at=None, **who):
    return receive_message(
        workspace=workspace,
        api_key=who.pop("api_key", None),
        external_id=external_id,
        channel=channel,
        sender=Sender(**who),
        text=text,
        sent_at=sent_at,
    )


def _conversation(result: InboundResult) -> Conversation:
    return Conversation.objects.get(pk=result.conversation_id)


# --- what one message stores ------------------------------------------------------------------
def test_k2_a_message_stores_its_receipt_contact_conversation_and_message(acme):
    key = api_key_create(workspace=acme, name="Bridge", created_by=None).api_key
    result = receive(acme, "wa-1", channel="whatsapp", text="Hi there", sent_at=SENT,
                     name="Jane Cooper", email=JANE, phone="+44 20 7946 0000", api_key=key)  # fmt: skip

    assert result.created
    message = Message.objects.get(pk=result.message_id)
    assert (message.direction, message.body, message.created_at) == ("in", "Hi there", SENT)
    conversation = message.conversation
    assert (conversation.pk, conversation.workspace, conversation.channel) == (
        result.conversation_id,
        acme,
        "whatsapp",
    )
    contact = Contact.objects.get(pk=result.contact_id)
    assert conversation.contact == contact
    assert (contact.workspace, contact.name, contact.email, contact.phone) == (
        acme,
        "Jane Cooper",
        JANE,
        "+44 20 7946 0000",
    )
    receipt = InboundMessage.objects.get()
    assert (receipt.workspace, receipt.external_id, receipt.channel, receipt.api_key) == (
        acme,
        "wa-1",
        "whatsapp",
        key,
    )
    assert receipt.message == message
    assert result.as_json() == {
        "external_id": "wa-1",
        "message_id": message.pk,
        "conversation_id": conversation.pk,
        "contact_id": contact.pk,
    }


def test_k2_without_a_sent_time_the_message_and_its_conversation_take_the_arrival(acme):
    before = timezone.now()
    result = receive(acme, email=JANE)
    message = Message.objects.get(pk=result.message_id)
    assert before <= message.created_at <= timezone.now()
    # One moment for both: the conversation's activity is this message's arrival.
    assert _conversation(result).last_activity_at == message.created_at


def test_k2_a_new_message_moves_its_conversation_to_now(acme):
    """The conversation's activity time: a message on an old thread brings it to the top (and
    only that thread: another customer's closed one stays as it was)."""
    first = receive(acme, "m-1", email=JANE)
    other = receive(acme, "o-1", email="omar@example.com")
    long_ago = timezone.now() - timedelta(days=30)
    Conversation.objects.update(last_activity_at=long_ago, status="closed")
    before = timezone.now()
    second = receive(acme, "m-2", email=JANE, sent_at=SENT)  # the customer's clock is not ours
    assert second.conversation_id == first.conversation_id
    assert before <= _conversation(second).last_activity_at <= timezone.now()
    assert _conversation(second).status == "open"
    untouched = _conversation(other)
    assert (untouched.last_activity_at, untouched.status) == (long_ago, "closed")


# --- the contact -------------------------------------------------------------------------------
def test_k2_the_sender_is_found_by_email_then_by_phone_in_this_workspace_only(acme, globex):
    theirs = Contact.objects.create(workspace=globex, name="Jane (Globex)", email=JANE, phone="+1")
    by_phone = Contact.objects.create(workspace=acme, name="Phone", phone="+1")
    by_email = Contact.objects.create(workspace=acme, name="Email", email=JANE.upper())
    Contact.objects.create(workspace=acme, name="Later twin", email=JANE)

    # The email wins over the phone; of two with that email, the oldest.
    assert receive(acme, "a", email=JANE, phone="+1").contact_id == by_email.pk
    assert receive(acme, "b", email="other@example.com", phone="+1").contact_id == by_phone.pk
    assert receive(acme, "c", phone="+1").contact_id == by_phone.pk
    assert receive(globex, "a", email=JANE).contact_id == theirs.pk
    assert inbound.contact_for_sender(workspace=acme, sender=Sender()) is None
    assert inbound.contact_for_sender(workspace=acme, sender=Sender(email="x@example.com")) is None


def test_k2_a_customer_of_another_workspace_is_not_shared(acme, globex):
    theirs = Contact.objects.create(workspace=globex, name="Theirs", email=JANE, phone="+1 555")
    by_email = receive(acme, "a", email=JANE)
    by_phone = receive(acme, "b", phone="+1 555", channel="sms")
    assert Contact.objects.get(pk=by_email.contact_id).workspace == acme
    assert Contact.objects.get(pk=by_phone.contact_id).workspace == acme
    assert theirs.pk not in (by_email.contact_id, by_phone.contact_id)
    assert Conversation.objects.filter(contact=theirs).count() == 0


def test_k2_a_new_contact_is_named_by_name_then_email_then_phone_within_the_field(acme):
    named = receive(acme, "a", name="N" * 250, email="long@example.com")
    by_email = receive(acme, "b", email="ada@example.org")
    by_phone = receive(acme, "c", phone="+44 20 7946 0001")
    names = [Contact.objects.get(pk=r.contact_id).name for r in (named, by_email, by_phone)]
    assert names == ["N" * 200, "ada@example.org", "+44 20 7946 0001"]
    assert Contact.objects.get(pk=by_email.contact_id).phone == ""
    assert Contact.objects.get(pk=by_phone.contact_id).email == ""


def test_k2_a_sender_holds_no_value_it_was_not_given():
    assert dataclasses.asdict(Sender()) == {"name": "", "email": "", "phone": ""}
    with pytest.raises(dataclasses.FrozenInstanceError):
        Sender().email = "x@example.com"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        InboundResult("e", 1, 2, 3, True).created = False  # type: ignore[misc]


# --- the conversation ----------------------------------------------------------------------------
def test_k2_each_customer_and_channel_has_its_own_thread(acme):
    jane = receive(acme, "a", email=JANE)
    omar = receive(acme, "b", email="omar@example.com")
    jane_sms = receive(acme, "c", email=JANE, channel="sms")
    assert len({jane.conversation_id, omar.conversation_id, jane_sms.conversation_id}) == 3


def test_k2_a_message_joins_the_thread_with_the_latest_activity(acme):
    first = receive(acme, "a", email=JANE)
    contact = Contact.objects.get(pk=first.contact_id)
    now = timezone.now()
    newer = Conversation.objects.create(workspace=acme, contact=contact, channel="email",
                                        subject="Newer", last_activity_at=now)  # fmt: skip
    Conversation.objects.filter(pk=first.conversation_id).update(
        last_activity_at=now + timedelta(hours=1)
    )
    assert receive(acme, "b", email=JANE).conversation_id == first.conversation_id
    # Equal activity times: the thread made last.
    Conversation.objects.filter(contact=contact).update(last_activity_at=now)
    assert receive(acme, "c", email=JANE).conversation_id == newer.pk


# --- the subject ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,subject",
    [
        ("Order late", "Order late"),
        ("  Order late\nThe tracking page says nothing.", "Order late"),
        ("Order late   ", "Order late"),
        ("Order late   \nThe tracking page says nothing.", "Order late"),
        ("\n\nSecond try\n", "Second try"),
        ("", "(no text)"),
        ("   \n  ", "(no text)"),
        ("x" * SUBJECT_LENGTH, "x" * SUBJECT_LENGTH),  # exactly the length: kept whole
        ("x" * (SUBJECT_LENGTH + 1), "x" * (SUBJECT_LENGTH - 1) + "…"),
        ("y" * 500 + "\nmore", "y" * (SUBJECT_LENGTH - 1) + "…"),
        ("a" * (SUBJECT_LENGTH - 2) + " " + "b" * 10, "a" * (SUBJECT_LENGTH - 2) + "…"),
    ],
)
def test_k2_the_subject_is_the_first_line_cut_to_its_length(acme, text, subject):
    result = receive(acme, text=text, email=JANE)
    assert _conversation(result).subject == subject
    assert Message.objects.get(pk=result.message_id).body == text


def test_k2_a_long_first_line_makes_an_80_character_subject_not_an_error(acme):
    result = receive(acme, text="Refund " * 100, email=JANE)
    subject = _conversation(result).subject
    assert subject == ("Refund " * 12)[:79].rstrip() + "…"
    assert len(subject) <= 80


def test_k2_the_subject_length_fits_the_field():
    assert Conversation._meta.get_field("subject").max_length >= SUBJECT_LENGTH
    assert len(inbound._subject("z" * 10_000)) == SUBJECT_LENGTH


# --- repeats -------------------------------------------------------------------------------------
def test_k2_a_repeat_is_answered_from_its_own_workspaces_receipt(acme, globex):
    """The same external id in two workspaces is two messages; each repeat finds its own."""
    ours = receive(acme, "shared-1", email=JANE)
    theirs = receive(globex, "shared-1", email=JANE)
    assert theirs.created and theirs.message_id != ours.message_id
    assert theirs.contact_id != ours.contact_id

    again_theirs = receive(globex, "shared-1", email=JANE, text="again")
    again_ours = receive(acme, "shared-1", email=JANE, text="again")

    assert (again_theirs.created, again_ours.created) == (False, False)
    assert again_theirs == dataclasses.replace(theirs, created=False)
    assert again_ours == dataclasses.replace(ours, created=False)
    assert Message.objects.count() == 2


def test_k2_a_repeat_is_answered_from_its_own_external_ids_receipt(acme):
    first = receive(acme, "m-1", email=JANE)
    second = receive(acme, "m-2", email=JANE)
    again = receive(acme, "m-2", email=JANE)
    assert again == dataclasses.replace(second, created=False)
    assert again.message_id != first.message_id


def test_k2_an_integrity_error_that_is_not_a_repeat_is_not_hidden(acme, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("a constraint of the message table")

    monkeypatch.setattr(Message.objects, "create", broken)
    with pytest.raises(IntegrityError, match="a constraint of the message table"):
        receive(acme, email=JANE)
    assert InboundMessage.objects.count() == 0  # rolled back with it


# --- PostgreSQL: the advisory locks (O5) ---------------------------------------------------------
def _advisory_locks() -> set[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid::bigint, objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        )
        return set(cursor.fetchall())


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="advisory locks: PostgreSQL only (K2 runs it there)"
)
@pytest.mark.django_db(transaction=True)
def test_k2_on_postgresql_the_senders_identities_and_contact_are_locked_while_storing(
    acme, globex, monkeypatch
):
    """One transaction-scoped lock per identity (email key, phone) and one on the contact, the
    same for the same identity in one workspace, other in another workspace."""
    held: list[set] = []
    create = Message.objects.create

    def spy(**kwargs):
        held.append(_advisory_locks())
        return create(**kwargs)

    monkeypatch.setattr(Message.objects, "create", spy)
    receive(acme, "1", email=JANE, phone="+1 555 0100")
    receive(acme, "2", email=JANE.upper(), phone="+1 555 0199")  # same contact, other phone
    receive(acme, "3", email="omar@example.com")
    receive(globex, "1", email=JANE, phone="+1 555 0100")
    both, other_phone, email_only, elsewhere = held

    assert [len(locks) for locks in held] == [3, 3, 2, 3]
    assert len(both & other_phone) == 2  # the email's and the contact's
    assert not both & email_only
    assert not both & elsewhere
    assert _advisory_locks() == set()  # released with the transaction
