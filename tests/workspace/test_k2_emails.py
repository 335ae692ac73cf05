"""K2: email identity (workspace/emails.py, H1) and the mailto link (H7), each rule stated.

Pure functions: the module's fast tests for `make mutation`."""

from __future__ import annotations

import pytest

from workspace.emails import email_key, mailto_url


@pytest.mark.parametrize(
    ("address", "key"),
    [
        # UTS #46 mapping (not IDNA 2003): "ß" is kept and encoded, not turned into "ss"
        ("jane@Straße.de", "jane@xn--strae-oqa.de"),
        # refused by IDNA 2008 but accepted by Django's validator: IDNA 2003's encoding
        ("jane@☃.example", "jane@xn--n3h.example"),
        ("jane@☃.EXAMPLE", "jane@xn--n3h.example"),
        # not encodable at all: as typed after NFC, ASCII letters folded only
        ("jane@Bad\u2028.EXAMPLE", "jane@bad\u2028.example"),
        # NFC first: "X" + diaeresis becomes one non-ASCII letter, which is never folded
        ("jane@X\u0308\u2028.example", "jane@\u1e8c\u2028.example"),
        ("jane@e\u0301\u2028.EX", "jane@\u00e9\u2028.ex"),
    ],
)
def test_k2_domains_idna_encoded_with_uts46_then_the_fallbacks(address, key):
    assert email_key(address) == key


def test_k2_the_domain_is_what_follows_the_last_at_sign():
    assert email_key('"a@b"@Example.COM') == '"a@b"@example.com'
    # the part before the last @ is the local part: kept as given when not ASCII
    assert email_key('"Ä@B"@Example.COM') == '"Ä@B"@example.com'


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("NoAtSign", "noatsign"),
        ("  Jane  ", "jane"),
        ("e\u0301", "\u00e9"),  # NFC without an @
        ("Ä", "Ä"),  # only ASCII letters are folded
        (None, ""),
        ("   ", ""),
    ],
)
def test_k2_an_address_without_at_sign_is_folded_like_a_local_part(address, key):
    assert email_key(address) == key


def test_k2_a_non_ascii_local_part_is_nfc_and_keeps_its_case():
    assert email_key("Jo\u0308rg@Example.de") == "J\u00f6rg@example.de"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("jane@example.com", "mailto:jane@example.com"),
        (" jane@example.com ", "mailto:jane@example.com"),
        ("a+b@example.com", "mailto:a+b@example.com"),
        ("o'neil@example.com", "mailto:o'neil@example.com"),
        ("x?cc=a@b.example", "mailto:x%3Fcc=a@b.example"),
        ("x&body=y@b.example", "mailto:x%26body=y@b.example"),
        ("x#y@b.example", "mailto:x%23y@b.example"),
        ("jörg@example.de", "mailto:j%C3%B6rg@example.de"),
        ("a!$()*,;=-._~@b.example", "mailto:a!$()*,;=-._~@b.example"),
        ("a%b@example.com", "mailto:a%25b@example.com"),
        ("a/b@example.com", "mailto:a%2Fb@example.com"),
    ],
)
def test_k2_mailto_encodes_everything_outside_the_safe_set(address, url):
    assert mailto_url(address) == url


@pytest.mark.parametrize(
    "address",
    [
        "",
        None,
        "   ",
        '"x?cc=a@b&body=hi"@example.com',  # a quoted local part: no link
        "jane@exam\x00ple.com",
        "jane@example.com\r\nBcc: x@y",
        "ja ne@example.com",  # a space inside (0x20) is below 0x21
        "jane\x1f@example.com",
    ],
)
def test_k2_no_mailto_link_for_quoted_or_control_characters(address):
    assert mailto_url(address) is None


def test_k2_a_quote_later_in_the_address_still_gets_a_link():
    assert mailto_url('a"b@example.com') == "mailto:a%22b@example.com"
    assert mailto_url("!a@example.com") == "mailto:!a@example.com"  # 0x21 is allowed
