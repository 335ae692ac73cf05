"""K2: the one matching rule (matching.py) given rows the emulator never returns: a different
number, another spelling, two phone-only contacts on a badge page, a linked record (A2), person
accounts' field names (E3). Pure functions, no database."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from contacts.phones import spellings
from integrations.salesforce.matching import (
    ANY_FORMAT,
    BADGE_SPELLINGS,
    CONTACT_FIELDS,
    EXACT,
    PERSON_ACCOUNT_FIELDS,
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


# A2 and E2/E3 (added after the first K2 pass): the linked record, an email condition given by the
# org's encryption, and the person account's own field names.
LINKED = "003000000000001AAA"  # an 18-character Contact id; its first 15 name the record


def test_k2_a_linked_record_alone_is_something_to_look_up_and_is_asked_for_first_by_id():
    linked = MatchValues.of("", "", linked_id=LINKED)
    assert linked  # no email, no phone, but the record the agent linked
    assert lookup_conditions(linked) == ["Id = '003000000000001AAA'"]
    assert lookup_conditions(
        MatchValues.of("a@x.example", "12", mode=ANY_FORMAT, linked_id=LINKED)
    ) == [
        "Id = '003000000000001AAA'",
        "Email = 'a@x.example'",
        "Phone = '12' OR MobilePhone = '12'",
    ]


def test_k2_the_linked_record_has_its_own_cache_key():
    plain = values("jane@x.example", "415", EXACT)
    linked = MatchValues.of("jane@x.example", "415", linked_id=LINKED)
    other = MatchValues.of("jane@x.example", "415", linked_id="003000000000002AAA")
    assert plain.key_parts() == ("jane@x.example", "415", EXACT, "US")
    assert len({plain.key_parts(), linked.key_parts(), other.key_parts()}) == 3


@pytest.mark.parametrize(
    ("row_id", "linked"),
    [
        (LINKED, True),
        ("003000000000001", True),  # the 15-character form of the same record
        ("003000000000001XYZ", True),  # the suffix only encodes the case of the first 15
        ("003000000000002AAA", False),
        (None, False),
        ("", False),
    ],
)
def test_k2_a_row_is_the_linked_record_when_their_15_character_ids_agree(row_id, linked):
    assert MatchValues.of("", "", linked_id=LINKED).is_linked({"Id": row_id}) is linked
    assert MatchValues.of("", "", linked_id="003000000000001").is_linked({"Id": row_id}) is linked


def test_k2_without_a_linked_record_no_row_is_the_linked_one():
    assert MatchValues.of("", "1").is_linked({"Id": ""}) is False
    assert MatchValues.of("", "1").is_linked({}) is False


def test_k2_the_connections_linked_record_is_kept_and_none_is_no_link():
    connection = SimpleNamespace(phone_matching=EXACT, workspace=SimpleNamespace(phone_region="US"))
    assert MatchValues.for_connection(connection, "", "", LINKED).linked_id == LINKED
    unlinked = MatchValues.for_connection(connection, "a@x.example", "", None)
    assert unlinked.linked_id == ""
    assert unlinked.key_parts() == ("a@x.example", "", EXACT, "US")


def test_k2_the_orgs_email_condition_replaces_the_plain_one_and_the_hint_can_be_turned_off():
    # E2: a case-sensitive encrypted Email is asked as given and lower-cased, and takes no LIKE
    spelled = "Email IN ('Jane@X.example','jane@x.example')"
    exact = MatchValues.of("Jane@X.example", "", mode=EXACT)
    assert lookup_conditions(exact, email_condition=spelled, email_hint=False) == [spelled]
    assert lookup_conditions(exact, email_condition=spelled) == [
        spelled,
        "Email LIKE '%Jane@X.example%'",
    ]
    assert lookup_conditions(exact, email_hint=False) == ["Email = 'Jane@X.example'"]


def test_k2_person_accounts_are_matched_on_their_own_field_names():
    # E3: a person account holds the person's email in PersonEmail and mobile in PersonMobilePhone
    page = [
        MatchValues.of("a@x.example", "12", mode=EXACT),
        MatchValues.of("b@x.example", "34", mode=EXACT),
    ]
    assert match_conditions(page, names=PERSON_ACCOUNT_FIELDS) == [
        "PersonEmail IN ('a@x.example','b@x.example')",
        "Phone IN ('12','34') OR PersonMobilePhone IN ('12','34')",
    ]
    assert match_conditions(page[:1], names=PERSON_ACCOUNT_FIELDS) == [
        "PersonEmail = 'a@x.example'",
        "Phone = '12' OR PersonMobilePhone = '12'",
    ]
    # a Contact's are the ones named, and the default
    assert CONTACT_FIELDS == {"Email": "Email", "Phone": "Phone", "MobilePhone": "MobilePhone"}
    assert match_conditions(page[:1], names=CONTACT_FIELDS) == match_conditions(page[:1])
