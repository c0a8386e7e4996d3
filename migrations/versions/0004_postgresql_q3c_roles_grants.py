"""PostgreSQL extras: q3c spatial index, reader/writer roles, grants (no-op on SQLite).

- ``q3c``: the extension and an index on ``q3c_ang2ipix(ra, dec)`` of ``source``, when the
  extension is installed on the server (skipped cleanly, with a notice, when it is not).
- Roles ``clustercat_reader`` (SELECT only, statement_timeout 60 s) and
  ``clustercat_writer`` (read/write data, no DDL), created idempotently. Roles are
  cluster-wide, so the downgrade revokes this database's grants but keeps the roles.
- ``ALTER DEFAULT PRIVILEGES`` so tables and views created by later migrations stay
  readable (and writable for the writer).

Table and column comments reach ``COMMENT ON`` through the models (revision 0001) and the
view definitions (revision 0003).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "clustercat_reader"
WRITER = "clustercat_writer"
READER_STATEMENT_TIMEOUT = "60s"


def _create_role(name: str) -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
                CREATE ROLE {name} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object THEN
            NULL;  -- created concurrently by another database's migration
        END
        $$;
        """
    )


def _on_current_database(statement: str) -> None:
    """Run ``statement`` with ``%I`` replaced by the (quoted) current database name."""
    op.execute(f"DO $$ BEGIN EXECUTE format('{statement}', current_database()); END $$")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.exec_driver_sql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'q3c'"
    ).scalar()
    if available:
        op.execute("CREATE EXTENSION IF NOT EXISTS q3c")
        op.execute("CREATE INDEX IF NOT EXISTS ix_source_q3c ON source (q3c_ang2ipix(ra, dec))")
    else:
        op.execute("DO $$ BEGIN RAISE NOTICE 'q3c not installed: no spatial index'; END $$")

    _create_role(READER)
    _create_role(WRITER)
    op.execute(f"ALTER ROLE {READER} SET statement_timeout = '{READER_STATEMENT_TIMEOUT}'")
    op.execute(f"ALTER ROLE {READER} SET default_transaction_read_only = on")
    for role in (READER, WRITER):
        _on_current_database(f"GRANT CONNECT ON DATABASE %I TO {role}")
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        op.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {WRITER}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {WRITER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {WRITER}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {WRITER}"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {READER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {WRITER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {WRITER}")
    for role in (READER, WRITER):
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
        _on_current_database(f"REVOKE CONNECT ON DATABASE %I FROM {role}")
    op.execute("DROP INDEX IF EXISTS ix_source_q3c")
    # The q3c extension stays: other objects (or databases' users) may rely on it.
