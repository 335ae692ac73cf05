"""Phone numbers as people and Salesforce write them (P1, P3, P4): parse, E.164, spellings.

Contacts keep the phone exactly as typed (exact matching depends on it); this module derives
what a number *is*: its E.164 form (plus extension), read with the workspace's default country
when it has no country code. Built on Google's libphonenumber port (``phonenumbers``).

"Possible" numbers (the right length for their country) are accepted, not only "valid" ones:
demo and test data use fictional 555 numbers, and a number that is the right length compares
safely by its E.164 digits. Too short, too long or unreadable numbers have no E.164 form and
never match in any format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

DEFAULT_REGION = "US"
# Extensions as people and Salesforce write them (the order matters only for the query's length).
EXTENSION_SPELLINGS = (" x{}", " ext. {}", " ext {}")


@dataclass(frozen=True)
class Number:
    """A parsed phone number: its E.164 form and its extension (or "")."""

    e164: str
    extension: str
    parsed: phonenumbers.PhoneNumber

    @property
    def identity(self) -> tuple[str, str]:
        """Equal identities are the same number: same E.164 digits, same extension."""
        return self.e164, self.extension


def parse(raw: str | None, region: str | None) -> Number | None:
    """The number ``raw`` spells, read in ``region`` when it has no country code; None if none."""
    text = (raw or "").strip()
    if not text or not re.search(r"\d", text):
        return None
    try:
        parsed = phonenumbers.parse(text, (region or DEFAULT_REGION).upper())
    except NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return Number(e164=e164, extension=parsed.extension or "", parsed=parsed)


def e164(raw: str | None, region: str | None) -> str:
    """The E.164 form ("+14155550123", extension dropped), or "" when ``raw`` is not a number."""
    number = parse(raw, region)
    return number.e164 if number else ""


def same_number(theirs: str | None, ours: str | Number | None, region: str | None) -> bool:
    """Whether ``theirs`` spells the same number (and extension) as ``ours``.

    Both are read in ``region`` (the workspace's country). A national spelling that does not
    read in ``region`` ("020 7946 0958" in a US workspace) is also read in the country of
    ``ours``: an org keeps numbers of that country in its national form. ``ours`` may come
    parsed already (a lookup compares one number with many rows).
    """
    mine = ours if isinstance(ours, Number) else parse(ours, region)
    if mine is None:
        return False
    other = parse(theirs, region)
    if other is not None and other.identity == mine.identity:
        return True
    own_region = phonenumbers.region_code_for_number(mine.parsed)
    if own_region and own_region != (region or DEFAULT_REGION).upper():
        other = parse(theirs, own_region)
        return other is not None and other.identity == mine.identity
    return False


def _groups(formatted: str) -> list[str]:
    return re.findall(r"\d+", formatted)


def spellings(raw: str | None, region: str | None) -> list[str]:
    """The spellings of ``raw``'s number that orgs hold (P3), ``raw`` itself first.

    E.164, international and national forms, and the punctuation people and Salesforce produce
    for the number's own country: "(415) 555-0123", "415-555-0123", "415.555.0123",
    "4155550123", "+1 415-555-0123", "+1 (415) 555-0123", "1-415-555-0123", UK-style
    "+44 (0)20 7946 0958" and "0044 20 7946 0958"... With an extension, each spelling carries
    it in the usual ways (" x123", " ext. 123"...). Unreadable numbers: just ``raw``.
    """
    text = (raw or "").strip()
    number = parse(text, region)
    if number is None:
        return [text] if text else []
    plain = phonenumbers.PhoneNumber(
        country_code=number.parsed.country_code,
        national_number=number.parsed.national_number,
        italian_leading_zero=number.parsed.italian_leading_zero,
        number_of_leading_zeros=number.parsed.number_of_leading_zeros,
    )
    cc = str(plain.country_code)
    fmt = lambda style: phonenumbers.format_number(plain, style)  # noqa: E731
    national = _groups(fmt(PhoneNumberFormat.NATIONAL))
    intl = _groups(fmt(PhoneNumberFormat.INTERNATIONAL))[1:]
    nsn = phonenumbers.national_significant_number(plain)
    area, rest = intl[0], intl[1:]
    trunk = national[0][: len(national[0]) - len(area)] if national else ""
    # The most common first: a badge query takes only the head of the list (matching.py).
    forms = [
        fmt(PhoneNumberFormat.E164),
        fmt(PhoneNumberFormat.NATIONAL),
        fmt(PhoneNumberFormat.INTERNATIONAL),
        nsn,
        "-".join(national),
        ".".join(national),
        " ".join(national),
        f"+{cc} ({area}) " + "-".join(rest),
        f"+{cc} " + " ".join(intl),
        "".join(national),
    ]
    if cc == "1":  # NANP: a leading 1 in place of +1, as people dial it
        forms += [f"1{sep}" + sep.join(intl) for sep in ("-", " ", ".", "")]
        forms.append(f"1 ({area}) " + "-".join(rest))
    elif trunk:  # "+44 (0)20 7946 0958": the trunk prefix shown in brackets
        forms.append(f"+{cc} ({trunk}){area} " + " ".join(rest))
        forms.append(f"+{cc} ({trunk}) {area} " + " ".join(rest))
    forms += [f"+{cc}{sep}" + sep.join(intl) for sep in ("-", ".")]
    forms += [
        f"({national[0]}) " + "-".join(national[1:]),
        f"({national[0]}) " + " ".join(national[1:]),
    ]
    forms += [f"({national[0]})" + "-".join(national[1:]), f"+{cc} ({area}) " + " ".join(rest)]
    if cc != "1":  # "0044 20 7946 0958": the international prefix most countries use
        forms += [f"00{cc} " + " ".join(intl), f"00{cc}{nsn}"]
    if number.extension:  # the main forms only, or the list grows threefold
        forms = [f + ext.format(number.extension) for f in forms[:5] for ext in EXTENSION_SPELLINGS]
    return list(dict.fromkeys([text, *forms]))
