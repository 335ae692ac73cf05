"""L2-L4 for the Inbox: keyset pages by last activity, no count, one index per filter."""

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.keyset import KeysetPaginator
from inbox.models import Conversation
from inbox.selectors import FILTERS, ORDERING, PAGE_SIZE, conversation_page
from tests.conftest import client_for
from tests.contacts.plans import captured_sql, keep_only_indexes, plan, postgres_only

pytestmark = pytest.mark.django_db
TABLE = "inbox_conversation"


def inbox_url():
    return reverse("inbox:list", args=["acme"])


@pytest.fixture
def many(acme, contact, agent):
    """70 conversations; activity times repeat (ties broken by id); every 3rd closed, every 4th mine."""
    now = timezone.now()
    return Conversation.objects.bulk_create(
        Conversation(
            workspace=acme,
            contact=contact,
            subject=f"C{i:03d}",
            status="closed" if i % 3 == 0 else "open",
            assignee=agent if i % 4 == 0 else None,
            last_activity_at=now - timedelta(minutes=i // 2),
        )
        for i in range(70)
    )


def expected(acme, agent, filter):
    qs = Conversation.objects.filter(workspace=acme)
    if filter in ("open", "closed"):
        qs = qs.filter(status=filter)
    elif filter == "mine":
        qs = qs.filter(status="open", assignee=agent)
    elif filter == "unassigned":
        qs = qs.filter(status="open", assignee__isnull=True)
    return list(qs.order_by("-last_activity_at", "-id"))


@pytest.mark.parametrize("filter", FILTERS)
def test_l3_inbox_pages_walk_every_conversation_once_newest_first(
    client, agent, acme, many, filter
):
    client_for(client, agent)
    seen, url = [], f"{inbox_url()}?filter={filter}"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += list(response.context["page"].object_list)
        nxt = response.context["links"]["next"]
        assert nxt is None or f"filter={filter}" in nxt
        url = inbox_url() + nxt if nxt else None
    assert seen == expected(acme, agent, filter)


def test_l3_an_inbox_page_link_is_stable_while_new_messages_arrive(client, agent, acme, many):
    client_for(client, agent)
    first = client.get(inbox_url(), {"filter": "all"})
    page_two = inbox_url() + first.context["links"]["next"]
    before = [c.pk for c in client.get(page_two).context["page"].object_list]
    # New activity lifts a conversation from page one to the top: page two stays the same rows.
    Conversation.objects.filter(pk=many[1].pk).update(last_activity_at=timezone.now())
    assert [c.pk for c in client.get(page_two).context["page"].object_list] == before
    assert len(before) == PAGE_SIZE and "31–60 of many" in client.get(page_two).content.decode()


def test_l3_a_broken_inbox_link_gets_a_clear_error(client, agent, many):
    client_for(client, agent)
    response = client.get(inbox_url(), {"filter": "all", "after": "WyJub3QgYSBkYXRlIiwxLDJd"})
    assert response.status_code == 400
    assert "That page link is not valid" in response.content.decode()
    assert len(response.context["page"].object_list) == PAGE_SIZE


PAGE_ROWS = re.compile(r'WHERE "inbox_conversation"\."id" IN \(\d+(, \d+)*\)')


def test_l2_inbox_pages_never_count(client, agent, many):
    client_for(client, agent)
    for filter in FILTERS:
        sql = captured_sql(lambda f=filter: client.get(inbox_url(), {"filter": f}), TABLE)
        # The only COUNT allowed is N2's unread messages of the page's own rows (their ids listed).
        counting = [s for s in sql if "COUNT(" in s.upper()]
        assert sql and all(PAGE_ROWS.search(s) for s in counting), counting
    assert "1–30 of many" in client.get(inbox_url(), {"filter": "all"}).content.decode()


INDEX_FOR = {
    "open": "conv_ws_status_act_id",
    "closed": "conv_ws_status_act_id",
    "mine": "conv_ws_asg_status_act_id",
    "unassigned": "conv_ws_unasg_status_act_id",
    "all": "conv_ws_act_id",
}


@postgres_only
@pytest.mark.parametrize("filter", FILTERS)
def test_l4_each_inbox_filter_is_an_index_range_in_activity_order(acme, agent, many, filter):
    rows = expected(acme, agent, filter)
    cursor = KeysetPaginator(Conversation.objects.all(), ORDERING, PAGE_SIZE).cursor_for(
        rows[len(rows) // 2], 2
    )
    for kwargs in [{}, {"after": cursor}, {"before": cursor}]:
        call = lambda k=kwargs: conversation_page(  # noqa: E731
            workspace=acme, user=agent, filter=filter, **k
        )
        # The page's own queries (the rows' triage facts follow them, by id: N3).
        sql = [s for s in captured_sql(call, TABLE) if " ORDER BY " in s and " LIMIT 31" in s]
        with transaction.atomic():
            keep_only_indexes(TABLE, INDEX_FOR[filter])
            shown = plan(sql[-1], enable_seqscan="off", enable_sort="off")
            transaction.set_rollback(True)
        assert INDEX_FOR[filter] in shown, shown
        assert "Seq Scan" not in shown and "Sort" not in shown, shown
