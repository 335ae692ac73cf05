"""L1-L4 for the Contacts list: exact-first search, no count, keyset pages, index-served plans."""

import re
from html import unescape
from urllib.parse import urlencode

import pytest
from django.core.exceptions import BadRequest
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse

from contacts.models import Contact
from contacts.selectors import PAGE_SIZE, contact_page, contact_search, contacts_on_page
from tests.conftest import client_for
from tests.contacts.plans import captured_sql, keep_only_indexes, plan, postgres_only

pytestmark = pytest.mark.django_db
TABLE = "contacts_contact"


def names(response):
    return [c.name for c in response.context["page"].object_list]


def list_url():
    return reverse("contacts:list", args=["acme"])


@pytest.fixture
def sixty(acme):
    return Contact.objects.bulk_create(
        Contact(workspace=acme, name=f"Person {i:03d}", email=f"p{i}@x.example") for i in range(60)
    )


# --- L1: search ---------------------------------------------------------------------------------
def test_l1_email_query_takes_the_exact_path_first_ignoring_case(client, agent, acme):
    Contact.objects.create(workspace=acme, name="Jane Cooper", email="jane@northwind.example")
    Contact.objects.create(workspace=acme, name="Mary Jane", email="mary.jane@northwind.example")
    client_for(client, agent)
    exact = client.get(list_url(), {"q": "JANE@Northwind.example"})
    assert names(exact) == ["Jane Cooper"]
    html = exact.content.decode()
    assert "Exact email or phone match" in html
    contains_url = unescape(re.search(r'href="(\?q=[^"]*match=contains)"', html).group(1))
    assert names(client.get(list_url() + contains_url)) == ["Jane Cooper", "Mary Jane"]


def test_l1_phone_query_takes_the_exact_path_character_for_character(acme):
    Contact.objects.create(workspace=acme, name="Omar", phone="+1 (555) 010-3000")
    Contact.objects.create(workspace=acme, name="Omar Office", phone="+1 (555) 010-3000 ext. 4")
    Contact.objects.create(workspace=acme, name="Omar Dashes", phone="+1-555-010-3000")
    exact = contact_search(workspace=acme, query="+1 (555) 010-3000")
    assert exact.exact and [c.name for c in exact.contacts] == ["Omar"]
    # Same digits, other formatting: no exact match, so the fragment search answers, with the
    # contacts that hold the same number in another usual spelling.
    fragment = contact_search(workspace=acme, query="555-010-3000")
    assert not fragment.exact and [c.name for c in fragment.contacts] == ["Omar", "Omar Dashes"]


def test_l1_a_whole_phone_number_finds_its_other_spellings(acme):
    """ "415 555 0123" finds the contact saved as "+14155550123" (and the others the number is
    usually written as), read in the workspace's country; a different number finds nobody."""
    acme.phone_region = "US"
    acme.save(update_fields=["phone_region"])
    Contact.objects.create(workspace=acme, name="Grace E164", phone="+14155550123")
    Contact.objects.create(workspace=acme, name="Grace National", phone="(415) 555-0123")
    Contact.objects.create(workspace=acme, name="Other Number", phone="+14155550124")
    for query in ["415 555 0123", "4155550123", "+1 415-555-0123", "1-415-555-0123"]:
        found = contact_search(workspace=acme, query=query)
        assert [c.name for c in found.contacts] == ["Grace E164", "Grace National"], query
    assert list(contact_search(workspace=acme, query="415 555 0199").contacts) == []


def test_l1_no_exact_hit_falls_back_to_fragments_of_name_email_and_phone(acme, globex):
    Contact.objects.create(workspace=acme, name="Ada Smithson", email="ada@x.example")
    Contact.objects.create(workspace=acme, name="Bob", email="bob.smith@y.example")
    Contact.objects.create(workspace=acme, name="Cy", phone="+44 20 7946 0958")
    Contact.objects.create(workspace=globex, name="Smith Globex")
    for query, expected in [
        ("smith", ["Ada Smithson", "Bob"]),
        ("SMITH@Y.EXAMPLE", ["Bob"]),  # not anyone's whole email: a fragment, any case
        ("7946 0958", ["Cy"]),  # looks like a phone but only part of one
        ("nobody@x.example", []),
    ]:
        result = contact_search(workspace=acme, query=query)
        assert [c.name for c in result.contacts] == expected, query


@postgres_only
def test_l1_trigram_indexes_serve_fragment_search(acme):
    """The query a search sends beyond its ordered window (keyset._rows, step 2)."""
    from contacts.selectors import ORDERING
    from core.keyset import KeysetPaginator

    for name in ("Ann Smith", "Bo Smithers", "Cy Jones"):
        Contact.objects.create(workspace=acme, name=name)
    fragment = contact_search(workspace=acme, query="smith").fragment
    paginator = KeysetPaginator(
        Contact.objects.filter(workspace=acme), ORDERING, PAGE_SIZE, narrow=fragment, window=1
    )
    sql = captured_sql(paginator.page, TABLE)
    page_sql = [s for s in sql if "LIKE" in s.split("WHERE", 1)[-1]]
    assert len(page_sql) == 1, sql
    assert [c.name for c in paginator.page().object_list] == ["Ann Smith", "Bo Smithers"]
    # Whether the planner prefers them depends on the data; whether they CAN answer this exact SQL
    # does not: with the btree indexes dropped (inside this test's transaction) and sequential
    # scans switched off, only the trigram indexes stand between the query and a Seq Scan.
    keep_only_indexes(TABLE, "contact_name_trgm", "contact_email_trgm", "contact_phone_trgm")
    shown = plan(page_sql[0], enable_seqscan="off")
    for index in ("contact_name_trgm", "contact_email_trgm", "contact_phone_trgm"):
        assert index in shown, shown
    assert "Seq Scan" not in shown, shown


@postgres_only
@pytest.mark.parametrize(
    "query,index",
    [("Jane@X.example", "contact_ws_email_upper"), ("+1 555 010 3000", "contact_ws_phone")],
)
def test_l1_exact_email_and_phone_use_their_btree_indexes(acme, query, index):
    Contact.objects.create(
        workspace=acme, name="Jane", email="jane@x.example", phone="+1 555 010 3000"
    )
    sql = captured_sql(lambda: contact_page(workspace=acme, query=query), TABLE)
    keep_only_indexes(TABLE, index)
    shown = plan(sql[0], enable_seqscan="off")
    assert index in shown and "Seq Scan" not in shown, shown
    assert re.search(r"Index Cond: .*(upper\(\(email\)::text\)|phone) = '", shown), shown


def test_l1_trigram_indexes_exist_on_postgresql_only():
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, TABLE)
    trigram = {"contact_name_trgm", "contact_email_trgm", "contact_phone_trgm"}
    if connection.vendor == "postgresql":
        assert trigram <= set(indexes)
    else:
        assert not trigram & set(indexes)
        assert "contact_ws_name_id" in indexes  # the portable indexes are there


# --- L2 (as M6 left it): never an unbounded count ------------------------------------------------
def test_l2_m6_list_pages_never_count_the_whole_workspace(client, agent, sixty):
    """M6 (issue 26) lets the list count, but only under a LIMIT of 1,001 rows."""
    client_for(client, agent)
    for params in [{}, {"q": "person"}, {"q": "p1@x.example"}]:
        sql = captured_sql(lambda p=params: client.get(list_url(), p), TABLE)
        counts = [s for s in sql if "COUNT(" in s.upper()]
        assert sql and counts, sql
        assert all("LIMIT 1001" in s.upper() for s in counts), counts
    first = client.get(list_url()).content.decode()
    assert "1–25 of 60" in first and "Page 1 of" not in first


# --- L3: keyset pages ---------------------------------------------------------------------------
def test_l3_walking_next_and_previous_visits_every_contact_once_in_name_order(client, agent, acme):
    # Ties on name are broken by id: no row skipped or repeated across a page boundary.
    Contact.objects.bulk_create(
        Contact(workspace=acme, name=f"Same {i % 3}", email=f"s{i}@x.example") for i in range(70)
    )
    client_for(client, agent)
    expected = list(Contact.objects.filter(workspace=acme).order_by("name", "id"))
    seen, url, pages = [], list_url(), []
    while url:
        response = client.get(url)
        pages.append(response)
        seen += list(response.context["page"].object_list)
        nxt = response.context["links"]["next"]
        url = list_url() + nxt if nxt else None
    assert seen == expected and len(pages) == 3
    assert "51–70 of 70" in pages[-1].content.decode()
    back = client.get(list_url() + pages[-1].context["links"]["previous"])
    assert list(back.context["page"].object_list) == list(pages[1].context["page"].object_list)
    assert "26–50 of 70" in back.content.decode()
    first = client.get(list_url() + back.context["links"]["previous"])
    assert list(first.context["page"].object_list) == expected[:PAGE_SIZE]
    assert first.context["links"]["previous"] is None


def test_l3_a_page_link_keeps_showing_the_same_rows_when_others_come_and_go(
    client, agent, acme, sixty
):
    client_for(client, agent)
    first = client.get(list_url())
    page_two = list_url() + first.context["links"]["next"]
    before = names(client.get(page_two))
    Contact.objects.create(workspace=acme, name="Aaron Early", email="a@x.example")
    Contact.objects.filter(name="Person 003").delete()
    assert names(client.get(page_two)) == before == [f"Person {i:03d}" for i in range(25, 50)]


def test_l3_search_and_cursor_travel_together(client, agent, acme, sixty):
    Contact.objects.bulk_create(
        Contact(workspace=acme, name=f"Other {i:03d}", email=f"o{i}@x.example") for i in range(30)
    )
    client_for(client, agent)
    first = client.get(list_url(), {"q": "person"})
    nxt = first.context["links"]["next"]
    assert "q=person" in nxt
    second = client.get(list_url() + nxt)
    assert names(second)[0] == "Person 025" and all(n.startswith("Person") for n in names(second))


@pytest.mark.parametrize("cursor", ["garbage!", "W10", "WyJhIiwxXQ", "WyJhIiwieCIsMV0", "e30"])
def test_l3_a_broken_page_link_gets_a_clear_error_and_the_first_page(client, agent, sixty, cursor):
    client_for(client, agent)
    for param in ("after", "before"):
        response = client.get(list_url(), {param: cursor})
        assert response.status_code == 400
        assert "That page link is not valid" in response.content.decode()
        assert names(response)[0] == "Person 000"


# --- B4 coupling: the badges decorate exactly the page shown ---------------------------------------
def test_l3_badges_receive_the_ids_of_the_page_shown(
    client, agent, acme, globex, sixty, connection
):
    client_for(client, agent)
    first = client.get(list_url())
    second = client.get(list_url() + first.context["links"]["next"])
    shown = [c.pk for c in second.context["page"].object_list]
    loader = re.search(r'hx-get="([^"]*/badges/[^"]*)"', second.content.decode())
    badges_url = unescape(loader.group(1))
    assert badges_url.endswith("?" + urlencode({"ids": ",".join(map(str, shown))}))
    answer = client.get(badges_url, headers={"HX-Request": "true"})
    assert [int(x) for x in re.findall(r'id="badge-(\d+)"', answer.content.decode())] == shown
    # The contacts side of that contract: exactly those rows, this workspace only, bad ids a 400.
    stranger = Contact.objects.create(workspace=globex, name="Stranger")
    assert contacts_on_page(workspace=acme, params={"ids": f"{shown[0]},{stranger.pk}"}) == [
        second.context["page"].object_list[0]
    ]
    for bad in ["1,x", ",".join(["1"] * (PAGE_SIZE + 1))]:
        with pytest.raises(BadRequest):
            contacts_on_page(workspace=acme, params={"ids": bad})


# --- L4: plans ----------------------------------------------------------------------------------
@postgres_only
def test_l4_contacts_pages_are_an_index_range_in_name_order(acme, sixty):
    _, first = contact_page(workspace=acme)
    from contacts.selectors import ORDERING
    from core.keyset import KeysetPaginator

    cursor = KeysetPaginator(Contact.objects.all(), ORDERING, PAGE_SIZE).cursor_for(
        first.object_list[-1], 26
    )
    for kwargs in [{}, {"after": cursor}, {"before": cursor}]:
        sql = captured_sql(lambda k=kwargs: contact_page(workspace=acme, **k), TABLE)
        with transaction.atomic():
            keep_only_indexes(TABLE, "contact_ws_name_id")
            shown = plan(sql[-1], enable_seqscan="off", enable_sort="off")
            transaction.set_rollback(True)
        assert "contact_ws_name_id" in shown, shown
        assert "Seq Scan" not in shown and "Sort" not in shown, shown


@pytest.mark.parametrize("window", [3, 40, 4000])
def test_l1_windowed_search_pages_equal_the_plain_filter(acme, window):
    """The search strategy (walk a window in order, then the search's own indexes) changes the
    plan, never the answer: same rows, same order, both directions, whatever the window."""
    from contacts.selectors import ORDERING
    from core.keyset import KeysetPaginator

    Contact.objects.bulk_create(
        Contact(workspace=acme, name=f"N{(i * 37) % 90:02d}", email=f"e{i}@x.example")
        for i in range(90)
    )
    base = Contact.objects.filter(workspace=acme)
    narrow = Q(name__icontains="1") | Q(email__icontains="e2")
    expected = list(base.filter(narrow).order_by(*ORDERING))
    windowed = KeysetPaginator(
        base,
        ORDERING,
        4,
        narrow=narrow,
        narrow_indexed=connection.vendor == "postgresql",
        window=window,
    )
    seen, page = [], windowed.page()
    while True:
        seen += page.object_list
        if not page.has_next:
            break
        page = windowed.page(after=page.next_cursor)
    assert seen == expected and len(expected) > 8
    back = windowed.page(before=page.previous_cursor)
    assert back.object_list == expected[len(seen) - len(page.object_list) - 4 :][:4]


@postgres_only
def test_l4_a_search_walks_the_name_index_in_order_before_the_trigram_indexes(acme, sixty):
    # 10 matches, fewer than a page: the window's matches, then its last row (where step 2 starts).
    sql = captured_sql(lambda: contact_page(workspace=acme, query="person 05"), TABLE)
    window = [s for s in sql if "_keyset_hit" in s]
    assert len(window) == 2, sql
    for query in window:
        with transaction.atomic():
            keep_only_indexes(TABLE, "contact_ws_name_id")
            shown = plan(query, enable_seqscan="off", enable_sort="off")
            transaction.set_rollback(True)
        assert "contact_ws_name_id" in shown, shown
        assert "Seq Scan" not in shown and "Sort" not in shown, shown
