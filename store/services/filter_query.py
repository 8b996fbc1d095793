"""MLMD's ``ListOperationOptions.filter_query`` language, compiled to Django ORM queries.

One entry point, :func:`filter_nodes`, used by the gRPC API, the REST API's
``?filter=`` and the dashboard search box::

    filter_nodes(Artifact.objects.all(), "artifact", "type = 'Model' AND contexts_a.name = 'run_7'")

The query is tokenized, parsed by a recursive-descent parser into a small AST
and compiled into ``Q`` objects made of ORM lookups, ``Exists`` subqueries and
``FilteredRelation`` joins.  Every literal reaches the database as a bound
parameter; no SQL text is ever built from the query.

Language
========

A boolean expression in SQL syntax (the subset MLMD accepts)::

    expr      := or_expr
    or_expr   := and_expr ( OR and_expr )*
    and_expr  := not_expr ( AND not_expr )*
    not_expr  := NOT not_expr | '(' expr ')' | predicate | TRUE | FALSE
    predicate := attr ( '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' ) value
               | attr [NOT] LIKE 'pattern'
               | attr [NOT] IN ( value, ... )
               | attr IS [NOT] NULL
               | attr                       -- a bool_value on its own
    value     := 'string' | "string" | [-]integer | [-]float | TRUE | FALSE | ENUM_NAME

Keywords are case-insensitive.  Strings take backslash escapes (``\\'``,
``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\r``); any other backslash is kept, so
``'50\\%'`` reaches LIKE as an escaped ``%``.  Any identifier may be back-quoted
(``properties.`my prop`.int_value``).

Attributes of the listed node (``kind``):

* all kinds: ``id``, ``type_id``, ``type`` (the type's name), ``name``,
  ``external_id``, ``create_time_since_epoch``, ``last_update_time_since_epoch``;
* artifacts: ``uri``, ``state`` (``state = LIVE``, ``state IN (LIVE, PENDING)``);
* executions: ``last_known_state`` (``last_known_state = COMPLETE``);
* ``properties.<name>.<column>`` and ``custom_properties.<name>.<column>``
  where column is ``int_value``, ``double_value``, ``string_value`` or
  ``bool_value``.

Neighbours, each under an alias chosen by the query (``contexts_a``,
``contexts_run``, ``events_0``...):

* artifacts: ``contexts_<alias>.`` (via attributions), ``events_<alias>.``;
* executions: ``contexts_<alias>.`` (via associations), ``events_<alias>.``;
* contexts: ``parent_contexts_<alias>.``, ``child_contexts_<alias>.``,
  ``artifacts_<alias>.`` (via attributions), ``executions_<alias>.`` (via
  associations).

A neighbour node offers every attribute its own kind has, properties
included (``contexts_a.custom_properties.owner.string_value = 'ana'``).  An
event offers ``type`` (``events_a.type = INPUT``), ``milliseconds_since_epoch``
and the id of the node at its other end: ``execution_id`` when listing
artifacts, ``artifact_id`` when listing executions.

Enum attributes (``state``, ``last_known_state``, ``events_*.type``) take the
enum's names, bare or quoted, case-insensitively, or its wire numbers.

Semantics
=========

* Three-valued SQL logic: a comparison with a missing value (NULL) is neither
  true nor false, so ``name != 'x'`` and ``NOT name = 'x'`` both skip nodes
  without a name.  As in MLMD, ``!=`` and ``NOT IN`` on an *enum* attribute
  do match NULL (MLMD rewrites ``state != LIVE`` to
  ``(state != 2 OR state IS NULL)``), whereas ``NOT state = LIVE`` does not.
* A property is a value of its node, like a nullable column (a LEFT JOIN on
  the unique (node, name, is_custom) row): ``properties.p.int_value IS NULL``
  holds when the node has no property ``p`` or when ``p`` holds no int.
* Neighbour aliases are INNER JOINs, as in MLMD: a node matches when *some*
  combination of neighbour rows, one row per alias, makes the whole
  expression true.  Predicates under one alias talk about the same row;
  distinct aliases are independent joins.  So ``contexts_a.name = 'x' AND
  contexts_a.name = 'y'`` matches nothing while ``contexts_a.name = 'x' AND
  contexts_b.name = 'y'`` finds nodes in both contexts, and a node without
  any context never matches a query that mentions ``contexts_a``, even
  under ``OR``.

How it is compiled
==================

``NOT`` is pushed down to the predicates first: every AST node is compiled
either for "is TRUE" or for "is FALSE" (De Morgan, which holds in
three-valued logic), and a predicate compiled for FALSE becomes its
complementary SQL operator (``=`` -> ``<>``, ``LIKE`` -> ``NOT LIKE``, ``IN`` ->
``NOT IN``, ``IS NULL`` -> ``IS NOT NULL``), which is exactly SQL's NOT for a
non-NULL operand and UNKNOWN otherwise.  The resulting ``Q`` therefore never
contains an ORM negation, which Django would otherwise rewrite with
``IS NULL`` guards or, across multi-valued relations, turn into "no related
row" subqueries.

Each neighbour alias becomes one ``FilteredRelation`` on the link table
(``attributions``, ``associations``, ``parent_links``, ``child_links``,
``events``): Django keys joins on the filtered relation's alias, so every
alias gets its own join and every predicate of one alias reuses it, whatever
the boolean structure (OR, NOT, nesting) around them.  Predicates then reach
the neighbour through the link's foreign key (``fq_join_0__context__name``).
The alias's existence is required at the top level (the INNER JOIN).

Properties compile to ``EXISTS`` subqueries on the property table, correlated
on the node (or on the neighbour row, through ``OuterRef`` to the alias's
join), so they never multiply rows: "p = v" is EXISTS(row with value = v),
"p IS NULL" is NOT EXISTS(row with a value).

Without neighbour aliases the condition filters the given queryset
directly.  With aliases the joined query can repeat a node once per
matching combination, so it runs as ``id IN (SELECT id ...)`` over the same
model and the caller's queryset stays free of joins, duplicates and
``DISTINCT``: it can still be ordered, paginated and sliced.

Limits and differences from MLMD
================================

* Superset of MLMD: neighbour nodes also offer ``type_id``, ``external_id``
  and properties (MLMD gives contexts only id, name, type and the two
  times); enum names may be quoted or lower-case and enum attributes also
  take wire numbers; ``\\%`` and ``\\_`` escape LIKE wildcards on every
  backend (MLMD's ZetaSQL rejects ``'\\%'`` and SQLite has no default
  escape character).
* MLMD inner-joins property tables too, so there a query that mentions
  ``properties.p`` never matches a node lacking ``p`` (even under OR or with
  ``IS NULL``).  Here a property is NULL when absent, as described above.
* LIKE ignores case and ``=``, ``!=`` and IN respect it, on every backend, as
  MLMD on SQLite (SQLite's LIKE folds ASCII letters only; on MySQL, whose
  store tables use a binary collation, LIKE compares lower-cased text).
* At most :data:`MAX_ALIASES` neighbour aliases and :data:`MAX_DEPTH` levels
  of nesting per query, so that a query cannot make the database build an
  unbounded join product.
* Positions in error messages are 0-based character offsets into the query.
"""
from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias

from django.db import models
from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import Expression
from django.db.models.lookups import (
    BuiltinLookup,
    Exact,
    FieldGetDbPrepValueMixin,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Lookup,
)

from store.choices import ArtifactState, EventType, ExecutionState
from store.models import (
    Artifact,
    ArtifactProperty,
    Context,
    ContextProperty,
    Execution,
    ExecutionProperty,
    PropertyValue,
)
from store.services.errors import InvalidArgument

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "FilterQueryError", "filter_nodes"]

MAX_ALIASES = 10
"""The most neighbour aliases (``contexts_a``, ``events_b``...) one query may use."""

MAX_DEPTH = 64
"""The deepest nesting of parentheses and NOT one query may use."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class FilterQueryError(InvalidArgument):
    """An invalid filter query; ``position`` is the 0-based offset of the problem."""

    def __init__(self, problem: str, position: int, hint: str | None = None) -> None:
        message = f"filter_query: {problem} at position {position}"
        if hint:
            message = f"{message} ({hint})"
        super().__init__(message, field="filter_query")
        self.problem = problem
        self.position = position


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------


class _T(enum.Enum):
    IDENT = "identifier"
    QUOTED_IDENT = "quoted identifier"
    KEYWORD = "keyword"
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    DOT = "."
    MINUS = "-"
    END = "end of query"


_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "TRUE", "FALSE"})
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH_WORD_RE = re.compile(r"[A-Za-z0-9_]+")
_NUMBER_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _T
    text: str  # as written in the query
    value: object  # identifier name, keyword (upper case), string contents, int/float, operator
    pos: int

    def describe(self) -> str:
        if self.kind is _T.END:
            return "end of query"
        return f"token {self.text!r}"


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        after_dot = bool(tokens) and tokens[-1].kind is _T.DOT
        if after_dot and (m := _PATH_WORD_RE.match(query, i)):
            # A path segment after '.': MLMD accepts any word here (properties.0b.int_value),
            # keywords included (properties.in.int_value).
            i = m.end()
            tokens.append(_Token(_T.IDENT, m.group(), m.group(), start))
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _WORD_RE.match(query, i)
            assert m is not None
            i = m.end()
            word = m.group()
            if word.upper() in _KEYWORDS:
                tokens.append(_Token(_T.KEYWORD, word, word.upper(), start))
            else:
                tokens.append(_Token(_T.IDENT, word, word, start))
        elif ch in "0123456789" or (ch == "." and i + 1 < n and query[i + 1] in "0123456789"):
            m = _NUMBER_RE.match(query, i)
            assert m is not None
            i = m.end()
            if i < n and (query[i].isalnum() or query[i] in "_."):
                raise FilterQueryError(f"malformed number {query[start:i + 1]!r}", start)
            text = m.group()
            value: int | float
            if re.fullmatch(r"[0-9]+", text):
                value = int(text)
            else:
                value = float(text)
                if math.isinf(value):
                    raise FilterQueryError(f"number {text!r} is out of range", start)
            tokens.append(_Token(_T.NUMBER, text, value, start))
        elif ch in "'\"":
            i, contents = _read_string(query, i)
            tokens.append(_Token(_T.STRING, query[start:i], contents, start))
        elif ch == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise FilterQueryError("unterminated back-quoted identifier", start)
            name = query[i + 1 : end]
            if not name:
                raise FilterQueryError("empty back-quoted identifier", start)
            i = end + 1
            tokens.append(_Token(_T.QUOTED_IDENT, query[start:i], name, start))
        elif ch == "(":
            i += 1
            tokens.append(_Token(_T.LPAREN, ch, ch, start))
        elif ch == ")":
            i += 1
            tokens.append(_Token(_T.RPAREN, ch, ch, start))
        elif ch == ",":
            i += 1
            tokens.append(_Token(_T.COMMA, ch, ch, start))
        elif ch == ".":
            i += 1
            tokens.append(_Token(_T.DOT, ch, ch, start))
        elif ch == "-":
            i += 1
            tokens.append(_Token(_T.MINUS, ch, ch, start))
        else:
            op = next((op for op in _OPERATORS if query.startswith(op, i)), None)
            if op is None:
                raise FilterQueryError(f"unexpected character {ch!r}", start)
            i += len(op)
            tokens.append(_Token(_T.OP, op, "!=" if op == "<>" else op, start))
    tokens.append(_Token(_T.END, "", None, n))
    return tokens


def _read_string(query: str, start: int) -> tuple[int, str]:
    """Read the string literal opening at ``start``; return the offset after it and its contents."""
    quote = query[start]
    out: list[str] = []
    i, n = start + 1, len(query)
    while i < n:
        ch = query[i]
        if ch == "\\" and i + 1 < n:
            nxt = query[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif ch == quote:
            return i + 1, "".join(out)
        else:
            out.append(ch)
            i += 1
    raise FilterQueryError("unterminated string literal", start)


# ---------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    """A dotted attribute reference such as ``contexts_a.properties.p.int_value``."""

    segments: tuple[str, ...]
    positions: tuple[int, ...]

    @property
    def pos(self) -> int:
        return self.positions[0]

    @property
    def text(self) -> str:
        return ".".join(s if _WORD_RE.fullmatch(s) else f"`{s}`" for s in self.segments)


class LiteralKind(enum.Enum):
    INT = "an integer"
    FLOAT = "a number"
    STRING = "a string"
    BOOL = "a boolean"
    NAME = "a bare name"


@dataclass(frozen=True, slots=True)
class Literal:
    kind: LiteralKind
    value: object
    pos: int
    text: str


@dataclass(frozen=True, slots=True)
class Comparison:
    path: Path
    op: str  # = != < <= > >=
    value: Literal


@dataclass(frozen=True, slots=True)
class LikeTest:
    path: Path
    pattern: Literal
    negated: bool


@dataclass(frozen=True, slots=True)
class InTest:
    path: Path
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class NullTest:
    path: Path
    negated: bool  # IS NOT NULL


@dataclass(frozen=True, slots=True)
class TruthTest:
    """A bare attribute used as a condition (a ``bool_value``)."""

    path: Path


@dataclass(frozen=True, slots=True)
class Constant:
    value: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


Expr: TypeAlias = Comparison | LikeTest | InTest | NullTest | TruthTest | Constant | Not | And | Or


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _tokenize(query)
        self.index = 0
        self.depth = 0

    def parse(self) -> Expr:
        expr = self._or()
        tok = self._peek()
        if tok.kind is not _T.END:
            hint = "expected AND, OR or the end of the query"
            if tok.kind is _T.RPAREN:
                hint = "no matching '('"
            raise FilterQueryError(f"unexpected {tok.describe()}", tok.pos, hint)
        return expr

    # -- helpers

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        tok = self.tokens[self.index]
        if tok.kind is not _T.END:
            self.index += 1
        return tok

    def _is_keyword(self, tok: _Token, *words: str) -> bool:
        return tok.kind is _T.KEYWORD and tok.value in words

    def _unexpected(self, tok: _Token, expected: str) -> FilterQueryError:
        return FilterQueryError(f"unexpected {tok.describe()}", tok.pos, f"expected {expected}")

    def _expect(self, kind: _T, expected: str) -> _Token:
        tok = self._next()
        if tok.kind is not kind:
            raise self._unexpected(tok, expected)
        return tok

    def _enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterQueryError(f"query nested deeper than {MAX_DEPTH} levels", tok.pos)

    # -- grammar

    def _or(self) -> Expr:
        operands = [self._and()]
        while self._is_keyword(self._peek(), "OR"):
            self._next()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Expr:
        operands = [self._not()]
        while self._is_keyword(self._peek(), "AND"):
            self._next()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self) -> Expr:
        tok = self._peek()
        if self._is_keyword(tok, "NOT"):
            self._next()
            self._enter(tok)
            operand = self._not()
            self.depth -= 1
            return Not(operand)
        if tok.kind is _T.LPAREN:
            self._next()
            self._enter(tok)
            inner = self._or()
            self.depth -= 1
            self._expect(_T.RPAREN, "')'")
            return inner
        if self._is_keyword(tok, "TRUE", "FALSE"):
            self._next()
            return Constant(tok.value == "TRUE", tok.pos)
        if tok.kind in (_T.IDENT, _T.QUOTED_IDENT):
            return self._predicate()
        raise self._unexpected(tok, "an attribute, NOT or '('")

    def _path(self) -> Path:
        first = self._next()
        if first.kind not in (_T.IDENT, _T.QUOTED_IDENT):
            raise self._unexpected(first, "an attribute")
        segments, positions = [str(first.value)], [first.pos]
        while self._peek().kind is _T.DOT:
            self._next()
            tok = self._next()
            if tok.kind not in (_T.IDENT, _T.QUOTED_IDENT):
                raise self._unexpected(tok, "a name after '.'")
            segments.append(str(tok.value))
            positions.append(tok.pos)
        return Path(tuple(segments), tuple(positions))

    def _predicate(self) -> Expr:
        path = self._path()
        tok = self._peek()
        if tok.kind is _T.OP:
            self._next()
            return Comparison(path, str(tok.value), self._value())
        negated = False
        if self._is_keyword(tok, "NOT"):
            self._next()
            negated = True
            tok = self._peek()
            if not self._is_keyword(tok, "LIKE", "IN"):
                raise self._unexpected(tok, "LIKE or IN after NOT")
        if self._is_keyword(tok, "LIKE"):
            self._next()
            pattern = self._value()
            if pattern.kind is not LiteralKind.STRING:
                raise FilterQueryError(f"LIKE needs a quoted string pattern, not {pattern.text!r}", pattern.pos)
            return LikeTest(path, pattern, negated)
        if self._is_keyword(tok, "IN"):
            self._next()
            self._expect(_T.LPAREN, "'(' after IN")
            values = [self._value()]
            while self._peek().kind is _T.COMMA:
                self._next()
                values.append(self._value())
            self._expect(_T.RPAREN, "',' or ')'")
            return InTest(path, tuple(values), negated)
        if self._is_keyword(tok, "IS"):
            self._next()
            is_not = False
            if self._is_keyword(self._peek(), "NOT"):
                self._next()
                is_not = True
            self._null_keyword()
            return NullTest(path, is_not)
        if tok.kind in (_T.END, _T.RPAREN) or self._is_keyword(tok, "AND", "OR"):
            return TruthTest(path)
        raise self._unexpected(tok, "an operator (=, !=, <, <=, >, >=, LIKE, IN, IS)")

    def _null_keyword(self) -> None:
        tok = self._next()
        if not self._is_keyword(tok, "NULL"):
            raise self._unexpected(tok, "NULL after IS")

    def _value(self) -> Literal:
        tok = self._next()
        if tok.kind is _T.MINUS:
            num = self._next()
            if num.kind is not _T.NUMBER:
                raise self._unexpected(num, "a number after '-'")
            value = -num.value  # type: ignore[operator]
            return self._number(value, tok.pos, f"-{num.text}")
        if tok.kind is _T.NUMBER:
            return self._number(tok.value, tok.pos, tok.text)  # type: ignore[arg-type]
        if tok.kind is _T.STRING:
            return Literal(LiteralKind.STRING, tok.value, tok.pos, tok.text)
        if self._is_keyword(tok, "TRUE", "FALSE"):
            return Literal(LiteralKind.BOOL, tok.value == "TRUE", tok.pos, tok.text)
        if self._is_keyword(tok, "NULL"):
            raise FilterQueryError("NULL cannot be compared", tok.pos, "use IS NULL or IS NOT NULL")
        if tok.kind in (_T.IDENT, _T.QUOTED_IDENT):
            return Literal(LiteralKind.NAME, tok.value, tok.pos, tok.text)
        raise self._unexpected(tok, "a value")

    @staticmethod
    def _number(value: int | float, pos: int, text: str) -> Literal:
        if isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise FilterQueryError(f"integer {text} does not fit in 64 bits", pos)
            return Literal(LiteralKind.INT, value, pos, text)
        return Literal(LiteralKind.FLOAT, value, pos, text)


@lru_cache(maxsize=256)
def parse(query: str) -> Expr:
    """Parse a filter query into its AST; raise :class:`FilterQueryError` if it is malformed.

    The AST is immutable, so a query's parse is kept: a request that checks a
    query, looks for plain ids in it and then compiles it parses it once.
    """
    return _Parser(query).parse()


# ---------------------------------------------------------------------------
# Schema: what a path may name
# ---------------------------------------------------------------------------


class _VType(enum.Enum):
    INT = "an integer"
    DOUBLE = "a double"
    STRING = "a string"
    BOOL = "a boolean"


@dataclass(frozen=True, slots=True)
class _Attr:
    orm: str  # path from the row that holds the attribute
    vtype: _VType
    nullable: bool = False
    enum: type[models.IntegerChoices] | None = None


_COMMON_ATTRS: dict[str, _Attr] = {
    "id": _Attr("id", _VType.INT),
    "type_id": _Attr("type_id", _VType.INT),
    "type": _Attr("type__name", _VType.STRING),
    "name": _Attr("name", _VType.STRING, nullable=True),
    "external_id": _Attr("external_id", _VType.STRING, nullable=True),
    "create_time_since_epoch": _Attr("create_time_since_epoch", _VType.INT),
    "last_update_time_since_epoch": _Attr("last_update_time_since_epoch", _VType.INT),
}

_NODE_ATTRS: dict[str, dict[str, _Attr]] = {
    "artifact": {
        **_COMMON_ATTRS,
        "uri": _Attr("uri", _VType.STRING, nullable=True),
        "state": _Attr("state", _VType.INT, nullable=True, enum=ArtifactState),
    },
    "execution": {
        **_COMMON_ATTRS,
        "last_known_state": _Attr("last_known_state", _VType.INT, nullable=True, enum=ExecutionState),
    },
    "context": dict(_COMMON_ATTRS),
}

_EVENT_COMMON: dict[str, _Attr] = {
    "type": _Attr("type", _VType.INT, enum=EventType),
    "milliseconds_since_epoch": _Attr("milliseconds_since_epoch", _VType.INT),
}
_EVENT_ATTRS: dict[str, dict[str, _Attr]] = {
    "artifact": {**_EVENT_COMMON, "execution_id": _Attr("execution_id", _VType.INT)},
    "execution": {**_EVENT_COMMON, "artifact_id": _Attr("artifact_id", _VType.INT)},
}

_VALUE_COLUMNS: dict[str, _VType] = {
    "int_value": _VType.INT,
    "double_value": _VType.DOUBLE,
    "string_value": _VType.STRING,
    "bool_value": _VType.BOOL,
}

_MODELS: dict[str, type[models.Model]] = {"artifact": Artifact, "execution": Execution, "context": Context}

# kind -> (property model, its foreign key to the node)
_PROPERTY_TABLES: dict[str, tuple[type[PropertyValue], str]] = {
    "artifact": (ArtifactProperty, "artifact"),
    "execution": (ExecutionProperty, "execution"),
    "context": (ContextProperty, "context"),
}

_PLURAL = {"artifact": "artifacts", "execution": "executions", "context": "contexts"}


@dataclass(frozen=True, slots=True)
class _Neighbour:
    relation: str  # reverse relation from the listed model to the link table
    node_field: str | None  # link table's foreign key to the neighbour node; None for events
    target: str  # "artifact", "execution", "context" or "event"


# Checked in this order: the longer prefixes first.
_PREFIXES = ("parent_contexts_", "child_contexts_", "contexts_", "artifacts_", "executions_", "events_")

_NEIGHBOURS: dict[str, dict[str, _Neighbour]] = {
    "artifact": {
        "contexts_": _Neighbour("attributions", "context", "context"),
        "events_": _Neighbour("events", None, "event"),
    },
    "execution": {
        "contexts_": _Neighbour("associations", "context", "context"),
        "events_": _Neighbour("events", None, "event"),
    },
    "context": {
        "parent_contexts_": _Neighbour("parent_links", "parent", "context"),
        "child_contexts_": _Neighbour("child_links", "context", "context"),
        "artifacts_": _Neighbour("attributions", "artifact", "artifact"),
        "executions_": _Neighbour("associations", "execution", "execution"),
    },
}


@dataclass(frozen=True, slots=True)
class _Column:
    """A column reachable from the filtered query's row by an ORM path."""

    path: str
    vtype: _VType
    nullable: bool
    enum: type[models.IntegerChoices] | None
    label: str


@dataclass(frozen=True, slots=True)
class _Property:
    """One value column of the (at most one) property row of a node."""

    model: type[PropertyValue]
    owner_field: str  # property table's foreign key to its node
    owner_path: str  # ORM path, from the filtered query's row, to that node's id
    name: str
    is_custom: bool
    column: str
    vtype: _VType
    label: str
    nullable: bool = True
    enum: type[models.IntegerChoices] | None = None


_Operand: TypeAlias = _Column | _Property


# ---------------------------------------------------------------------------
# Custom lookups (used as expressions, not registered on any field)
# ---------------------------------------------------------------------------


class _NotEqual(FieldGetDbPrepValueMixin, BuiltinLookup):
    lookup_name = "mlmd_filter_ne"

    def get_rhs_op(self, connection: object, rhs: str) -> str:
        return f"<> {rhs}"


class _Like(BuiltinLookup):
    """SQL ``LIKE`` with ``\\`` as the escape character on every backend, ignoring case."""

    lookup_name = "mlmd_filter_like"
    negated = False

    def get_rhs_op(self, connection: object, rhs: str) -> str:
        op = "NOT LIKE" if self.negated else "LIKE"
        # MySQL and PostgreSQL escape with a backslash by default; SQLite and Oracle have no
        # default escape character.
        escape = " ESCAPE '\\'" if getattr(connection, "vendor", "") in ("sqlite", "oracle") else ""
        return f"{op} {rhs}{escape}"

    def as_mysql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # The store's tables are binary-collated on MySQL (exact names), where LIKE would
        # respect case; SQLite's LIKE ignores it, and so does MLMD's on a default MySQL.
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        op = "NOT LIKE" if self.negated else "LIKE"
        return f"LOWER({lhs_sql}) {op} LOWER({rhs_sql})", [*lhs_params, *rhs_params]


class _NotLike(_Like):
    lookup_name = "mlmd_filter_not_like"
    negated = True


class _NotIn(In):
    lookup_name = "mlmd_filter_not_in"

    def get_rhs_op(self, connection: object, rhs: str) -> str:
        return f"NOT IN {rhs}"


_COMPARE: dict[str, type[Lookup]] = {
    "=": Exact,
    "!=": _NotEqual,
    "<": LessThan,
    "<=": LessThanOrEqual,
    ">": GreaterThan,
    ">=": GreaterThanOrEqual,
}
_COMPLEMENT = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}

_LookupFactory = Callable[[Expression], Lookup]


# ---------------------------------------------------------------------------
# Compiler
# ---------------------------------------------------------------------------


@dataclass
class _Compiler:
    kind: str
    relations: dict[str, FilteredRelation] = field(default_factory=dict)  # ORM alias -> join
    aliases: dict[str, str] = field(default_factory=dict)  # query alias -> ORM alias
    # ("gt" | "lt", id) when the caller keeps only node ids beyond a page boundary.
    id_bound: tuple[str, int] | None = None

    # -- entry point

    def compile(self, expr: Expr) -> Q:
        condition = self._compile(expr, True)
        for orm_alias in self.relations:
            condition &= Q(**{f"{orm_alias}__isnull": False})
        return condition

    # -- boolean structure; ``positive`` asks for "is TRUE", otherwise for "is FALSE"

    def _compile(self, expr: Expr, positive: bool) -> Q:
        if isinstance(expr, Not):
            return self._compile(expr.operand, not positive)
        if isinstance(expr, (And, Or)):
            parts = [self._compile(operand, positive) for operand in expr.operands]
            conjunction = isinstance(expr, And) == positive
            result = parts[0]
            for part in parts[1:]:
                result = (result & part) if conjunction else (result | part)
            return result
        if isinstance(expr, Constant):
            return _always() if expr.value == positive else _never()
        if isinstance(expr, Comparison):
            return self._comparison(expr, positive)
        if isinstance(expr, LikeTest):
            return self._like(expr, positive)
        if isinstance(expr, InTest):
            return self._in(expr, positive)
        if isinstance(expr, NullTest):
            operand = self._resolve(expr.path)
            return self._null(operand, want_null=(positive != expr.negated))
        if isinstance(expr, TruthTest):
            operand = self._resolve(expr.path)
            if operand.vtype is not _VType.BOOL:
                raise FilterQueryError(
                    f"{operand.label!r} is {operand.vtype.value}, not a condition",
                    expr.path.pos,
                    "compare it with a value",
                )
            return self._atom(operand, _lookup_factory("=" if positive else "!=", True))
        raise AssertionError(f"unknown AST node {expr!r}")  # pragma: no cover

    # -- predicates

    def _comparison(self, expr: Comparison, positive: bool) -> Q:
        operand = self._resolve(expr.path)
        value = _coerce(operand, expr.value)
        if operand.vtype is _VType.BOOL and expr.op not in ("=", "!="):
            raise FilterQueryError(f"{operand.label!r} is a boolean and only supports = and !=", expr.path.pos)
        if operand.enum is not None and expr.op == "!=" and operand.nullable:
            # MLMD: "state != LIVE" is "(state != LIVE OR state IS NULL)", a two-valued predicate.
            if positive:
                return self._atom(operand, _lookup_factory("!=", value)) | self._null(operand, want_null=True)
            return self._atom(operand, _lookup_factory("=", value))
        op = expr.op if positive else _COMPLEMENT[expr.op]
        return self._atom(operand, _lookup_factory(op, value))

    def _like(self, expr: LikeTest, positive: bool) -> Q:
        operand = self._resolve(expr.path)
        if operand.vtype is not _VType.STRING:
            raise FilterQueryError(
                f"LIKE needs a string attribute, {operand.label!r} is {operand.vtype.value}", expr.path.pos
            )
        lookup = _Like if positive != expr.negated else _NotLike
        pattern = expr.pattern.value
        return self._atom(operand, lambda lhs: lookup(lhs, pattern))

    def _in(self, expr: InTest, positive: bool) -> Q:
        operand = self._resolve(expr.path)
        values = [_coerce(operand, literal) for literal in expr.values]
        want_in = positive != expr.negated
        null_inclusive = operand.enum is not None and operand.nullable and expr.negated and positive
        if any(isinstance(v, Expression) for v in values):
            # A float against an integer column: IN would truncate it, so spell it out.
            parts = [self._atom(operand, _lookup_factory("=" if want_in else "!=", v)) for v in values]
            result = parts[0]
            for part in parts[1:]:
                result = (result | part) if want_in else (result & part)
        else:
            lookup = In if want_in else _NotIn
            result = self._atom(operand, lambda lhs: lookup(lhs, values))
        if null_inclusive:
            # MLMD: "state NOT IN (...)" also matches a NULL state.
            result |= self._null(operand, want_null=True)
        return result

    def _null(self, operand: _Operand, *, want_null: bool) -> Q:
        if isinstance(operand, _Property):
            # The property's value is NULL when no row holds a value in that column.
            has_value = self._property_match(operand, lambda lhs: IsNull(lhs, False))
            return ~has_value if want_null else has_value
        return Q(IsNull(F(operand.path), want_null))

    def _atom(self, operand: _Operand, make_lookup: _LookupFactory) -> Q:
        if isinstance(operand, _Property):
            return self._property_match(operand, make_lookup)
        return Q(make_lookup(F(operand.path)))

    def _property_match(self, operand: _Property, make_lookup: _LookupFactory) -> Q:
        """Nodes with a property row satisfying the lookup.

        On the filtered node itself this is ``id IN (SELECT node_id FROM props
        WHERE name = … AND <value test>)``: evaluated once through the
        (name, value) index, where a correlated EXISTS would probe the property
        table once per node.  Through an alias it stays a correlated EXISTS on
        the joined row, so negation never crosses the join.
        """
        if operand.owner_path == "id":
            rows = operand.model._base_manager.filter(name=operand.name, is_custom=operand.is_custom)
            if self.id_bound is not None:
                # The caller keeps only ids beyond the bound, so the set need not hold the others
                # (true under negation too): a later page does not collect the earlier pages' rows.
                rows = rows.filter(**{f"{operand.owner_field}__{self.id_bound[0]}": self.id_bound[1]})
            # "column IS NOT NULL" changes no answer (a test on a NULL value is never true) and
            # lets SQLite read the column's partial index for every test, NOT LIKE included.
            rows = rows.filter(make_lookup(F(operand.column)), **{f"{operand.column}__isnull": False})
            return Q(id__in=rows.values(operand.owner_field))
        return Q(self._property_exists(operand, make_lookup))

    @staticmethod
    def _property_exists(operand: _Property, make_lookup: _LookupFactory) -> Exists:
        rows = operand.model._base_manager.filter(
            **{operand.owner_field: OuterRef(operand.owner_path), "name": operand.name, "is_custom": operand.is_custom}
        ).filter(make_lookup(F(operand.column)))
        return Exists(rows)

    # -- name resolution

    def _resolve(self, path: Path) -> _Operand:
        segments, positions = path.segments, path.positions
        head = segments[0]
        prefix = next((p for p in _PREFIXES if head.startswith(p)), None)
        if prefix is None:
            return self._node_attribute(self.kind, "", "id", segments, positions, path.text)
        neighbours = _NEIGHBOURS[self.kind]
        if prefix not in neighbours:
            allowed = ", ".join(f"{p}<alias>" for p in neighbours)
            raise FilterQueryError(
                f"{prefix}<alias> cannot be used when filtering {_PLURAL[self.kind]}", positions[0], f"use {allowed}"
            )
        if len(head) == len(prefix):
            raise FilterQueryError(f"missing alias after {prefix!r}", positions[0], f"e.g. {prefix}a.name")
        if len(segments) == 1:
            raise FilterQueryError(f"{head!r} needs an attribute", positions[0], f"e.g. {head}.name")
        neighbour = neighbours[prefix]
        orm_alias = self._join(head, neighbour, positions[0])
        if neighbour.node_field is None:  # an event
            attr_name = segments[1]
            attrs = _EVENT_ATTRS[self.kind]
            if len(segments) != 2 or attr_name not in attrs:
                raise FilterQueryError(
                    f"unknown event attribute {'.'.join(segments[1:])!r}",
                    positions[1],
                    f"events offer {', '.join(attrs)}",
                )
            attr = attrs[attr_name]
            return _Column(f"{orm_alias}__{attr.orm}", attr.vtype, attr.nullable, attr.enum, path.text)
        node_path = f"{orm_alias}__{neighbour.node_field}"
        return self._node_attribute(
            neighbour.target, f"{node_path}__", node_path, segments[1:], positions[1:], path.text
        )

    def _node_attribute(
        self,
        kind: str,
        orm_prefix: str,
        id_path: str,
        segments: Sequence[str],
        positions: Sequence[int],
        label: str,
    ) -> _Operand:
        name = segments[0]
        if name in ("properties", "custom_properties"):
            if len(segments) != 3:
                raise FilterQueryError(
                    f"malformed property reference {label!r}",
                    positions[0],
                    f"write {name}.<name>.int_value, double_value, string_value or bool_value",
                )
            column = segments[2]
            if column not in _VALUE_COLUMNS:
                raise FilterQueryError(
                    f"unknown property value field {column!r}",
                    positions[2],
                    "expected int_value, double_value, string_value or bool_value",
                )
            model, owner_field = _PROPERTY_TABLES[kind]
            return _Property(
                model=model,
                owner_field=owner_field,
                owner_path=id_path,
                name=segments[1],
                is_custom=(name == "custom_properties"),
                column=column,
                vtype=_VALUE_COLUMNS[column],
                label=label,
            )
        attrs = _NODE_ATTRS[kind]
        if name not in attrs:
            if any(name in other for other in _NODE_ATTRS.values()):
                raise FilterQueryError(f"{name!r} is not an attribute of {_PLURAL[kind]}", positions[0])
            raise FilterQueryError(f"unknown attribute {name!r}", positions[0])
        if len(segments) != 1:
            raise FilterQueryError(f"{name!r} has no field {segments[1]!r}", positions[1])
        attr = attrs[name]
        return _Column(f"{orm_prefix}{attr.orm}", attr.vtype, attr.nullable, attr.enum, label)

    def _join(self, alias: str, neighbour: _Neighbour, pos: int) -> str:
        orm_alias = self.aliases.get(alias)
        if orm_alias is None:
            if len(self.aliases) >= MAX_ALIASES:
                raise FilterQueryError(f"more than {MAX_ALIASES} neighbour aliases", pos)
            orm_alias = f"mlmd_filter_join_{len(self.aliases)}"
            self.aliases[alias] = orm_alias
            self.relations[orm_alias] = FilteredRelation(neighbour.relation)
        return orm_alias


def _always() -> Q:
    return Q(pk__isnull=False)


def _never() -> Q:
    return Q(pk__in=[])


def _lookup_factory(op: str, value: object) -> _LookupFactory:
    lookup = _COMPARE[op]
    return lambda lhs: lookup(lhs, value)


def _coerce(operand: _Operand, literal: Literal) -> object:
    """The literal as a value for ``operand``, or :class:`FilterQueryError` if the types don't match."""
    vtype = operand.vtype
    kind = literal.kind
    enum_cls = operand.enum
    if enum_cls is not None and kind in (LiteralKind.NAME, LiteralKind.STRING):
        wanted = str(literal.value).upper()
        for member in enum_cls:
            if member.name == wanted:
                return int(member.value)
        names = ", ".join(member.name for member in enum_cls)
        raise FilterQueryError(
            f"{literal.text!r} is not a value of {operand.label!r}", literal.pos, f"expected one of {names}"
        )
    if kind is LiteralKind.NAME:
        raise FilterQueryError(
            f"unexpected name {literal.text!r}", literal.pos, "expected a value; quote strings, e.g. 'text'"
        )
    if vtype is _VType.INT:
        if kind is LiteralKind.INT:
            return literal.value
        if kind is LiteralKind.FLOAT:
            # Compared as a float: an integer field would truncate it.
            return Value(literal.value, output_field=models.FloatField())
    elif vtype is _VType.DOUBLE:
        if kind in (LiteralKind.INT, LiteralKind.FLOAT):
            return float(literal.value)  # type: ignore[arg-type]
    elif vtype is _VType.STRING:
        if kind is LiteralKind.STRING:
            return literal.value
    elif vtype is _VType.BOOL and kind is LiteralKind.BOOL:
        return literal.value
    raise FilterQueryError(
        f"cannot compare {operand.label!r} ({vtype.value}) with {kind.value} {literal.text}", literal.pos
    )


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def check_filter(kind: str, query: str) -> None:
    """Raise the error ``filter_nodes`` would raise for ``query``, without building a queryset.

    A query's validity depends on its text alone, so a query found valid is
    remembered (the pages of one filtered list check the same query again).
    """
    if kind not in _MODELS:
        raise ValueError(f"kind must be 'artifact', 'execution' or 'context', not {kind!r}")
    if query is not None and query.strip():
        _Compiler(kind).compile(parse(query))


def id_literals(query: str) -> tuple[int, ...] | None:
    """The ids a filter names when it only names ids (``id = 5``, ``id IN (1, 2)``), else None.

    Such a filter, the usual start of a lineage query, needs no query built: the
    caller looks the ids up.  Anything else, a malformed query included, is None
    (``filter_nodes`` then compiles it, or raises its error).
    """
    try:
        expr = parse(query)
    except FilterQueryError:
        return None
    if isinstance(expr, Comparison) and expr.op == "=":
        path, values = expr.path, (expr.value,)
    elif isinstance(expr, InTest) and not expr.negated:
        path, values = expr.path, expr.values
    else:
        return None
    if path.segments != ("id",) or any(v.kind is not LiteralKind.INT for v in values):
        return None
    return tuple(int(v.value) for v in values)  # type: ignore[call-overload]


def filter_nodes(queryset: QuerySet, kind: str, query: str, *, id_bound: tuple[str, int] | None = None) -> QuerySet:
    """Narrow ``queryset`` (of artifacts, executions or contexts, per ``kind``) by an MLMD filter query.

    Returns a queryset without duplicate rows that can still be ordered and
    sliced.  A blank query returns ``queryset`` unchanged.  A malformed query,
    an unknown attribute or a type mismatch raises :class:`FilterQueryError`,
    an :class:`~store.services.errors.InvalidArgument`.  ``id_bound``
    (``("gt", id)`` or ``("lt", id)``) keeps only the nodes beyond that id: a
    page after a token, evaluated without the rows of the pages before it.
    """
    model = _MODELS.get(kind)
    if model is None:
        raise ValueError(f"kind must be 'artifact', 'execution' or 'context', not {kind!r}")
    if not issubclass(queryset.model, model):
        raise ValueError(f"a {kind} filter needs a queryset of {model.__name__}, not {queryset.model.__name__}")
    if query is None or not query.strip():
        return queryset
    compiler = _Compiler(kind, id_bound=id_bound)
    condition = compiler.compile(parse(query))
    bound = Q(**{f"pk__{id_bound[0]}": id_bound[1]}) if id_bound is not None else Q()
    if not compiler.relations:
        return queryset.filter(condition & bound)
    matching = (
        model._base_manager.db_manager(queryset.db)
        .annotate(**compiler.relations)
        .filter(condition & bound)
        .values("pk")
    )
    return queryset.filter(Q(pk__in=matching) & bound)
