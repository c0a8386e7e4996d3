"""Alembic driven from Python: the engine behind ``clustercat db``.

The migration scripts live in the ``migrations/`` folder (package
``clustercat.migrations``); no ``alembic.ini`` is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, pool

from .base import Base
from .config import database_url
from .engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

#: Objects that exist in the database but deliberately not in the models: hash
#: partitions of partitioned tables and the q3c expression index (PostgreSQL only).
_UNMODELLED = re.compile(r"^(.*_p\d+|ix_source_q3c.*)$")


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Leave unmodelled PostgreSQL objects out of autogenerate comparisons."""
    if name is None:
        return True
    return not (type_ in ("table", "index") and _UNMODELLED.match(name))


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at our migrations and at ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal '%' in a URL must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (creating it for SQLite if needed)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    """Migrate the database down to ``revision`` (``base`` empties it).

    No questions asked: ``clustercat db downgrade`` first calls :func:`plan_downgrade`.
    """
    command.downgrade(alembic_config(url), revision)


#: Tables whose rows are bookkeeping, not data: losing them loses nothing.
BOOKKEEPING_TABLES = frozenset(
    {"alembic_version", "ingest_lock", "release_drop_guard", "sqlite_sequence"}
)


class DowngradeRefusedError(RuntimeError):
    """A downgrade that cannot run (a migration refused it, or nothing to downgrade)."""


@dataclass
class DowngradePlan:
    """What a downgrade would do: from, to (None: base) and the rows it would delete."""

    current: str | None
    target: str | None
    lost: dict[str, int] = field(default_factory=dict)  # "table" or "table.column" -> rows

    @property
    def deletes_data(self) -> bool:
        return bool(self.lost)

    def describe_loss(self) -> str:
        return ", ".join(f"{n} row(s) of {key}" for key, n in sorted(self.lost.items()))


def _columns(conn: Connection) -> dict[str, list[str]]:
    insp = inspect(conn)
    return {
        t: [c["name"] for c in insp.get_columns(t)]
        for t in insp.get_table_names()
        if t not in BOOKKEEPING_TABLES
    }


def _count(conn: Connection, table: str, column: str | None = None) -> int:
    what = f'count("{column}")' if column else "count(*)"
    return int(conn.exec_driver_sql(f'SELECT {what} FROM "{table}"').scalar())


#: Tables whose rows are derived from other tables and re-written by the migration that
#: creates them (revision 0010 back-fills ``catalogue_entry``): dropping them loses nothing.
DERIVED_TABLES = frozenset({"catalogue_entry"})


def resolve_downgrade_target(current: str, revision: str) -> str:
    """An absolute target for ``revision``: ``-N`` counted down from ``current``, or as given.

    ``base`` is spelled out, so that a relative step reaching it is treated as ``base``.
    """
    if not re.fullmatch(r"-\d+", revision.strip()):
        return revision
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    target: str | None = current
    for _ in range(int(revision.strip()[1:])):
        if target is None:
            raise DowngradeRefusedError(
                f"{revision} from {current} goes below base (the first revision)"
            )
        down = script.get_revision(target).down_revision
        target = down if isinstance(down, str) or down is None else down[0]
    return target or "base"


def plan_downgrade(url: str | None, revision: str = "-1") -> DowngradePlan:
    """Resolve ``revision`` and find the data a downgrade to it would delete, without change.

    The downgrade runs for real inside a transaction that is rolled back (both backends
    have transactional DDL): the revision it reaches is the resolved target (``-5``, one
    step, ``base`` ...), and the tables and columns it drops, or rows it deletes, are
    counted. A migration that refuses (e.g. 0002 while catalogue rows use its filters)
    raises :class:`DowngradeRefusedError` with its message.
    """
    engine = make_engine(url, poolclass=pool.NullPool, sqlite_foreign_keys=False)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current is None:
                raise DowngradeRefusedError("the database is at base (empty): nothing to undo")
            revision = resolve_downgrade_target(current, revision)
            before = _columns(conn)
            conn.commit()  # end the autobegun read transaction: the dry run is its own
            trans = conn.begin()
            try:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                try:
                    command.downgrade(cfg, revision)
                except Exception as exc:
                    raise DowngradeRefusedError(
                        f"downgrade to {revision} refused: {exc}".splitlines()[0]
                    ) from exc
                target = MigrationContext.configure(conn).get_current_revision()
                after = _columns(conn)
                counts_after = {t: _count(conn, t) for t in after if t in before}
            finally:
                trans.rollback()
            lost: dict[str, int] = {}
            for table, columns in before.items():
                if table in DERIVED_TABLES:
                    continue
                n = _count(conn, table)
                if table not in after:
                    if n:
                        lost[table] = n
                    continue
                if n > counts_after[table]:
                    lost[table] = n - counts_after[table]
                for column in sorted(set(columns) - set(after[table])):
                    filled = _count(conn, table, column)
                    if filled:
                        lost[f"{table}.{column}"] = filled
            conn.rollback()
    finally:
        engine.dispose()
    return DowngradePlan(current=current, target=target, lost=lost)


def head_revision() -> str:
    """The newest revision in the migration scripts."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migration history has {len(heads)} heads: {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not under Alembic control yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class DatabaseNotReadyError(RuntimeError):
    """The database is not at the newest schema revision."""


def require_head(engine: Engine) -> None:
    """Raise :class:`DatabaseNotReadyError` unless the database is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotReadyError(
            f"database {engine.url.render_as_string(hide_password=True)} is at revision "
            f"{current or 'base (empty)'}, not {head}: run 'clustercat db upgrade'"
        )


def pending_model_changes(engine: Engine) -> list:
    """Differences between the models and the live schema (empty when in sync)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_name": include_name},
        )
        return compare_metadata(context, Base.metadata)


def engine_for(url: str | None = None) -> Engine:
    """Shortcut for :func:`clustercat.schema.engine.make_engine`."""
    return make_engine(url)
