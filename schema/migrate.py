"""Alembic driven from Python: the engine behind ``clustercat db``.

The migration scripts live in the ``migrations/`` folder (package
``clustercat.migrations``); no ``alembic.ini`` is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

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
    """Migrate the database down to ``revision`` (``base`` empties it)."""
    command.downgrade(alembic_config(url), revision)


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
