"""Issue 22: the Inbox a team works in all day (N2 unread, N3 triage, N4 search, N5 thread,
N7 workflow, N9 the list pane). The browser side is in tests/e2e/test_inbox_e2e.py."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api.models import WebhookDelivery, WebhookEndpoint
from contacts.models import Contact
from inbox.actions import (
    conversation_add_note,
    conversation_mark_read,
    conversation_reply,
    conversation_snooze,
)
from inbox.forms import snooze_until
from inbox.models import Conversation, Message, ReadMarker
from inbox.selectors import (
    COUNT_LIMIT,
    conversation_list,
    conversation_page,
    mention_handles,
    mentioned_members,
    message_words,
    next_in_view,
    view_counts,
)
from tests.conftest import client_for
from tests.contacts.plans import captured_sql, plan, postgres_only

pytestmark = pytest.mark.django_db


def list_url(**params):
    url = reverse("inbox:list", args=["acme"])
    return url + ("?" + urlencode(params) if params else "")


def detail_url(conversation, **params):
    url = reverse("inbox:detail", args=["acme", conversation.pk])
    return url + ("?" + urlencode(params) if params else "")


def row(html: str, conversation) -> str:
    match = re.search(
        rf'<li class="[^"]*" id="conversation-row-{conversation.pk}">(.*?)</li>\s*(?=<li|</ul>)',
        html,
        re.S,
    )
    assert match, f"no row for conversation {conversation.pk}"
    return match.group(0)


def thread(response) -> str:
    """The thread (the page's list pane shows previews of the same words)."""
    html = response.content.decode()
    return html[html.index('id="messages"') : html.index('id="reply-form"')]


def inbound(conversation, body, *, minutes=0):
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.IN,
        body=body,
        created_at=timezone.now() + timedelta(minutes=minutes),
    )


# --- N2: unread per agent ------------------------------------------------------------------------
def test_n2_unread_is_per_agent_bold_with_its_count_and_opening_marks_it_read(
    client, agent, manager, conversation
):
    inbound(conversation, "Any news?")
    client_for(client, agent)
    html = client.get(list_url()).content.decode()
    unread = row(html, conversation)
    assert 'class="conversation status-open unread"' in unread
    assert re.search(r'class="unread-count">2<span class="visually-hidden"> unread', unread)

    client.get(detail_url(conversation))
    html = client.get(list_url()).content.decode()
    assert " unread" not in row(html, conversation)
    # The manager has read nothing yet: still unread for them.
    client_for(client, manager)
    assert "unread-count" in row(client.get(list_url()).content.decode(), conversation)


def test_n2_only_what_came_after_the_marker_and_not_my_own_messages_count(
    agent, manager, conversation
):
    conversation_mark_read(conversation=conversation, user=agent)
    conversation_reply(conversation=conversation, author=agent, body="On it")
    inbound(conversation, "thanks", minutes=1)
    conversation_reply(conversation=conversation, author=manager, body="Shipped today")
    page = conversation_page(workspace=conversation.workspace, user=agent, filter="open")
    assert [c.unread for c in page.object_list] == [2]  # the customer's and the manager's


def test_n2_mark_as_unread_undoes_read(client, agent, conversation):
    client_for(client, agent)
    client.get(detail_url(conversation))
    response = client.post(
        reverse("inbox:unread", args=["acme", conversation.pk]), {"filter": "mine"}
    )
    assert response.status_code == 302 and response["Location"].endswith("?filter=mine")
    html = client.get(list_url()).content.decode()
    assert re.search(r'class="unread-count">1<span class="visually-hidden"> unread', html)
    # The thread shows where it starts again.
    page = thread(client.get(detail_url(conversation)))
    assert page.index('id="new-marker"') < page.index("Where is it?")


def test_n2_read_markers_belong_to_the_workspace_member_only(client, outsider, conversation):
    client_for(client, outsider)
    assert client.get(detail_url(conversation)).status_code == 404
    assert client.post(reverse("inbox:unread", args=["acme", conversation.pk])).status_code == 404
    assert not ReadMarker.objects.exists()


# --- N3: triage rows, views, bounded counts --------------------------------------------------------
def test_n3_a_row_shows_contact_preview_time_channel_assignee_and_unread(
    client, agent, manager, acme, contact
):
    conv = Conversation.objects.create(
        workspace=acme,
        contact=contact,
        subject="Subject line",
        channel="whatsapp",
        assignee=manager,
    )
    inbound(conv, "First question")
    inbound(conv, "Second,\n  the newest   line " + "x" * 300, minutes=1)
    client_for(client, agent)
    html = row(client.get(list_url()).content.decode(), conv)
    assert "Jane Cooper" in html
    assert '<span class="channel">whatsapp</span>' in html
    assert f'<span class="assignee">{manager.display_name}</span>' in html
    assert "Second, the newest line xxx" in html and "First question" not in html
    assert len(re.search(r'class="preview">(.*?)</span>', html).group(1)) <= 160
    assert '<time class="when"' in html and 'class="unread-count">2' in html


def test_n3_views_open_mine_unassigned_closed_all(client, agent, manager, acme, contact):
    now = timezone.now()
    make = lambda subject, **kw: Conversation.objects.create(  # noqa: E731
        workspace=acme, contact=contact, subject=subject, **kw
    )
    mine = make("mine", assignee=agent, last_activity_at=now)
    theirs = make("theirs", assignee=manager, last_activity_at=now - timedelta(minutes=1))
    nobody = make("nobody", last_activity_at=now - timedelta(minutes=2))
    closed = make("closed", status="closed", last_activity_at=now - timedelta(minutes=3))
    snoozed = make("snoozed", snoozed_until=now + timedelta(hours=1), last_activity_at=now)
    client_for(client, agent)

    def pks(view):
        return [c.pk for c in client.get(list_url(filter=view)).context["page"].object_list]

    assert pks("open") == [mine.pk, theirs.pk, nobody.pk]
    assert pks("mine") == [mine.pk]
    assert pks("unassigned") == [nobody.pk]
    assert pks("closed") == [closed.pk]
    assert set(pks("all")) == {mine.pk, theirs.pk, nobody.pk, closed.pk, snoozed.pk}
    counts = {c.key: c.shown for c in client.get(list_url()).context["counts"]}
    assert counts == {"open": "3", "mine": "1", "unassigned": "1", "closed": "1", "all": "5"}


def test_n3_counts_stop_at_99_plus_and_read_at_most_100_ids(agent, acme, contact):
    Conversation.objects.bulk_create(
        Conversation(workspace=acme, contact=contact, subject=f"c{i}") for i in range(105)
    )
    sql = captured_sql(lambda: view_counts(workspace=acme, user=agent), "inbox_conversation")
    counts = {c.key: c for c in view_counts(workspace=acme, user=agent)}
    assert counts["open"].count == COUNT_LIMIT and counts["open"].shown == "99+"
    assert counts["mine"].shown == "0"
    # Bounded, and one statement: each of the five views is a LIMIT 100 read (UNION ALL),
    # never a COUNT over the workspace.
    assert len(sql) == 1
    assert sql[0].count("LIMIT 100") == 5 and "COUNT(" not in sql[0].upper(), sql


def test_n3_counts_match_each_view_and_cost_one_query(
    agent, manager, acme, contact, django_assert_num_queries
):
    now = timezone.now()
    make = lambda subject, **kw: Conversation.objects.create(  # noqa: E731
        workspace=acme, contact=contact, subject=subject, **kw
    )
    make("mine", assignee=agent)
    make("mine, snoozed", assignee=agent, snoozed_until=now + timedelta(hours=1))
    make("mine, snooze over", assignee=agent, snoozed_until=now - timedelta(minutes=1))
    make("theirs", assignee=manager)
    make("nobody")
    make("closed", status="closed", assignee=agent)
    with django_assert_num_queries(1):
        counts = {c.key: c.count for c in view_counts(workspace=acme, user=agent)}
    assert counts == {"open": 4, "mine": 2, "unassigned": 1, "closed": 1, "all": 6}
    for key, count in counts.items():
        assert count == conversation_list(workspace=acme, user=agent, filter=key).count()


def test_n3_rows_cost_a_fixed_number_of_queries_per_page(
    client, agent, acme, contact, django_assert_max_num_queries
):
    for i in range(40):
        conv = Conversation.objects.create(workspace=acme, contact=contact, subject=f"c{i}")
        inbound(conv, f"message {i}")
    client_for(client, agent)
    client.get(list_url())
    with django_assert_max_num_queries(16):
        response = client.get(list_url())
    assert len(response.context["page"].object_list) == 30


def test_n3_list_page_counts_and_row_facts_are_one_query_each(client, agent, acme, contact):
    """The five bounded counts are one statement, and the rows' preview, unread count and
    mention one more: the list page's queries on conversations, messages and markers are the
    page itself plus these two."""
    for i in range(40):
        conv = Conversation.objects.create(workspace=acme, contact=contact, subject=f"c{i}")
        inbound(conv, f"message {i}")
    client_for(client, agent)
    client.get(list_url())
    with CaptureQueriesContext(connection) as captured:
        response = client.get(list_url())
    inbox = [
        q["sql"]
        for q in captured.captured_queries
        if re.search(r"inbox_(conversation|message|readmarker)", q["sql"])
    ]
    # The page's rows, the five counts, the rows' triage facts.
    assert len(inbox) == 3, inbox
    assert len(response.context["page"].object_list) == 30


def test_n3_row_facts_are_the_viewers_own(client, agent, manager, acme, contact):
    conv = Conversation.objects.create(workspace=acme, contact=contact, subject="s")
    inbound(conv, "one")
    conversation_reply(conversation=conv, author=agent, body="my reply")
    inbound(conv, "two", minutes=1)
    conversation_add_note(conversation=conv, author=manager, body="@agent look at this")
    other = Conversation.objects.create(workspace=acme, contact=contact, subject="none")
    page = conversation_page(workspace=acme, user=agent, filter="all")
    rows = {c.pk: c for c in page.object_list}
    # Replying marked "one" read for the agent: unread are "two" and the note that names them.
    assert rows[conv.pk].unread == 2 and rows[conv.pk].mentioned
    # The preview is the last message that is not a note.
    assert rows[conv.pk].preview == "two" and not rows[conv.pk].preview_from_team
    assert (rows[other.pk].unread, rows[other.pk].preview, rows[other.pk].mentioned) == (
        0,
        "",
        False,
    )
    conversation_mark_read(conversation=conv, user=agent)
    rows = {
        c.pk: c for c in conversation_page(workspace=acme, user=agent, filter="all").object_list
    }
    assert rows[conv.pk].unread == 0 and not rows[conv.pk].mentioned
    page = conversation_page(workspace=acme, user=manager, filter="all")
    rows = {c.pk: c for c in page.object_list}
    # Writing the note marked all read for the manager, and they are not the one mentioned.
    assert rows[conv.pk].unread == 0 and not rows[conv.pk].mentioned
    inbound(conv, "three", minutes=2)
    rows = {
        c.pk: c for c in conversation_page(workspace=acme, user=manager, filter="all").object_list
    }
    assert rows[conv.pk].unread == 1 and rows[conv.pk].preview == "three"


# --- N4: search ------------------------------------------------------------------------------------
@pytest.fixture
def searchable(acme):
    def conv(name, email="", phone="", text="hello"):
        contact = Contact.objects.create(workspace=acme, name=name, email=email, phone=phone)
        c = Conversation.objects.create(workspace=acme, contact=contact, subject=name)
        inbound(c, text)
        return c

    return {
        "ada": conv("Ada Lovelace", "ada@analytical.example", "+44 20 7946 0001"),
        "grace": conv("Grace Hopper", "grace@navy.example", "", "My invoice 1042 is wrong"),
        "alan": conv("Alan Turing", "alan@bletchley.example", "+44 20 7946 0958", "refund please"),
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("lovelace", {"ada"}),
        ("GRACE@navy", {"grace"}),
        ("7946 0958", {"alan"}),
        ("+442079460958", {"alan"}),  # the whole number in another spelling (N4)
        ("+44 20-7946-0958", {"alan"}),
        ("invoice", {"grace"}),
        ("refund", {"alan"}),
        ("nothing-like-it", set()),
    ],
)
def test_n4_search_finds_by_name_email_phone_and_message_words(
    client, agent, searchable, query, found
):
    client_for(client, agent)
    response = client.get(list_url(filter="all", q=query))
    assert response.status_code == 200
    pks = {c.pk for c in response.context["page"].object_list}
    assert pks == {searchable[k].pk for k in found}
    html = response.content.decode()
    assert 'type="search" name="q" id="inbox-q"' in html and 'aria-keyshortcuts="/"' in html


def test_n4_search_pages_are_keyset_pages_that_keep_the_query(client, agent, acme, contact):
    now = timezone.now()
    for i in range(35):
        conv = Conversation.objects.create(
            workspace=acme,
            contact=contact,
            subject=f"c{i}",
            last_activity_at=now - timedelta(minutes=i),
        )
        inbound(conv, "parcel damaged" if i % 2 == 0 else "all good")
    client_for(client, agent)
    first = client.get(list_url(q="damaged"))
    assert len(first.context["page"].object_list) == 18 and not first.context["links"]["next"]
    Conversation.objects.filter(workspace=acme).update(status="open")
    for i in range(35, 80):
        conv = Conversation.objects.create(
            workspace=acme,
            contact=contact,
            subject=f"c{i}",
            last_activity_at=now - timedelta(hours=i),
        )
        inbound(conv, "damaged again")
    seen, url = [], list_url(q="damaged")
    while url:
        response = client.get(url)
        seen += [c.pk for c in response.context["page"].object_list]
        nxt = response.context["links"]["next"]
        assert nxt is None or "q=damaged" in nxt
        url = reverse("inbox:list", args=["acme"]) + nxt if nxt else None
    expected = list(
        Conversation.objects.filter(workspace=acme, messages__body__contains="damaged")
        .order_by("-last_activity_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 63


def test_n4_search_stays_in_the_workspace(client, outsider, globex, searchable):
    other = Contact.objects.create(workspace=globex, name="Ada Lovelace")
    Conversation.objects.create(workspace=globex, contact=other, subject="x")
    client_for(client, outsider)
    response = client.get(reverse("inbox:list", args=["globex"]), {"q": "invoice"})
    assert list(response.context["page"].object_list) == []
    response = client.get(reverse("inbox:list", args=["globex"]), {"q": "lovelace"})
    assert [c.contact for c in response.context["page"].object_list] == [other]


# --- N5: the thread --------------------------------------------------------------------------------
def test_n5_new_marker_sits_at_the_first_unread_message(client, agent, conversation):
    client_for(client, agent)
    client.get(detail_url(conversation))  # read "Where is it?"
    inbound(conversation, "Hello again", minutes=1)
    inbound(conversation, "Anyone there?", minutes=2)
    page = thread(client.get(detail_url(conversation)))
    assert page.index("Where is it?") < page.index('id="new-marker"') < page.index("Hello again")
    # Read now: no marker on the next visit.
    assert 'id="new-marker"' not in client.get(detail_url(conversation)).content.decode()


def test_n5_a_reply_over_htmx_answers_the_thread_without_a_reload(client, agent, conversation):
    client_for(client, agent)
    response = client.post(
        reverse("inbox:reply", args=["acme", conversation.pk]),
        {"body": "Sent from htmx", "filter": "mine"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<ol class="messages" id="messages"')
    assert html.index("Where is it?") < html.index("Sent from htmx")
    # The header and an empty form come along out of band; the view is kept.
    assert 'id="conversation-header" hx-swap-oob="true"' in html
    assert re.search(r'<form [^>]*id="reply-form"[^>]*hx-swap-oob="true"', html, re.S)
    assert '<input type="hidden" name="filter" value="mine">' in html
    assert "Reply sent." in html and "<html" not in html
    empty = client.post(
        reverse("inbox:reply", args=["acme", conversation.pk]),
        {"body": " "},
        headers={"HX-Request": "true"},
    )
    assert empty.status_code == 422 and "form-error" in empty.content.decode()


def test_n5_page_carries_the_fragments_the_live_updates_refetch(client, agent, conversation):
    client_for(client, agent)
    html = client.get(detail_url(conversation)).content.decode()
    for element_id in ["conversation-list", f"conversation-row-{conversation.pk}", "messages"]:
        assert f'id="{element_id}"' in html
    assert 'id="conversation-header"' in html and 'id="reply-form"' in html
    assert "js/inbox.js" in html and "<script>" not in html


# --- N7: workflow ----------------------------------------------------------------------------------
def test_n7_assign_to_me_is_one_click(client, agent, conversation):
    client_for(client, agent)
    html = client.get(detail_url(conversation)).content.decode()
    form = re.search(
        r'<form[^>]*action="([^"]*/assign/)"[^>]*>(?:(?!</form>).)*Assign to me', html, re.S
    )
    assert form and f'name="assignee" value="{agent.pk}"' in form.group(0)
    client.post(form.group(1), {"assignee": agent.pk})
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    assert "Assign to me" not in client.get(detail_url(conversation)).content.decode()


def test_n7_close_moves_to_the_next_open_conversation_in_the_view(client, agent, acme, contact):
    now = timezone.now()
    convs = [
        Conversation.objects.create(
            workspace=acme,
            contact=contact,
            subject=f"c{i}",
            assignee=agent if i != 1 else None,
            last_activity_at=now - timedelta(minutes=i),
        )
        for i in range(4)
    ]
    client_for(client, agent)
    url = reverse("inbox:status", args=["acme", convs[0].pk])
    response = client.post(url, {"status": "closed", "filter": "mine"})
    # c1 is not mine: the next one in "mine" is c2, and the view travels along.
    assert response["Location"] == detail_url(convs[2], filter="mine")
    convs[0].refresh_from_db()
    assert convs[0].status == "closed"
    # At the end of the view: the one before it; with nothing left, the list.
    response = client.post(
        reverse("inbox:status", args=["acme", convs[3].pk]), {"status": "closed", "filter": "mine"}
    )
    assert response["Location"] == detail_url(convs[2], filter="mine")
    client.post(
        reverse("inbox:status", args=["acme", convs[2].pk]), {"status": "closed", "filter": "mine"}
    )
    assert next_in_view(conversation=convs[2], workspace=acme, user=agent, filter="mine") is None


def test_n7_a_reply_to_a_closed_conversation_reopens_it(client, agent, conversation):
    conversation.status = "closed"
    conversation.save()
    client_for(client, agent)
    client.post(reverse("inbox:reply", args=["acme", conversation.pk]), {"body": "Reopening"})
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_n7_internal_note_is_visibly_different_and_never_sent_by_webhook(
    client, agent, acme, conversation
):
    WebhookEndpoint.objects.create(workspace=acme, url="https://hooks.example/x")
    client_for(client, agent)
    client.post(
        reverse("inbox:reply", args=["acme", conversation.pk]),
        {"body": "Customer is on the VIP plan", "note": "1"},
    )
    note = conversation.messages.last()
    assert (note.direction, note.author) == ("note", agent)
    assert not WebhookDelivery.objects.filter(message=note).exists()
    assert WebhookDelivery.objects.count() == 0 and mail.outbox == []
    html = client.get(detail_url(conversation)).content.decode()
    assert re.search(
        r'<li class="message note"[^>]*>\s*<div class="message-meta"><span class="note-label">'
        r"Internal note</span>",
        html,
    )
    # The list's preview never shows a note as the last message to the customer.
    assert "VIP plan" not in row(client.get(list_url()).content.decode(), conversation)


def test_n7_mention_marks_the_conversation_for_that_teammate(
    client, agent, manager, owner, conversation
):
    manager.full_name = "Maria Manager"
    manager.save()
    for user in (agent, manager, owner):
        conversation_mark_read(conversation=conversation, user=user)
    conversation_add_note(
        conversation=conversation, author=agent, body="@maria can you approve? cc @nobody"
    )
    client_for(client, manager)
    html = row(client.get(list_url()).content.decode(), conversation)
    assert "unread" in html and "you were mentioned" in html
    assert 'class="mention-mark" title="You were mentioned">@' in html  # seen, not only heard
    client.get(detail_url(conversation))
    assert "unread" not in row(client.get(list_url()).content.decode(), conversation)
    # The owner was not mentioned: only the note itself is new for them, not a mention.
    client_for(client, owner)
    assert "mentioned" not in row(client.get(list_url()).content.decode(), conversation)


@pytest.mark.parametrize(
    ("token", "who"),
    [("@maria", "manager"), ("@manager", "manager"), ("@owner@acme.test", "owner"), ("@x", None)],
)
def test_n7_mentions_name_members_by_first_name_email_or_its_local_part(
    agent, manager, owner, conversation, token, who
):
    manager.full_name = "Maria Manager"
    manager.save()
    found = mentioned_members(conversation=conversation, body=f"Please look {token}, thanks")
    expected = {"manager": [manager], "owner": [owner], None: []}[who]
    assert found == expected


def test_n7_snooze_hides_until_the_time_then_returns_to_open_by_itself(
    client, agent, acme, conversation
):
    client_for(client, agent)
    response = client.post(reverse("inbox:snooze", args=["acme", conversation.pk]), {"until": "1h"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.snoozed_until > timezone.now() + timedelta(minutes=59)
    assert conversation.pk not in [c.pk for c in client.get(list_url()).context["page"].object_list]
    # Time passes (computed on read: no job has to run).
    Conversation.objects.filter(pk=conversation.pk).update(
        snoozed_until=timezone.now() - timedelta(seconds=1)
    )
    assert conversation.pk in [c.pk for c in client.get(list_url()).context["page"].object_list]
    with pytest.raises(ValueError):
        conversation_snooze(conversation=conversation, until=timezone.now() - timedelta(hours=1))


def test_n7_snooze_choices_end_at_the_expected_local_time():
    monday_noon = timezone.make_aware(timezone.datetime(2026, 12, 7, 12, 0))
    assert snooze_until("1h", now=monday_noon) == monday_noon + timedelta(hours=1)
    assert snooze_until("tomorrow", now=monday_noon).isoformat().startswith("2026-12-08T09:00")
    assert snooze_until("week", now=monday_noon).isoformat().startswith("2026-12-14T09:00")


# --- N8 / N9: what the pages give the keyboard and the one-screen layout --------------------------
def test_n8_shortcuts_are_listed_and_wired_without_inline_script(client, agent, conversation):
    client_for(client, agent)
    html = client.get(detail_url(conversation)).content.decode()
    assert '<dialog id="shortcuts"' in html
    assert 'data-shortcut="e"' in html and 'data-shortcut="a"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"<[^>]+\son[a-z]+=", html)  # no inline event handlers either


def test_n9_list_pane_rows_swap_thread_and_sidebar_in_place(client, agent, acme, contact):
    convs = [
        Conversation.objects.create(workspace=acme, contact=contact, subject=f"c{i}")
        for i in range(2)
    ]
    client_for(client, agent)
    html = client.get(detail_url(convs[0], filter="unassigned")).content.decode()
    pane = html[html.index('class="list-pane"') : html.index("</section>")]
    link = re.search(rf'id="conversation-row-{convs[1].pk}">\s*<a ([^>]*)>', pane).group(1)
    assert f'hx-get="{detail_url(convs[1], filter="unassigned")}"' in link
    assert 'hx-target="#main"' in link and 'hx-select="#main"' in link
    assert 'hx-select-oob="#contact-sidebar,#conversation-list"' in link
    assert 'hx-push-url="true"' in link
    current = re.search(rf'id="conversation-row-{convs[0].pk}">\s*<a ([^>]*)>', pane).group(1)
    assert 'aria-current="page"' in current
    # The list page itself has no pane: below 1280 px nothing changes.
    assert 'class="list-pane"' not in client.get(list_url()).content.decode()


@postgres_only
def test_n4_message_words_are_answered_by_the_gin_full_text_index(acme, contact):
    conv = Conversation.objects.create(workspace=acme, contact=contact, subject="s")
    inbound(conv, "My invoice is wrong")
    words = Message.objects.filter(message_words("invoice"))
    assert list(words.values_list("conversation_id", flat=True)) == [conv.pk]
    sql = captured_sql(lambda: list(words), "inbox_message")
    with transaction.atomic():
        shown = plan(sql[-1], enable_seqscan="off")
        transaction.set_rollback(True)
    assert "msg_body_fts" in shown, shown


@postgres_only
@pytest.mark.parametrize("hits_max", [1000, 1])
def test_n4_search_beyond_the_window_merges_both_halves_in_order_both_ways(
    acme, agent, contact, monkeypatch, hits_max
):
    """PostgreSQL's step 2 (beyond the window): conversations found by contact and those found
    by message words are asked apart (each through its own index first) and merged in the
    list's order, forward and back; with more hits than WORD_HITS_MAX, the plain filters
    instead. The pages are the same either way."""
    from inbox import selectors

    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 2)
    monkeypatch.setattr(selectors, "PAGE_SIZE", 3)
    monkeypatch.setattr(selectors, "WORD_HITS_MAX", hits_max)
    now = timezone.now()
    kurt = Contact.objects.create(workspace=acme, name="Kurt Zeppelin", email="kurt@ias.example")
    expected = []
    for i in range(14):
        conv = Conversation.objects.create(
            workspace=acme,
            contact=kurt if i % 3 == 0 else contact,
            subject=f"c{i}",
            last_activity_at=now - timedelta(hours=i),
        )
        inbound(conv, "the zeppelin arrived" if i % 3 == 1 else "nothing to see")
        if i % 3 != 2:  # Kurt's (by name), or a message with the word
            expected.append(conv.pk)
    found, after = [], None
    while True:
        page = conversation_page(
            workspace=acme, user=agent, filter="all", query="zeppelin", after=after
        )
        found.append([c.pk for c in page.object_list])
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert [pk for rows in found for pk in rows] == expected
    assert [len(rows) for rows in found] == [3, 3, 3, 1]
    back = conversation_page(
        workspace=acme, user=agent, filter="all", query="zeppelin", before=page.previous_cursor
    )
    assert [c.pk for c in back.object_list] == found[-2]


def test_n7_the_composer_offers_each_teammate_by_a_name_that_finds_only_them(
    client, agent, manager, owner, conversation
):
    """The "@" suggestions (the page's #mention-handles) name each teammate but the viewer once,
    by the shortest name the mention finder reads as them alone: a first name two members share
    is not offered, their full names are."""
    manager.full_name, owner.full_name = "Maria Manager", "Maria Owner"
    manager.save()
    owner.save()
    handles = mention_handles(workspace=conversation.workspace, exclude=agent)
    assert {h["handle"] for h in handles} == {"mariamanager", "mariaowner"}
    for h in handles:  # what a note with it finds: exactly that teammate
        body = f"@{h['handle']} please look"
        found = mentioned_members(conversation=conversation, body=body)
        assert [u.display_name for u in found] == [h["name"]]
    client_for(client, agent)
    html = client.get(detail_url(conversation)).content.decode()
    listed = html.split('<ul id="mention-handles" hidden>')[1].split("</ul>")[0]
    assert '<li data-handle="mariamanager">Maria Manager</li>' in listed
    assert "data-handle" in listed and agent.display_name not in listed  # not oneself
