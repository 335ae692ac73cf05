"""Q1: every requirement id that code or a test names is a line of docs/requirements.md.

An id is an area letter and a number (S7, T5, U2, ...). It counts as *named* in a comment, a
docstring, a test's name (``test_s07_…`` names S7) or any line of a template, script, stylesheet
or Markdown page. Ordinary Python string literals are data (a pagination cursor, a record
title in a fixture), not citations, so they are not read.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "docs" / "requirements.md"

# The areas of docs/requirements.md, older and newer (SPEC's "Beyond the first release").
AREAS = "WISBCTPRUOFLHQNAEMVK"
# One or two digits; a leading zero only in a two-digit form (S07), so linter codes such as
# B017 or W008 are not read as ids.
_NUMBER = r"(0[1-9]|[1-9][0-9]?)"
CITED = re.compile(rf"\b([{AREAS}]){_NUMBER}\b")
IN_TEST_NAME = re.compile(rf"(?<=_)([{AREAS.lower()}]){_NUMBER}(?=_|$)")
DEFINED = re.compile(r"^- \*\*([A-Z])(\d{1,2})\*\*", re.MULTILINE)

SKIP_DIRS = {
    ".git",
    ".venv",
    "node_modules",
    "staticfiles",
    "var",
    "docs",  # the documents themselves, and screenshots
    "migrations",
    "recorded",  # Salesforce's answers, not ours
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "build",
}
TEXT_SUFFIXES = {".py", ".html", ".js", ".css", ".md", ".txt"}
GENERATED = re.compile(r"_pb2(_grpc)?\.pyi?$")


def _tag(letter: str, number: str) -> str:
    return f"{letter.upper()}{int(number)}"


def _docstring_positions(tokens: list[tokenize.TokenInfo]) -> set[int]:
    """Indexes of string tokens that stand alone as a statement (docstrings and the like)."""
    found = set()
    statement_start = True
    for index, token in enumerate(tokens):
        if token.type == tokenize.STRING and statement_start:
            following = next(
                (t for t in tokens[index + 1 :] if t.type not in (tokenize.NL, tokenize.COMMENT)),
                None,
            )
            if following is None or following.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                found.add(index)
        if token.type in (tokenize.NL, tokenize.COMMENT):
            continue
        statement_start = token.type in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENCODING,
        )
    return found


def tags_in_python(text: str) -> set[str]:
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    docstrings = _docstring_positions(tokens)
    found = set()
    for index, token in enumerate(tokens):
        if token.type == tokenize.COMMENT or index in docstrings:
            found.update(_tag(*m.groups()) for m in CITED.finditer(token.string))
        elif token.type == tokenize.NAME and token.string.startswith("test_"):
            found.update(_tag(*m.groups()) for m in IN_TEST_NAME.finditer(token.string))
    return found


def tags_in_text(text: str) -> set[str]:
    return {_tag(*m.groups()) for m in CITED.finditer(text)}


def cited_tags(root: Path) -> dict[str, set[str]]:
    """Each cited id with the files (relative to root) that cite it."""
    cited: dict[str, set[str]] = {}
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in SKIP_DIRS]
        for name in files:
            path = Path(directory, name)
            if GENERATED.search(name):
                continue
            if path.suffix in TEXT_SUFFIXES:
                text = path.read_text(encoding="utf-8")
                tags = tags_in_python(text) if path.suffix == ".py" else tags_in_text(text)
            elif name == "Makefile" or path.parent.name == ".ci":
                tags = tags_in_text(path.read_text(encoding="utf-8"))
            else:
                continue
            for tag in tags:
                cited.setdefault(tag, set()).add(str(path.relative_to(root)))
    return cited


def defined_tags(document: str) -> list[str]:
    return [_tag(letter, number) for letter, number in DEFINED.findall(document)]


def test_q1_every_cited_id_is_a_requirement_line():
    defined = set(defined_tags(REQUIREMENTS.read_text(encoding="utf-8")))
    cited = cited_tags(ROOT)
    missing = {tag: sorted(files) for tag, files in cited.items() if tag not in defined}
    assert not missing, f"ids named in code or tests but not in docs/requirements.md: {missing}"
    # The walk really reads the code: ids known to be cited by the code and tests are found.
    assert {"W2", "S7", "T5", "U2", "O5", "F3", "L3"} <= set(cited)


def test_q1_each_requirement_line_is_defined_once_and_names_its_issue():
    document = REQUIREMENTS.read_text(encoding="utf-8")
    tags = defined_tags(document)
    assert len(tags) > 80
    assert sorted(t for t in set(tags) if tags.count(t) > 1) == []
    lines = [line for line in document.splitlines() if DEFINED.match(line)]
    assert [line for line in lines if not re.search(r"\(issue \d+", line)] == []


def test_q1_scanner_reads_citations_and_skips_data(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "module.py").write_text(
        '"""Module docstring citing S7."""\n'
        "CURSOR = 'W10'  # a cursor value, data; this comment cites T5\n"
        "def f():\n"
        '    """Cites U2 and B017 is a linter code."""\n'
        "    return ['T0', 'T1']\n",
        encoding="utf-8",
    )
    (tmp_path / "pkg" / "test_things.py").write_text(
        "def test_s07_p3_something():\n    pass\n\ndef test_e2e_is_not_an_id():\n    pass\n",
        encoding="utf-8",
    )
    (tmp_path / "page.html").write_text("<!-- Z9 is no area; Q4 is -->", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "requirements.md").write_text("- **X1** skipped", encoding="utf-8")
    assert set(cited_tags(tmp_path)) == {"S7", "T5", "U2", "P3", "Q4"}
