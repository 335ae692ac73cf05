"""K2: the SOQL the product sends (soql.py), compared with literal expected queries (not with
``lookup_query()`` itself), so a change inside the builders fails here. Pure functions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from integrations.salesforce.matching import ANY_FORMAT, EXACT, MatchValues
from integrations.salesforce.soql import (
    BADGE_LIMIT,
    BASE_FIELDS,
    LEAD_FIELDS,
    LOOKUP_LIMIT,
    MATCH_LIMIT,
    RELATED_SUBQUERIES,
    badge_query,
    contact_soql,
    lead_query,
    lookup_query,
    selected_fields,
)

BASE = "Id, Name, Email, Phone, MobilePhone, LastModifiedDate"
CASES = (
    "(SELECT Id, CaseNumber, Subject, Status, Priority, LastModifiedDate FROM Cases "
    "WHERE IsClosed = false ORDER BY LastModifiedDate DESC LIMIT 50)"
)
ROLES = (
    "(SELECT Id, OpportunityId, Opportunity.Name, Opportunity.StageName, Opportunity.Amount, "
    "Opportunity.CloseDate FROM OpportunityContactRoles WHERE Opportunity.IsClosed = false "
    "ORDER BY Opportunity.CloseDate ASC LIMIT 50)"
)


def phone_in(query: str) -> str:
    """The values of the query's ``Phone IN (...)``."""
    return query.split(" WHERE Phone IN (")[1].split(") OR MobilePhone IN (")[0]


def test_k2_limits_and_base_fields():
    # newest 20 shown, room for the near-match candidates in the one query, a page of badges
    assert (MATCH_LIMIT, LOOKUP_LIMIT, BADGE_LIMIT) == (20, 50, 200)
    # matching, ordering, near-miss display and links need each of them
    assert BASE_FIELDS == ["Id", "Name", "Email", "Phone", "MobilePhone", "LastModifiedDate"]


def test_k2_selected_fields_are_the_base_then_the_admins_each_once():
    connection = SimpleNamespace(field_names=["Title", "email", "Account.Name", "Title"])
    # a parent shown by name brings its Id (E6: the parent's own change event finds the lookup)
    assert selected_fields(connection) == [*BASE_FIELDS, "Title", "Account.Name", "Account.Id"]
    assert selected_fields(SimpleNamespace(field_names=[])) == BASE_FIELDS
    # the base list itself is never changed by a call
    assert BASE_FIELDS == ["Id", "Name", "Email", "Phone", "MobilePhone", "LastModifiedDate"]


def test_k2_injection_a_hostile_email_stays_one_quoted_value_literal_query():
    hostile = "x' OR Name != null OR Name = '"
    query = lookup_query(BASE_FIELDS, MatchValues.of(hostile, "", mode=EXACT))
    assert query == (
        f"SELECT {BASE} FROM Contact WHERE Email = 'x\\' OR Name != null OR Name = \\'' "
        "OR Email LIKE '%x\\' OR Name != null OR Name = \\'%' "
        "ORDER BY LastModifiedDate DESC LIMIT 50"
    )


def test_k2_related_subqueries_go_before_the_first_from_contact():
    # a value that spells the query's own " FROM Contact WHERE " must not move the subqueries
    hostile = "a FROM Contact WHERE b"
    query = lookup_query(
        BASE_FIELDS,
        MatchValues.of(hostile, "", mode=ANY_FORMAT),
        related=("Cases", "OpportunityContactRoles", "NotARelatedList"),
    )
    assert query == (
        f"SELECT {BASE}, {CASES}, {ROLES} FROM Contact WHERE "
        "Email = 'a FROM Contact WHERE b' ORDER BY LastModifiedDate DESC LIMIT 50"
    )
    assert list(RELATED_SUBQUERIES) == ["Cases", "OpportunityContactRoles"]


def test_k2_lookup_query_without_related_lists_and_its_limit():
    values = MatchValues.of("", "12", mode=EXACT)
    assert lookup_query(["Id"], values, limit=7, related=("Nope",)) == (
        "SELECT Id FROM Contact WHERE Phone = '12' OR MobilePhone = '12' "
        "ORDER BY LastModifiedDate DESC LIMIT 7"
    )


def test_k2_badge_query_has_its_where_clause_and_limit():
    page = [
        MatchValues.of("b@x.example", "", mode=EXACT),
        MatchValues.of("", "12", mode=EXACT),
        MatchValues.of("", "34", mode=EXACT),
    ]
    assert badge_query(["Id", "Email"], page) == (
        "SELECT Id, Email FROM Contact WHERE Email = 'b@x.example' OR "
        "Phone IN ('12','34') OR MobilePhone IN ('12','34') "
        "ORDER BY LastModifiedDate DESC LIMIT 200"
    )


def test_k2_badge_query_takes_ten_spellings_per_number():
    query = badge_query(["Id"], [MatchValues.of("", "+1 415 555 0123", mode=ANY_FORMAT)])
    assert len(phone_in(query).split("','")) == 10


def test_k2_lead_query_one_contact_all_spellings_several_capped():
    one = lead_query([MatchValues.of("", "+1 415 555 0123", mode=ANY_FORMAT)])
    assert one.startswith(f"SELECT {', '.join(LEAD_FIELDS)} FROM Lead WHERE Phone IN (")
    assert one.endswith("ORDER BY LastModifiedDate DESC LIMIT 20")
    assert phone_in(one).count("','") == 18  # all 19
    two = lead_query(
        [
            MatchValues.of("", "+1 415 555 0123", mode=ANY_FORMAT),
            MatchValues.of("", "+1 212 555 0100", mode=ANY_FORMAT),
        ],
        limit=5,
    )
    assert phone_in(two).count("','") == 19  # 2 x 10
    assert two.endswith("LIMIT 5")
    assert LEAD_FIELDS == [
        "Id",
        "Name",
        "Email",
        "Phone",
        "MobilePhone",
        "Company",
        "Status",
        "LastModifiedDate",
    ]


@pytest.mark.parametrize(
    "bad", ["Name, (SELECT Id FROM Users)", "1Name", "Account..Name", "a.b.c", ""]
)
def test_k2_field_names_must_be_api_names(bad):
    with pytest.raises(ValueError) as caught:
        contact_soql(["Id", bad], ["Id = '1'"], 5)
    assert str(caught.value) == f"Not Salesforce field names: {[bad]}"


def test_k2_fields_with_a_relationship_are_api_names():
    assert contact_soql(["Account.Name", "My_Field__c"], ["Id = '1'"], 5) == (
        "SELECT Account.Name, My_Field__c FROM Contact WHERE Id = '1' "
        "ORDER BY LastModifiedDate DESC LIMIT 5"
    )


def test_k2_nothing_to_look_up_is_refused():
    for build in (
        lambda: contact_soql(["Id"], [], 5),
        lambda: lookup_query(["Id"], MatchValues.of("", "")),
    ):
        with pytest.raises(ValueError) as caught:
            build()
        assert str(caught.value) == "Nothing to look up: no email and no phone."


# E1/E2/E3/A6 (added after the first K2 pass): what an org's or a connection's settings add.
def connection(field_names=(), **settings):
    return SimpleNamespace(field_names=list(field_names), **settings)


def test_k2_person_account_orgs_select_which_rows_are_person_accounts_and_their_account_fields():
    chosen = connection(field_names=["Title"], person_accounts=True, account_fields=["Industry"])
    assert selected_fields(chosen) == [
        *BASE_FIELDS,
        "Title",
        "IsPersonAccount",
        "AccountId",
        "Account.Industry",
        "Account.Id",
    ]
    # orgs without person accounts: those fields do not exist there
    assert selected_fields(connection(person_accounts=False, account_fields=["Industry"])) == (
        BASE_FIELDS
    )


def test_k2_routing_by_owner_selects_the_owners_email_and_the_priority_field():
    routed = connection(["Title"], route_by_owner=True, priority_field="Priority__c")
    assert selected_fields(routed) == [
        *BASE_FIELDS,
        "Title",  # the admin's chosen fields are kept
        "Owner.Email",
        "Owner.Id",
        "Priority__c",
    ]
    assert selected_fields(connection(route_by_owner=True, priority_field="")) == [
        *BASE_FIELDS,
        "Owner.Email",
        "Owner.Id",
    ]
    # without routing neither is asked, even with a priority field saved
    assert selected_fields(connection(route_by_owner=False, priority_field="Priority__c")) == (
        BASE_FIELDS
    )


def test_k2_multi_currency_orgs_read_each_amounts_currency():
    query = lookup_query(
        ["Id"],
        MatchValues.of("a@x.example", "", mode=ANY_FORMAT),
        related=("Cases", "OpportunityContactRoles"),
        multi_currency=True,
    )
    assert query == (
        f"SELECT Id, {CASES}, {ROLES.replace('Amount,', 'Amount, Opportunity.CurrencyIsoCode,')} "
        "FROM Contact WHERE Email = 'a@x.example' ORDER BY LastModifiedDate DESC LIMIT 50"
    )
    assert "CurrencyIsoCode" not in lookup_query(
        ["Id"], MatchValues.of("a@x.example", ""), related=("OpportunityContactRoles",)
    )


def test_k2_the_orgs_own_conditions_replace_the_plain_ones():
    # E2: encryption changes the WHERE clause; the caller's conditions are asked as given
    given = ["Email IN ('A@x.example','a@x.example')"]
    values = MatchValues.of("A@x.example", "12", mode=EXACT)
    assert lookup_query(["Id"], values, conditions=given) == (
        "SELECT Id FROM Contact WHERE Email IN ('A@x.example','a@x.example') "
        "ORDER BY LastModifiedDate DESC LIMIT 50"
    )
    assert badge_query(["Id"], [values], conditions=given) == (
        "SELECT Id FROM Contact WHERE Email IN ('A@x.example','a@x.example') "
        "ORDER BY LastModifiedDate DESC LIMIT 200"
    )
