"""F1: the emulator speaks Salesforce's Pub/Sub API (gRPC over loopback, generated stubs).

Every test drives the live session emulator's gRPC listener with the stubs generated from
``salesforce_pubsub/pubsub_api.proto`` and decodes payloads with fastavro against the schema that
GetSchema serves. Edits go through REST (``PATCH /sobjects/Contact/<id>``) or the control
endpoint, as "an edit in Salesforce" would.
"""

from __future__ import annotations

import json
import queue
import threading
import time

import fastavro
import grpc
import pytest

from salesforce_emulator.demo_names import ACME_ORG_ID, INITECH_ORG_ID
from salesforce_emulator.testing import spawn_emulator
from salesforce_pubsub import avro
from salesforce_pubsub import pubsub_api_pb2 as pb
from salesforce_pubsub import pubsub_api_pb2_grpc as pb_grpc
from tests.salesforce_support import issue_token

CONTACTS = "/data/ContactChangeEvent"
WAIT = 10  # seconds a test waits for the next response before failing (never a speed check)
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
LIMIT_EXCEEDED = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded"


class Stream:
    """One Subscribe call: FetchRequests go in through a queue, responses come out of another."""

    def __init__(self, stub: pb_grpc.PubSubStub, metadata, first: pb.FetchRequest) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._requests.put(first)
        self._responses: queue.Queue = queue.Queue()
        self.call = stub.Subscribe(iter(self._requests.get, None), metadata=metadata)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self._responses.put(response)
        except grpc.RpcError as error:
            self._responses.put(error)

    def fetch(self, n: int, topic: str = "") -> None:
        self._requests.put(pb.FetchRequest(topic_name=topic, num_requested=n))

    def _next(self, deadline: float):
        return self._responses.get(timeout=max(0.0, deadline - time.monotonic()))

    def response(self) -> pb.FetchResponse:
        item = self._next(time.monotonic() + WAIT)
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def events(self) -> list[pb.ConsumerEvent]:
        """The events of the next response that has any (keepalives skipped)."""
        deadline = time.monotonic() + WAIT
        while True:
            item = self._next(deadline)
            if isinstance(item, grpc.RpcError):
                raise item
            if item.events:
                return list(item.events)

    def keepalive(self) -> pb.FetchResponse:
        deadline = time.monotonic() + WAIT
        while True:
            item = self._next(deadline)
            if isinstance(item, grpc.RpcError):
                raise item
            if not item.events:
                return item

    def error(self) -> grpc.RpcError:
        """The error that ends the stream (anything before it is skipped)."""
        deadline = time.monotonic() + WAIT
        while True:
            item = self._next(deadline)
            if isinstance(item, grpc.RpcError):
                return item

    def close(self) -> None:
        self.call.cancel()
        self._requests.put(None)


def error_code(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ())["error-code"]


@pytest.fixture
def pubsub(sf_emulator, acme_token):
    """A stub, Acme's auth metadata and a way to open streams; keepalives every 0.2 s."""
    sf_emulator.set_pubsub_keepalive(0.2)
    channel = sf_emulator.pubsub_channel()
    stub = pb_grpc.PubSubStub(channel)
    metadata = sf_emulator.pubsub_metadata(acme_token["access_token"], ACME_ORG_ID)
    streams: list[Stream] = []

    class PubSub:
        token = acme_token["access_token"]

        def __init__(self):
            self.stub = stub
            self.metadata = metadata

        def subscribe(self, topic=CONTACTS, preset=pb.LATEST, replay=b"", n=10, md=None):
            stream = Stream(
                stub,
                md or self.metadata,
                pb.FetchRequest(
                    topic_name=topic, replay_preset=preset, replay_id=replay, num_requested=n
                ),
            )
            streams.append(stream)
            return stream

        def schema(self, schema_id: str) -> str:
            return stub.GetSchema(
                pb.SchemaRequest(schema_id=schema_id), metadata=self.metadata
            ).schema_json

        def decode(self, event: pb.ConsumerEvent) -> dict:
            return avro.decode(self.schema(event.event.schema_id), event.event.payload)

        def subscribed(self, topic=CONTACTS, **kw):
            """A LATEST stream that has answered once (so it is registered before edits)."""
            stream = self.subscribe(topic, **kw)
            stream.keepalive()
            return stream

    yield PubSub()
    for stream in streams:
        stream.close()
    channel.close()


def contact_ids(emulator, org_id=ACME_ORG_ID) -> list[str]:
    return [r["Id"] for r in emulator.state.records.table(org_id, "Contact") if not r["IsDeleted"]]


def test_f1_get_topic_answers_the_topic_and_its_schema_id(pubsub):
    """F1: GetTopic answers a CDC channel: subscribable, not publishable, its schema id, the org."""
    info = pubsub.stub.GetTopic(pb.TopicRequest(topic_name=CONTACTS), metadata=pubsub.metadata)
    assert info.topic_name == CONTACTS
    assert info.can_subscribe and not info.can_publish
    assert info.tenant_guid == ACME_ORG_ID
    assert info.schema_id and info.rpc_id


def test_f1_get_schema_is_avro_with_a_change_event_header(pubsub):
    """F1: GetSchema serves Avro JSON in Salesforce's shape: ChangeEventHeader first, then the
    object's fields as optional unions (a person's Name compound)."""
    info = pubsub.stub.GetTopic(pb.TopicRequest(topic_name=CONTACTS), metadata=pubsub.metadata)
    answer = pubsub.stub.GetSchema(
        pb.SchemaRequest(schema_id=info.schema_id), metadata=pubsub.metadata
    )
    assert answer.schema_id == info.schema_id
    document = json.loads(answer.schema_json)
    fastavro.parse_schema(document)
    assert document["name"] == "ContactChangeEvent"
    header, *fields = document["fields"]
    assert header["name"] == "ChangeEventHeader"
    header_fields = {f["name"] for f in header["type"]["fields"]}
    assert {
        "entityName",
        "recordIds",
        "changeType",
        "changedFields",
        "nulledFields",
        "diffFields",
        "commitTimestamp",
        "commitUser",
        "transactionKey",
    } <= header_fields
    by_name = {f["name"]: f for f in fields}
    for name in ("Email", "Phone", "MobilePhone", "AccountId"):
        assert by_name[name]["type"] == ["null", "string"]
        assert by_name[name]["default"] is None
    name_parts = {f["name"] for f in by_name["Name"]["type"][1]["fields"]}
    assert {"FirstName", "LastName"} <= name_parts


def test_f1_unknown_topic_and_unknown_schema_are_refused(pubsub):
    """F1: an unknown topic answers NOT_FOUND with Salesforce's error code, on GetTopic and on
    Subscribe; an unknown schema id NOT_FOUND."""
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.stub.GetTopic(
            pb.TopicRequest(topic_name="/data/FooChangeEvent"), metadata=pubsub.metadata
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_code(caught.value).endswith("topic.notfound")
    assert "rpcId:" in caught.value.details()
    error = pubsub.subscribe("/event/Nope__e").error()
    assert error.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.stub.GetSchema(pb.SchemaRequest(schema_id="nope"), metadata=pubsub.metadata)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_f1_bad_auth_metadata_is_unauthenticated(sf_emulator, pubsub):
    """F1: a bad access token, a tenantid of another org, or missing metadata: UNAUTHENTICATED with
    the ``sfdc.platform.eventbus.grpc.service.auth.error`` code, on unary calls and Subscribe."""
    request = pb.TopicRequest(topic_name=CONTACTS)
    cases = [
        sf_emulator.pubsub_metadata("00D!bogus", ACME_ORG_ID),
        sf_emulator.pubsub_metadata(pubsub.token, INITECH_ORG_ID),
        (("accesstoken", pubsub.token), ("tenantid", ACME_ORG_ID)),  # no instanceurl
        (),
    ]
    for metadata in cases:
        with pytest.raises(grpc.RpcError) as caught:
            pubsub.stub.GetTopic(request, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error_code(caught.value) == AUTH_ERROR
    error = pubsub.subscribe(md=sf_emulator.pubsub_metadata("00D!bogus", ACME_ORG_ID)).error()
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_code(error) == AUTH_ERROR


def test_f1_an_ended_session_ends_calls_and_open_streams(sf_emulator, pubsub):
    """F1: when the access token ends (expired session), new calls and an open Subscribe stream end
    with the auth error, as a REST call would answer INVALID_SESSION_ID."""
    stream = pubsub.subscribed()
    sf_emulator.expire_sessions(ACME_ORG_ID)
    error = stream.error()
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_code(error) == AUTH_ERROR
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.stub.GetTopic(pb.TopicRequest(topic_name=CONTACTS), metadata=pubsub.metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_f1_rest_patch_publishes_an_update_with_changed_fields(sf_emulator, pubsub, acme_token):
    """F1: a REST PATCH of a Contact publishes an UPDATE; decoded with the served schema, the
    header names the record, the user and the changed fields (bitmap), the payload carries the new
    values and leaves unchanged fields null (Pub/Sub API CDC: new values only)."""
    stream = pubsub.subscribed()
    contact_id = contact_ids(sf_emulator)[0]
    before = sf_emulator.state.records.get(ACME_ORG_ID, "Contact", contact_id)
    sf_emulator.edit_record(
        pubsub.token, "Contact", contact_id, Email="ada@new.example", Phone=None
    )
    (event,) = stream.events()
    schema_json = pubsub.schema(event.event.schema_id)
    record = avro.decode(schema_json, event.event.payload)
    header = record["ChangeEventHeader"]
    assert header["entityName"] == "Contact"
    assert header["recordIds"] == [contact_id]
    assert header["changeType"] == "UPDATE"
    assert header["commitUser"] == sf_emulator.user_id("admin@acme-corp.example")
    assert header["commitTimestamp"] > 0
    changed = avro.bitmap_field_names(schema_json, header["changedFields"])
    assert set(changed) == {"Email", "Phone", "LastModifiedDate"}
    assert avro.bitmap_field_names(schema_json, header["nulledFields"]) == ["Phone"]
    assert record["Email"] == "ada@new.example"
    assert record["Phone"] is None
    assert before["LastName"] is not None and record["Name"] is None  # unchanged: null
    assert before["AccountId"] is not None and record["AccountId"] is None
    assert event.replay_id and event.event.id


def test_f1_a_name_change_is_a_compound_field_change(sf_emulator, pubsub):
    """F1: FirstName is a part of the compound Name: changedFields says ``Name.FirstName``."""
    stream = pubsub.subscribed()
    contact_id = contact_ids(sf_emulator)[0]
    sf_emulator.edit_record(pubsub.token, "Contact", contact_id, FirstName="Augusta")
    (event,) = stream.events()
    schema_json = pubsub.schema(event.event.schema_id)
    record = avro.decode(schema_json, event.event.payload)
    changed = avro.bitmap_field_names(schema_json, record["ChangeEventHeader"]["changedFields"])
    assert "Name.FirstName" in changed
    assert record["Name"]["FirstName"] == "Augusta"


def test_f1_control_endpoint_creates_updates_and_deletes_publish(sf_emulator, pubsub):
    """F1: the control endpoint's record changes publish CREATE, UPDATE and DELETE events."""
    stream = pubsub.subscribed()
    new_id = "0035g00000NewC1AAA"
    sf_emulator.update_record(
        "Contact", new_id, org_id=ACME_ORG_ID, LastName="Hopper", Email="grace@navy.example"
    )
    sf_emulator.update_record("Contact", new_id, Phone="+1 555 0100")
    sf_emulator.delete_record("Contact", new_id)
    seen = []
    while len(seen) < 3:
        seen += [pubsub.decode(e) for e in stream.events()]
    assert [r["ChangeEventHeader"]["changeType"] for r in seen] == ["CREATE", "UPDATE", "DELETE"]
    assert all(r["ChangeEventHeader"]["recordIds"] == [new_id] for r in seen)
    created, updated, deleted = seen
    assert created["Email"] == "grace@navy.example"
    assert created["Name"]["LastName"] == "Hopper"
    assert updated["Phone"] == "+1 555 0100" and updated["Email"] is None
    assert deleted["Email"] is None


def test_f1_latest_delivers_only_events_after_subscribing(sf_emulator, pubsub):
    """F1: LATEST starts at the tip: an earlier edit is not delivered, a later one is."""
    first, second = contact_ids(sf_emulator)[:2]
    sf_emulator.edit_record(pubsub.token, "Contact", first, Title="Before")
    stream = pubsub.subscribed()
    sf_emulator.edit_record(pubsub.token, "Contact", second, Title="After")
    (event,) = stream.events()
    assert pubsub.decode(event)["ChangeEventHeader"]["recordIds"] == [second]


def test_f1_earliest_replays_every_kept_event(sf_emulator, pubsub):
    """F1: EARLIEST delivers the kept events from the oldest, in commit order."""
    ids = contact_ids(sf_emulator)[:3]
    for n, contact_id in enumerate(ids):
        sf_emulator.edit_record(pubsub.token, "Contact", contact_id, Title=f"T{n}")
    stream = pubsub.subscribe(preset=pb.EARLIEST, n=10)
    got = []
    while len(got) < 3:
        got += stream.events()
    assert [pubsub.decode(e)["ChangeEventHeader"]["recordIds"][0] for e in got] == ids
    assert [pubsub.decode(e)["Title"] for e in got] == ["T0", "T1", "T2"]


def test_f1_custom_resumes_after_the_given_replay_id(sf_emulator, pubsub):
    """F1: CUSTOM with a replay id delivers only the events after it."""
    ids = contact_ids(sf_emulator)[:3]
    for contact_id in ids:
        sf_emulator.edit_record(pubsub.token, "Contact", contact_id, Title="x")
    everything = pubsub.subscribe(preset=pb.EARLIEST, n=10)
    got = []
    while len(got) < 3:
        got += everything.events()
    resumed = pubsub.subscribe(preset=pb.CUSTOM, replay=got[0].replay_id, n=10)
    after = []
    while len(after) < 2:
        after += resumed.events()
    assert [e.replay_id for e in after] == [got[1].replay_id, got[2].replay_id]
    assert [pubsub.decode(e)["ChangeEventHeader"]["recordIds"][0] for e in after] == ids[1:]


def test_f1_custom_with_a_replay_id_that_is_not_valid_is_refused(pubsub):
    """F1: CUSTOM with bytes that are no replay id, an id never issued, or no id: INVALID_ARGUMENT;
    a bad id carries Salesforce's ``...replayid.corrupted`` code."""
    for replay in (b"garbage", (10**12).to_bytes(8, "big")):
        error = pubsub.subscribe(preset=pb.CUSTOM, replay=replay).error()
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_code(error) == REPLAY_CORRUPTED
    error = pubsub.subscribe(preset=pb.CUSTOM, replay=b"").error()
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_f1_events_are_kept_72_hours_on_the_emulator_clock(sf_emulator, pubsub):
    """F1: after 72 h (the emulator's clock moved on) an event is gone: EARLIEST no longer
    delivers it and its replay id is refused as corrupted; a younger event is still kept."""
    old_id, new_id = contact_ids(sf_emulator)[:2]
    sf_emulator.edit_record(pubsub.token, "Contact", old_id, Title="old")
    first = pubsub.subscribe(preset=pb.EARLIEST).events()[0]
    sf_emulator.advance_clock(71 * 3600)
    sf_emulator.update_record("Contact", new_id, Title="new")
    sf_emulator.advance_clock(1 * 3600 + 1)
    token = issue_token(sf_emulator)["access_token"]  # the old session may have timed out
    pubsub.metadata = sf_emulator.pubsub_metadata(token, ACME_ORG_ID)
    kept = pubsub.subscribe(preset=pb.EARLIEST).events()
    assert [pubsub.decode(e)["ChangeEventHeader"]["recordIds"][0] for e in kept] == [new_id]
    error = pubsub.subscribe(preset=pb.CUSTOM, replay=first.replay_id).error()
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(error) == REPLAY_CORRUPTED


def test_f1_the_server_sends_no_more_than_num_requested(sf_emulator, pubsub):
    """F1: flow control: with 2 requested, 3 edits deliver 2 events (pending then 0) and nothing
    more until the client asks for more."""
    stream = pubsub.subscribed(n=2)
    ids = contact_ids(sf_emulator)[:3]
    for contact_id in ids:
        sf_emulator.edit_record(pubsub.token, "Contact", contact_id, Title="flow")
    got, pending = [], None
    while len(got) < 2:
        response = stream.response()
        got += response.events
        pending = response.pending_num_requested
    assert len(got) == 2 and pending == 0
    idle = stream.keepalive()  # the third event waits: nothing was requested
    assert idle.pending_num_requested == 0
    assert idle.latest_replay_id == got[-1].replay_id
    stream.fetch(5)
    (third,) = stream.events()
    assert pubsub.decode(third)["ChangeEventHeader"]["recordIds"] == [ids[2]]


def test_f1_a_fetch_request_caps_at_100_events(sf_emulator, pubsub):
    """F1: one FetchRequest asks for at most 100 events (Salesforce's cap): pending says 100."""
    stream = pubsub.subscribe(n=500)
    assert stream.keepalive().pending_num_requested == 100


def test_f1_keepalives_carry_the_latest_replay_id(sf_emulator, pubsub):
    """F1: with nothing to deliver the server sends empty FetchResponses carrying the latest
    replay id, which a client can resume from (CUSTOM) without missing or repeating events."""
    stream = pubsub.subscribed()
    first, second = contact_ids(sf_emulator)[:2]
    sf_emulator.edit_record(pubsub.token, "Contact", first, Title="k")
    (event,) = stream.events()
    idle = stream.keepalive()
    assert idle.events == [] and idle.latest_replay_id == event.replay_id
    stream.close()
    sf_emulator.edit_record(pubsub.token, "Contact", second, Title="k2")
    resumed = pubsub.subscribe(preset=pb.CUSTOM, replay=idle.latest_replay_id)
    (next_event,) = resumed.events()
    assert pubsub.decode(next_event)["ChangeEventHeader"]["recordIds"] == [second]


def test_f1_an_entity_not_selected_for_cdc_publishes_nothing(sf_emulator, pubsub):
    """F1: per-org CDC selection: with Contact not selected, a Contact edit publishes nothing
    (the next event on the stream is the one made after Contact was selected again)."""
    assert sf_emulator.cdc_entities(ACME_ORG_ID) == [
        "Account",
        "Case",
        "Contact",
        "Lead",
        "Opportunity",
        "OpportunityContactRole",
        "User",
    ]
    stream = pubsub.subscribed()
    first, second = contact_ids(sf_emulator)[:2]
    sf_emulator.set_cdc_entities(ACME_ORG_ID, "Case")
    sf_emulator.edit_record(pubsub.token, "Contact", first, Title="unseen")
    assert sf_emulator.change_events(ACME_ORG_ID) == []
    sf_emulator.set_cdc_entities(ACME_ORG_ID, "Contact", "Case")
    sf_emulator.edit_record(pubsub.token, "Contact", second, Title="seen")
    (event,) = stream.events()
    assert pubsub.decode(event)["ChangeEventHeader"]["recordIds"] == [second]


def test_f1_change_events_channel_carries_every_selected_entity(sf_emulator, pubsub):
    """F1: ``/data/ChangeEvents`` delivers the changes of every selected entity, each event with
    its own entity's schema id; a Contact topic skips a Case change."""
    contacts = pubsub.subscribed()
    everything = pubsub.subscribed("/data/ChangeEvents")
    case_id = sf_emulator.state.records.table(ACME_ORG_ID, "Case")[0]["Id"]
    contact_id = contact_ids(sf_emulator)[0]
    sf_emulator.edit_record(pubsub.token, "Case", case_id, Status="Working")
    sf_emulator.edit_record(pubsub.token, "Contact", contact_id, Title="both")
    got = []
    while len(got) < 2:
        got += everything.events()
    assert [pubsub.decode(e)["ChangeEventHeader"]["entityName"] for e in got] == ["Case", "Contact"]
    assert got[0].event.schema_id != got[1].event.schema_id
    (only,) = contacts.events()
    assert only.replay_id == got[1].replay_id


def test_f1_a_spent_delivery_allocation_ends_the_stream(sf_emulator, pubsub):
    """F1: with one delivery left, the first event arrives and the next ends the stream with
    Salesforce's delivery-limit error; a new subscription is refused while it stays spent."""
    stream = pubsub.subscribed()
    sf_emulator.set_event_allocation(ACME_ORG_ID, 1)
    first, second = contact_ids(sf_emulator)[:2]
    sf_emulator.edit_record(pubsub.token, "Contact", first, Title="a")
    assert len(stream.events()) == 1
    sf_emulator.edit_record(pubsub.token, "Contact", second, Title="b")
    error = stream.error()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_code(error) == LIMIT_EXCEEDED
    refused = pubsub.subscribe().error()
    assert error_code(refused) == LIMIT_EXCEEDED


def test_f1_events_stay_within_their_org(sf_emulator, pubsub):
    """F1: a subscriber sees its own org's changes only (tenantid and token name the org)."""
    stream = pubsub.subscribed()
    initech_contact = contact_ids(sf_emulator, INITECH_ORG_ID)[0]
    sf_emulator.update_record("Contact", initech_contact, Title="elsewhere")
    acme_contact = contact_ids(sf_emulator)[0]
    sf_emulator.edit_record(pubsub.token, "Contact", acme_contact, Title="here")
    (event,) = stream.events()
    assert pubsub.decode(event)["ChangeEventHeader"]["recordIds"] == [acme_contact]


def test_f1_command_line_starts_the_pubsub_listener():
    """F1: ``python -m salesforce_emulator --pubsub-port 0`` serves the Pub/Sub API beside REST."""
    with spawn_emulator(pubsub_port=0, pubsub_keepalive=0.2) as emulator:
        token = issue_token(emulator)["access_token"]
        with emulator.pubsub_channel() as channel:
            stub = pb_grpc.PubSubStub(channel)
            metadata = emulator.pubsub_metadata(token, ACME_ORG_ID)
            info = stub.GetTopic(pb.TopicRequest(topic_name=CONTACTS), metadata=metadata)
            assert info.can_subscribe
            stream = Stream(stub, metadata, pb.FetchRequest(topic_name=CONTACTS, num_requested=1))
            stream.keepalive()
            contact_id = "0035g00000Con01AAB"  # Ada, in the demo data's Acme org
            emulator.edit_record(token, "Contact", contact_id, Title="spawned")
            (event,) = stream.events()
            stream.close()
            schema_json = stub.GetSchema(
                pb.SchemaRequest(schema_id=event.event.schema_id), metadata=metadata
            ).schema_json
            assert avro.decode(schema_json, event.event.payload)["Title"] == "spawned"


def test_f1_bitmap_helpers_round_trip_over_a_served_schema(pubsub):
    """F1: ``salesforce_pubsub.avro`` writes and reads the documented bitmap form: a hex string
    for top-level fields (bit i = schema field i) and ``P-0x..`` for a compound's parts."""
    info = pubsub.stub.GetTopic(pb.TopicRequest(topic_name=CONTACTS), metadata=pubsub.metadata)
    schema_json = pubsub.schema(info.schema_id)
    positions = [f["name"] for f in json.loads(schema_json)["fields"]]
    bitmap = avro.field_bitmap(schema_json, ["Email", "Name.LastName"])
    assert bitmap[0] == "0x" + f"{1 << positions.index('Email'):X}".zfill(len(bitmap[0]) - 2)
    assert bitmap[1].startswith(f"{positions.index('Name')}-0x")
    assert avro.bitmap_field_names(schema_json, bitmap) == ["Email", "Name.LastName"]
    assert avro.field_bitmap(schema_json, []) == []
    with pytest.raises(ValueError):
        avro.field_bitmap(schema_json, ["NoSuchField__c"])


def test_f1_stats_count_calls_and_open_streams(sf_emulator, pubsub):
    """F1 (for F2's one-active-listener checks): the control endpoint counts Pub/Sub calls and the
    Subscribe streams open per org; a cancelled stream is no longer counted."""

    def settled() -> dict:
        deadline = time.monotonic() + WAIT  # earlier tests' cancelled streams wind down
        while sf_emulator.pubsub_stats()["open_streams"] and time.monotonic() < deadline:
            time.sleep(0.05)
        return sf_emulator.pubsub_stats()["open_streams"]

    assert settled() == {}
    stream = pubsub.subscribed()
    stats = sf_emulator.pubsub_stats()
    assert stats["open_streams"] == {ACME_ORG_ID: 1}
    assert stats["calls"]["Subscribe"] == 1
    stream.close()
    assert settled() == {}
