"""Live updates in the product (issue 15): the switch (F2), invalidation (F3), the heartbeat and
the cache rule (F4) and the panel's change check (F5), against the live emulator over HTTP.

The listener's gRPC side is in test_listener.py; here events are handed to
``listener.invalidate`` as the listener decodes them, so each rule is checked on its own.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from contacts.models import Contact
from integrations.salesforce import badges, live, lookup, results, services
from integrations.salesforce.caching import live_key
from integrations.salesforce.listener import invalidate
from integrations.salesforce.models import SalesforceConnection, SalesforceEvent
from integrations.salesforce.pubsub import ChangeEvent
from tests.conftest import client_for
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
JANE_ID = "0035g00000Con01AAB"  # jane.cooper@northwind.example, +1 555 010 1000
JANE_EMAIL = "jane.cooper@northwind.example"
MANAGE = "/w/acme/settings/integrations/salesforce/"


def rest_queries(sf) -> list:
    return [e for e in sf.request_log() if "/query" in e["path"]]


def event(*record_ids, change="UPDATE", entity="Contact", **values) -> ChangeEvent:
    return ChangeEvent(
        topic=f"/data/{entity}ChangeEvent",
        replay_id=b"\x01",
        entity=entity,
        change_type=change,
        record_ids=tuple(record_ids),
        changed_fields=tuple(values),
        values=values,
        commit_at=None,
    )


def healthy_beat(connection) -> None:
    live.beat(connection.pk, state=live.State.HEALTHY, topics=live.topics_for(connection))


def stale_beat(connection) -> None:
    """A heartbeat the listener left three beats ago (it died)."""
    beat = {
        "at": time.time() - 3 * live.heartbeat_stale_after(),
        "state": live.State.HEALTHY,
        "reason": "",
        "topics": live.topics_for(connection),
    }
    cache.set(live_key(connection.pk, "heartbeat"), beat, 600)


def age_cached_lookup(connection, seconds: int, **values) -> None:
    """Make the cached answer for these values ``seconds`` old (as if fetched then)."""
    key = lookup_cache_key(connection, "lookup", values.get("email", ""), values.get("phone", ""))
    result = cache.get(key)
    assert isinstance(result, results.LookupResult)
    older = result.fetched_at - timedelta(seconds=seconds)
    cache.set(key, dataclasses.replace(result, fetched_at=older, asked_at=older), 3600)


@pytest.fixture
def live_connection(connection):
    services.set_live_updates(connection, on=True, actor=None)
    return connection


@pytest.fixture
def jane(acme):
    return Contact.objects.create(workspace=acme, name="Jane Cooper", email=JANE_EMAIL)


def panel(client, contact):
    url = reverse("contacts:panel", args=["acme", contact.pk, "salesforce"])
    return client.get(url, headers=HTMX)


# --- F2: the switch ---------------------------------------------------------------------------
def test_f2_owner_turns_live_updates_on_audited(client, owner, connection):
    client_for(client, owner)
    generation = connection.cache_generation
    response = client.post(MANAGE + "live-updates/", {"live_updates": "on"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.live_updates is True
    assert connection.cache_generation > generation  # entries of the 60 s rule go at once
    event_row = SalesforceEvent.objects.filter(kind=SalesforceEvent.Kind.LIVE_UPDATES).get()
    assert event_row.actor == owner
    client.post(MANAGE + "live-updates/", {})
    connection.refresh_from_db()
    assert connection.live_updates is False


def test_f2_agents_cannot_switch_live_updates(client, agent, connection):
    client_for(client, agent)
    assert client.post(MANAGE + "live-updates/", {"live_updates": "on"}).status_code == 403
    connection.refresh_from_db()
    assert connection.live_updates is False
    page = client.get(MANAGE).content.decode()
    assert 'id="sf-live-updates"' not in page  # no switch for agents


def test_f2_help_text_says_cdc_ignores_sharing_and_what_to_enable(client, owner, connection):
    client_for(client, owner)
    page = client.get(MANAGE).content.decode()
    assert "Change Data Capture ignores sharing" in page
    assert "Setup › Change Data Capture" in page and "View All" in page
    assert "allocation" in page


def test_f2_topics_follow_the_sidebar(connection):
    # Issue 24 (E6): contact roles have their own events; parents shown by name (the default
    # fields show Account.Name and Owner.Name) follow theirs.
    assert live.topics_for(connection) == [
        "/data/ContactChangeEvent",
        "/data/CaseChangeEvent",
        "/data/OpportunityChangeEvent",
        "/data/OpportunityContactRoleChangeEvent",
        "/data/AccountChangeEvent",
        "/data/UserChangeEvent",
    ]
    connection.related_lists, connection.match_leads = [], True
    connection.field_names = ["Name", "Email"]
    assert live.topics_for(connection) == ["/data/ContactChangeEvent", "/data/LeadChangeEvent"]


# --- F3: events only invalidate ---------------------------------------------------------------
def test_f3_event_by_record_id_drops_the_lookup_of_the_old_value(live_connection, sf):
    first = lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert first.primary.id == JANE_ID
    sf.update_record("Contact", JANE_ID, Email="jane@new.example")
    assert lookup.find_contact(live_connection, email=JANE_EMAIL).primary is not None  # cached
    sf.reset_log()
    # CDC carries only the new value: the record id is what reaches the old value's entry.
    invalidate(live_connection, [event(JANE_ID, Email="jane@new.example")])
    again = lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert again.primary is None
    assert len(rest_queries(sf)) == 1


def test_f3_event_by_new_value_drops_a_cached_no_match(live_connection, sf):
    assert lookup.find_contact(live_connection, email="newcomer@example.com").primary is None
    sf.update_record("Contact", JANE_ID, Email="newcomer@example.com")
    invalidate(live_connection, [event(JANE_ID, Email="newcomer@example.com")])
    assert lookup.find_contact(live_connection, email="newcomer@example.com").primary.id == JANE_ID


def test_f3_new_phone_in_another_spelling_drops_the_lookup(live_connection, sf, acme):
    live_connection.phone_matching = SalesforceConnection.PhoneMatching.ANY_FORMAT
    live_connection.save()
    assert lookup.find_contact(live_connection, phone="+14155550199").primary is None
    sf.update_record("Contact", JANE_ID, MobilePhone="(415) 555-0199")
    invalidate(live_connection, [event(JANE_ID, MobilePhone="(415) 555-0199")])
    assert lookup.find_contact(live_connection, phone="+14155550199").primary.id == JANE_ID


def test_f3_unrelated_event_keeps_the_cache(live_connection, sf):
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    sf.reset_log()
    invalidate(live_connection, [event("0035g00000Con04AAB", Email="other@example.com")])
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert rest_queries(sf) == []


def test_f3_new_case_of_the_contact_drops_its_lookup(live_connection, sf):
    """A Case event names its Contact (ContactId): the sidebar's open cases re-read."""
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    sf.reset_log()
    invalidate(live_connection, [event("5005g00000NewCaAAA", entity="Case", ContactId=JANE_ID)])
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert len(rest_queries(sf)) == 1


def test_f3_gap_event_drops_the_whole_connection_cache(live_connection, sf):
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    generation = live_connection.cache_generation
    invalidate(live_connection, [event("0035g00000Con09AAB", change="GAP_UPDATE")])
    live_connection.refresh_from_db()
    assert live_connection.cache_generation == generation + 1


def test_f3_change_during_the_query_refuses_its_answer(live_connection, sf):
    """A change marked after the query started: the answer may predate it, so it is not used."""
    result = lookup.find_contact(live_connection, email=JANE_EMAIL)
    live.mark_changed(live_connection, record_ids=[JANE_ID], at=result.asked_at.timestamp() + 0.1)
    sf.reset_log()
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert len(rest_queries(sf)) == 1


def test_f3_badges_read_a_changed_lookup_again(client, agent, live_connection, jane, sf):
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    invalidate(live_connection, [event(JANE_ID, Email="jane@new.example")])
    sf.update_record("Contact", JANE_ID, Email="jane@new.example")
    flags = badges.match_flags(live_connection, [jane])
    assert flags[jane.pk] == ""


# --- F4: the heartbeat and the cache rule -----------------------------------------------------
def test_f4_healthy_listener_keeps_lookups_past_60_seconds(live_connection, sf, settings):
    healthy_beat(live_connection)
    assert live.cache_seconds(live_connection) == settings.SALESFORCE_LIVE_CACHE_SECONDS == 900
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    age_cached_lookup(live_connection, 300, email=JANE_EMAIL)
    sf.reset_log()
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert rest_queries(sf) == []


def test_f4_stale_heartbeat_brings_back_the_60_second_rule(live_connection, sf, settings):
    healthy_beat(live_connection)
    lookup.find_contact(live_connection, email=JANE_EMAIL)  # stored for 900 s
    age_cached_lookup(live_connection, 61, email=JANE_EMAIL)
    stale_beat(live_connection)  # the listener died: its heartbeat is older than two beats
    assert live.cache_seconds(live_connection) == settings.SALESFORCE_CACHE_SECONDS
    sf.reset_log()
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    assert len(rest_queries(sf)) == 1


def test_f4_young_entries_survive_a_stale_heartbeat(live_connection, sf):
    lookup.find_contact(live_connection, email=JANE_EMAIL)
    stale_beat(live_connection)
    sf.reset_log()
    lookup.find_contact(live_connection, email=JANE_EMAIL)  # under 60 s: the old rule holds
    assert rest_queries(sf) == []


def test_f4_missing_topic_is_not_healthy(live_connection):
    live.beat(live_connection.pk, state=live.State.HEALTHY, topics=["/data/ContactChangeEvent"])
    assert not live.healthy(live_connection)  # the Case list is shown: its topic is needed
    status = live.listener_status(live_connection)
    assert status.state == live.State.STARTING


def test_f4_manage_page_shows_listener_state_last_event_and_lag(client, owner, live_connection):
    client_for(client, owner)
    page = client.get(MANAGE).content.decode()
    assert 'data-state="unhealthy"' in page and "No listener is running" in page
    healthy_beat(live_connection)
    from django.utils import timezone

    committed = timezone.now() - timedelta(seconds=2)
    services.record_replay_position(
        live_connection.pk,
        "/data/ContactChangeEvent",
        replay_id=b"\x00\x07",
        last_event_at=committed,
        received_at=committed + timedelta(seconds=1.5),
    )
    page = client.get(MANAGE).content.decode()
    assert 'data-state="healthy"' in page and ">Healthy<" in page
    assert "received 1.5 s after Salesforce committed it" in page
    services.set_live_updates(live_connection, on=False, actor=owner)
    assert 'data-state="off"' in client.get(MANAGE).content.decode()


# --- F5: the panel's change check -------------------------------------------------------------
def test_f5_panel_polls_only_with_live_updates_on(client, agent, connection, jane, sf):
    client_for(client, agent)
    # Off: no change check (M2's one re-read per cache window is tested in test_reread.py).
    off = panel(client, jane).content.decode()
    assert "every 3s" not in off and "live_check" not in off and "/live/" not in off
    services.set_live_updates(connection, on=True, actor=None)
    html = panel(client, jane).content.decode()
    assert "data-sf-live" in html and 'hx-trigger="every 3s, sf-live-check"' in html
    assert "salesforce/live.js" in html and "<script>" not in html  # no inline script (CSP)


def test_f5_change_check_answers_from_the_cache_without_salesforce(
    client, agent, live_connection, jane, sf
):
    import re

    client_for(client, agent)
    html = panel(client, jane).content.decode()
    check = re.search(r'data-sf-live hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    sf.reset_log()
    assert client.get(check, headers=HTMX).status_code == 204  # unchanged
    sf.update_record("Contact", JANE_ID, Title="Chief Operating Officer")
    invalidate(live_connection, [event(JANE_ID, Title="Chief Operating Officer")])
    changed = client.get(check, headers=HTMX)
    assert changed.status_code == 200
    panel_url = reverse("contacts:panel", args=["acme", jane.pk, "salesforce"])
    assert f'hx-get="{panel_url}"' in changed.content.decode()
    assert sf.request_log() == []  # neither check asked Salesforce anything
    assert "Chief Operating Officer" in panel(client, jane).content.decode()


def test_f5_a_panel_rendered_just_after_a_change_still_polls(client, agent, live_connection, jane):
    """F5 (found by bench/live.py): a panel opened within the clock margin of a change mark
    reads Salesforce again, but the cache refuses that fresh answer for a second; such a panel
    must keep its change check (its first check reloads it), not go without one for good."""
    import re

    client_for(client, agent)
    healthy_beat(live_connection)
    invalidate(live_connection, [event(JANE_ID, Title="Head of Operations")])
    html = panel(client, jane).content.decode()
    assert "data-sf-live" in html  # before the fix: no change check, never updated again
    check = re.search(r'data-sf-live hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert client.get(check, headers=HTMX).status_code == 200  # refused now: reload the panel


def test_f5_change_check_is_for_members_only(client, outsider, live_connection, jane):
    client_for(client, outsider)
    url = reverse("integrations:salesforce:live_check", args=["acme", jane.pk])
    assert client.get(url, {"v": "x"}).status_code == 404


def test_f3_a_cached_badge_is_read_again_after_its_contact_changed(live_connection, acme, sf):
    """B4 under live updates: the badge cache (and the page's cached rows) follow events too."""
    marcus = Contact.objects.create(
        workspace=acme, name="Marcus Reed", email="marcus.reed@contoso.example"
    )
    assert badges.match_flags(live_connection, [marcus])[marcus.pk] == "contact"
    marcus_id = "0035g00000Con04AAB"
    sf.update_record("Contact", marcus_id, Email="marcus@elsewhere.example")
    sf.reset_log()
    assert badges.match_flags(live_connection, [marcus])[marcus.pk] == "contact"  # cached
    assert rest_queries(sf) == []
    invalidate(live_connection, [event(marcus_id, Email="marcus@elsewhere.example")])
    assert badges.match_flags(live_connection, [marcus])[marcus.pk] == ""
    assert len(rest_queries(sf)) == 1
