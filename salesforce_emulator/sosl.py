"""SOSL: ``GET /services/data/vXX.X/search?q=FIND {term} ...``, the subset integrations use.

Grammar (keywords in any letter case)::

    FIND {search query}
    [IN ALL FIELDS | EMAIL FIELDS | PHONE FIELDS | NAME FIELDS]       (default: ALL FIELDS)
    [RETURNING Object[(field, ... [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n])], ...]
    [LIMIT n]

The search query: words and "quoted phrases", joined by ``AND``, ``OR``, ``AND NOT`` (words next
to each other: AND), grouped with parentheses; ``*`` (any characters) and ``?`` (one character)
inside words. Every other reserved character must be escaped with a backslash:
``? & | ! { } [ ] ( ) ^ ~ * : \\ " ' + -`` (an escaped ``*`` or ``?`` is the character itself).

Matching (what Salesforce's docs leave open is marked in the README): text is split into tokens
at spaces and punctuation, case-insensitively; a word or phrase matches a field when its tokens
appear in that order, next to each other, in the field's tokens. In phone fields a term made of
digits and phone punctuation also matches when the field's digits end with the term's digits
(at least 7 of them), so "+1 555 010 1000" and "5550101000" find each other.

The answer is ``{"searchRecords": [...]}``: records of each RETURNING object in RETURNING order,
each shaped as a query row (``attributes`` then the listed fields; only ``Id`` without a field
list). Without RETURNING, the searchable objects' Ids. ``WHERE``/``ORDER BY``/``LIMIT`` inside the
parentheses are SOQL (``soql.py``); the overall ``LIMIT`` caps the total (default 2,000).

Errors answer 400 with Salesforce's codes: ``MALFORMED_SEARCH`` for the search string (no braces,
a one-character term, an unescaped reserved character, an unexpected token), ``INVALID_TYPE`` for
an unknown (or hidden) object and the SOQL errors of a RETURNING clause (``INVALID_FIELD``...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import schema, soql
from .soql import SoqlError

RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
SCOPES = ("ALL", "EMAIL", "PHONE", "NAME")
MAX_ROWS = 2000  # Salesforce: a SOSL query returns at most 2,000 records
DEFAULT_OBJECTS = ("Account", "Contact", "Lead", "Case", "Opportunity")
SEARCHABLE_TYPES = {"string", "email", "phone", "textarea", "url", "picklist"}
NO_BRACES = "No search term found. The search term must be enclosed in braces."
TOO_SHORT = "search term must be longer than one character"


def _malformed(q: str, pos: int, message: str) -> SoqlError:
    return SoqlError("MALFORMED_SEARCH", soql._located(q, pos, message))


# --------------------------------------------------------------------------- the search query


@dataclass
class Term:
    """A word or a phrase: its tokens (wildcards kept) and the raw characters (for phones)."""

    text: str
    patterns: list[re.Pattern[str]]
    digits: str


@dataclass
class TermOp:
    op: str  # AND OR ANDNOT
    left: Any
    right: Any


_TOKEN_RE = re.compile(r"\w+")
_PHONE_CHARS = re.compile(r"[\d\s().+\-]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.casefold())


def _term(text: str, wild: list[bool]) -> Term:
    """``text`` with ``wild[i]`` True where character i is an unescaped wildcard."""
    pieces: list[str] = []
    current: list[str] = []
    for ch, is_wild in zip(text, wild, strict=True):
        if is_wild:
            current.append(r"\w*" if ch == "*" else r"\w")
        elif re.fullmatch(r"\w", ch):
            current.append(re.escape(ch.casefold()))
        elif current:
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    plain = "".join(ch for ch, w in zip(text, wild, strict=True) if not w)
    digits = re.sub(r"\D", "", plain) if _PHONE_CHARS.fullmatch(plain.strip() or "x") else ""
    return Term(text, [re.compile(p + r"\Z") for p in pieces], digits)


class _TermParser:
    """The text between the braces: words, phrases, operators, parentheses."""

    def __init__(self, q: str, start: int, text: str) -> None:
        self.q = q
        self.start = start  # position of the text in q (for error positions)
        self.items = self._lex(text)
        self.i = 0

    def _lex(self, text: str) -> list[tuple[str, Any, int]]:
        """(kind, value, pos): WORD (Term), OP (AND/OR/NOT), LP, RP."""
        out: list[tuple[str, Any, int]] = []
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c.isspace():
                i += 1
                continue
            if c in "()":
                out.append(("LP" if c == "(" else "RP", c, i))
                i += 1
                continue
            if c == '"':
                j, chars, wild = i + 1, [], []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        chars.append(text[j + 1])
                        wild.append(False)
                        j += 2
                        continue
                    chars.append(text[j])
                    wild.append(text[j] in "*?")
                    j += 1
                if j >= n:
                    raise self._unexpected(i, c)
                out.append(("WORD", _term("".join(chars), wild), i))
                i = j + 1
                continue
            start, chars, wild = i, [], []
            while i < n and not text[i].isspace() and text[i] not in '()"':
                ch = text[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise self._unexpected(i, ch)
                    chars.append(text[i + 1])
                    wild.append(False)
                    i += 2
                    continue
                if ch in "*?":
                    chars.append(ch)
                    wild.append(True)
                    i += 1
                    continue
                if ch in RESERVED:
                    raise self._unexpected(i, ch)
                chars.append(ch)
                wild.append(False)
                i += 1
            word = "".join(chars)
            if not any(wild) and word.upper() in ("AND", "OR", "NOT") and len(chars) == i - start:
                out.append(("OP", word.upper(), start))
            else:
                out.append(("WORD", _term(word, wild), start))
        return out

    def _unexpected(self, pos: int, ch: str) -> SoqlError:
        # Salesforce's exact wording for a bad character is not documented (README).
        return _malformed(
            self.q, self.start + pos, f"line 1:{self.start + pos} no viable alternative at "
            f"character '{ch}'"
        )  # fmt: skip

    def parse(self) -> Any:
        if not self.items:
            raise _malformed(self.q, self.start, NO_BRACES)
        words = [v for k, v, _ in self.items if k == "WORD"]
        if not words or all(len(re.sub(r"[\s*?]", "", w.text)) < 2 for w in words):
            raise _malformed(self.q, self.start, TOO_SHORT)
        expr = self._or()
        if self.i < len(self.items):
            raise self._unexpected(self.items[self.i][2], str(self.items[self.i][1]))
        return expr

    def _peek(self) -> tuple[str, Any, int] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def _or(self) -> Any:
        left = self._and()
        while (tok := self._peek()) and tok[:2] == ("OP", "OR"):
            self.i += 1
            left = TermOp("OR", left, self._and())
        return left

    def _and(self) -> Any:
        left = self._primary()
        while (tok := self._peek()) and (tok[0] in ("WORD", "LP") or tok[:2] == ("OP", "AND")):
            op = "AND"
            if tok[0] == "OP":
                self.i += 1
                nxt = self._peek()
                if nxt and nxt[:2] == ("OP", "NOT"):
                    self.i += 1
                    op = "ANDNOT"
            left = TermOp(op, left, self._primary())
        return left

    def _primary(self) -> Any:
        tok = self._peek()
        if tok is None:
            raise self._unexpected(len(self.q) - self.start - 1, "}")
        self.i += 1
        if tok[0] == "WORD":
            return tok[1]
        if tok[0] == "LP":
            inner = self._or()
            closing = self._peek()
            if closing is None or closing[0] != "RP":
                raise self._unexpected(tok[2], "(")
            self.i += 1
            return inner
        raise self._unexpected(tok[2], str(tok[1]))


def _term_matches(term: Term, value: str, ftype: str) -> bool:
    if term.patterns:
        tokens = _tokens(value)
        n = len(term.patterns)
        for start in range(len(tokens) - n + 1):
            if all(p.match(tokens[start + k]) for k, p in enumerate(term.patterns)):
                return True
    if ftype == "phone" and len(term.digits) >= 7:
        digits = re.sub(r"\D", "", value)
        return digits.endswith(term.digits) or (len(digits) >= 7 and term.digits.endswith(digits))
    return False


def _expr_matches(expr: Any, values: list[tuple[str, str]]) -> bool:
    if isinstance(expr, TermOp):
        left = _expr_matches(expr.left, values)
        if expr.op == "OR":
            return left or _expr_matches(expr.right, values)
        right = _expr_matches(expr.right, values)
        return left and (not right if expr.op == "ANDNOT" else right)
    return any(_term_matches(expr, value, ftype) for value, ftype in values)


# --------------------------------------------------------------------------- fields searched


def scope_fields(sobject: str, scope: str) -> list[dict[str, Any]]:
    """The fields of ``sobject`` that ``IN <scope> FIELDS`` searches."""
    fields = schema.OBJECTS[sobject]["fields"]
    if scope == "EMAIL":
        return [f for f in fields if f["type"] == "email"]
    if scope == "PHONE":
        return [f for f in fields if f["type"] == "phone"]
    if scope == "NAME":
        names = {"FirstName", "LastName", "Name", "Company"}
        return [f for f in fields if f.get("nameField") or f["name"] in names]
    return [f for f in fields if f["type"] in SEARCHABLE_TYPES]


# --------------------------------------------------------------------------- the statement


@dataclass
class Returning:
    sobject: str
    query: soql.Query  # fields, WHERE, ORDER BY, LIMIT, OFFSET of this object


@dataclass
class Search:
    expr: Any
    scope: str
    returning: list[Returning] = field(default_factory=list)
    limit: int = MAX_ROWS


_WORD_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")


def _find_closing_brace(q: str, start: int) -> int:
    i = start + 1
    while i < len(q):
        if q[i] == "\\":
            i += 2
            continue
        if q[i] == "}":
            return i
        i += 1
    raise _malformed(q, start, NO_BRACES)


def _closing_paren(q: str, start: int) -> int:
    """The ``)`` closing the ``(`` at ``start``, outside quoted strings."""
    depth, i = 0, start
    while i < len(q):
        c = q[i]
        if c == "'":
            i += 1
            while i < len(q) and q[i] != "'":
                i += 2 if q[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise _malformed(q, start, "unexpected token: <EOF>")


def _soql(rest: str, hidden: frozenset[str]) -> soql.Query:
    """``SELECT <rest>`` parsed by the emulator's own SOQL engine (no database behind it)."""
    return soql.parse("SELECT " + rest, hidden)


def _returning_query(q: str, obj_pos: int, sobject: str, inside: str, hidden: frozenset[str]):
    """``Object(inside)`` as the SOQL query ``SELECT <fields> FROM Object <tail>``."""
    cut = len(inside)
    for tok in soql.tokenize(inside):
        if tok.kind == "KEYWORD" and tok.value in ("WHERE", "ORDER", "LIMIT", "OFFSET"):
            cut = tok.pos
            break
    fields = inside[:cut].strip()
    if not fields:
        raise _malformed(q, obj_pos, "unexpected token: '('")
    return _soql(f"{fields} FROM {sobject} {inside[cut:]}", hidden)


def parse(q: str, hidden: frozenset[str] = frozenset()) -> Search:
    """Parse a SOSL statement; ``hidden``: objects the user cannot see (as if unknown)."""
    if not q or not q.strip():
        raise SoqlError("MALFORMED_SEARCH", NO_BRACES)
    m = re.match(r"\s*FIND\b\s*", q, re.I)
    if not m:
        word = q.split()[0]
        raise _malformed(q, q.find(word), f"unexpected token: '{word}'")
    pos = m.end()
    if pos >= len(q) or q[pos] != "{":
        raise _malformed(q, pos, NO_BRACES)
    end = _find_closing_brace(q, pos)
    expr = _TermParser(q, pos + 1, q[pos + 1 : end]).parse()
    search = Search(expr, "ALL")
    pos = end + 1

    def word_at(p: int) -> tuple[str, int, int] | None:
        wm = _WORD_RE.match(q, p)
        return (wm.group(1), wm.start(1), wm.end()) if wm else None

    def unexpected(p: int) -> SoqlError:
        rest = q[p:].strip()
        shown = f"'{rest.split()[0]}'" if rest else "<EOF>"
        return _malformed(q, p + (len(q[p:]) - len(q[p:].lstrip())), f"unexpected token: {shown}")

    tok = word_at(pos)
    if tok and tok[0].upper() == "IN":
        scope = word_at(tok[2])
        fields_kw = word_at(scope[2]) if scope else None
        if not scope or scope[0].upper() not in SCOPES:
            raise unexpected(tok[2])
        if not fields_kw or fields_kw[0].upper() != "FIELDS":
            raise unexpected(scope[2])
        search.scope = scope[0].upper()
        pos = fields_kw[2]
        tok = word_at(pos)
    if tok and tok[0].upper() == "RETURNING":
        pos = tok[2]
        while True:
            obj = word_at(pos)
            if obj is None:
                raise unexpected(pos)
            name, obj_pos, pos = obj
            sobject = schema.canonical_object(name)
            if sobject is None or sobject in hidden or schema.OBJECTS[sobject].get("readonly"):
                raise SoqlError(
                    "INVALID_TYPE",
                    soql._located(
                        q, obj_pos, f"sObject type '{name}' is not supported. "
                        f"{soql.INVALID_TYPE_HINT}"
                    ),
                )  # fmt: skip
            stripped = len(q[pos:]) - len(q[pos:].lstrip())
            if q[pos + stripped : pos + stripped + 1] == "(":
                open_at = pos + stripped
                close_at = _closing_paren(q, open_at)
                query = _returning_query(q, obj_pos, sobject, q[open_at + 1 : close_at], hidden)
                pos = close_at + 1
            else:
                query = _soql(f"Id FROM {sobject}", hidden)
            if any(r.sobject == sobject for r in search.returning):
                raise _malformed(q, obj_pos, f"duplicate entity: {name}")
            search.returning.append(Returning(sobject, query))
            rest = q[pos:].lstrip()
            if rest.startswith(","):
                pos = q.index(",", pos) + 1
                continue
            break
        tok = word_at(pos)
    if tok and tok[0].upper() == "LIMIT":
        nm = re.match(r"\s*(\d+)", q[tok[2] :])
        if not nm:
            raise unexpected(tok[2])
        search.limit = min(int(nm.group(1)), MAX_ROWS)
        pos = tok[2] + nm.end()
        tok = word_at(pos)
    if q[pos:].strip():
        raise unexpected(pos)
    if not search.returning:
        search.returning = [
            Returning(o, _soql(f"Id FROM {o}", hidden)) for o in DEFAULT_OBJECTS if o not in hidden
        ]
    return search


Tables = Callable[[str], "list[dict[str, Any]]"]


def execute(
    search: Search,
    tables: Tables,
    lookup: soql.Lookup,
    version: str,
    *,
    indexed: Callable[[dict[str, Any]], bool] = lambda row: True,
) -> dict[str, Any]:
    """Run ``search``; ``indexed(row)``: whether the search index has caught up with the row."""
    out: list[dict[str, Any]] = []
    for item in search.returning:
        fields = scope_fields(item.sobject, search.scope)
        hits = []
        for row in tables(item.sobject):
            if row.get("IsDeleted") or not indexed(row):
                continue
            values = [(str(row[f["name"]]), f["type"]) for f in fields if row.get(f["name"])]
            if values and _expr_matches(search.expr, values):
                hits.append(row)
        if not item.query.order:  # relevance is Salesforce's; newest first stands in for it
            hits.sort(key=lambda r: r.get("LastModifiedDate") or "", reverse=True)
        result = soql.execute(item.query, hits, lookup, version, tables=tables)
        out.extend(result["records"])
        if len(out) >= search.limit:
            break
    return {"searchRecords": out[: search.limit]}


def escape(term: str) -> str:
    """``term`` with every reserved character backslash-escaped (what a client must send)."""
    return "".join("\\" + c if c in RESERVED else c for c in term)
