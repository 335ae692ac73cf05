"""Issue 22: an open live stream follows access changes without a query per idle connection
(N1: "access is checked per workspace and role exactly as for the pages"), and an agent's read
marker reaches that agent's other open pages only (N2)."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client
from django.urls import reverse

from inbox.actions import conversation_mark_read, conversation_mark_unread
from live import bus
from live.events import ACCESS, READ, auth_tag
from live.stream import LiveConnection
from tests.conftest import client_for
from workspace import middleware
from workspace.models import Membership, Role
from workspace.roles import change_role, end_sessions, member_remove

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(settings):
    settings.LIVE_REDIS_URL = ""
    settings.LIVE_HEARTBEAT_SECONDS = 0.05
    backend = bus.backend()
    assert backend.name == "memory"
    return backend


def events_url(slug="acme"):
    return reverse("live:events", args=[slug])


class Stream:
    """One open stream served to a test client, read chunk by chunk."""

    def __init__(self, client):
        self.response = client.get(events_url())
        assert self.response.status_code == 200
        self.chunks = iter(self.response.streaming_content)
        assert next(self.chunks).decode().startswith("retry: ")

    def next(self) -> str | None:
        """The next chunk, or None once the server has closed the stream."""
        try:
            return next(self.chunks).decode()
        except StopIteration:
            return None

    def close(self):
        self.response._iterator.close()


def assert_closes(stream: Stream, queries) -> None:
    # The event is waiting when the stream looks: closed before (or at) its next heartbeat,
    # with no query of its own.
    with queries(0):
        assert stream.next() is None


@pytest.fixture
def second_client():
    return Client()


def test_n1_a_removed_member_s_open_stream_closes_and_its_reconnect_is_refused(
    client, agent, owner, live, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client_for(client, agent)
    stream = Stream(client)
    assert stream.next() == ": heartbeat\n\n"
    with django_capture_on_commit_callbacks(execute=True):
        member_remove(membership=Membership.objects.get(user=agent), actor=owner)
    assert_closes(stream, django_assert_num_queries)
    # The browser's reconnect meets the pages' checks: their sessions ended (sign in again) ...
    assert client.get(events_url()).status_code == 302
    # ... and signed in again, they are no member of the workspace any more (404, as the pages).
    agent.refresh_from_db()
    client_for(client, agent)
    assert client.get(events_url()).status_code == 404
    assert client.get(reverse("inbox:list", args=["acme"])).status_code == 404


def test_n1_a_role_change_closes_the_stream_and_the_reconnect_runs_under_the_new_role(
    client, agent, owner, live, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client_for(client, agent)
    stream = Stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        change_role(membership=Membership.objects.get(user=agent), role=Role.MANAGER, actor=owner)
    assert_closes(stream, django_assert_num_queries)
    again = Stream(client)  # still a member: the new connection is accepted
    assert again.next() == ": heartbeat\n\n"
    again.close()


def test_n1_other_members_streams_ignore_someone_else_s_access_change(
    client, second_client, agent, manager, owner, live, django_capture_on_commit_callbacks
):
    client_for(client, agent)
    client_for(second_client, manager)
    theirs = Stream(second_client)
    mine = Stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        change_role(membership=Membership.objects.get(user=agent), role=Role.MANAGER, actor=owner)
    assert mine.next() is None
    # The manager's page neither closes nor receives the agent's access event.
    assert theirs.next() == ": heartbeat\n\n"
    theirs.close()


def test_n1_signing_out_closes_that_session_s_streams_only(
    client,
    second_client,
    agent,
    live,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    client_for(client, agent)
    client_for(second_client, agent)  # the same agent in another browser
    here = Stream(client)
    elsewhere = Stream(second_client)
    with django_capture_on_commit_callbacks(execute=True):
        client.logout()  # signed out in another tab of this browser
    assert_closes(here, django_assert_num_queries)
    assert elsewhere.next() == ": heartbeat\n\n"  # the other browser's session is still valid
    assert client.get(events_url()).status_code == 302
    elsewhere.close()


def test_n1_sessions_ended_everywhere_close_every_stream_of_that_person(
    client,
    second_client,
    agent,
    live,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    client_for(client, agent)
    client_for(second_client, agent)
    one, two = Stream(client), Stream(second_client)
    with django_capture_on_commit_callbacks(execute=True):
        end_sessions(user=agent)
    assert_closes(one, django_assert_num_queries)
    assert_closes(two, django_assert_num_queries)
    assert client.get(events_url()).status_code == 302
    assert second_client.get(events_url()).status_code == 302


def test_n1_a_new_password_closes_the_streams_of_the_sessions_it_ended(
    client, agent, live, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client_for(client, agent)
    stream = Stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        agent.set_password("another-long-password-9")
        agent.save()
    assert_closes(stream, django_assert_num_queries)
    assert client.get(events_url()).status_code == 302
    # A save that leaves the session hash as it was (a name) closes nothing.
    client_for(client, agent)
    stream = Stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        agent.full_name = "Alex Agent"
        agent.save()
    assert stream.next() == ": heartbeat\n\n"
    stream.close()


def test_n1_a_deactivated_person_s_streams_close(
    client, agent, live, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client_for(client, agent)
    stream = Stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        agent.is_active = False
        agent.save(update_fields=["is_active"])
    assert_closes(stream, django_assert_num_queries)
    assert client.get(events_url()).status_code == 302


def test_n1_the_stream_closes_within_a_heartbeat_of_the_session_s_end(
    client, agent, live, settings, monkeypatch, django_assert_num_queries
):
    now = [1_000_000.0]
    monkeypatch.setattr(middleware, "_now", lambda: now[0])
    client_for(client, agent)  # signed in at `now` (the session's clocks start here)
    stream = Stream(client)
    with django_assert_num_queries(0):
        assert stream.next() == ": heartbeat\n\n"
        now[0] += settings.SESSION_IDLE_TIMEOUT - 1
        assert stream.next() == ": heartbeat\n\n"  # idle, but not for long enough yet
        now[0] += 2
        assert stream.next() is None
    response = client.get(events_url())
    assert response.status_code == 302  # signed out after inactivity, as a page would be


def test_n1_the_async_stream_closes_on_access_events_and_the_session_s_end(live):
    """The ASGI serving: the same rules, from the connection's own fields."""
    now = [100.0]

    def connection(**fields):
        return LiveConnection(
            workspace_id=8,
            user_id=5,
            user_name="A",
            conversation_id=None,
            last_id=None,
            session_tag="s1",
            auth_tag="a1",
            **fields,
        )

    async def read(live_connection, *publish):
        stream = live_connection.aevents()
        chunks = [await anext(stream)]
        for fields in publish:
            await asyncio.to_thread(bus.publish, 8, **fields)
        try:
            while True:
                chunks.append(await anext(stream))
                if len(chunks) > 4:
                    await stream.aclose()
                    return chunks, False
        except StopAsyncIteration:
            return chunks, True

    mp = pytest.MonkeyPatch()
    mp.setattr(middleware, "_now", lambda: now[0])
    try:
        ended = lambda *publish, **fields: asyncio.run(read(connection(**fields), *publish))[1]  # noqa: E731
        assert ended({"kind": ACCESS, "to": 5})
        assert ended({"kind": ACCESS, "to": 5, "session": "s1"})
        assert not ended({"kind": ACCESS, "to": 5, "session": "s2"})  # another session
        assert ended({"kind": ACCESS, "to": 5, "auth": "a2"})  # a new password
        assert not ended({"kind": ACCESS, "to": 5, "auth": "a1"})
        assert not ended({"kind": ACCESS, "to": 6})  # someone else
        assert ended(ends_at=99.0)  # the session is over
        assert not ended(ends_at=101.0)
    finally:
        mp.undo()


def test_n1_access_events_in_a_replay_do_not_reach_the_page():
    live = LiveConnection(
        workspace_id=1, user_id=5, user_name="A", conversation_id=None, last_id=None
    )
    assert not live.shown({"kind": ACCESS, "to": 5})
    assert not live.shown({"kind": READ, "to": 6, "conversation": 1})
    assert live.shown({"kind": READ, "to": 5, "conversation": 1})
    assert live.shown({"kind": "message", "conversation": 1})


def test_n1_the_auth_tag_changes_with_the_session_hash(agent):
    before = auth_tag(agent)
    agent.session_epoch += 1
    assert auth_tag(agent) != before


# --- N2: read markers reach the agent's other pages --------------------------------------------
def test_n2_reading_in_one_tab_reaches_that_agent_s_other_tabs_only(
    client,
    second_client,
    agent,
    manager,
    conversation,
    live,
    django_capture_on_commit_callbacks,
):
    client_for(client, agent)
    client_for(second_client, manager)
    other_tab, theirs = Stream(client), Stream(second_client)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(conversation=conversation, user=agent)
    chunk = other_tab.next()
    assert '"kind":"read"' in chunk and f'"conversation":{conversation.pk}' in chunk
    assert f'"to":{agent.pk}' in chunk
    assert theirs.next() == ": heartbeat\n\n"  # the manager's pages hear nothing of it
    other_tab.close()
    theirs.close()


def test_n2_only_a_marker_that_changes_is_announced(
    agent, conversation, live, django_capture_on_commit_callbacks
):
    sub = bus.subscribe(conversation.workspace_id)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            conversation_mark_read(conversation=conversation, user=agent)  # created
            conversation_mark_read(conversation=conversation, user=agent)  # already so
            conversation_mark_unread(conversation=conversation, user=agent)  # changed
        kinds = []
        while (event := sub.get(0)) is not None:
            kinds.append((event["kind"], event["to"], event["conversation"]))
        assert kinds == [(READ, agent.pk, conversation.pk)] * 2
    finally:
        bus.unsubscribe(sub)
