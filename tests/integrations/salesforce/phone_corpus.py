"""A corpus of phone pairs (P7): a Salesforce value and a contact's value, same number or not.

Generated, not hand-picked: for numbers of six countries, the spellings orgs and people use
(E.164, international, national, brackets, dashes, dots, spaces, trunk and international
prefixes), extensions, numbers one digit apart, and too-short or unreadable values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat as F

# (region, numbers in E.164): two per country, fictional where the country has a range for it.
BASES = {
    "US": ["+14155550166", "+12125550187"],
    "GB": ["+442079460911", "+441632960123"],
    "DE": ["+493012345678", "+498912345670"],
    "FR": ["+33142685300", "+33491234567"],
    "JP": ["+81312345678", "+81662345678"],
    "AU": ["+61298765432", "+61387654321"],
}


@dataclass(frozen=True)
class Pair:
    region: str  # the workspace's default country for this pair
    salesforce: str
    contact: str
    same: bool
    kind: str  # what the pair tests


def _spell(e164: str) -> dict[str, str]:
    n = phonenumbers.parse(e164)
    national = re.findall(r"\d+", phonenumbers.format_number(n, F.NATIONAL))
    intl = re.findall(r"\d+", phonenumbers.format_number(n, F.INTERNATIONAL))[1:]
    cc = str(n.country_code)
    return {
        "e164": e164,
        "international": phonenumbers.format_number(n, F.INTERNATIONAL),
        "national": phonenumbers.format_number(n, F.NATIONAL),
        "dashes": "-".join(national),
        "dots": ".".join(national),
        "spaces": " ".join(national),
        "digits": "".join(national),
        "intl-brackets": f"+{cc} ({intl[0]}) " + "-".join(intl[1:]),
        "intl-dashes": f"+{cc}-" + "-".join(intl),
    }


def _one_digit_off(e164: str) -> str:
    last = int(e164[-1])
    return e164[:-1] + str((last + 1) % 10)


def corpus() -> list[Pair]:
    pairs: list[Pair] = []
    for region, numbers in BASES.items():
        for e164 in numbers:
            org = _spell(e164)
            other = _spell(_one_digit_off(e164))
            for kind, sf_value in org.items():
                # The contact as a messaging channel delivers it, and as a person types it.
                pairs.append(Pair(region, sf_value, e164, True, f"{kind} vs e164"))
                pairs.append(Pair(region, sf_value, org["national"], True, f"{kind} vs national"))
                pairs.append(Pair(region, sf_value, other["e164"], False, f"{kind} vs other"))
            ext = f"{org['national']} x12"
            pairs.append(Pair(region, ext, f"{org['international']} ext. 12", True, "extension"))
            pairs.append(Pair(region, ext, org["e164"], False, "extension vs none"))
            pairs.append(Pair(region, ext, f"{org['e164']} ext. 13", False, "other extension"))
    for short in ("555-01", "12", "+1 555"):
        pairs.append(Pair("US", short, short, True, "too short, identical"))
        pairs.append(Pair("US", short + "9", short, False, "too short, other"))
    for invalid in ("12345678901234567890", "+999 1234 5678"):
        pairs.append(Pair("US", invalid, invalid, True, "unreadable, identical"))
        pairs.append(Pair("US", invalid, invalid.replace("1", "2", 1), False, "unreadable, other"))
    return pairs
