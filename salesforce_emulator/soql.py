"""A SOQL tokenizer, parser and evaluator for the subset the product and its tests use.

Supported: ``SELECT`` field lists (relationship paths like ``Account.Name`` / ``Owner.Name``,
``COUNT()`` and ``COUNT(field)``), ``FROM`` one object, ``WHERE`` with ``= != <> < <= > >=``,
``IN``/``NOT IN``, ``LIKE``, ``AND``/``OR``/``NOT`` and parentheses (mixing ``AND`` and ``OR``
without parentheses is an error, as in Salesforce), ``null``/``true``/``false``, numbers,
date/datetime literals and quoted strings with Salesforce's escapes; ``ORDER BY`` with
``ASC``/``DESC`` and ``NULLS FIRST``/``NULLS LAST``; ``LIMIT``; ``OFFSET``.

Parent-to-child subqueries in the SELECT list (one level, as before Summer '23):
``(SELECT fields FROM <child relationship> [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n])``,
fields may be parent paths (``Opportunity.Name`` from ``OpportunityContactRoles``). Each record
carries, under the relationship name, ``{"totalSize", "done": true, "records": [...]}`` or null
when no child matches. An unknown relationship answers ``INVALID_TYPE`` "Didn't understand
relationship 'X' in FROM part of query call. ...". Objects hidden from the user (see ``parse``)
answer as if they did not exist: ``INVALID_TYPE`` "sObject type 'Case' is not supported. ..." in
FROM, the relationship error in a subquery, ``INVALID_FIELD`` in a parent path.

Text comparisons are case-insensitive, ``null`` compares with two-valued logic (``Email != 'x'``
matches rows whose Email is null), and errors carry Salesforce's codes and message layout.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import schema

KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE",
}  # fmt: skip
SIMPLE_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b",
                  "f": "\f"}  # fmt: skip

INVALID_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
INVALID_TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)
INVALID_REL_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` and ``message`` as Salesforce sends them."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass
class Token:
    kind: str  # IDENT KEYWORD STRING NUMBER DATE DATETIME OP LPAREN RPAREN COMMA EOF
    text: str
    pos: int
    value: Any = None
    like_regex: str | None = None  # STRING only: the LIKE pattern as a regex
    like_only: bool = False  # STRING only: contains \_ or \% (valid in LIKE only)


def _located(q: str, pos: int, message: str) -> str:
    line_start = q.rfind("\n", 0, pos) + 1
    line_end = q.find("\n", pos)
    line = q[line_start : line_end if line_end != -1 else len(q)]
    row = q.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"


def _error(q: str, pos: int, code: str, message: str) -> SoqlError:
    return SoqlError(code, _located(q, pos, message))


# --------------------------------------------------------------------------- tokenizer

_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:])")
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(?![\w.])")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = ("!=", "<>", "<=", ">=", "=", "<", ">")


def _read_string(q: str, start: int) -> Token:
    """Read a quoted string literal starting at ``start`` (the opening quote)."""
    i = start + 1
    chars: list[str] = []
    regex: list[str] = []
    like_only = False
    while i < len(q):
        c = q[i]
        if c == "'":
            text = q[start : i + 1]
            return Token("STRING", text, start, "".join(chars), "".join(regex), like_only)
        if c == "\\":
            nxt = q[i + 1 : i + 2]
            if nxt in SIMPLE_ESCAPES:
                ch = SIMPLE_ESCAPES[nxt]
                chars.append(ch)
                regex.append(re.escape(ch))
                i += 2
                continue
            if nxt in ("_", "%"):
                like_only = True
                chars.append(nxt)
                regex.append(re.escape(nxt))
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", q[i + 2 : i + 6]):
                ch = chr(int(q[i + 2 : i + 6], 16))
                chars.append(ch)
                regex.append(re.escape(ch))
                i += 6
                continue
            end = q.find("'", i + 1)
            literal = q[start : end + 1] if end != -1 else q[start:]
            raise _error(
                q,
                i,
                "MALFORMED_QUERY",
                f"Invalid string literal {literal}. Illegal character sequence "
                f"'\\{nxt}' in string literal.",
            )
        chars.append(c)
        regex.append({"%": ".*", "_": "."}.get(c, re.escape(c)))
        i += 1
    raise _error(q, start, "MALFORMED_QUERY", f"unexpected token: {q[start:]}")


def tokenize(q: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
            continue
        if c == "'":
            tok = _read_string(q, i)
            tokens.append(tok)
            i += len(tok.text)
            continue
        if c in "(),":
            kind = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[c]
            tokens.append(Token(kind, c, i))
            i += 1
            continue
        op = next((o for o in _OPS if q.startswith(o, i)), None)
        if op:
            tokens.append(Token("OP", op, i))
            i += len(op)
            continue
        m = _DATETIME_RE.match(q, i)
        if m:
            text = m.group(0)
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            tokens.append(Token("DATETIME", text, i, value))
            i = m.end()
            continue
        m = _DATE_RE.match(q, i)
        if m:
            tokens.append(Token("DATE", m.group(0), i, dt.date.fromisoformat(m.group(0))))
            i = m.end()
            continue
        m = _NUMBER_RE.match(q, i)
        if m:
            tokens.append(Token("NUMBER", m.group(0), i, float(m.group(0))))
            i = m.end()
            continue
        m = _IDENT_RE.match(q, i)
        if m:
            text = m.group(0)
            kind = "KEYWORD" if text.upper() in KEYWORDS else "IDENT"
            tokens.append(Token(kind, text, i, text.upper() if kind == "KEYWORD" else text))
            i = m.end()
            continue
        end = i + 1
        while end < n and not q[end].isspace():
            end += 1
        raise _error(q, i, "MALFORMED_QUERY", f"unexpected token: '{q[i:end]}'")
    tokens.append(Token("EOF", "<EOF>", n))
    return tokens


# --------------------------------------------------------------------------- AST


@dataclass
class FieldRef:
    text: str
    pos: int
    rels: list[dict[str, Any]] = field(default_factory=list)  # relationship field defs, in order
    objects: list[str] = field(default_factory=list)  # object of each hop: [base, rel1obj, ...]
    fdef: dict[str, Any] | None = None

    @property
    def ftype(self) -> str:
        assert self.fdef is not None
        return self.fdef["type"]


@dataclass
class Cond:
    ref: FieldRef
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Any  # python value, list for IN, compiled regex for LIKE
    case_sensitive: bool = False  # E2: deterministic case-sensitive encryption compares exactly


@dataclass
class BoolOp:
    op: str  # AND OR
    items: list[Any]


@dataclass
class Not:
    item: Any


@dataclass
class SubQuery:
    """A parent-to-child subquery in the SELECT list: ``(SELECT ... FROM Cases ...)``."""

    relationship: str  # canonical relationship name, the key of the nested result
    sobject: str  # the child object
    parent_field: str  # the child's reference field to the parent (Case.ContactId)
    fields: list[FieldRef]
    where: Any
    order: list[tuple[FieldRef, bool, bool]]
    limit: int | None
    offset: int | None


@dataclass
class Query:
    sobject: str
    fields: list[FieldRef]
    count: str | None  # None, "COUNT()" or "COUNT(field)"
    where: Any
    order: list[tuple[FieldRef, bool, bool]]  # (field, descending, nulls_first)
    limit: int | None
    offset: int | None
    items: list[FieldRef | SubQuery] = field(default_factory=list)  # select list, in order

    @property
    def subqueries(self) -> list[SubQuery]:
        return [item for item in self.items if isinstance(item, SubQuery)]


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(
        self, q: str, hidden: frozenset[str] = frozenset(), encryption: dict | None = None
    ) -> None:
        self.q = q
        self.tokens = tokenize(q)
        self.i = 0
        self.sobject = ""
        # Objects the user cannot see, and "Object.Field" names the org lacks: as if they did
        # not exist.
        self.hidden = hidden
        self.encryption = encryption or {}  # E2: Contact/Lead field name -> Shield scheme

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        shown = "<EOF>" if tok.kind == "EOF" else f"'{tok.text}'"
        return _error(self.q, tok.pos, "MALFORMED_QUERY", f"unexpected token: {shown}")

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value in words

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.advance()

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.unexpected()
        return self.advance()

    # grammar
    def parse(self) -> Query:
        self.expect_kw("SELECT")
        raw_fields: list[Token] = []
        raw_items: list[Token | int] = []  # a field token, or the token index of a subquery
        count: str | None = None
        count_tok: Token | None = None
        while True:
            tok = self.tok
            is_count = tok.kind == "IDENT" and tok.text.upper() == "COUNT"
            if is_count and self._peek_kind(1) == "LPAREN":
                if raw_items or count:
                    raise self.unexpected()
                self.advance()
                self.advance()
                if self.tok.kind == "RPAREN":
                    count = "COUNT()"
                else:
                    count_tok = self.expect("IDENT")
                    count = "COUNT(field)"
                self.expect("RPAREN")
            elif tok.kind == "IDENT":
                if count == "COUNT()":
                    raise self.unexpected()
                raw_fields.append(self.advance())
                raw_items.append(raw_fields[-1])
            elif tok.kind == "LPAREN" and count is None and self._peek_is_select():
                raw_items.append(self.i + 1)
                self.skip_parenthesised()
            else:
                raise self.unexpected()
            if self.tok.kind == "COMMA":
                self.advance()
                continue
            break
        self.expect_kw("FROM")
        obj_tok = self.tok
        if obj_tok.kind != "IDENT":
            raise self.unexpected()
        self.advance()
        sobject = schema.canonical_object(obj_tok.text)
        if sobject is None or sobject in self.hidden or "." in obj_tok.text:
            raise _error(
                self.q,
                obj_tok.pos,
                "INVALID_TYPE",
                f"sObject type '{obj_tok.text}' is not supported. {INVALID_TYPE_HINT}",
            )
        self.sobject = sobject
        after_from = self.i
        fields: list[FieldRef] = []
        items: list[FieldRef | SubQuery] = []
        seen: set[str] = set()
        for raw in raw_items:
            if isinstance(raw, int):
                sub = self.parse_subquery(raw)
                key = sub.relationship.lower()
                items.append(sub)
            else:
                ref = self.resolve(raw)
                key = ref.text.lower()
                fields.append(ref)
                items.append(ref)
            if key in seen:
                text = raw.text if isinstance(raw, Token) else self.tokens[raw].text
                pos = raw.pos if isinstance(raw, Token) else self.tokens[raw].pos
                raise _error(self.q, pos, "MALFORMED_QUERY", f"duplicate field selected: {text}")
            seen.add(key)
        self.i = after_from
        if count_tok is not None:
            self.resolve(count_tok)
        where, order, limit, offset = self.parse_tail()
        if self.tok.kind != "EOF":
            raise self.unexpected()
        return Query(sobject, fields, count, where, order, limit, offset, items)

    def parse_tail(self) -> tuple[Any, list, int | None, int | None]:
        """``[WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]`` on ``self.sobject``."""
        where = None
        if self.is_kw("WHERE"):
            self.advance()
            where = self.parse_condition()
        order: list[tuple[FieldRef, bool, bool]] = []
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            while True:
                ref = self.resolve(self.expect("IDENT"))
                desc = False
                if self.is_kw("ASC", "DESC"):
                    desc = self.advance().value == "DESC"
                nulls_first = True  # Salesforce: "By default, null values are sorted first."
                if self.is_kw("NULLS"):
                    self.advance()
                    if not self.is_kw("FIRST", "LAST"):
                        raise self.unexpected()
                    nulls_first = self.advance().value == "FIRST"
                order.append((ref, desc, nulls_first))
                if self.tok.kind != "COMMA":
                    break
                self.advance()
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.advance()
            limit = self.parse_int()
        if self.is_kw("OFFSET"):
            self.advance()
            offset = self.parse_int()
        return where, order, limit, offset

    def _peek_is_select(self) -> bool:
        nxt = self.tokens[min(self.i + 1, len(self.tokens) - 1)]
        return nxt.kind == "KEYWORD" and nxt.value == "SELECT"

    def skip_parenthesised(self) -> None:
        """Move past a parenthesised group (the subquery is parsed once FROM is known)."""
        depth = 0
        while True:
            tok = self.advance()
            if tok.kind == "EOF":
                raise self.unexpected(tok)
            if tok.kind == "LPAREN":
                depth += 1
            elif tok.kind == "RPAREN":
                depth -= 1
                if depth == 0:
                    return

    def parse_subquery(self, start: int) -> SubQuery:
        """``SELECT fields FROM <child relationship> [WHERE] [ORDER BY] [LIMIT] [OFFSET] )`` at
        token ``start``, a child relationship of ``self.sobject`` (restored afterwards)."""
        parent = self.sobject
        self.i = start
        self.expect_kw("SELECT")
        raw_fields = [self.expect("IDENT")]
        while self.tok.kind == "COMMA":
            self.advance()
            raw_fields.append(self.expect("IDENT"))
        self.expect_kw("FROM")
        rel_tok = self.expect("IDENT")
        found = schema.child_relationship(parent, rel_tok.text)
        if found is None or found[0] in self.hidden:
            raise _error(
                self.q,
                rel_tok.pos,
                "INVALID_TYPE",
                f"Didn't understand relationship '{rel_tok.text}' in FROM part of query call. "
                f"{INVALID_REL_HINT}",
            )
        child, parent_field = found
        self.sobject = child
        try:
            fields: list[FieldRef] = []
            seen: set[str] = set()
            for tok in raw_fields:
                ref = self.resolve(tok)
                if ref.text.lower() in seen:
                    raise _error(
                        self.q, tok.pos, "MALFORMED_QUERY", f"duplicate field selected: {tok.text}"
                    )
                seen.add(ref.text.lower())
                fields.append(ref)
            where, order, limit, offset = self.parse_tail()
            self.expect("RPAREN")
        finally:
            self.sobject = parent
        return SubQuery(
            parent_field["child"], child, parent_field["name"], fields, where, order, limit, offset
        )

    def _peek_kind(self, ahead: int) -> str:
        j = min(self.i + ahead, len(self.tokens) - 1)
        return self.tokens[j].kind

    def parse_int(self) -> int:
        tok = self.tok
        if tok.kind != "NUMBER" or not tok.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(tok.text)

    def resolve(self, tok: Token) -> FieldRef:
        parts = tok.text.split(".")
        obj = self.sobject
        ref = FieldRef(tok.text, tok.pos, objects=[obj])
        # A leading "Contact." prefix naming the FROM object is allowed.
        if len(parts) > 1 and parts[0].lower() == obj.lower():
            parts = parts[1:]
        for hop in parts[:-1]:
            rel = schema.relationship(obj, hop)
            if rel is None or rel["ref"] in self.hidden:
                raise _error(
                    self.q,
                    tok.pos,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{hop}' in field path. {INVALID_REL_HINT}",
                )
            ref.rels.append(rel)
            obj = rel["ref"]
            ref.objects.append(obj)
        fdef = schema.field(obj, parts[-1])
        if fdef is None or f"{obj}.{fdef['name']}" in self.hidden:
            raise _error(
                self.q,
                tok.pos,
                "INVALID_FIELD",
                f"No such column '{parts[-1]}' on entity '{obj}'. {INVALID_FIELD_HINT}",
            )
        ref.fdef = fdef
        return ref

    # WHERE
    def parse_condition(self) -> Any:
        items = [self.parse_unary()]
        op: str | None = None
        while self.is_kw("AND", "OR"):
            tok = self.tok
            if op is not None and tok.value != op:
                raise self.unexpected(tok)
            op = tok.value
            self.advance()
            items.append(self.parse_unary())
        return items[0] if op is None else BoolOp(op, items)

    def parse_unary(self) -> Any:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.parse_unary())
        if self.tok.kind == "LPAREN":
            self.advance()
            inner = self.parse_condition()
            self.expect("RPAREN")
            return inner
        return self.parse_comparison()

    def scheme(self, ref: FieldRef) -> str:
        """E2: the Shield encryption scheme of a Contact/Lead field ("" when not encrypted)."""
        if ref.objects[-1] not in ("Contact", "Lead") or ref.fdef is None:
            return ""
        return self.encryption.get(ref.fdef["name"], "")

    def not_filterable(self, ref: FieldRef, pos: int) -> SoqlError:
        assert ref.fdef is not None
        return _error(
            self.q,
            pos,
            "INVALID_FIELD",
            f"field '{ref.fdef['name']}' can not be filtered in a query call",
        )

    def parse_comparison(self) -> Cond:
        ident = self.expect("IDENT")
        ref = self.resolve(ident)
        if ref.ftype == "textarea":  # long text areas are not filterable (describe says so)
            raise _error(
                self.q,
                ident.pos,
                "INVALID_FIELD",
                f"field '{ref.fdef['name']}' can not be filtered in a query call",
            )
        scheme = self.scheme(ref)
        # Probabilistic encryption cannot be filtered at all; deterministic allows = and IN only.
        if scheme == "probabilistic" or (
            scheme and not (self.tok.text in ("=", "!=", "<>") or self.is_kw("IN", "NOT"))
        ):
            raise self.not_filterable(ref, ident.pos)
        case_sensitive = scheme == "deterministic_case_sensitive"
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            value = self.parse_value(ref, op)
            return Cond(ref, op, value, case_sensitive)
        if self.is_kw("LIKE"):
            self.advance()
            vtok = self.tok
            if ref.ftype not in schema.STRING_TYPES or ref.ftype in ("id", "reference"):
                raise _error(
                    self.q, tok.pos, "INVALID_FIELD", f"invalid operator on {ref.ftype} field"
                )
            if vtok.kind != "STRING":
                raise self.unexpected(vtok)
            self.advance()
            return Cond(ref, "LIKE", re.compile(f"{vtok.like_regex}\\Z", re.I | re.S))
        negate = False
        if self.is_kw("NOT"):
            self.advance()
            negate = True
            if not self.is_kw("IN"):
                raise self.unexpected()
        if self.is_kw("IN"):
            self.advance()
            self.expect("LPAREN")
            values = [self.parse_value(ref, "IN")]
            while self.tok.kind == "COMMA":
                self.advance()
                values.append(self.parse_value(ref, "IN"))
            self.expect("RPAREN")
            return Cond(ref, "NOT IN" if negate else "IN", values, case_sensitive)
        raise self.unexpected()

    def parse_value(self, ref: FieldRef, op: str) -> Any:
        tok = self.advance()
        ftype = ref.ftype
        name = ref.fdef["name"] if ref.fdef else ref.text
        if tok.kind == "KEYWORD" and tok.value == "NULL":
            return None
        if tok.kind not in ("STRING", "NUMBER", "DATE", "DATETIME", "KEYWORD"):
            raise self.unexpected(tok)
        if tok.kind == "KEYWORD" and tok.value not in ("TRUE", "FALSE"):
            raise self.unexpected(tok)

        def mismatch(kind: str, quoted: bool) -> SoqlError:
            how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            return _error(
                self.q,
                tok.pos,
                "INVALID_FIELD",
                f"value of filter criterion for field '{name}' must be of type {kind} and {how}",
            )

        if tok.kind == "STRING" and tok.like_only:
            raise _error(
                self.q,
                tok.pos,
                "MALFORMED_QUERY",
                f"Invalid string literal {tok.text}. Illegal character sequence "
                "'\\_' or '\\%' outside a LIKE expression.",
            )
        if ftype in schema.STRING_TYPES:
            if tok.kind != "STRING":
                raise mismatch("string", True)
            if ftype in ("id", "reference") and not re.fullmatch(
                r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", tok.value
            ):
                raise _error(
                    self.q,
                    tok.pos,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid ID field: {tok.value}",
                )
            return tok.value
        if ftype == "boolean":
            if tok.kind != "KEYWORD":
                raise mismatch("boolean", False)
            return tok.value == "TRUE"
        if ftype in schema.NUMBER_TYPES:
            if tok.kind != "NUMBER":
                raise mismatch(ftype, False)
            return tok.value
        if ftype == "date":
            if tok.kind != "DATE":
                raise mismatch("date", False)
            return tok.value
        if ftype == "datetime":
            if tok.kind != "DATETIME":
                raise mismatch("dateTime", False)
            return tok.value
        raise self.unexpected(tok)  # pragma: no cover


def parse(q: str, hidden: frozenset[str] = frozenset(), encryption: dict | None = None) -> Query:
    """Parse ``q``; ``hidden``: objects the querying user cannot see and ``"Object.Field"`` names
    the org lacks (they answer as unknown); ``encryption``: Contact/Lead fields' Shield schemes."""
    if not q or not q.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(q, hidden, encryption).parse()


# --------------------------------------------------------------------------- evaluation

Lookup = Callable[[str, str], "dict[str, Any] | None"]


def _related(record: dict[str, Any], ref: FieldRef, lookup: Lookup) -> dict[str, Any] | None:
    current: dict[str, Any] | None = record
    for rel, target in zip(ref.rels, ref.objects[1:], strict=True):
        if current is None:
            return None
        rid = current.get(rel["name"])
        current = lookup(target, rid) if rid else None
    return current


def _value(record: dict[str, Any], ref: FieldRef, lookup: Lookup) -> Any:
    owner = _related(record, ref, lookup)
    if owner is None:
        return None
    assert ref.fdef is not None
    return owner.get(ref.fdef["name"])


def _comparable(ftype: str, value: Any) -> Any:
    if value is None:
        return None
    if ftype == "datetime":
        if isinstance(value, dt.datetime):
            return value
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    if ftype == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    if ftype in schema.NUMBER_TYPES:
        return float(value)
    if ftype == "boolean":
        return bool(value)
    if ftype in ("id", "reference"):
        return str(value).lower()
    return str(value).casefold()


def _equal(ftype: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if ftype in ("id", "reference") and len(b) == 15:
        return str(a)[:15] == str(b)
    return _comparable(ftype, a) == _comparable(ftype, b)


def _matches(expr: Any, record: dict[str, Any], lookup: Lookup) -> bool:
    if isinstance(expr, BoolOp):
        if expr.op == "AND":
            return all(_matches(e, record, lookup) for e in expr.items)
        return any(_matches(e, record, lookup) for e in expr.items)
    if isinstance(expr, Not):
        return not _matches(expr.item, record, lookup)
    ftype = expr.ref.ftype
    actual = _value(record, expr.ref, lookup)
    op = expr.op
    if expr.case_sensitive and op in ("=", "!=", "IN", "NOT IN"):
        wanted = expr.value if op in ("IN", "NOT IN") else [expr.value]
        found = actual is not None and any(actual == v for v in wanted)
        return found if op in ("=", "IN") else not found
    if op == "=":
        return _equal(ftype, actual, expr.value)
    if op == "!=":
        return not _equal(ftype, actual, expr.value)
    if op == "IN":
        return any(_equal(ftype, actual, v) for v in expr.value)
    if op == "NOT IN":
        return not any(_equal(ftype, actual, v) for v in expr.value)
    if op == "LIKE":
        return actual is not None and expr.value.match(str(actual)) is not None
    if actual is None or expr.value is None:
        return False
    a, b = _comparable(ftype, actual), _comparable(ftype, expr.value)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _sort(rows: list[dict[str, Any]], order: list, lookup: Lookup) -> list[dict[str, Any]]:
    def compare(x: dict[str, Any], y: dict[str, Any]) -> int:
        for ref, desc, nulls_first in order:
            a = _comparable(ref.ftype, _value(x, ref, lookup))
            b = _comparable(ref.ftype, _value(y, ref, lookup))
            if a == b:
                continue
            if a is None or b is None:
                first_is_null = a is None
                return (-1 if first_is_null else 1) * (1 if nulls_first else -1)
            result = -1 if a < b else 1
            return -result if desc else result
        return 0

    return sorted(rows, key=functools.cmp_to_key(compare))


def _attributes(obj: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}


def shape(
    record: dict[str, Any],
    obj: str,
    fields: list[FieldRef],
    lookup: Lookup,
    version: str,
    children: dict[str, Any] | None = None,
    items: list[FieldRef | SubQuery] | None = None,
) -> dict[str, Any]:
    """A record as the REST API returns it: attributes first, then the select list in order
    (``children``: each subquery's nested result for this record, by relationship name)."""
    out: dict[str, Any] = {"attributes": _attributes(obj, record["Id"], version)}
    for ref in items if items is not None else fields:
        if isinstance(ref, SubQuery):
            out[ref.relationship] = (children or {}).get(ref.relationship)
            continue
        target = out
        current: dict[str, Any] | None = record
        for rel, rel_obj in zip(ref.rels, ref.objects[1:], strict=True):
            rid = current.get(rel["name"]) if current else None
            current = lookup(rel_obj, rid) if rid else None
            name = rel["rel"]
            if current is None:
                target.setdefault(name, None)
                break
            if not isinstance(target.get(name), dict):
                target[name] = {"attributes": _attributes(rel_obj, current["Id"], version)}
            target = target[name]
        else:
            assert ref.fdef is not None
            target[ref.fdef["name"]] = current.get(ref.fdef["name"]) if current else None
    return out


Tables = Callable[[str], "list[dict[str, Any]]"]


def _select(
    rows: list[dict[str, Any]], where: Any, order: list, limit: Any, offset: Any, lookup: Lookup
) -> list[dict[str, Any]]:
    if where is not None:
        rows = [r for r in rows if _matches(where, r, lookup)]
    if order:
        rows = _sort(rows, order, lookup)
    if offset:
        rows = rows[offset:]
    if limit is not None:
        rows = rows[:limit]
    return rows


def _nested(
    sub: SubQuery,
    parent_ids: list[str],
    tables: Tables,
    lookup: Lookup,
    version: str,
    all_rows: bool,
) -> dict[str, dict[str, Any] | None]:
    """A subquery's result per parent id: Salesforce's nested query result, or None (no rows).

    ``totalSize`` is the number of child records returned (after the subquery's LIMIT):
    Salesforce does not document a total beyond the LIMIT for a subquery, and a nested result
    counts the records it carries, as a top-level one does.
    """
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for row in tables(sub.sobject):
        if not all_rows and row.get("IsDeleted"):
            continue
        parent = row.get(sub.parent_field)
        if parent:
            by_parent.setdefault(parent[:15], []).append(row)
    out: dict[str, dict[str, Any] | None] = {}
    for parent_id in parent_ids:
        rows = by_parent.get(parent_id[:15], [])
        rows = _select(rows, sub.where, sub.order, sub.limit, sub.offset, lookup)
        if not rows:
            out[parent_id] = None
            continue
        records = [shape(r, sub.sobject, sub.fields, lookup, version) for r in rows]
        out[parent_id] = {"totalSize": len(records), "done": True, "records": records}
    return out


def execute(
    query: Query,
    records: list[dict[str, Any]],
    lookup: Lookup,
    version: str,
    *,
    all_rows: bool = False,
    tables: Tables | None = None,
) -> dict[str, Any]:
    """Run ``query`` over ``records`` (the FROM object's rows); ``tables(sobject)`` gives the
    rows of a subquery's child object."""
    rows = [r for r in records if all_rows or not r.get("IsDeleted")]
    rows = _select(rows, query.where, query.order, query.limit, query.offset, lookup)
    if query.count == "COUNT()":
        return {"totalSize": len(rows), "done": True, "records": []}
    if query.count == "COUNT(field)":
        agg = {"attributes": {"type": "AggregateResult"}, "expr0": len(rows)}
        return {"totalSize": 1, "done": True, "records": [agg]}
    ids = [r["Id"] for r in rows]
    nested: dict[str, dict[str, Any]] = {}
    for sub in query.subqueries:
        if tables is None:
            raise ValueError("a query with subqueries needs the child tables")
        nested[sub.relationship] = _nested(sub, ids, tables, lookup, version, all_rows)
    shaped = [
        shape(
            r,
            query.sobject,
            query.fields,
            lookup,
            version,
            {rel: per_parent[r["Id"]] for rel, per_parent in nested.items()},
            query.items,
        )
        for r in rows
    ]
    return {"totalSize": len(shaped), "done": True, "records": shaped}
