"""Matching, caching and single-flight against the live emulator (S7–S9, S12, S13, B1, B2)."""

import threading

import pytest
from django.db import connections

from integrations.salesforce import badges, lookup_cache, services
from integrations.salesforce.errors import Unavailable
from integrations.salesforce.lookup import find_contact
from integrations.salesforce.lookup_cache import stale_result
from integrations.salesforce.matching import MatchValues
from integrations.salesforce.soql import lookup_query
from tests.salesforce_support import lookup_cache_key

pytestmark = pytest.mark.django_db


def rest_queries(sf):
    return [e for e in sf.request_log() if "/query" in e["path"]]


def test_s07_one_soql_query_on_contact_only_with_quoted_values():
    soql = lookup_query(["Id", "Name"], MatchValues.of("o'brien@example.com", "+1 555"))
    assert soql == (
        "SELECT Id, Name FROM Contact WHERE Email = 'o\\'brien@example.com' OR "
        "Email LIKE '%o\\'brien@example.com%' OR "  # B1's candidates, in the same query (P4)
        "Phone = '+1 555' OR MobilePhone = '+1 555' ORDER BY LastModifiedDate DESC LIMIT 50"
    )
    assert "Phone" not in lookup_query(["Id"], MatchValues.of("a@b.c", ""))
    assert "Email" not in lookup_query(["Id"], MatchValues.of("", "555"))
    with pytest.raises(ValueError):
        lookup_query(["Id"], MatchValues.of("", ""))


def test_s07_email_match_and_apostrophe(connection, sf):
    result = find_contact(connection, email="o'brien@example.com")
    assert result.primary is not None
    assert result.primary.values["Email"] == "o'brien@example.com"
    assert len(rest_queries(sf)) == 1


def test_s07_email_compares_without_case_as_salesforce_does(connection):
    result = find_contact(connection, email="marcus.reed@contoso.example")
    assert result.primary.values["Email"] == "MARCUS.REED@CONTOSO.EXAMPLE"
    assert result.near_misses == ()


def test_s07_phone_and_mobile_match_character_for_character(connection):
    assert (
        find_contact(connection, phone="+1 (555) 010-3000").primary.values["Name"] == "Omar Haddad"
    )
    assert (
        find_contact(connection, phone="555-010-4000").primary.values["MobilePhone"]
        == "555-010-4000"
    )


def test_s07_leads_never_match(connection, sf):
    result = find_contact(connection, email="lena.lead@example.org")
    assert result.matches == ()
    assert all("FROM Contact" in e["query"] for e in rest_queries(sf))


def test_s08_several_matches_newest_first(connection):
    result = find_contact(connection, email="support@fabrikam.example")
    assert len(result.matches) == 2
    first, second = (m.values["LastModifiedDate"] for m in result.matches)
    assert first > second
    assert len(result.others) == 1


def test_s09_b1_no_exact_match_but_formatting_near_miss(connection, sf):
    result = find_contact(connection, phone="+15550102000")
    assert result.matches == ()
    (miss,) = result.near_misses
    assert (miss.field, miss.salesforce_value, miss.product_value) == (
        "Phone",
        "+1 555 010 2000",
        "+15550102000",
    )
    assert len(rest_queries(sf)) == 1  # P4: the hint's candidates came with the lookup


def test_b1_email_with_surrounding_whitespace_is_a_near_miss(connection):
    result = find_contact(connection, email="kim.lee@example.net")
    assert result.matches == ()
    assert [m.field for m in result.near_misses] == ["Email"]


def test_b1_p4_a_match_costs_one_query(connection, sf):
    find_contact(connection, email="jane.cooper@northwind.example")
    assert len(rest_queries(sf)) == 1


def test_s09_nothing_matches(connection):
    result = find_contact(connection, email="noah@nowhere.example")
    assert result.matches == () and result.near_misses == ()


def test_s12_repeated_views_cost_one_call_then_expire(connection, sf, settings):
    for _ in range(5):
        find_contact(connection, email="jane.cooper@northwind.example")
    assert len(rest_queries(sf)) == 1
    # After the window, the next view asks again and sees Salesforce's latest data.
    from django.core.cache import cache

    sf.update_record("Contact", "0035g00000Con01AAB", Title="Chief Operating Officer")
    cache.delete(lookup_cache_key(connection, "lookup", "jane.cooper@northwind.example", ""))
    result = find_contact(connection, email="jane.cooper@northwind.example")
    assert result.primary.values["Title"] == "Chief Operating Officer"
    assert len(rest_queries(sf)) == 2


def test_s12_cache_entry_lives_the_configured_window(connection, settings, monkeypatch):
    seen = {}
    real_set = lookup_cache.cache_call

    def spy(method, *args, **kwargs):
        if method == "set" and ":lookup:" in args[0]:
            seen["timeout"] = args[2]
        return real_set(method, *args, **kwargs)

    monkeypatch.setattr(lookup_cache, "cache_call", spy)
    find_contact(connection, email="jane.cooper@northwind.example")
    assert seen["timeout"] == settings.SALESFORCE_CACHE_SECONDS == 60


def test_s13_changed_values_are_looked_up_at_once(connection, sf):
    find_contact(connection, email="noah@nowhere.example")
    result = find_contact(connection, email="jane.cooper@northwind.example")
    assert result.primary is not None
    assert len(rest_queries(sf)) >= 2


@pytest.mark.django_db(transaction=True)
def test_s12_concurrent_misses_cause_one_query(connection, sf):
    sf.set_fault("latency", org_id=connection.org_id, value=0.5)
    results, failures = [], []

    def view():
        try:
            results.append(find_contact(connection, email="jane.cooper@northwind.example"))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=view) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(results) == 8 and all(r.primary for r in results)
    assert len(rest_queries(sf)) == 1


def test_b2_failure_shows_stale_data_and_is_cached_for_the_window(connection, sf):
    first = find_contact(connection, email="jane.cooper@northwind.example")
    from django.core.cache import cache

    cache.delete(lookup_cache_key(connection, "lookup", "jane.cooper@northwind.example", ""))
    sf.set_fault("http_503", org_id=connection.org_id)
    sf.reset_log()
    for _ in range(3):
        with pytest.raises(Unavailable):
            find_contact(connection, email="jane.cooper@northwind.example")
    assert len(rest_queries(sf)) == 1  # no retry storm
    stale = stale_result(connection, email="jane.cooper@northwind.example", phone="")
    assert stale.primary.id == first.primary.id


def test_s14_generation_bump_forgets_cached_data(connection, sf):
    find_contact(connection, email="jane.cooper@northwind.example")
    services.drop_cached_answers(connection)
    find_contact(connection, email="jane.cooper@northwind.example")
    assert len(rest_queries(sf)) == 2
    assert stale_result(connection, email="jane.cooper@northwind.example", phone="") is not None


def test_invalid_field_is_dropped_and_the_lookup_retried(connection, sf):
    connection.field_names = [*connection.field_names, "Gone_Field__c"]
    connection.save()
    result = find_contact(connection, email="jane.cooper@northwind.example")
    assert result.primary is not None
    connection.refresh_from_db()
    assert "Gone_Field__c" not in connection.field_names
    assert connection.dropped_fields == ["Gone_Field__c"]
    assert connection.events.filter(kind="field_dropped").exists()


def test_s16_lookups_back_off_near_the_org_api_limit(connection, sf):
    from integrations.salesforce.errors import RateLimited

    sf.set_api_usage(connection.org_id, used=94, limit=100)
    find_contact(connection, email="jane.cooper@northwind.example")  # learns 95/100
    connection.refresh_from_db()
    assert connection.api_usage_share == 0.95
    find_contact(connection, phone="555-010-4000")  # one probe per window re-reads the usage
    with pytest.raises(RateLimited, match="96%"):
        find_contact(connection, email="noah@nowhere.example")
    assert len(rest_queries(sf)) == 2


def test_s11_lookups_never_write(connection, sf):
    find_contact(connection, email="jane.cooper@northwind.example")
    find_contact(connection, phone="+15550102000")
    assert sf.writes() == []
    assert {e["method"] for e in sf.request_log()} == {"GET"}


def test_invalid_relationship_field_is_dropped_and_the_lookup_retried(connection, sf):
    """docs/decisions.md: a chosen field Salesforce no longer knows is dropped; relationships too."""
    connection.field_names = [*connection.field_names, "Region__r.Name"]
    connection.save()
    assert find_contact(connection, email="jane.cooper@northwind.example").primary is not None
    connection.refresh_from_db()
    assert "Region__r.Name" not in connection.field_names
    assert connection.dropped_fields == ["Region__r.Name"]


def test_b4_badges_drop_an_invalid_field_too(connection, sf, acme):
    from contacts.models import Contact

    connection.field_names = [*connection.field_names, "Gone__c"]
    connection.save()
    jane = Contact.objects.create(workspace=acme, name="J", email="jane.cooper@northwind.example")
    assert badges.match_flags(connection, [jane]) == {jane.pk: "contact"}
    connection.refresh_from_db()
    assert connection.dropped_fields == ["Gone__c"]


@pytest.mark.django_db(transaction=True)
def test_s12_slow_salesforce_still_asked_once_when_nothing_matches(connection, sf, settings):
    """Waiters outlast a leader that needs two slow queries (exact, then near-miss)."""
    settings.SALESFORCE_TIMEOUT, settings.SALESFORCE_CONNECT_TIMEOUT = 1.5, 0.5
    sf.set_fault("latency", org_id=connection.org_id, value=1.2)
    results = []

    def view():
        try:
            results.append(find_contact(connection, email="noah@nowhere.example"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=view) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert len(rest_queries(sf)) == 1  # one query (P4: hints included), for all four


LOOKUP_IN_ANOTHER_PROCESS = """
import django, os, sys
django.setup()
from integrations.salesforce.lookup import find_contact
from integrations.salesforce.models import SalesforceConnection
result = find_contact(SalesforceConnection.objects.get(pk=int(sys.argv[1])), email=sys.argv[2])
print(result.primary.id if result.primary else "none")
"""


@pytest.mark.django_db(transaction=True)
def test_s12_several_server_processes_ask_salesforce_once(connection, sf, other_process_env):
    """S12 across processes: single-flight goes through the shared cache, not process memory."""
    import sys

    from tests.conftest import run_processes

    env = other_process_env
    sf.set_fault("latency", org_id=connection.org_id, value=1.0)
    argv = [
        sys.executable,
        "-c",
        LOOKUP_IN_ANOTHER_PROCESS,
        str(connection.pk),
        "jane.cooper@northwind.example",
    ]
    outputs = run_processes(argv, env, 3, timeout=60)
    assert [out.strip() for out in outputs] == ["0035g00000Con01AAB"] * 3
    assert len(rest_queries(sf)) == 1
