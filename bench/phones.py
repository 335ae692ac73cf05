"""Phone matching on the P7 corpus (issue 11), `make bench-phones`: precision and recall per mode.

For every pair of the corpus (tests/integrations/salesforce/phone_corpus.py: six countries, nine
spellings, extensions, numbers one digit apart, too-short and unreadable values) it asks what the
product's lookup would: is the Salesforce value among the spellings the ONE query asks for, and
does the confirmation (E.164 and extension, read in the workspace's country) accept it? The test
suite runs the same corpus against the live emulator (test_p7_...); this prints the figures.

    .venv/bin/python bench/phones.py [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from run import machine, write_section  # noqa: E402

from integrations.salesforce.matching import MatchValues  # noqa: E402
from tests.integrations.salesforce.phone_corpus import corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    pairs = corpus()
    f = Counter()
    spellings = []
    for pair in pairs:
        row = {"Phone": pair.salesforce}
        identical = pair.salesforce == pair.contact
        for mode in ("any_format", "exact"):
            values = MatchValues.of("", pair.contact, mode=mode, region=pair.region)
            asked = values.phone_spellings()
            spellings.append(len(asked))
            found = pair.salesforce in asked
            matched = found and values.matches(row)
            if mode == "any_format":
                f["same" if pair.same else "different"] += 1
                f["found" if pair.same else "false"] += matched
            elif pair.same and not identical:
                f["formatting"] += 1
                f["exact_fmt"] += matched
                f["hinted"] += found and bool(values.near_misses(row))
            else:
                f["exact_other"] += 1
                f["exact_wrong"] += matched != identical
    countries = len({p.region for p in pairs})
    kinds = len({p.kind.split(" vs")[0] for p in pairs})
    info = machine()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "## Phone matching corpus (issue 11, P7)",
            "",
            f"`python bench/phones.py` on {when}, commit {info['commit']}: {len(pairs)} pairs, "
            f"{countries} countries, {kinds} kinds of value (9 spellings, extensions, too short, "
            f"unreadable); the ONE lookup query asks for {min(spellings)}–{max(spellings)} "
            "spellings of a number.",
            "",
            "| mode | figure | target | measured |",
            "|---|---|---|---|",
            f"| Same number in any format | same-number pairs found | 100% | "
            f"{f['found']}/{f['same']} ({f['found'] / f['same']:.0%}) |",
            f"| Same number in any format | different numbers matched | 0 | "
            f"{f['false']} of {f['different']} |",
            f"| Exact | formatting differences matched | 0 | {f['exact_fmt']} of {f['formatting']} |",
            f"| Exact | formatting differences hinted | 100% | "
            f"{f['hinted']}/{f['formatting']} ({f['hinted'] / f['formatting']:.0%}) |",
            f"| Exact | identical or different pairs decided wrongly | 0 | "
            f"{f['exact_wrong']} of {f['exact_other']} |",
            "",
            "The test suite runs the same corpus through the product's lookup against the live "
            "emulator (`tests/integrations/salesforce/test_phones.py::test_p7_...`).",
        ]
    )
    print(text)
    if not args.no_write:
        write_section("phones", text)
    ok = f["found"] == f["same"] and not f["false"] and not f["exact_fmt"]
    return 0 if ok and f["hinted"] == f["formatting"] and not f["exact_wrong"] else 1


if __name__ == "__main__":
    sys.exit(main())
