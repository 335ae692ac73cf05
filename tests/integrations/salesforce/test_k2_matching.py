"""K2: the one matching rule (matching.py) given rows the emulator never returns: a different
number, another spelling, two phone-only contacts on a badge page. Pure functions, no database."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from contacts.phones import spellings
from integrations.salesforce.matching import (
    ANY_FORMAT,
    BADGE_SPELLINGS,
    EXACT,
    PHONE_FIELDS,
    MatchValues,
    lookup_conditions,
    match_conditions,
)

OURS = "+1 415-555-0123"


def values(email="", phone=OURS, mode=ANY_FORMAT, region="US"):
    return MatchValues.of(email, phone, mode=mode, region=region)


def test_k2_of_trims_and_defaults_the_mode_and_region():
    v = MatchValues.of(" jane@x.example ", " 415 ", mode="", region="")
    assert (v.email, v.phone, v.mode, v.region) == ("jane@x.example", "415", EXACT, "US")
    assert MatchValues.of(None, None) == MatchValues("", "", EXACT, "US")
    assert not MatchValues.of(None, " ")
    assert MatchValues.of("a@b.example", "")
    assert MatchValues.of("", "1")


def test_k2_key_parts_fold_email_case_only():
    assert values("Jane@X.example", "415", EXACT, "GB").key_parts() == (
        "jane@x.example",
        "415",
        EXACT,
        "GB",
    )


@pytest.mark.parametrize("field", PHONE_FIELDS)
def test_k2_any_format_a_different_number_never_matches(field):
    assert not values().matches({field: "+1 415-555-0199"})
    assert not values().matches({field: "(415) 555-0124"})


@pytest.mark.parametrize("field", PHONE_FIELDS)
def test_k2_any_format_another_spelling_of_the_number_matches(field):
    assert values().matches({field: "(415) 555-0123"})
    assert values().matches({"Phone": "nope", field: "415.555.0123"})


@pytest.mark.parametrize("field", PHONE_FIELDS)
def test_k2_exact_matches_the_same_characters_only(field):
    assert values(mode=EXACT).matches({field: OURS})
    assert not values(mode=EXACT).matches({field: "(415) 555-0123"})


def test_k2_phone_fields_are_phone_and_mobile():
    assert PHONE_FIELDS == ("Phone", "MobilePhone")


def test_k2_email_matches_without_regard_to_case_in_both_modes():
    for mode in (EXACT, ANY_FORMAT):
        assert values("Jane@X.example", "", mode).matches({"Email": "jane@x.EXAMPLE"})
        assert not values("jane@x.example", "", mode).matches({"Email": "jane2@x.example"})
        assert not values("jane@x.example", "", mode).matches({"Email": None})
    # no email of ours: a row without email is not a match by email
    assert not values("", "", ANY_FORMAT).matches({"Email": ""})


def test_k2_a_row_without_phones_or_ours_without_phone_never_matches_by_phone():
    assert not values().matches({"Phone": None, "MobilePhone": ""})
    assert values(phone="").matches({"Phone": OURS}) is False
    assert not values(phone="", mode=EXACT).matches({"Phone": ""})
    # an unreadable number of ours matches only its exact characters
    assert values(phone="12").matches({"Phone": "12"})
    assert not values(phone="12").matches({"Phone": "012"})


def test_k2_email_match_wins_even_when_the_phone_differs():
    assert values("jane@x.example").matches({"Email": "jane@x.example", "Phone": "+1 212 555 0100"})


@pytest.mark.parametrize("field", PHONE_FIELDS)
def test_k2_near_misses_are_other_spellings_of_our_number_only(field):
    ours = values(mode=EXACT)
    assert ours.near_misses({field: "(415) 555-0123"}) == [(field, "(415) 555-0123")]
    assert ours.near_misses({field: "(415) 555-0199"}) == []  # a different number
    assert ours.near_misses({field: OURS}) == []  # the same characters are a match, no hint
    assert ours.near_misses({field: None}) == []
    assert values(phone="", mode=EXACT).near_misses({field: "(415) 555-0123"}) == []


def test_k2_near_misses_list_both_fields_in_order():
    row = {"MobilePhone": "415.555.0123", "Phone": "(415) 555-0123"}
    assert values(mode=EXACT).near_misses(row) == [
        ("Phone", "(415) 555-0123"),
        ("MobilePhone", "415.555.0123"),
    ]


def test_k2_near_miss_email_is_the_same_address_spelled_with_case_or_spaces():
    ours = values("jane@x.example", "", EXACT)
    assert ours.near_misses({"Email": " Jane@X.example "}) == [("Email", " Jane@X.example ")]
    assert ours.near_misses({"Email": "jane@x.example"}) == []
    assert ours.near_misses({"Email": "jane2@x.example"}) == []
    assert ours.near_misses({"Email": None}) == []
    assert values("", "", EXACT).near_misses({"Email": " x@y.example"}) == []


def test_k2_phone_spellings_cap():
    all_of_them = spellings(OURS, "US")
    assert values().phone_spellings() == all_of_them
    assert values().phone_spellings(3) == all_of_them[:3]
    assert values(phone="").phone_spellings() == []


def test_k2_lookup_conditions_exact_mode_adds_the_email_hint_candidates():
    assert lookup_conditions(values("jane@x.example", "", EXACT)) == [
        "Email = 'jane@x.example'",
        "Email LIKE '%jane@x.example%'",
    ]
    assert lookup_conditions(values("jane@x.example", "", ANY_FORMAT)) == [
        "Email = 'jane@x.example'"
    ]


def test_k2_lookup_conditions_ask_every_spelling_in_both_fields():
    (condition,) = lookup_conditions(values(phone="12"))
    assert condition == "Phone = '12' OR MobilePhone = '12'"
    (condition,) = lookup_conditions(values(mode=EXACT))
    quoted = ",".join(f"'{s}'" for s in spellings(OURS, "US"))
    assert condition == f"Phone IN ({quoted}) OR MobilePhone IN ({quoted})"


def test_k2_badge_page_of_two_phone_only_contacts_asks_both_numbers():
    page = [values(phone="+1 212 555 0100", mode=EXACT), values(phone=OURS, mode=EXACT)]
    assert match_conditions(page) == [
        "Phone IN ('+1 212 555 0100','+1 415-555-0123') "
        "OR MobilePhone IN ('+1 212 555 0100','+1 415-555-0123')"
    ]


def test_k2_badge_page_any_format_caps_spellings_per_number():
    page = [values(phone="+1 212 555 0100"), values(phone=OURS)]
    (condition,) = match_conditions(page, spellings=2)
    expected = sorted(spellings("+1 212 555 0100", "US")[:2] + spellings(OURS, "US")[:2])
    quoted = ",".join(f"'{s}'" for s in expected)
    assert condition == f"Phone IN ({quoted}) OR MobilePhone IN ({quoted})"


def test_k2_badge_page_emails_sorted_once_and_no_hint_candidates():
    page = [values("b@x.example", ""), values("a@x.example", ""), values("b@x.example", "")]
    assert match_conditions(page) == ["Email IN ('a@x.example','b@x.example')"]
    assert match_conditions([values("a@x.example", "", EXACT)]) == ["Email = 'a@x.example'"]
    assert match_conditions([values("", "")]) == []


def test_k2_ten_spellings_per_number_on_a_badge_query():
    # a page of them must fit one GET: the head of the list, most common first
    assert BADGE_SPELLINGS == 10


def test_k2_the_connections_stored_mode_and_the_workspaces_country_are_used():
    # the mode names are the values stored on the connection (phone_matching)
    def connection(mode, region):
        return SimpleNamespace(phone_matching=mode, workspace=SimpleNamespace(phone_region=region))

    any_format = MatchValues.for_connection(connection("any_format", "GB"), "", "020 7946 0958")
    assert (any_format.mode, any_format.region) == (ANY_FORMAT, "GB")
    assert any_format.matches({"Phone": "+44 20 7946 0958"})
    exact = MatchValues.for_connection(connection("exact", "US"), "a@x.example", "")
    assert lookup_conditions(exact) == ["Email = 'a@x.example'", "Email LIKE '%a@x.example%'"]


def test_k2_without_a_region_national_numbers_are_read_as_us():
    us = {"Phone": "+14155550123"}
    assert MatchValues.of("", "415 555 0123", mode=ANY_FORMAT).matches(us)
    assert MatchValues.of("", "415 555 0123", mode=ANY_FORMAT, region="").matches(us)
    assert MatchValues("", "415 555 0123", ANY_FORMAT).matches(us)
    assert MatchValues("", "415 555 0123").mode == EXACT


def test_k2_without_an_email_of_ours_a_blank_email_is_no_near_miss():
    assert values("", "", EXACT).near_misses({"Email": "  "}) == []


def test_k2_match_values_are_frozen():
    # they make the lookup's cache key: a lookup may not change them on the way
    with pytest.raises(dataclasses.FrozenInstanceError):
        values().phone = "+1 212 555 0100"
