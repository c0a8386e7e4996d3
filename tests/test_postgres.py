"""PostgreSQL-only features: column comments, q3c, partitions, roles and grants."""

from __future__ import annotations

import pytest
from clustercat.schema import metadata
from factories import make_release
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

READER = "clustercat_reader"
WRITER = "clustercat_writer"


def _relations(connection) -> list[str]:  # noqa: ANN001
    return sorted(metadata.tables) + ["cluster_catalogue", "source_classes"]


def test_every_column_has_a_comment_with_a_unit(connection) -> None:  # noqa: ANN001
    rows = connection.execute(
        text(
            """
            SELECT c.relname, a.attname, col_description(c.oid, a.attnum)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p', 'v') AND c.relname <> 'alembic_version'
              AND NOT c.relispartition
            """
        )
    ).all()
    assert len(rows) > 250
    undocumented = [f"{t}.{c}" for t, c, d in rows if not d or not d.rstrip().endswith(")")]
    assert undocumented == []
    source_comments = {c: d for t, c, d in rows if t == "source"}
    assert source_comments["ra"] == "right ascension, ICRS J2000 (deg)"
    assert source_comments["x"].endswith("(pix)")


def test_q3c_index_exists_and_answers_cone_searches(connection) -> None:  # noqa: ANN001
    indexdef = connection.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_source_q3c'")
    ).scalar()
    assert indexdef is not None and 'q3c_ang2ipix(ra, "dec")' in indexdef
    from sqlalchemy.orm import Session

    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        make_release(session, name="cone", n_sources=5)
        session.commit()  # releases the savepoint; the outer transaction still rolls back
    # Sources sit 0.001 deg apart along RA and Dec from (24.17, 15.78): the second is
    # 5.0" away, the third 10.0": a 6" cone catches two.
    ids = (
        connection.execute(
            text(
                "SELECT id_in_release FROM source WHERE q3c_radial_query(ra, dec, 24.17, 15.78, "
                "6.0 / 3600) ORDER BY 1"
            )
        )
        .scalars()
        .all()
    )
    assert ids == [1, 2]
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        connection.execute(
            text("EXPLAIN SELECT * FROM source WHERE q3c_radial_query(ra, dec, 24.17, 15.78, 0.01)")
        ).scalars()
    )
    assert "ix_source_q3c" in plan


def test_large_tables_are_hash_partitioned(connection) -> None:  # noqa: ANN001
    parts = connection.execute(
        text(
            "SELECT parent.relname, count(*) FROM pg_inherits i "
            "JOIN pg_class parent ON parent.oid = i.inhparent AND parent.relkind = 'p' "
            "GROUP BY parent.relname ORDER BY 1"
        )
    ).all()
    assert dict(parts) == {"injection_trial": 4, "ml_prediction": 4}


def test_reader_role_settings(connection) -> None:  # noqa: ANN001
    settings = (
        connection.execute(
            text(
                "SELECT unnest(s.setconfig) FROM pg_db_role_setting s "
                "JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = :role"
            ),
            {"role": READER},
        )
        .scalars()
        .all()
    )
    assert "statement_timeout=60s" in settings


def test_reader_can_select_every_table_and_view(connection) -> None:  # noqa: ANN001
    connection.execute(text(f"SET ROLE {READER}"))
    for relation in _relations(connection):
        connection.execute(text(f'SELECT * FROM "{relation}" LIMIT 1')).all()
    connection.execute(text("RESET ROLE"))


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO galaxy (name) VALUES ('NGC 9999')",
        "UPDATE filter SET band = 'V' WHERE name = 'F555W'",
        "DELETE FROM survey",
        "CREATE TABLE intruder (id int)",
        "DROP TABLE source",
        "TRUNCATE photometry",
    ],
)
def test_reader_cannot_write_or_change_the_schema(engine, statement: str) -> None:  # noqa: ANN001
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text(f"SET LOCAL ROLE {READER}"))
        with pytest.raises(DBAPIError) as excinfo:
            conn.execute(text(statement))
        trans.rollback()
    assert excinfo.value.orig.sqlstate in ("42501", "25006")  # privilege / read-only


def test_writer_writes_data_but_not_schema(engine) -> None:  # noqa: ANN001
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text(f"SET LOCAL ROLE {WRITER}"))
        conn.execute(text("INSERT INTO galaxy (name, distance_mpc) VALUES ('NGC 9998', 5.0)"))
        with pytest.raises(DBAPIError) as excinfo:
            conn.execute(text("CREATE TABLE intruder (id int)"))
        trans.rollback()
    assert excinfo.value.orig.sqlstate == "42501"


def test_tables_created_later_stay_readable(engine) -> None:  # noqa: ANN001
    """ALTER DEFAULT PRIVILEGES: a table a later migration adds is readable at once."""
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE later_table (id int)"))
        conn.execute(text(f"SET LOCAL ROLE {READER}"))
        assert conn.execute(text("SELECT count(*) FROM later_table")).scalar() == 0
        trans.rollback()


def test_roles_survive_a_second_database(backend, postgres_databases) -> None:  # noqa: ANN001
    """Roles are cluster-wide: migrating another database must not fail on them."""
    from clustercat.schema import migrate

    url = postgres_databases.create("clustercat_roles")
    try:
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        migrate.upgrade(url)
    finally:
        postgres_databases.drop(url)
