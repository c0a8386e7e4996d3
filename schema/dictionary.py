"""Data dictionary: every table, view and column with its type, nullability, unit and meaning.

Two sources, which the tests keep identical:

* the code: the comments of the SQLAlchemy models (``schema/*.py``) and the view comments
  of :mod:`clustercat.schema.views`, from which :func:`schema_markdown` generates
  ``docs/schema.md`` without any database;
* a live database: :func:`database_relations` reads tables, views and columns through the
  SQLAlchemy inspector. On PostgreSQL the comments come from the database (``COMMENT ON``,
  written by the migrations); SQLite stores no comments, so they come from the code.

Every comment ends with its unit in parentheses, e.g. ``"declination, ICRS J2000 (deg)"``;
:func:`split_comment` separates the meaning from the unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Engine, inspect
from sqlalchemy.dialects import postgresql

from .base import Base
from .views import CURRENT_VIEW_COMMENTS

__all__ = [
    "ColumnDoc",
    "RelationDoc",
    "database_relations",
    "find_relation",
    "model_relations",
    "schema_markdown",
    "split_comment",
]

_TRAILING_UNIT = re.compile(r"^(?P<meaning>.*?)\s*\((?P<unit>[^()]*)\)\s*$", re.S)


@dataclass(frozen=True)
class ColumnDoc:
    """One column: name, SQL type (None if unknown), nullability and comment."""

    name: str
    type: str | None
    nullable: bool | None
    comment: str | None

    @property
    def unit(self) -> str | None:
        return split_comment(self.comment)[1]

    @property
    def meaning(self) -> str:
        return split_comment(self.comment)[0]


@dataclass(frozen=True)
class RelationDoc:
    """A table or view with its comment and columns."""

    name: str
    kind: str  # "table" | "view"
    comment: str | None
    columns: list[ColumnDoc] = field(default_factory=list)


def split_comment(comment: str | None) -> tuple[str, str | None]:
    """``("meaning", "unit")`` of ``"meaning (unit)"``; ``(comment, None)`` without a unit.

    >>> split_comment("best-fit log10 age (log yr)")
    ('best-fit log10 age', 'log yr')
    """
    if not comment:
        return "", None
    match = _TRAILING_UNIT.match(comment)
    if match is None:
        return comment.strip(), None
    return match.group("meaning"), match.group("unit").strip()


def _pg_type(column) -> str:  # noqa: ANN001
    return str(column.type.compile(dialect=postgresql.dialect()))


def model_relations() -> list[RelationDoc]:
    """Views (in the order they were added) then tables (by name), from the code only."""
    out = [
        RelationDoc(
            name,
            "view",
            comment,
            [ColumnDoc(col, None, None, text) for col, text in columns.items()],
        )
        for name, (comment, columns) in CURRENT_VIEW_COMMENTS.items()
    ]
    for name in sorted(Base.metadata.tables):
        table = Base.metadata.tables[name]
        out.append(
            RelationDoc(
                name,
                "table",
                table.comment,
                [ColumnDoc(c.name, _pg_type(c), c.nullable, c.comment) for c in table.columns],
            )
        )
    return out


def _pg_comments(engine: Engine) -> tuple[dict[str, str | None], dict[tuple[str, str], str]]:
    """(relation -> comment, (relation, column) -> comment) from PostgreSQL's catalogue."""
    with engine.connect() as conn:
        rel = conn.exec_driver_sql(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "WHERE c.relkind IN ('r', 'p', 'v')"
        ).all()
        col = conn.exec_driver_sql(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relkind IN ('r', 'p', 'v')"
        ).all()
    return dict(rel), {(t, c): d for t, c, d in col}


def database_relations(engine: Engine, name: str | None = None) -> list[RelationDoc]:
    """Tables and views of a live database (only ``name`` if given), with their columns.

    Leaves out ``alembic_version``, SQLite internals and PostgreSQL hash partitions. On SQLite
    the comments come from the code (SQLite stores none).
    """
    inspector = inspect(engine)
    pg = engine.dialect.name == "postgresql"
    views = set(inspector.get_view_names())
    tables = set(inspector.get_table_names())
    if pg:
        partitions = set(
            _scalars(engine, "SELECT c.relname FROM pg_class c WHERE c.relispartition")
        )
        tables -= partitions
    tables -= {"alembic_version"}
    tables = {t for t in tables if not t.startswith("sqlite_")}
    code = {r.name: r for r in model_relations()}
    rel_comments: dict[str, str | None] = {}
    col_comments: dict[tuple[str, str], str] = {}
    if pg:
        rel_comments, col_comments = _pg_comments(engine)
    names = sorted(views) + sorted(tables)
    if name is not None:
        names = [n for n in names if n == name]
    out = []
    for rel in names:
        known = code.get(rel)
        code_cols = {c.name: c.comment for c in known.columns} if known else {}
        columns = []
        for col in inspector.get_columns(rel):
            key = (rel, col["name"])
            comment = col_comments.get(key) if pg else code_cols.get(col["name"])
            type_ = str(col["type"]) if col.get("type") is not None else None
            columns.append(ColumnDoc(col["name"], type_, col.get("nullable"), comment))
        comment = rel_comments.get(rel) if pg else (known.comment if known else None)
        out.append(RelationDoc(rel, "view" if rel in views else "table", comment, columns))
    return out


def _scalars(engine: Engine, sql: str) -> list:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).scalars())


def find_relation(relations: list[RelationDoc], name: str) -> RelationDoc | None:
    """The relation called ``name`` (case-insensitive), or None."""
    for rel in relations:
        if rel.name.lower() == name.lower():
            return rel
    return None


def _md(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def schema_markdown(head_revision: str | None = None) -> str:
    """The text of ``docs/schema.md``: every view and table column with unit and meaning.

    Generated from the code only (no database), so it is the same on every machine.
    ``head_revision`` is printed in the header (default: the newest migration).
    """
    if head_revision is None:
        from . import migrate

        head_revision = migrate.head_revision()
    relations = model_relations()
    views = [r for r in relations if r.kind == "view"]
    tables = [r for r in relations if r.kind == "table"]
    lines = [
        "# ClusterCat data dictionary",
        "",
        "<!-- Generated by `clustercat db describe --markdown > docs/schema.md` from the model",
        "     comments (schema/*.py) and the view comments (schema/views.py). Do not edit by",
        "     hand: tests/test_dictionary.py fails when this file and the code disagree. -->",
        "",
        f"Schema at migration revision **{head_revision}**. Every column's comment ends with its "
        "unit in parentheses; on PostgreSQL the same text is the column's `COMMENT ON` "
        '(`\\d+ name` in psql, `col_description()` in SQL). Non-physical "units" say what '
        "kind of value it is: `key` (a database id to join on), `id` (an identifier as "
        "published), `text`, `code` (an enumerated integer), `count`, `bits`, `boolean`, "
        "`JSON`, `hex`, `UTC` (a timestamp).",
        "",
        "Collaborators should query the **views**: their names and columns are stable (columns "
        "may be added in later revisions, never renamed or removed) and they only show "
        "releases whose status is `complete` or `superseded`. Example queries: "
        "[sql.md](sql.md).",
        "",
        "## Views",
        "",
        "| view | columns | description |",
        "|---|---:|---|",
    ]
    lines += [f"| [`{v.name}`](#{v.name}) | {len(v.columns)} | {_md(v.comment)} |" for v in views]
    lines += ["", "## Tables", "", "| table | columns | description |", "|---|---:|---|"]
    lines += [f"| [`{t.name}`](#{t.name}) | {len(t.columns)} | {_md(t.comment)} |" for t in tables]
    lines += ["", "## View columns", ""]
    for view in views:
        lines += [f"### {view.name}", "", _md(view.comment), "", "| column | unit | meaning |"]
        lines += ["|---|---|---|"]
        lines += [f"| `{c.name}` | {_md(c.unit)} | {_md(c.meaning)} |" for c in view.columns]
        lines.append("")
    lines += ["## Table columns", ""]
    for table in tables:
        lines += [f"### {table.name}", "", _md(table.comment), ""]
        lines += ["| column | type | null | unit | meaning |", "|---|---|---|---|---|"]
        for c in table.columns:
            null = "yes" if c.nullable else "no"
            lines.append(f"| `{c.name}` | {c.type} | {null} | {_md(c.unit)} | {_md(c.meaning)} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
