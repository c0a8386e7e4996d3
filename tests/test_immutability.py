"""Complete releases are immutable, enforced by the database on both backends.

As the owner through plain SQL (SQLite has no other user; on PostgreSQL the test superuser
owns the tables) and, on PostgreSQL, as a writer login role: UPDATE and DELETE of a complete
release's rows fail, also of rows a later run added (an SED refit; revision 0011); the
allowed changes pass; ``clustercat db drop-release`` works for the owner only.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.schema import make_engine, metadata, migrate, session_scope
from clustercat.schema.catalogue_entry import write_catalogue_entries
from clustercat.schema.immutability import (
    IMMUTABLE_SQLSTATE,
    PROTECTED_TABLES,
    PROTECTED_TABLES_V2,
    drop_release,
    protected_tables,
)
from clustercat.schema.roles import grant_writer
from conftest import login_as
from factories import make_release, phangs_table
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

#: Statements a complete release must refuse (``:r`` is its id).
REFUSED = [
    "UPDATE source SET ra = ra + 1 WHERE release_id = :r",
    "DELETE FROM source WHERE release_id = :r",
    "UPDATE photometry SET mag_vega = 0 WHERE source_id IN "
    "(SELECT id FROM source WHERE release_id = :r)",
    "DELETE FROM photometry WHERE source_id IN (SELECT id FROM source WHERE release_id = :r)",
    "UPDATE classification SET cluster_class = 4 WHERE source_id IN "
    "(SELECT id FROM source WHERE release_id = :r)",
    "DELETE FROM classification WHERE source_id IN (SELECT id FROM source WHERE release_id = :r)",
    "UPDATE sed_fit SET log_age = 10 WHERE source_id IN "
    "(SELECT id FROM source WHERE release_id = :r)",
    "DELETE FROM sed_fit WHERE source_id IN (SELECT id FROM source WHERE release_id = :r)",
    "UPDATE morphology SET ci = 9 WHERE source_id IN (SELECT id FROM source WHERE release_id = :r)",
    "UPDATE catalogue_release SET name = 'renamed' WHERE id = :r",
    "UPDATE catalogue_release SET status = 'failed' WHERE id = :r",
    "DELETE FROM catalogue_release WHERE id = :r",
    "DELETE FROM release_file WHERE release_id = :r",
]


#: Rows a run started after the release completed adds (``:run`` the run, ``:m`` an SED
#: method, ``:r`` the release): an SED refit, and image-pipeline outputs of a later run.
LATER_RUN_ROWS = [
    "INSERT INTO sed_fit (source_id, method_id, run_id, log_age) "
    "SELECT id, :m, :run, 7.5 FROM source WHERE release_id = :r",
    "INSERT INTO photometry (source_id, filter_id, kind, radius_px, status, mag_vega, mag_err, "
    "run_id) SELECT id, (SELECT min(id) FROM filter), 'aperture', 4, 'measured', 21, 0.1, :run "
    "FROM source WHERE release_id = :r",
    "INSERT INTO morphology (source_id, constants_version, ci, run_id) "
    "SELECT id, 'later run', 1.5, :run FROM source WHERE release_id = :r",
    "INSERT INTO source_selection (source_id, run_id, constants_version, passes_general, "
    "passes_morph_quality, in_semi_empirical, super_hd, is_double, candidate) "
    "SELECT id, :run, 'later run', TRUE, TRUE, TRUE, FALSE, FALSE, TRUE FROM source "
    "WHERE release_id = :r",
]

#: Statements on those rows a complete release must refuse too (``:r`` is the run id).
REFUSED_LATER_RUN = [
    "UPDATE sed_fit SET log_age = 8 WHERE run_id = :r",
    "DELETE FROM sed_fit WHERE run_id = :r",
    "UPDATE photometry SET mag_vega = 22 WHERE run_id = :r",
    "DELETE FROM photometry WHERE run_id = :r",
    "UPDATE morphology SET ci = 2 WHERE run_id = :r",
    "DELETE FROM morphology WHERE run_id = :r",
    "UPDATE source_selection SET candidate = FALSE WHERE run_id = :r",
    "DELETE FROM source_selection WHERE run_id = :r",
]


def _add_later_run(conn: Connection, release_id: int, method: str) -> int:
    """A run (started now, after the release completed) with its rows of
    :data:`LATER_RUN_ROWS` under a new SED method ``method``; returns the run id."""
    run = conn.execute(
        text("INSERT INTO processing_run (module, release_id, status, started_at) "
             "VALUES ('sed', :r, 'running', :t) RETURNING id"),
        {"r": release_id, "t": dt.datetime.now(dt.UTC)},
    ).scalar_one()  # fmt: skip
    method_id = conn.execute(
        text("INSERT INTO sed_method (name) VALUES (:n) RETURNING id"), {"n": method}
    ).scalar_one()
    for sql in LATER_RUN_ROWS:
        conn.execute(text(sql), {"m": method_id, "run": run, "r": release_id})
    return int(run)


def _later_run_counts(conn: Connection, run: int) -> list[int]:
    tables = ("sed_fit", "photometry", "morphology", "source_selection")
    return [_count(conn, f"SELECT count(*) FROM {t} WHERE run_id = :r", r=run) for t in tables]


def _refused(conn: Connection, sql: str, release_id: int) -> DBAPIError:
    with pytest.raises(DBAPIError) as excinfo, conn.begin_nested():
        conn.execute(text(sql), {"r": release_id})
    assert "immutable" in str(excinfo.value.orig), sql
    if conn.dialect.name == "postgresql":
        assert excinfo.value.orig.sqlstate == IMMUTABLE_SQLSTATE, sql
    return excinfo.value


def _count(conn: Connection, sql: str, **params) -> int:  # noqa: ANN003
    return int(conn.execute(text(sql), params).scalar())


def test_every_release_table_has_the_triggers(connection: Connection, backend: str) -> None:
    have = protected_tables(connection)
    wanted = {"catalogue_release", *(spec.table for spec in PROTECTED_TABLES)}
    wanted |= {spec.table for spec in PROTECTED_TABLES_V2}
    if "catalogue_entry" in metadata.tables:
        wanted.add("catalogue_entry")
    assert wanted <= have, wanted - have
    # at head (revision 0011) their protection has no condition: every row is frozen
    assert all(spec.only_if is None for spec in PROTECTED_TABLES_V2)


def test_owner_sql_cannot_change_a_complete_release(
    connection: Connection, session, backend: str
) -> None:  # noqa: ANN001
    release = make_release(session, name="frozen", n_sources=3)
    session.commit()
    rid = release.id
    connection.execute(  # adding rows to a complete release is allowed
        text("INSERT INTO release_file (release_id, path, sha256, size_bytes) "
             "VALUES (:r, 'frozen.fits', :h, 10)"), {"r": rid, "h": "0" * 64},
    )  # fmt: skip
    view = "SELECT count(*) FROM cluster_catalogue WHERE release = 'frozen'"
    before = _count(connection, view)
    for sql in REFUSED:
        _refused(connection, sql, rid)
    assert _count(connection, "SELECT count(*) FROM source WHERE release_id = :r", r=rid) == 3
    assert _count(connection, view) == before == 3
    assert _count(connection, "SELECT sum(log_age) FROM cluster_catalogue "
                  "WHERE release = 'frozen'") == 6 + 7 + 8  # fmt: skip


def test_allowed_changes_of_a_complete_release(
    connection: Connection, session, backend: str
) -> None:  # noqa: ANN001
    release = make_release(session, name="allowed", status="loading", n_sources=2)
    session.commit()
    rid = release.id
    connection.execute(  # completed long ago: every run below starts after it
        text("UPDATE catalogue_release SET status = 'complete', completed_at = :t WHERE id = :r"),
        {"t": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "r": rid},
    )
    write_catalogue_entries(connection, rid)  # as the loader does when it completes a release
    # the default SED method may change
    other = _count(connection, "SELECT id FROM sed_method WHERE name = 'allowed other SED'")
    connection.execute(
        text("UPDATE catalogue_release SET default_sed_method_id = :m WHERE id = :r"),
        {"m": other, "r": rid},
    )
    ages = connection.execute(
        text("SELECT sum(log_age) FROM cluster_catalogue WHERE release = 'allowed'")
    ).scalar()
    assert ages == pytest.approx(2 * 9.9)
    # new rows may be added: a processing run (started after completion), its SED fits, and
    # photometry, morphology and selections of that later run
    run = _add_later_run(connection, rid, "refit")
    assert _later_run_counts(connection, run) == [2, 2, 2, 2]
    # ... but once added they are frozen with the release, like the catalogue's own rows
    for sql in REFUSED_LATER_RUN:
        _refused(connection, sql, run)
    assert _later_run_counts(connection, run) == [2, 2, 2, 2]
    assert _count(connection, "SELECT sum(log_age) FROM sed_fit WHERE run_id = :r", r=run) == 15
    _refused(connection, "DELETE FROM sed_fit WHERE run_id IS NULL AND source_id IN "
             "(SELECT id FROM source WHERE release_id = :r)", rid)  # fmt: skip
    # a running processing run may finish; a complete one is frozen
    connection.execute(
        text("UPDATE processing_run SET status = 'complete' WHERE id = :i"), {"i": run}
    )
    _refused(connection, "UPDATE processing_run SET status = 'failed' WHERE release_id = :r", rid)
    _refused(connection, "DELETE FROM processing_run WHERE release_id = :r", rid)
    # complete -> superseded, and nothing back
    connection.execute(
        text("UPDATE catalogue_release SET status = 'superseded' WHERE id = :r"), {"r": rid}
    )
    _refused(connection, "UPDATE catalogue_release SET status = 'complete' WHERE id = :r", rid)
    _refused(connection, "DELETE FROM source WHERE release_id = :r", rid)


def test_revision_0011_freezes_later_runs_and_its_downgrade_restores_0010(
    migrated_url: str, backend: str
) -> None:
    engine = make_engine(migrated_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()  # 0011 or later
        with session_scope(engine) as session:
            rid = make_release(session, name="refitted", status="loading", n_sources=2).id
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE catalogue_release SET status = 'complete', completed_at = :t "
                     "WHERE id = :r"), {"t": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "r": rid},
            )  # fmt: skip
            write_catalogue_entries(conn, rid)
            conn.execute(
                text("INSERT INTO release_file (release_id, path, sha256, size_bytes) "
                     "VALUES (:r, 'refitted.fits', :h, 10)"), {"r": rid, "h": "0" * 64},
            )  # fmt: skip
            run = _add_later_run(conn, rid, "refit of 0011")
        with engine.connect() as conn:
            for sql in REFUSED_LATER_RUN:
                _refused(conn, sql, run)
        migrate.downgrade(migrated_url, "0010")  # a refit's rows could be deleted at 0010
        with engine.connect() as conn:
            with conn.begin_nested():
                for sql in REFUSED_LATER_RUN:
                    assert conn.execute(text(sql), {"r": run}).rowcount == 2, sql
                assert _later_run_counts(conn, run) == [0, 0, 0, 0]
            conn.rollback()
            for sql in REFUSED:  # the release's own rows stay frozen
                _refused(conn, sql, rid)
            assert _later_run_counts(conn, run) == [2, 2, 2, 2]
        migrate.upgrade(migrated_url)
        with engine.connect() as conn:
            for sql in REFUSED_LATER_RUN:
                _refused(conn, sql, run)
            assert _later_run_counts(conn, run) == [2, 2, 2, 2]
    finally:
        engine.dispose()


def test_loading_releases_stay_writable(connection: Connection, session, backend: str) -> None:  # noqa: ANN001
    release = make_release(session, name="still-loading", status="loading", n_sources=2)
    session.commit()
    n = connection.execute(
        text("DELETE FROM catalogue_release WHERE id = :r"), {"r": release.id}
    ).rowcount
    assert n == 1
    assert _count(connection, "SELECT count(*) FROM source WHERE release_id = :r",
                  r=release.id) == 0  # fmt: skip


# --- drop-release ---------------------------------------------------------------------------

PHANGS_NAME = "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class12.fits"


def _phangs(folder: Path, n: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PHANGS_NAME
    phangs_table(n, seed=seed).write(path, overwrite=True)
    return path


def _ingest(engine: Engine, name: str, path: Path, new_version: bool = False):  # noqa: ANN202
    info = reader_info("phangs")
    request = ReleaseRequest(name, info.name, info.version, [path], new_version=new_version)
    return ingest_release(engine, request, info.reader())


@pytest.fixture
def migrated_url(empty_db_url: str) -> str:
    migrate.upgrade(empty_db_url)
    return empty_db_url


def test_drop_release_is_the_way_out(migrated_url: str, tmp_path: Path, backend: str) -> None:
    engine = make_engine(migrated_url)
    _ingest(engine, "drop", _phangs(tmp_path / "v1", 5, seed=1))
    _ingest(engine, "drop", _phangs(tmp_path / "v2", 7, seed=2), new_version=True)
    runner = CliRunner()
    args = ["--database", migrated_url, "db", "drop-release", "drop", "--version", "2"]
    refused = runner.invoke(main, args)
    assert refused.exit_code == 2 and "--yes" in refused.output
    with engine.connect() as conn:
        assert _count(conn, "SELECT count(*) FROM cluster_catalogue") == 7
    dropped = runner.invoke(main, [*args, "--yes"])
    assert dropped.exit_code == 0, dropped.output
    assert "dropped release drop v2" in dropped.output and "v1 is complete again" in dropped.output
    missing = runner.invoke(main, [*args, "--yes"])
    assert missing.exit_code == 1 and "no release 'drop' version 2" in missing.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version, status FROM catalogue_release")).all() == [
            (1, "complete")
        ]
        assert _count(conn, "SELECT count(*) FROM cluster_catalogue") == 5
        assert _count(conn, "SELECT count(*) FROM source") == 5
        assert _count(conn, "SELECT count(*) FROM release_drop_guard") == 0
    with engine.begin() as conn:
        drop_release(conn, "drop", 1)
    with engine.connect() as conn:
        for table in ("catalogue_release", "source", "photometry", "classification"):
            assert _count(conn, f"SELECT count(*) FROM {table}") == 0, table
    engine.dispose()


# --- the writer role (PostgreSQL) -------------------------------------------------------------

postgres_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _login(url: str, role: str, password: str) -> Engine:
    return login_as(url, role, password)


@postgres_only
def test_writer_adds_releases_but_cannot_alter_or_drop_them(
    backend: str, migrated_url: str, tmp_path: Path
) -> None:
    owner = make_engine(migrated_url)
    role, password = f"cc_writer_{uuid.uuid4().hex[:8]}", secrets.token_hex(8)
    grant_writer(owner, role, password)
    writer = _login(migrated_url, role, password)
    try:
        result = _ingest(writer, "by-writer", _phangs(tmp_path, 6, seed=3))
        assert result.status == "ingested"
        rid = result.release_id
        with session_scope(writer) as session:  # a release with SED fits and morphology
            made = make_release(session, name="writer-made", n_sources=2).id
        with writer.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == role
            conn.execute(
                text("INSERT INTO release_file (release_id, path, sha256, size_bytes) "
                     "VALUES (:r, 'made.fits', :h, 10)"), {"r": made, "h": "0" * 64},
            )  # fmt: skip
            for sql in REFUSED:
                _refused(conn, sql, made)
            for sql in REFUSED:
                if "sed_fit" not in sql and "morphology" not in sql:
                    _refused(conn, sql, rid)
            # a writer may add processing runs to a complete release
            conn.execute(
                text("INSERT INTO processing_run (module, release_id, status) "
                     "VALUES ('sed', :r, 'complete')"), {"r": rid},
            )  # fmt: skip
            # ... and a refit (with later image-pipeline rows), which is then frozen too
            later = _add_later_run(conn, rid, "writer refit")
            conn.commit()
            for sql in REFUSED_LATER_RUN:
                _refused(conn, sql, later)
            assert _later_run_counts(conn, later) == [6, 6, 6, 6]
            _refused(conn, "DELETE FROM processing_run WHERE release_id = :r", rid)
            # neither the guard table nor drop-release are open to the writer
            with pytest.raises(DBAPIError) as excinfo, conn.begin_nested():
                conn.execute(text("INSERT INTO release_drop_guard VALUES (:r)"), {"r": rid})
            assert excinfo.value.orig.sqlstate == "42501"
            with pytest.raises(PermissionError, match="only the owner"):
                drop_release(conn, "by-writer", 1)
            conn.rollback()
        with writer.connect() as conn:
            assert _count(conn, "SELECT count(*) FROM source WHERE release_id = :r", r=rid) == 6
        # the owner by plain SQL is refused too; drop-release works for the owner
        with owner.connect() as conn:
            for sql in REFUSED:
                _refused(conn, sql, made)
            for sql in REFUSED_LATER_RUN:
                _refused(conn, sql, later)
            assert _later_run_counts(conn, later) == [6, 6, 6, 6]
        out = CliRunner().invoke(
            main,
            ["--database", migrated_url, "db", "drop-release", "by-writer", "--version", "1",
             "--yes"],
        )  # fmt: skip
        assert out.exit_code == 0, out.output
        with owner.connect() as conn:
            assert _count(conn, "SELECT count(*) FROM source") == 2  # writer-made's
            assert _count(conn, "SELECT count(*) FROM processing_run") == 0
    finally:
        writer.dispose()
        with owner.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        owner.dispose()
