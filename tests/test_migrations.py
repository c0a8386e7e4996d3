"""Alembic owns the schema: full round trips, no drift from the models, data survives."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.schema import Source, make_engine, metadata, migrate, session_scope
from factories import make_release
from sqlalchemy import inspect, select, text


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _assert_at_head_without_drift(url: str) -> None:
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.pending_model_changes(engine) == []
    finally:
        engine.dispose()


def test_base_head_base_head(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    _assert_at_head_without_drift(empty_db_url)
    assert set(metadata.tables) <= _tables(empty_db_url)

    migrate.downgrade(empty_db_url, "base")
    remaining = _tables(empty_db_url)
    assert remaining == set() or remaining <= {"sqlite_sequence"}

    migrate.upgrade(empty_db_url)
    _assert_at_head_without_drift(empty_db_url)


def test_each_revision_steps_down_and_up(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    seen = [migrate.current_revision(engine)]
    while seen[-1] is not None:
        migrate.downgrade(empty_db_url, "-1")
        seen.append(migrate.current_revision(engine))
    engine.dispose()
    assert seen == [
        "0012", "0011", "0010", "0009", "0008", "0007", "0006", "0005", "0004", "0003", "0002",
        "0001", None,
    ]  # fmt: skip
    migrate.upgrade(empty_db_url)
    _assert_at_head_without_drift(empty_db_url)


def test_data_survives_downgrade_upgrade_of_newest_revision(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    with session_scope(engine) as session:
        make_release(session, name="survivor", n_sources=4)
    engine.dispose()

    migrate.downgrade(empty_db_url, "-1")
    migrate.upgrade(empty_db_url)

    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        ras = conn.execute(select(Source.ra).order_by(Source.id_in_release)).scalars().all()
        view = conn.execute(
            text("SELECT count(*), sum(log_age) FROM cluster_catalogue WHERE release='survivor'")
        ).one()
    engine.dispose()
    assert ras == pytest.approx([24.17, 24.171, 24.172, 24.173])
    assert view[0] == 4 and view[1] == pytest.approx(6 + 7 + 8 + 9)


def test_cli_upgrade_and_check(empty_db_url: str) -> None:
    runner = CliRunner()
    before = runner.invoke(main, ["--database", empty_db_url, "db", "check"])
    assert before.exit_code == 1
    assert "head is 0012" in before.output

    up = runner.invoke(main, ["--database", empty_db_url, "db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert set(metadata.tables) <= _tables(empty_db_url)

    check = runner.invoke(main, ["--database", empty_db_url, "db", "check"])
    assert check.exit_code == 0, check.output
    assert "at head (0012)" in check.output

    current = runner.invoke(main, ["--database", empty_db_url, "db", "current"])
    assert current.output.strip() == "0012"

    refused = runner.invoke(main, ["--database", empty_db_url, "db", "downgrade", "base"])
    assert refused.exit_code != 0 and "--yes" in refused.output


def test_0012_corrects_the_legus_sed_method_of_older_databases(empty_db_url: str) -> None:
    from clustercat.ingest.legus_layouts import SED_METHOD

    migrate.upgrade(empty_db_url, "0011")
    engine = make_engine(empty_db_url)
    law = text("SELECT extinction_law, description FROM sed_method WHERE name = :n")
    try:
        with engine.begin() as conn:  # as ingested before 0012
            conn.execute(
                text(
                    "INSERT INTO sed_method (name, extinction_law, description) "
                    "VALUES (:n, 'starburst (Calzetti et al. 2000)', 'old text')"
                ),
                {"n": SED_METHOD.name},
            )
        migrate.upgrade(empty_db_url)
        with engine.connect() as conn:
            assert tuple(conn.execute(law, {"n": SED_METHOD.name}).one()) == (
                SED_METHOD.extinction_law,
                SED_METHOD.description,
            )
        migrate.downgrade(empty_db_url, "0011")
        with engine.connect() as conn:
            assert conn.execute(law, {"n": SED_METHOD.name}).one()[0] == (
                "starburst (Calzetti et al. 2000)"
            )
    finally:
        engine.dispose()
