"""Faults found by trying to break ingest and migrations (issue 13); each test failed before.

Downgrade guards, the 0002 -> 0001 refusal, an ingest lock readers cannot take, SQLite
maintenance after a commit, and release-name validation, on both backends unless named.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.ingest import releases
from clustercat.ingest.loader import ReleaseRequest, ingest_release, refresh_statistics
from clustercat.ingest.registry import reader_info
from clustercat.ingest.releases import INGEST_LOCK_KEY, LockTimeoutError, ReleaseNameError
from clustercat.schema import engine as engine_module
from clustercat.schema import make_engine, migrate, session_scope, write_transaction
from clustercat.schema.roles import grant_reader
from conftest import login_as
from factories import make_release, phangs_table
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

PHANGS_NAME = "hlsp_phangs-cat_hst_uvis_ngc1566_multi_v1_obs-human-cluster-class12.fits"
NGC628E = "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab"


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())


def _db(url: str, *args: str):  # noqa: ANN202 - click Result
    return CliRunner().invoke(main, ["--database", url, "db", *args])


def _phangs(folder: Path, n: int = 6, seed: int = 1) -> Path:
    path = folder / PHANGS_NAME
    phangs_table(n, seed=seed).write(path, overwrite=True)
    return path


def _request(name: str, files: list[Path]) -> tuple[ReleaseRequest, object]:
    info = reader_info("phangs")
    return ReleaseRequest(name, info.name, info.version, files), info.reader()


# --- downgrades -------------------------------------------------------------------------------


def test_downgrade_guard_resolves_relative_and_stepwise_targets(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    with session_scope(engine) as session:
        make_release(session, name="keep", n_sources=4)
    head = migrate.current_revision(engine)
    steps = int(head)  # e.g. 0008: 8 steps to base

    relative = _db(empty_db_url, "downgrade", "--", f"-{steps}")  # resolves to base
    assert relative.exit_code == 2, relative.output
    assert "base" in relative.output and "--yes" in relative.output
    assert migrate.current_revision(engine) == head and _count(engine, "source") == 4

    # one step at a time: the steps that lose nothing pass, 0002 -> 0001 is refused
    seen = [head]
    while True:
        out = _db(empty_db_url, "downgrade")
        if out.exit_code != 0:
            break
        seen.append(migrate.current_revision(engine))
    assert seen[-1] == "0002", seen
    assert out.exit_code == 1 and "cannot downgrade 0002 -> 0001" in out.output
    assert "catalogue_release.survey_id" in out.output
    assert _count(engine, "source") == 4 and _count(engine, "filter") > 0

    gone = _db(empty_db_url, "downgrade", "base", "--yes")
    assert gone.exit_code == 0, gone.output
    assert migrate.current_revision(engine) is None
    engine.dispose()


def test_downgrade_that_deletes_rows_needs_yes(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0002")
    engine = make_engine(empty_db_url)
    n_filters = _count(engine, "filter")
    refused = _db(empty_db_url, "downgrade")  # 0002 -> 0001 deletes the seeded rows
    assert refused.exit_code == 2
    flat = " ".join(refused.output.split())
    assert f"{n_filters} row(s) of filter" in flat and "--yes" in flat
    assert migrate.current_revision(engine) == "0002" and _count(engine, "filter") == n_filters
    done = _db(empty_db_url, "downgrade", "--yes")
    assert done.exit_code == 0, done.output
    assert migrate.current_revision(engine) == "0001" and _count(engine, "filter") == 0
    engine.dispose()


def test_0002_to_0001_is_refused_while_rows_use_its_filters(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0002")
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO catalogue_release (name, version, survey_id, status) "
                 "SELECT 'r', 1, id, 'complete' FROM survey WHERE name = 'LEGUS'")
        )  # fmt: skip
    n_filters, n_surveys = _count(engine, "filter"), _count(engine, "survey")
    engine.dispose()
    with pytest.raises(RuntimeError, match=r"cannot downgrade 0002 -> 0001.*survey_id"):
        migrate.downgrade(empty_db_url, "0001")
    engine = make_engine(empty_db_url)
    assert migrate.current_revision(engine) == "0002"
    assert (_count(engine, "filter"), _count(engine, "survey")) == (n_filters, n_surveys)
    with engine.connect() as conn:
        dangling = conn.execute(
            text("SELECT count(*) FROM catalogue_release r LEFT JOIN survey s "
                 "ON s.id = r.survey_id WHERE s.id IS NULL")
        ).scalar()  # fmt: skip
    assert dangling == 0
    engine.dispose()


# --- release names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "empty"), ("two\nlines", "not allowed"), ("x" * 3000, "3000 characters")],
    ids=["empty", "newline", "3000-chars"],
)
def test_bad_release_names_are_refused_before_anything_is_written(
    db_url: str, engine: Engine, tmp_path: Path, name: str, message: str
) -> None:
    before = _count(engine, "catalogue_release")
    with pytest.raises(ReleaseNameError, match=message):
        ingest_release(engine, *_request(name, [_phangs(tmp_path)]))
    out = CliRunner().invoke(
        main, ["--database", db_url, "ingest", "phangs", str(tmp_path / PHANGS_NAME),
               "--release", name],
    )  # fmt: skip
    assert out.exit_code == 2 and message in " ".join(out.output.split())
    assert _count(engine, "catalogue_release") == before


def test_release_name_limit_matches_the_column() -> None:
    from clustercat.schema.release import RELEASE_NAME_MAX, CatalogueRelease

    assert CatalogueRelease.__table__.c.name.type.length == RELEASE_NAME_MAX
    assert releases.check_release_name("a" * RELEASE_NAME_MAX)
    assert releases.check_release_name("legus-v1.2_dr4+fix") == "legus-v1.2_dr4+fix"
    for bad in ("a" * (RELEASE_NAME_MAX + 1), " legus", "-x", "a;b", "tab\there", "é"):
        with pytest.raises(ReleaseNameError):
            releases.check_release_name(bad)


# --- SQLite: maintenance after a commit ----------------------------------------------------------


def test_sqlite_statistics_refresh_never_fails_an_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    migrate.upgrade(url)
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(url)
    ingest_release(engine, *_request("stats", [_phangs(tmp_path)]))
    other = make_engine(url)
    with (
        write_transaction(other),  # another writer holds the write lock
        caplog.at_level(logging.WARNING, logger="clustercat.ingest.loader"),
    ):
        refresh_statistics(engine)  # must not raise
    assert "refreshing planner statistics failed" in caplog.text
    assert "locked" in caplog.text
    other.dispose()
    engine.dispose()


def test_sqlite_concurrent_ingests_both_report_success(tmp_path: Path, shared_data: Path) -> None:
    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    migrate.upgrade(url)
    path = str(shared_data / "legus" / NGC628E)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clustercat",
                "--database",
                url,
                "ingest",
                "legus",
                path,
                "--release",
                f"c{k}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for k in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("ingested release" in out for out in outputs), outputs
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, status FROM catalogue_release ORDER BY name")
        ).all()  # fmt: skip
        n = conn.execute(text("SELECT count(*) FROM cluster_catalogue")).scalar()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("c0", "complete"), ("c1", "complete")]
    assert n == 2 * 593


# --- PostgreSQL: an ingest lock readers cannot take ------------------------------------------

postgres_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _login(url: str, role: str, password: str) -> Engine:
    return login_as(url, role, password)


@postgres_only
def test_a_reader_cannot_block_ingest(backend: str, empty_db_url: str, tmp_path: Path) -> None:
    migrate.upgrade(empty_db_url)
    owner = make_engine(empty_db_url)
    role, password = f"cc_reader_{uuid.uuid4().hex[:8]}", secrets.token_hex(8)
    grant_reader(owner, role, password)
    reader = _login(empty_db_url, role, password)
    try:
        with reader.connect() as conn:
            for read_write in (False, True):
                if read_write:
                    conn.exec_driver_sql("SET TRANSACTION READ WRITE")
                with pytest.raises(DBAPIError) as excinfo:
                    conn.execute(text("SELECT name FROM ingest_lock FOR UPDATE"))
                assert excinfo.value.orig.sqlstate in ("25006", "42501")
                conn.rollback()
            # the advisory lock ingest used to take: a reader can hold it for ever ...
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": INGEST_LOCK_KEY})
            conn.commit()
            # ... and the ingest no longer cares
            result = ingest_release(owner, *_request("unblocked", [_phangs(tmp_path)]))
            assert result.status == "ingested"
    finally:
        reader.dispose()
        with owner.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        owner.dispose()


@postgres_only
def test_ingest_waits_with_a_timeout_and_names_the_holder(
    backend: str, empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    monkeypatch.setattr(releases, "LOCK_TIMEOUT_S", 1.0)
    with engine.connect() as holder:
        holder.exec_driver_sql("SET application_name = 'stuck ingest'")
        holder.execute(text("SELECT name FROM ingest_lock WHERE name = 'ingest' FOR UPDATE"))
        pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with pytest.raises(LockTimeoutError) as excinfo:
            ingest_release(engine, *_request("waits", [_phangs(tmp_path)]))
        holder.rollback()
    message = str(excinfo.value)
    assert f"pid {pid}" in message and "'stuck ingest'" in message and "waited 1 s" in message
    assert _count(engine, "catalogue_release") == 0
    result = ingest_release(engine, *_request("waits", [_phangs(tmp_path)]))
    assert result.status == "ingested"
    engine.dispose()
