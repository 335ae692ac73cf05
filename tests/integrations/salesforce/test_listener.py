"""The live-updates listener (issue 15, F2-F4) against the live emulator over gRPC on loopback.

Listeners run in threads of this process (``Listener.run``), or as ``manage.py
salesforce_listen`` processes where dying matters. Waits poll for a condition with a deadline
(never a timed assertion): the deadline only turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import live, lookup, lookup_cache, selectors, services
from integrations.salesforce.caching import live_key
from integrations.salesforce.listener import Listener
from integrations.salesforce.models import SalesforceConnection, SalesforceReplayPosition
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
HTMX = {"HX-Request": "true"}
JANE_ID = "0035g00000Con01AAB"
JANE_EMAIL = "jane.cooper@northwind.example"
CONTACT_TOPIC = "/data/ContactChangeEvent"
DEADLINE = 30.0


def wait_for(condition, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def rest_calls(sf) -> list:
    return [e for e in sf.request_log() if e["path"].startswith("/services/data")]


@pytest.fixture
def live_sf(sf, settings, connection):
    """Live updates on (Contact topic only), the product pointed at the emulator's Pub/Sub API."""
    settings.SALESFORCE_PUBSUB_URL = f"http://{sf.pubsub_target}"
    settings.SALESFORCE_LISTENER_HEARTBEAT_SECONDS = 0.2
    settings.SALESFORCE_LISTENER_LEASE_SECONDS = 2
    sf.set_pubsub_keepalive(0.2)  # an empty batch soon after subscribing: the position is known
    SalesforceConnection.objects.filter(pk=connection.pk).update(related_lists=[])
    connection.refresh_from_db()
    services.set_live_updates(connection, on=True, actor=None)
    return sf


@contextlib.contextmanager
def running_listener(owner: str | None = None):
    listener = Listener(owner=owner)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        listener.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the listener did not stop"


def subscribed(connection) -> bool:
    """Healthy heartbeat and a stored position: an event from now on is delivered."""
    connection.refresh_from_db()
    return live.healthy(connection) and bool(selectors.replay_id(connection.pk, CONTACT_TOPIC))


def cached(connection, email=JANE_EMAIL) -> bool:
    """A panel would show the cached answer (one held but refused by a change does not count)."""
    version = lookup_cache.cached_version(connection, email=email, phone="")
    return version not in ("", lookup_cache.REFUSED)


# --- F2 + F3: an edit in Salesforce reaches the sidebar ---------------------------------------
def test_f2_f3_event_over_grpc_drops_the_lookup_and_the_panel_shows_the_new_value(
    client, agent, live_sf, connection, acme
):
    client_for(client, agent)
    jane = Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE_EMAIL)
    url = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    assert "VP Operations" not in client.get(url, headers=HTMX).content.decode()
    with running_listener():
        wait_for(lambda: subscribed(connection), "the listener to subscribe")
        assert cached(connection)
        live_sf.reset_log()
        live_sf.update_record("Contact", JANE_ID, Title="VP Operations")
        wait_for(lambda: not cached(connection), "the event to drop the cached lookup")
        assert rest_calls(live_sf) == []  # the listener invalidates without asking Salesforce
        html = client.get(url, headers=HTMX).content.decode()
    assert 'data-field="Title">VP Operations<' in html
    assert len(rest_calls(live_sf)) == 1  # the panel re-read once, as the connecting user


def test_f2_resumes_from_the_stored_replay_id_after_a_restart(live_sf, connection):
    with running_listener():
        wait_for(lambda: subscribed(connection), "the first listener to subscribe")
    stored = selectors.replay_id(connection.pk, CONTACT_TOPIC)
    lookup.find_contact(connection, email=JANE_EMAIL)
    live_sf.update_record("Contact", JANE_ID, Title="Changed while nobody listened")
    assert cached(connection)  # nobody listening: the entry stays (under 60 s old)
    with running_listener():
        # LATEST would skip the change made while stopped; CUSTOM from the stored id replays it.
        wait_for(lambda: not cached(connection), "the replayed event to drop the lookup")
    assert selectors.replay_id(connection.pk, CONTACT_TOPIC) > stored


def test_f2_refused_replay_id_falls_back_to_latest_and_drops_the_cache(live_sf, connection):
    with running_listener():
        wait_for(lambda: subscribed(connection), "the first listener to subscribe")
    live_sf.update_record("Contact", JANE_ID, Title="Long ago")
    live_sf.advance_clock(73 * 3600)  # past the 72 h retention: the stored id is refused
    generation = SalesforceConnection.objects.get(pk=connection.pk).cache_generation
    with running_listener():
        wait_for(
            lambda: (
                SalesforceConnection.objects.get(pk=connection.pk).cache_generation > generation
            ),
            "the cache to be dropped",
        )
        wait_for(lambda: subscribed(connection), "the listener to resubscribe from LATEST")
        live_sf.update_record("Contact", JANE_ID, Title="After the gap")
        lookup.find_contact(connection, email=JANE_EMAIL)
        live_sf.update_record("Contact", JANE_ID, Title="And again")
        wait_for(lambda: not cached(connection), "events to flow again")


def test_f2_expired_token_one_refresh_then_resubscribe(live_sf, connection):
    with running_listener():
        wait_for(lambda: subscribed(connection), "the listener to subscribe")
        lookup.find_contact(connection, email=JANE_EMAIL)
        live_sf.reset_log()
        live_sf.expire_sessions(connection.org_id)  # the stream's session ends
        live_sf.update_record("Contact", JANE_ID, Title="After the refresh")
        wait_for(lambda: not cached(connection), "the event after resubscribing")
        summary = live_sf.token_summary(connection.org_id)
        assert summary["refresh_grants"] == 1 and summary["refresh_grants_ok"] == 1
    connection.refresh_from_db()
    assert connection.is_connected  # the refreshed tokens were saved (rotation kept)


def test_f2_related_topics_are_subscribed_when_the_lists_are_shown(live_sf, connection):
    services.set_related_lists(connection, names=["Cases"], actor=None)
    services.set_lead_matching(connection, on=True, actor=None)
    with running_listener():
        wait_for(lambda: (connection.refresh_from_db(), live.healthy(connection))[1], "healthy")
        beat = live.read_beat(connection.pk)
    # Issue 24 (E6): the default fields show Account.Name and Owner.Name: their objects too.
    assert set(beat["topics"]) == {
        CONTACT_TOPIC,
        "/data/CaseChangeEvent",
        "/data/LeadChangeEvent",
        "/data/AccountChangeEvent",
        "/data/UserChangeEvent",
    }


# --- F4: the heartbeat ------------------------------------------------------------------------
def test_f4_heartbeat_fresh_while_listening_stale_after_one_beat_gap(live_sf, connection, settings):
    with running_listener():
        wait_for(lambda: subscribed(connection), "the listener to subscribe")
        assert live.cache_seconds(connection) == settings.SALESFORCE_LIVE_CACHE_SECONDS
    # Stopped: within two beats the heartbeat is stale and the 60 s rule is back.
    wait_for(lambda: not live.healthy(connection), "the heartbeat to go stale")
    assert live.cache_seconds(connection) == settings.SALESFORCE_CACHE_SECONDS
    assert live.listener_status(connection).state == live.State.UNHEALTHY


def test_f4_manage_page_shows_a_healthy_listener_and_the_last_event(
    client, owner, live_sf, connection
):
    client_for(client, owner)
    with running_listener():
        wait_for(lambda: subscribed(connection), "the listener to subscribe")
        live_sf.update_record("Contact", JANE_ID, Title="Seen on the Manage page")
        wait_for(
            lambda: SalesforceReplayPosition.objects.filter(last_event_at__isnull=False).exists(),
            "the event to be recorded",
        )
        page = client.get("/w/acme/settings/integrations/salesforce/").content.decode()
    assert 'data-state="healthy"' in page
    assert re.search(r"received [\d.]+ s after Salesforce committed it", page)


# --- F2: several replicas, one active listener per connection ---------------------------------
def test_f2_two_listeners_one_active_and_a_standby_takes_over(live_sf, connection):
    with running_listener("replica-a") as a, running_listener("replica-b") as b:
        wait_for(lambda: subscribed(connection), "one listener to subscribe")
        leader, standby = (a, b) if a.led else (b, a)
        assert leader.led == {connection.pk} and standby.led == set()
        assert cache.get(live_key(connection.pk, "lease")) == leader.lease.owner
        assert not any(k[0] == connection.pk for k in standby.streams)
        leader.stop()  # a clean stop hands the lease back
        wait_for(lambda: standby.led == {connection.pk}, "the standby to take over")
        wait_for(lambda: live.healthy(connection), "the new leader's heartbeat")


def _spawn_listener(env: dict, out: Path) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "manage.py", "salesforce_listen"],
        cwd=ROOT,
        env=env,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_f2_killed_leader_lease_lapses_and_another_process_leads(
    live_sf, connection, other_process_env
):
    env = {
        **other_process_env,
        "SALESFORCE_PUBSUB_URL": f"http://{live_sf.pubsub_target}",
        "SALESFORCE_LISTENER_HEARTBEAT_SECONDS": "0.2",
        "SALESFORCE_LISTENER_LEASE_SECONDS": "2",
    }
    logs = [Path(tempfile.mkstemp(prefix="sf-listen-", suffix=".log")[1]) for _ in range(2)]
    processes = [_spawn_listener(env, log) for log in logs]
    try:
        owners = [
            wait_for(
                lambda log=log: (m := re.search(r"owner (\w+)", log.read_text())) and m.group(1),
                "the listener's banner",
            )
            for log in logs
        ]
        wait_for(lambda: subscribed(connection), "one process to subscribe")
        leader = owners.index(cache.get(live_key(connection.pk, "lease")))
        os.kill(processes[leader].pid, signal.SIGKILL)  # dies holding its lease
        processes[leader].wait(10)
        survivor = owners[1 - leader]
        wait_for(
            lambda: cache.get(live_key(connection.pk, "lease")) == survivor,
            "the lease to lapse and the survivor to take it",
        )
        lookup.find_contact(connection, email=JANE_EMAIL)
        wait_for(lambda: live.healthy(connection), "the survivor's heartbeat")
        live_sf.update_record("Contact", JANE_ID, Title="Seen by the survivor")
        wait_for(lambda: not cached(connection), "the survivor to invalidate")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in logs:
            log.unlink(missing_ok=True)


def test_f2_plaintext_pubsub_refused_off_loopback(settings):
    from django.core.exceptions import ImproperlyConfigured

    from integrations.salesforce.pubsub import endpoint

    assert endpoint("https://api.pubsub.salesforce.com:7443").secure
    assert endpoint("http://127.0.0.1:7011").target == "127.0.0.1:7011"
    with pytest.raises(ImproperlyConfigured):
        endpoint("http://api.pubsub.salesforce.com:7443")
