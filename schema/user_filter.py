"""A user's row filter (``clustercat export --where ...``), parsed, checked and bound.

A filter is one SQL condition on the columns of one relation, e.g.
``galaxy = 'NGC 628' AND mag_v < 22 AND field LIKE 'ngc628%'``. It is never pasted into SQL:
:func:`parse_filter` reads it with sqlglot (PostgreSQL syntax), allows only

* the relation's own columns, unqualified (``mag_v``, ``"class"``);
* literals: numbers, single-quoted strings, ``TRUE``/``FALSE``/``NULL``;
* comparisons ``= <> != < <= > >=``, ``BETWEEN``, ``IN (list of values)``, ``IS [NOT] NULL``,
  ``IS [NOT] TRUE/FALSE``, ``LIKE``, ``ILIKE``;
* ``AND``, ``OR``, ``NOT``, parentheses; arithmetic ``+ - * / %`` and unary minus;
* the functions of :data:`ALLOWED_FUNCTIONS` (``abs``, ``lower``, ``upper``, ``length``,
  ``coalesce``), which mean the same on SQLite and PostgreSQL,

and turns it into a SQLAlchemy expression whose literals are **bound parameters**. Everything
else (``UNION``, subqueries, other tables, qualified names, casts, other functions such as
``pg_sleep``, comments, ``;``, placeholders, dollar-quoted or escape strings) is refused with
:class:`FilterError`, which says what was refused and where (1-based character position).

The module knows nothing of exports; the cone search or the dashboard can use it the same way
with their own column lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlglot
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    String,
    and_,
    column,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    true,
)
from sqlalchemy.sql.elements import quoted_name
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_FILTER_LENGTH",
    "FilterError",
    "UserFilter",
    "parse_filter",
]

#: Longest filter accepted (characters).
MAX_FILTER_LENGTH = 4000
#: Deepest expression accepted (nesting of operators and parentheses).
_MAX_DEPTH = 64

#: Functions a filter may call: sqlglot node type -> (SQL name, number of arguments or None
#: for one or more). The same meaning on SQLite and PostgreSQL.
ALLOWED_FUNCTIONS: dict[type[exp.Expression], tuple[str, int | None]] = {
    exp.Abs: ("abs", 1),
    exp.Lower: ("lower", 1),
    exp.Upper: ("upper", 1),
    exp.Length: ("length", 1),
    exp.Coalesce: ("coalesce", None),
}

_Binary = Callable[[ColumnElement, ColumnElement], ColumnElement]

_COMPARISONS: dict[type[exp.Expression], _Binary] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
}
_ARITHMETIC: dict[type[exp.Expression], _Binary] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.Div: lambda a, b: a / b,
    exp.Mod: lambda a, b: a % b,
}


class FilterError(ValueError):
    """A filter that is not a plain condition on the allowed columns; says what and where."""

    def __init__(self, text: str, message: str, position: int | None = None) -> None:
        self.text = text
        self.message = message
        self.position = position  # 1-based character, None when unknown
        where = f" (at character {position})" if position is not None else ""
        super().__init__(f"filter {_shorten(text)!r} refused{where}: {message}")


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class UserFilter:
    """A checked filter: its text, the columns it reads and its SQLAlchemy condition."""

    text: str
    columns: frozenset[str]
    tree: exp.Expression

    def clause(self, resolve: Callable[[str], ColumnElement] | None = None) -> ColumnElement[bool]:
        """The condition as a SQLAlchemy expression; literals are bound parameters.

        ``resolve`` maps a column name to a column expression (default: an unqualified,
        always double-quoted column, e.g. ``"mag_v"``).
        """
        if resolve is None:
            resolve = _quoted_column
        return _Translator(self.text, resolve).build(self.tree)


def _quoted_column(name: str) -> ColumnElement:
    return column(quoted_name(name, quote=True))


def _position(node: exp.Expression) -> int | None:
    meta = getattr(node, "meta", None) or {}
    if "start" in meta:
        return int(meta["start"]) + 1
    for child in node.iter_expressions():
        found = _position(child)
        if found is not None:
            return found
    return None


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous | exp.Func) and not isinstance(node, exp.Cast):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        allowed = ", ".join(sorted(n for n, _ in ALLOWED_FUNCTIONS.values()))
        return f"function {name.lower()}() is not allowed (allowed: {allowed})"
    names = {
        exp.Select: "a subquery (SELECT)",
        exp.Subquery: "a subquery",
        exp.Union: "UNION",
        exp.Intersect: "INTERSECT",
        exp.Except: "EXCEPT",
        exp.Exists: "EXISTS (a subquery)",
        exp.Cast: "a type cast",
        exp.TryCast: "a type cast",
        exp.Placeholder: "a parameter placeholder",
        exp.Star: "'*'",
        exp.Collate: "COLLATE",
        exp.DPipe: "string concatenation '||'",
    }
    for kind, label in names.items():
        if isinstance(node, kind):
            return f"{label} is not allowed"
    if isinstance(node, exp.RawString | exp.ByteString | exp.UnicodeString | exp.HexString):
        return "only plain numbers and single-quoted strings are allowed as values"
    return f"{node.key.upper()} is not allowed in a filter"


def parse_filter(text: str, columns: Iterable[str], *, relation: str = "the view") -> UserFilter:
    """Check ``text`` as a condition on ``columns`` of ``relation``; raise FilterError if not.

    Only the grammar described in the module docstring is accepted. Unquoted names are
    case-insensitive (as in SQL), quoted names must match exactly.
    """
    allowed = frozenset(columns)
    if not isinstance(text, str) or not text.strip():
        raise FilterError(str(text), "the filter is empty")
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(text, f"longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise FilterError(text, "contains a NUL character", text.index("\x00") + 1)
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
    except TokenError as exc:
        raise FilterError(text, f"cannot read it as SQL ({_token_problem(exc)})") from exc
    for token in tokens:
        if token.comments:
            raise FilterError(text, "SQL comments ('--', '/* */') are not allowed", token.start + 1)
        if token.token_type == TokenType.SEMICOLON:
            raise FilterError(text, "';' is not allowed: give one condition", token.start + 1)
    try:
        statements = sqlglot.parse(text, read="postgres")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        col = first.get("col")
        raise FilterError(
            text,
            f"not a single SQL condition ({first.get('description', 'syntax error')})",
            int(col) if col else None,
        ) from exc
    except (TokenError, RecursionError) as exc:
        raise FilterError(text, "cannot read it as SQL") from exc
    if len(statements) != 1 or statements[0] is None:
        raise FilterError(text, "give exactly one condition")
    tree = statements[0]
    used = _check_tree(text, tree, allowed, relation)
    if isinstance(tree, exp.Literal | exp.Null | exp.Neg) or type(tree) in (
        *_ARITHMETIC,
        *ALLOWED_FUNCTIONS,
    ):
        raise FilterError(text, "not a condition (true or false per row)", _position(tree))
    return UserFilter(text=text.strip(), columns=frozenset(used), tree=tree)


def _token_problem(exc: TokenError) -> str:
    message = str(exc)
    if message.count("'") % 2 or "tokenizing" in message:
        return "unbalanced quotes or an unknown character"
    return message


_STRUCTURAL = (
    exp.And, exp.Or, exp.Not, exp.Paren, exp.Neg, exp.Between, exp.In, exp.Is, exp.Like,
    exp.ILike, exp.Boolean, exp.Null, exp.Literal, exp.Column, exp.Identifier,
    *_COMPARISONS, *_ARITHMETIC, *ALLOWED_FUNCTIONS,
)  # fmt: skip


def _check_tree(
    text: str, tree: exp.Expression, allowed: frozenset[str], relation: str
) -> set[str]:
    used: set[str] = set()
    lower = {name.lower(): name for name in allowed}
    stack: list[tuple[exp.Expression, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise FilterError(text, f"nested deeper than {_MAX_DEPTH} levels")
        if not isinstance(node, _STRUCTURAL):
            raise FilterError(text, _describe(node), _position(node))
        if isinstance(node, exp.Column):
            if node.table or node.args.get("db") or node.args.get("catalog"):
                raise FilterError(
                    text,
                    f"qualified name {node.sql()!r}: only columns of {relation} are allowed, "
                    "without a table name",
                    _position(node),
                )
            ident = node.this
            if not isinstance(ident, exp.Identifier):
                raise FilterError(text, _describe(ident), _position(node))
            name = ident.name if ident.quoted else lower.get(ident.name.lower(), ident.name)
            if name not in allowed:
                raise FilterError(
                    text,
                    f"unknown column {ident.name!r}: not a column of {relation} "
                    f"(see 'clustercat db describe')",
                    _position(node),
                )
            used.add(name)
            continue
        if isinstance(node, exp.In) and (node.args.get("query") or node.args.get("unnest")):
            raise FilterError(text, "IN (SELECT ...) is not allowed: list values", _position(node))
        if isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null | exp.Boolean):
            raise FilterError(text, "IS is only allowed with NULL, TRUE or FALSE", _position(node))
        if isinstance(node, exp.Like | exp.ILike) and node.args.get("escape"):
            raise FilterError(text, "LIKE ... ESCAPE is not allowed", _position(node))
        if type(node) in ALLOWED_FUNCTIONS:
            name, arity = ALLOWED_FUNCTIONS[type(node)]
            args = [a for a in node.iter_expressions()]
            if arity is not None and len(args) != arity:
                raise FilterError(
                    text, f"{name}() takes {arity} argument(s), got {len(args)}", _position(node)
                )
        for child in node.iter_expressions():
            stack.append((child, depth + 1))
    return used


class _Translator:
    """sqlglot tree (already checked) -> SQLAlchemy expression with bound literals."""

    def __init__(self, text: str, resolve: Callable[[str], ColumnElement]) -> None:
        self.text = text
        self.resolve = resolve

    def build(self, node: exp.Expression) -> ColumnElement:  # noqa: C901, PLR0911, PLR0912
        if isinstance(node, exp.Paren):
            return self.build(node.this).self_group()
        if isinstance(node, exp.And):
            return and_(self.build(node.this), self.build(node.expression))
        if isinstance(node, exp.Or):
            return or_(self.build(node.this), self.build(node.expression))
        if isinstance(node, exp.Not):
            return not_(self.build(node.this))
        if isinstance(node, exp.Neg):
            return -self.build(node.this)
        binary = _COMPARISONS.get(type(node)) or _ARITHMETIC.get(type(node))
        if binary is not None:
            return binary(self.build(node.this), self.build(node.expression))
        if isinstance(node, exp.Between):
            return self.build(node.this).between(
                self.build(node.args["low"]), self.build(node.args["high"])
            )
        if isinstance(node, exp.In):
            return self.build(node.this).in_([self.build(e) for e in node.expressions])
        if isinstance(node, exp.Is):
            value = self.build(node.expression)
            subject = self.build(node.this)
            return subject.is_not(value) if node.args.get("negate") else subject.is_(value)
        if isinstance(node, exp.ILike):
            return self.build(node.this).ilike(self.build(node.expression))
        if isinstance(node, exp.Like):
            return self.build(node.this).like(self.build(node.expression))
        if type(node) in ALLOWED_FUNCTIONS:
            name = ALLOWED_FUNCTIONS[type(node)][0]
            return getattr(func, name)(*[self.build(a) for a in node.iter_expressions()])
        if isinstance(node, exp.Column):
            ident = node.this
            return self.resolve(ident.name if ident.quoted else ident.name.lower())
        if isinstance(node, exp.Boolean):
            return true() if node.this else false()
        if isinstance(node, exp.Null):
            return null()
        if isinstance(node, exp.Literal):
            return _literal(node)
        raise FilterError(self.text, _describe(node), _position(node))  # checked before


def _literal(node: exp.Literal) -> ColumnElement:
    """A bound parameter: text, a 64-bit integer, or a float for any other number."""
    if node.is_string:
        return literal(node.this, String)
    try:
        value = int(node.this)
    except ValueError:
        return literal(float(node.this), Float)
    if -(2**63) <= value < 2**63:
        return literal(value, BigInteger)
    return literal(float(value), Float)
