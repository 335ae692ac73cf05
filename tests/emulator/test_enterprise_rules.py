"""Issue 24 (E6, E9): the emulator's Pub/Sub and enterprise-org rules, driven over gRPC and HTTP."""

from __future__ import annotations

import queue
import time

import grpc
import pytest
import requests

from salesforce_emulator.demo_names import ACME_ORG_ID
from salesforce_emulator.testing import running_emulator
from salesforce_pubsub import pubsub_api_pb2 as pb
from salesforce_pubsub import pubsub_api_pb2_grpc as pb_grpc
from tests.salesforce_support import issue_token

from . import test_pubsub
from .test_pubsub import CONTACTS, Stream, contact_ids, error_code

pubsub = test_pubsub.pubsub  # the same fixture: a stub, Acme's metadata, keepalives every 0.2 s

TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.topic.notfound"
OCR_TOPIC = "/data/OpportunityContactRoleChangeEvent"
JANE = "0035g00000Con01AAB"
JANE_DEAL = "0065g00000Opp01AAB"


def _silent_for(stream: Stream, seconds: float) -> bool:
    try:
        stream._next(time.monotonic() + seconds)
    except queue.Empty:
        return True
    return False


def _events_within(stream: Stream, seconds: float) -> list:
    found, deadline = [], time.monotonic() + seconds
    while True:
        try:
            item = stream._next(deadline)
        except queue.Empty:
            return found
        if isinstance(item, grpc.RpcError):
            raise item
        found += item.events


def _ended(stream: Stream, wait: float = 10) -> bool:
    deadline = time.monotonic() + wait
    while not stream.call.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return stream.call.done()


# --- E6: stall, NOT_FOUND, outstanding cap, idle close ----------------------------------------
def test_e6_a_stalled_stream_sends_nothing_not_even_keepalives_but_stays_open(sf_emulator, pubsub):
    stream = pubsub.subscribed()
    sf_emulator.stall_pubsub(ACME_ORG_ID)
    sf_emulator.edit_record(pubsub.token, "Contact", contact_ids(sf_emulator)[0], Title="lost")
    assert _silent_for(stream, 1.5)  # keepalives come every 0.2 s on a live stream
    assert sf_emulator.pubsub_stats()["open_streams"][ACME_ORG_ID] == 1
    fresh = pubsub.subscribe(preset=pb.EARLIEST)  # a new stream is served as usual
    assert fresh.events()


def test_e6_an_object_not_selected_for_cdc_cannot_be_subscribed(sf_emulator, pubsub):
    sf_emulator.set_cdc_entities(ACME_ORG_ID, "Contact")
    with pytest.raises(grpc.RpcError) as refused:
        pubsub.stub.GetTopic(
            pb.TopicRequest(topic_name="/data/CaseChangeEvent"), metadata=pubsub.metadata
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    error = pubsub.subscribe("/data/CaseChangeEvent").error()
    assert error.code() == grpc.StatusCode.NOT_FOUND and error_code(error) == TOPIC_NOT_FOUND
    assert pubsub.subscribed(CONTACTS).keepalive()  # a selected one still works


def test_e6_the_outstanding_request_is_capped_at_100_in_total(pubsub):
    stream = pubsub.subscribe(n=60)
    assert stream.keepalive().pending_num_requested == 60
    stream.fetch(60)
    time.sleep(0.3)
    assert stream.keepalive().pending_num_requested == 100


def test_e6_a_stream_with_nothing_requested_is_closed_after_the_idle_time(sf_emulator, pubsub):
    sf_emulator.set_pubsub_idle_close(0.6)
    stream = pubsub.subscribed(n=1)  # registered before the edit (a LATEST stream)
    sf_emulator.edit_record(pubsub.token, "Contact", contact_ids(sf_emulator)[0], Title="one")
    assert len(stream.events()) == 1  # now nothing is requested
    assert _ended(stream) and stream.call.code() == grpc.StatusCode.OK


def test_e6_a_stream_that_keeps_asking_is_not_closed(sf_emulator, pubsub):
    sf_emulator.set_pubsub_idle_close(0.6)
    stream = pubsub.subscribe(n=5)
    time.sleep(1.5)
    assert not stream.call.done()
    assert stream.keepalive().pending_num_requested == 5


# --- E6: OpportunityContactRole events and nested address compounds ---------------------------
def test_e6_adding_a_contact_role_publishes_its_own_event_not_an_opportunity_one(
    sf_emulator, pubsub
):
    roles = pubsub.subscribed(OCR_TOPIC)
    deals = pubsub.subscribed("/data/OpportunityChangeEvent")
    created = requests.post(
        f"{sf_emulator.instance_url}/services/data/v62.0/sobjects/OpportunityContactRole",
        json={"ContactId": JANE, "OpportunityId": "0065g00000Opp03AAB"},
        headers={"Authorization": f"Bearer {pubsub.token}"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    (event,) = roles.events()
    record = pubsub.decode(event)
    assert record["ChangeEventHeader"]["changeType"] == "CREATE"
    assert record["ContactId"] == JANE and record["OpportunityId"] == "0065g00000Opp03AAB"
    assert _events_within(deals, 0.8) == []  # keepalives only: no Opportunity changed


def test_e6_an_address_change_arrives_nested_in_its_compound(sf_emulator, pubsub):
    stream = pubsub.subscribed()
    sf_emulator.edit_record(pubsub.token, "Contact", JANE, MailingCity="Lisbon")
    (event,) = stream.events()
    record = pubsub.decode(event)
    assert record["MailingAddress"] == {"City": "Lisbon"}
    assert "MailingCity" not in record
    schema = pubsub.schema(event.event.schema_id)
    from salesforce_pubsub import avro

    changed = avro.bitmap_field_names(schema, record["ChangeEventHeader"]["changedFields"])
    assert "MailingAddress.City" in changed


# --- E6: the gRPC server's ping policy (GOAWAY too_many_pings) ---------------------------------
def _hold(emulator, keepalive_ms: int, seconds: float) -> grpc.RpcError | None:
    token = issue_token(emulator)["access_token"]
    channel = grpc.insecure_channel(
        emulator.pubsub_target,
        [
            ("grpc.keepalive_time_ms", keepalive_ms),
            ("grpc.keepalive_timeout_ms", 5000),
            ("grpc.http2.max_pings_without_data", 0),
        ],
    )
    stream = Stream(
        pb_grpc.PubSubStub(channel),
        emulator.pubsub_metadata(token, ACME_ORG_ID),
        pb.FetchRequest(topic_name=CONTACTS, num_requested=10),
    )
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                item = stream._next(min(deadline, time.monotonic() + 0.5))
            except queue.Empty:
                continue
            if isinstance(item, grpc.RpcError):
                return item
        return None
    finally:
        stream.close()
        channel.close()


def test_e6_pinging_more_often_than_the_server_allows_gets_goaway_too_many_pings():
    # Scaled down 100x: the server allows a ping every 3 s (gRPC's default: 5 minutes); the
    # client pings every second (a 60 s keepalive, scaled; gRPC's client paces pings at 1 s at
    # most). The emulator's own keepalive is longer than the test, so no data resets strikes.
    with running_emulator(pubsub_min_ping_seconds=3.0) as emulator:
        emulator.set_pubsub_keepalive(60)
        error = _hold(emulator, keepalive_ms=1000, seconds=12)
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    assert "ping" in (error.details() or "").lower()


def test_e6_pinging_no_more_often_than_allowed_keeps_the_stream():
    # The product's setting scaled the same way: 330 s -> 3.3 s against the server's 3 s.
    with running_emulator(pubsub_min_ping_seconds=3.0) as emulator:
        emulator.set_pubsub_keepalive(60)
        assert _hold(emulator, keepalive_ms=3300, seconds=12) is None
