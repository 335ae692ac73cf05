"""K2: the phone rules of contacts/phones.py, stated so that a broken rule fails a test.

Pure functions: no database, no emulator (these are the module's fast tests for `make mutation`).
"""

from __future__ import annotations

import dataclasses

import pytest

from contacts.phones import DEFAULT_REGION, e164, parse, same_number, spellings

US_SPELLINGS = [
    "(415) 555-0123",
    "+14155550123",
    "+1 415-555-0123",
    "4155550123",
    "415-555-0123",
    "415.555.0123",
    "415 555 0123",
    "+1 (415) 555-0123",
    "+1 415 555 0123",
    "1-415-555-0123",
    "1 415 555 0123",
    "1.415.555.0123",
    "14155550123",
    "1 (415) 555-0123",
    "+1-415-555-0123",
    "+1.415.555.0123",
    "(415) 555 0123",
    "(415)555-0123",
    "+1 (415) 555 0123",
]
GB_SPELLINGS = [
    "020 7946 0958",
    "+442079460958",
    "+44 20 7946 0958",
    "2079460958",
    "020-7946-0958",
    "020.7946.0958",
    "+44 (20) 7946-0958",
    "02079460958",
    "+44 (0)20 7946 0958",
    "+44 (0) 20 7946 0958",
    "+44-20-7946-0958",
    "+44.20.7946.0958",
    "(020) 7946-0958",
    "(020) 7946 0958",
    "(020)7946-0958",
    "+44 (20) 7946 0958",
    "0044 20 7946 0958",
    "00442079460958",
]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("020 7946 0958", "GB", "+442079460958"),  # national: read in the workspace's country
        ("020 7946 0958", "gb", "+442079460958"),  # the region in any case
        ("(415) 555-0123", "US", "+14155550123"),
        ("(415) 555-0123", None, "+14155550123"),  # no region: the default (US)
        ("(415) 555-0123", "", "+14155550123"),
        ("+44 20 7946 0958", "US", "+442079460958"),  # a country code wins over the region
        ("+1 415 555 0123 x12", "US", "+14155550123"),  # the extension is dropped
        ("", "US", ""),
        (None, "US", ""),
        ("   ", "US", ""),
        ("call me", "US", ""),  # no digit at all
        ("12", "US", ""),  # too short: not a possible number
        ("4155550123456789", "US", ""),  # too long
        ("+999 1234", "US", ""),  # no such country code: unparseable
    ],
)
def test_k2_e164_reads_national_numbers_with_the_default_region(raw, region, expected):
    assert e164(raw, region) == expected


def test_k2_the_default_region_is_the_us():
    assert DEFAULT_REGION == "US"
    assert parse("0207 946 0958", None) is None  # a GB national spelling means nothing in the US


def test_k2_parse_keeps_the_extension_and_strips_the_text():
    number = parse("  +1 415 555 0123 ext. 12 ", "US")
    assert number.identity == ("+14155550123", "12")
    assert parse("+1 415 555 0123", "US").extension == ""


@pytest.mark.parametrize(
    ("theirs", "ours", "region", "same"),
    [
        ("(415) 555-0123", "+14155550123", "US", True),
        ("(415) 555-0199", "+14155550123", "US", False),  # a different number
        ("+1 415 555 0123 x7", "+1 415 555 0123 x7", "US", True),
        ("+1 415 555 0123 x7", "+1 415 555 0123 x8", "US", False),  # another extension
        ("+1 415 555 0123", "+1 415 555 0123 x8", "US", False),
        ("", "+14155550123", "US", False),
        ("(415) 555-0123", "", "US", False),
        ("(415) 555-0123", None, "US", False),
        ("not a number", "+14155550123", "US", False),
        # A GB national spelling in a US workspace is read in the country of ours...
        ("020 7946 0958", "+44 20 7946 0958", "US", True),
        ("020 7946 0959", "+44 20 7946 0958", "US", False),
        # ... but a US national spelling is never re-read as a GB one.
        ("7946 0958", "+1 415 555 0123", "GB", False),
        # same region as the workspace: no second reading.
        ("(415) 555-0123", "+1 415 555 0123", "us", True),
    ],
)
def test_k2_same_number_compares_e164_and_extension(theirs, ours, region, same):
    assert same_number(theirs, ours, region) is same


def test_k2_same_number_takes_ours_parsed_already():
    ours = parse("+44 20 7946 0958", "US")
    assert same_number("020 7946 0958", ours, "US") is True
    assert same_number("020 7946 0000", ours, "US") is False


def test_k2_a_number_from_another_country_than_the_workspace_is_read_in_its_own():
    # Their "+44..." number typed in a US workspace: the GB national form still reads as it.
    assert same_number("(020) 7946-0958", "+44 20 7946 0958", "US")
    assert same_number("(020) 7946-0958", "+44 20 7946 0958", None)  # None: the default, US


def test_k2_us_spellings_are_the_nineteen_orgs_hold_most_common_first():
    assert spellings("(415) 555-0123", "US") == US_SPELLINGS


def test_k2_gb_spellings_include_the_trunk_in_brackets_and_the_00_prefix():
    assert spellings("020 7946 0958", "GB") == GB_SPELLINGS


@pytest.mark.parametrize("spelling", US_SPELLINGS)
def test_k2_every_us_spelling_is_the_same_number(spelling):
    assert e164(spelling, "US") == "+14155550123"


@pytest.mark.parametrize("spelling", GB_SPELLINGS)
def test_k2_every_gb_spelling_is_the_same_number(spelling):
    assert e164(spelling, "GB") == "+442079460958"


def test_k2_extensions_ride_on_the_five_main_forms_in_three_ways():
    found = spellings("+1 415 555 0123 x12", "US")
    assert found[0] == "+1 415 555 0123 x12"  # as typed first
    assert len(found) == 1 + 5 * 3
    assert found[1:4] == ["+14155550123 x12", "+14155550123 ext. 12", "+14155550123 ext 12"]
    assert found[4:7] == ["(415) 555-0123 x12", "(415) 555-0123 ext. 12", "(415) 555-0123 ext 12"]
    assert found[-3:] == ["415-555-0123 x12", "415-555-0123 ext. 12", "415-555-0123 ext 12"]
    assert all(parse(s, "US").identity == ("+14155550123", "12") for s in found)


def test_k2_italian_leading_zeros_survive_every_spelling():
    found = spellings("+39 06 1234 5678", "IT")
    assert "+390612345678" in found
    assert "0612345678" in found  # the zero belongs to the number in Italy
    assert "0039 06 1234 5678" in found
    assert all(e164(s, "IT") == "+390612345678" for s in found)


def test_k2_unreadable_numbers_spell_only_themselves():
    assert spellings(" 12 ", "US") == ["12"]
    assert spellings("", "US") == []
    assert spellings(None, "US") == []


def test_k2_as_typed_comes_first_and_nothing_twice():
    found = spellings("415.555.0123", "US")
    assert found[0] == "415.555.0123"
    assert len(found) == len(set(found)) == len(US_SPELLINGS)


def test_k2_a_parsed_number_is_frozen():
    # lookups share one parsed number across rows: nothing may change it on the way
    number = parse("+1 415 555 0123", "US")
    with pytest.raises(dataclasses.FrozenInstanceError):
        number.extension = "9"


def test_k2_a_us_number_in_a_gb_workspace_reads_their_us_national_spelling():
    assert same_number("(415) 555-0123", "+1 415 555 0123", "GB")
    assert not same_number("(415) 555-0199", "+1 415 555 0123", "GB")
