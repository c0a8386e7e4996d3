"""Alembic environment: one migration history for SQLite and PostgreSQL.

Run through ``clustercat db ...`` (see :mod:`clustercat.schema.migrate`), which passes
the database URL, or an open connection in ``config.attributes["connection"]``.
SQLite uses batch mode (``render_as_batch``) because it cannot ALTER most things.
"""

from __future__ import annotations

from alembic import context
from clustercat.schema import metadata
from clustercat.schema.engine import make_engine
from clustercat.schema.migrate import include_name
from sqlalchemy import pool

config = context.config


def _configure(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=include_name,
        compare_type=True,
        transaction_per_migration=False,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``--sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection, in one transaction."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # Batch mode on SQLite copies tables around: foreign keys stay off while it does.
    engine = make_engine(
        config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool, sqlite_foreign_keys=False
    )
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
