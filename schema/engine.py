"""Engines and sessions for SQLite (embedded default) and PostgreSQL (collaboration).

SQLite connections get ``foreign_keys=ON``, WAL journalling and a busy timeout, so that
the embedded database enforces the same integrity as PostgreSQL and tolerates readers
next to a writer. pysqlite's own transaction handling is switched off and SQLAlchemy
emits ``BEGIN`` itself (the recipe of the SQLAlchemy SQLite dialect documentation), so
that transactions, savepoints and transactional DDL behave as on PostgreSQL. A writer
that must not lose a race asks for ``BEGIN IMMEDIATE`` with
``connection.execution_options(sqlite_begin="IMMEDIATE")`` (see :func:`write_transaction`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .config import database_url

SQLITE_BUSY_TIMEOUT_MS = 60_000


def _install_sqlite_hooks(engine: Engine, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def make_engine(url: str | None = None, *, sqlite_foreign_keys: bool = True, **kwargs) -> Engine:
    """An engine for ``url`` (default: :func:`clustercat.schema.config.database_url`).

    ``postgresql://`` URLs are routed to psycopg 3. ``sqlite_foreign_keys=False`` is for
    Alembic's batch migrations only, which copy tables around.
    """
    parsed = make_url(database_url(url))
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine, sqlite_foreign_keys)
    return engine


def is_postgresql(engine_or_conn: Engine | Connection) -> bool:
    """True when the engine or connection talks to PostgreSQL."""
    return engine_or_conn.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction: ``BEGIN IMMEDIATE`` on SQLite, plain on PostgreSQL.

    Committed when the block ends normally, rolled back on any exception.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
