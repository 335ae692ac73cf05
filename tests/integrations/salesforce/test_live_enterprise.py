"""Live updates that cannot go silent (issue 24, E6), against the emulator's Pub/Sub API."""

from __future__ import annotations

import pytest
import requests

from integrations.salesforce import live, lookup, pubsub, selectors, services
from integrations.salesforce.listener import TopicStream

from .test_listener import (
    CONTACT_TOPIC,
    JANE_EMAIL,
    JANE_ID,
    cached,
    live_sf,  # noqa: F401 - a fixture
    running_listener,
    subscribed,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
ACME = "00D5g000004AcmEEAS"
ACCOUNT_OF_JANE = "0015g00000Acc01AAB"
ACCOUNT_TOPIC = "/data/AccountChangeEvent"
CONTACT_ROLE_TOPIC = "/data/OpportunityContactRoleChangeEvent"


def _listening(connection, *topics: str) -> bool:
    """``subscribed`` for the topics an event travels on, not only Contact's: each stream's
    position is stored (its first keep-alive), so an event from now on is delivered. A stream
    that subscribes after the event starts at LATEST and never sees it, which a loaded run makes
    likely when only the Contact stream was waited for."""
    return subscribed(connection) and all(selectors.replay_id(connection.pk, t) for t in topics)


def _streams(listener, topic=CONTACT_TOPIC) -> list[TopicStream]:
    return [s for (_, t), s in listener.streams.items() if t == topic]


def test_e6_a_stalled_stream_is_detected_and_resubscribed_from_its_replay_id(
    live_sf,  # noqa: F811
    connection,
    settings,
):
    settings.SALESFORCE_PUBSUB_STALL_SECONDS = 1.0  # keepalives come every 0.2 s
    connection.field_names = ["Name", "Email", "Title"]
    connection.save(update_fields=["field_names"])
    with running_listener() as listener:
        wait_for(lambda: subscribed(connection), "subscribed")
        stream = _streams(listener)[0]
        lookup.find_contact(connection, email=JANE_EMAIL)
        live_sf.stall_pubsub(ACME)
        # Made while the stream is silent: delivered only by the resubscription (CUSTOM replay).
        live_sf.update_record("Contact", JANE_ID, Title="Edited during the stall")
        wait_for(lambda: stream.stalls >= 1, "the stall noticed")
        wait_for(lambda: not cached(connection), "the edit delivered after resubscribing")
        assert live_sf.pubsub_stats()["calls"]["Subscribe"] >= 2
    result = lookup.find_contact(connection, email=JANE_EMAIL)
    assert result.primary.values["Title"] == "Edited during the stall"


def test_e6_a_stream_is_healthy_only_after_its_first_response(live_sf, connection):  # noqa: F811
    connection.field_names = ["Name", "Email"]
    connection.save(update_fields=["field_names"])
    # No keepalive within the test (and no stall: the listener waits 285 s): the stream's first
    # response is the event of the edit below, whenever the loaded machine gets to it.
    live_sf.set_pubsub_keepalive(600)
    with running_listener() as listener:
        wait_for(lambda: _streams(listener), "the stream started")
        stream = _streams(listener)[0]
        wait_for(lambda: live_sf.pubsub_stats()["open_streams"].get(ACME), "Subscribe open")
        assert stream.state == live.State.STARTING and not live.healthy(connection)
        live_sf.update_record("Contact", JANE_ID, Title="The first response")
        wait_for(lambda: stream.healthy, "the first response (the edit's event)", deadline=15)


def test_e6_a_refused_stream_never_counts_as_healthy_and_its_back_off_grows(
    live_sf,  # noqa: F811
    connection,
):
    connection.field_names = ["Name", "Email"]
    connection.save(update_fields=["field_names"])
    live_sf.set_event_allocation(ACME, 0)  # GetTopic answers; every Subscribe is refused
    seen = set()
    with running_listener() as listener:
        wait_for(lambda: _streams(listener), "the stream started")
        stream = _streams(listener)[0]

        def watch():
            seen.add(stream.state)
            return stream._backoff >= 4  # 1 s, then 2 s, then 4 s: it grows

        wait_for(watch, "the back-off growing")
        assert live.State.HEALTHY not in seen and not live.healthy(connection)
        assert "event delivery limit" in stream.reason


def test_e6_a_contact_role_added_to_an_opportunity_drops_the_lookup(
    live_sf,  # noqa: F811
    connection,
):
    services.set_related_lists(connection, names=["OpportunityContactRoles"], actor=None)
    with running_listener():
        wait_for(lambda: _listening(connection, CONTACT_ROLE_TOPIC), "subscribed")
        before = lookup.find_contact(connection, email=JANE_EMAIL)
        assert cached(connection)
        token = connection.access_token
        created = requests.post(
            f"{connection.instance_url}/services/data/v62.0/sobjects/OpportunityContactRole",
            json={"ContactId": JANE_ID, "OpportunityId": "0065g00000Opp03AAB"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert created.status_code == 201, created.text
        wait_for(lambda: not cached(connection), "the contact role's event")
    after = lookup.find_contact(connection, email=JANE_EMAIL)
    ids = [r["OpportunityId"] for r in after.primary.related["OpportunityContactRoles"]]
    before_ids = [r["OpportunityId"] for r in before.primary.related["OpportunityContactRoles"]]
    assert "0065g00000Opp03AAB" in ids and "0065g00000Opp03AAB" not in before_ids


def test_e6_an_account_rename_drops_the_lookups_that_show_its_name(
    live_sf,  # noqa: F811
    connection,
):
    with running_listener():
        wait_for(lambda: _listening(connection, ACCOUNT_TOPIC), "subscribed")
        first = lookup.find_contact(connection, email=JANE_EMAIL)
        account_id = first.primary.values["Account"]["Id"]
        assert cached(connection)
        live_sf.update_record("Account", account_id, Name="Northwind Renamed")
        wait_for(lambda: not cached(connection), "the Account's event")
    assert lookup.find_contact(connection, email=JANE_EMAIL).primary.values["Account"] == {
        "Name": "Northwind Renamed",
        "Id": account_id,
    }


def test_e6_parents_not_selected_for_cdc_keep_the_60_second_rule(
    live_sf,  # noqa: F811
    connection,
    settings,
):
    live_sf.set_cdc_entities(ACME, "Contact", "Case", "Opportunity", "Lead")
    with running_listener():
        wait_for(
            lambda: (live.read_beat(connection.pk) or {}).get("unselected"),
            "Account and User refused",
        )
        wait_for(lambda: set(live.read_beat(connection.pk)["topics"]) == {CONTACT_TOPIC}, "Contact")
        status = live.listener_status(connection)
        assert status.state == live.State.HEALTHY
        assert "Account, User not selected for Change Data Capture" in status.reason
        assert live.cache_seconds(connection) == settings.SALESFORCE_CACHE_SECONDS


def test_e6_the_client_pings_no_more_often_than_a_default_grpc_server_allows(settings):
    options = dict(pubsub.channel_options())
    assert options["grpc.keepalive_time_ms"] > 300_000  # gRPC's default min_ping_interval
    settings.SALESFORCE_PUBSUB_KEEPALIVE_SECONDS = 400
    assert dict(pubsub.channel_options())["grpc.keepalive_time_ms"] == 400_000
