"""Data dictionary and the version-2 views: docs/schema.md, COMMENT ON, describe, view rows.

* docs/schema.md is exactly what ``clustercat db describe --markdown`` generates;
* every view's real columns are its documented columns, in order, each with a unit;
* on PostgreSQL ``COMMENT ON`` (col_description / obj_description) equals the model and view
  comments for every column of every table and view;
* the new views return the right rows for synthetic data with known values.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from clustercat.schema import (
    Classification,
    ClassificationMethod,
    CrossmatchPair,
    CrossmatchRun,
    Photometry,
    Source,
    metadata,
)
from clustercat.schema.cli import db_group
from clustercat.schema.dictionary import (
    database_relations,
    model_relations,
    schema_markdown,
    split_comment,
)
from clustercat.schema.views import CURRENT_VIEW_COMMENTS, VIEW_COMMENTS_V2, VIEWS_V2
from factories import filter_id, make_release
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

SCHEMA_MD = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def test_committed_schema_md_is_the_generated_text() -> None:
    assert SCHEMA_MD.read_text(encoding="utf-8") == schema_markdown(), (
        "docs/schema.md is stale: run 'clustercat db describe --markdown > docs/schema.md'"
    )


def test_schema_md_documents_every_column_with_a_unit() -> None:
    relations = model_relations()
    assert {r.name for r in relations if r.kind == "table"} == set(metadata.tables)
    assert [r.name for r in relations if r.kind == "view"] == list(CURRENT_VIEW_COMMENTS)
    text_md = schema_markdown("XXXX")
    for rel in relations:
        assert rel.comment, rel.name
        assert f"### {rel.name}\n" in text_md
        for col in rel.columns:
            assert col.unit, f"{rel.name}.{col.name} has no unit: {col.comment!r}"
            assert f"| `{col.name}` |" in text_md
    assert "revision **XXXX**" in text_md


def test_split_comment() -> None:
    assert split_comment("right ascension, ICRS J2000 (deg)") == (
        "right ascension, ICRS J2000",
        "deg",
    )
    assert split_comment("best-fit log10 age (log yr)") == ("best-fit log10 age", "log yr")
    assert split_comment("E(B-V) lower bound (mag)") == ("E(B-V) lower bound", "mag")
    assert split_comment("no unit here") == ("no unit here", None)
    assert split_comment(None) == ("", None)


def test_view_columns_are_the_documented_columns(connection: Connection, backend: str) -> None:
    for view, (_, columns) in CURRENT_VIEW_COMMENTS.items():
        result = connection.execute(text(f"SELECT * FROM {view} LIMIT 0"))
        assert list(result.keys()) == list(columns), view


def test_postgresql_comments_equal_the_code(connection: Connection, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite stores no comments")
    rows = connection.execute(
        text(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition "
            "AND c.relname <> 'alembic_version'"
        )
    ).all()
    in_db = {(t, c): d for t, c, d in rows}
    in_code = {(r.name, c.name): c.comment for r in model_relations() for c in r.columns}
    assert in_db == in_code
    relation_comments = dict(
        connection.execute(
            text(
                "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                "WHERE c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition "
                "AND c.relname <> 'alembic_version'"
            )
        ).all()
    )
    assert relation_comments == {r.name: r.comment for r in model_relations()}


def test_database_relations_agree_with_the_code(engine: Engine, backend: str) -> None:
    live = {r.name: r for r in database_relations(engine)}
    code = {r.name: r for r in model_relations()}
    assert set(live) == set(code)
    for name, rel in code.items():
        assert live[name].kind == rel.kind
        assert [c.name for c in live[name].columns] == [c.name for c in rel.columns], name
        assert [c.comment for c in live[name].columns] == [c.comment for c in rel.columns]
    source = {c.name: c for c in live["source"].columns}
    assert source["ra"].unit == "deg" and source["ra"].nullable is False
    assert source["x"].nullable is True


def test_describe_command(db_url: str, backend: str) -> None:
    runner = CliRunner()
    obj = {"database": db_url}
    everything = runner.invoke(db_group, ["describe"], obj=obj, env={"COLUMNS": "250"})
    assert everything.exit_code == 0, everything.output
    for name in [*CURRENT_VIEW_COMMENTS, "source", "photometry", "sed_fit"]:
        assert name in everything.output
    one = runner.invoke(db_group, ["describe", "sed_results"], obj=obj, env={"COLUMNS": "250"})
    assert one.exit_code == 0, one.output
    assert "log_age" in one.output and "log yr" in one.output and "best-fit log10 age" in one.output
    table = runner.invoke(db_group, ["describe", "source"], obj=obj, env={"COLUMNS": "250"})
    assert "right ascension, ICRS J2000" in table.output and "deg" in table.output
    missing = runner.invoke(db_group, ["describe", "no_such_table"], obj=obj)
    assert missing.exit_code == 1 and "no table or view named" in missing.output
    markdown = runner.invoke(db_group, ["describe", "--markdown"], obj=obj)
    assert markdown.exit_code == 0 and markdown.output == schema_markdown()


# --- the version-2 views on synthetic rows with known values ---------------------------------


@pytest.fixture
def synthetic(session: Session) -> dict[str, int]:
    """Two releases from tests/factories.py plus what the views of revision 0005 show:
    aperture photometry in V, a second SED method, a cross-match run, a galaxy without
    classes and a release that is still loading."""
    a = make_release(session, name="views-a", n_sources=3)
    b = make_release(session, name="views-b", n_sources=2)
    c = make_release(session, name="views-c", status="loading", n_sources=2,
                     galaxy="NGC 9001", field="ngc9001")  # fmt: skip
    hidden = make_release(session, name="views-hidden", status="loading", n_sources=2)
    sources_a = session.scalars(
        select(Source).where(Source.release_id == a.id).order_by(Source.id_in_release)
    ).all()
    sources_b = session.scalars(
        select(Source).where(Source.release_id == b.id).order_by(Source.id_in_release)
    ).all()
    v = filter_id(session, "V")
    for radius in (1.0, 2.0, 3.0, 4.0, 5.0, 1.5):
        session.add(
            Photometry(source_id=sources_a[1].id, filter_id=v, kind="aperture",
                       radius_px=radius, status="measured", mag_vega=22.0 - 0.1 * radius,
                       mag_err=0.01 * radius)
        )  # fmt: skip
    # views-c: no classifications at all (drop the factory's)
    c_id = session.scalar(
        select(Source.release_id).join(Source.release).where(Source.release.has(name="views-c"))
    )
    for row in session.scalars(
        select(Classification).join(Source).where(Source.release_id == c_id)
    ):
        session.delete(row)
    session.flush()
    c.status = "complete"  # a complete release's rows are immutable: complete it afterwards
    human_a = session.scalar(
        select(ClassificationMethod.id).where(ClassificationMethod.name == "views-a human")
    )
    human_b = session.scalar(
        select(ClassificationMethod.id).where(ClassificationMethod.name == "views-b human")
    )
    run = CrossmatchRun(release_a_id=a.id, release_b_id=b.id, radius_arcsec=0.5,
                        method="kdtree", classification_method_a_id=human_a,
                        classification_method_b_id=human_b)  # fmt: skip
    session.add(run)
    session.flush()
    session.add_all(
        [
            CrossmatchPair(run_id=run.id, source_a_id=sources_a[0].id,
                           source_b_id=sources_b[0].id, separation_arcsec=0.1, is_best=True,
                           outcome="same_class"),
            CrossmatchPair(run_id=run.id, source_a_id=sources_a[2].id, source_b_id=None,
                           separation_arcsec=None, is_best=True, outcome="unmatched"),
        ]
    )  # fmt: skip
    session.flush()
    return {"a": a.id, "b": b.id, "hidden": hidden.id, "run": run.id}


def _rows(connection: Connection, sql: str, **params) -> list:  # noqa: ANN003
    return connection.execute(text(sql), params).mappings().all()


def test_views_v2_hide_releases_that_are_not_complete(
    connection: Connection, synthetic: dict, backend: str
) -> None:
    for view in VIEWS_V2:
        column = "release_a" if view == "crossmatch_pairs" else "release"
        hidden = _rows(connection, f"SELECT * FROM {view} WHERE {column} = 'views-hidden'")
        assert hidden == [], view


def test_source_photometry_long_and_wide(
    connection: Connection, synthetic: dict, backend: str
) -> None:
    long = _rows(
        connection,
        "SELECT source_id, filter, instrument, band, aperture_kind, radius_px, status, "
        "mag_vega FROM source_photometry WHERE release = 'views-a' "
        "ORDER BY source_id, aperture_kind, radius_px, filter",
    )
    # 3 sources x 5 total magnitudes + 6 V apertures of source 2
    assert len(long) == 3 * 5 + 6
    v_total = [r for r in long if r["band"] == "V" and r["aperture_kind"] == "total"]
    assert [(r["source_id"], r["filter"], r["instrument"]) for r in v_total] == [
        (1, "F555W", "ACS/WFC"), (2, "F555W", "ACS/WFC"), (3, "F555W", "ACS/WFC")
    ]  # fmt: skip
    assert v_total[0]["status"] == "not_detected" and v_total[0]["mag_vega"] is None
    wide = _rows(
        connection,
        "SELECT * FROM source_photometry_wide WHERE release = 'views-a' ORDER BY source_id",
    )
    assert len(wide) == 3
    # factory: mag in band j = 20 + k + 0.1 j with j = 0..4 for NUV, U, B, V, I
    second = wide[1]
    assert second["mag_f275w"] == pytest.approx(21.0)
    assert second["mag_f336w"] == pytest.approx(21.1)
    assert second["mag_f435w"] == pytest.approx(21.2) and second["mag_f438w"] is None
    assert second["mag_f555w"] == pytest.approx(21.3) and second["mag_f606w"] is None
    assert second["mag_f814w"] == pytest.approx(21.4)
    assert second["mag_f555w_err"] == pytest.approx(0.05)
    for radius in (1, 2, 3, 4, 5):  # the 1.5 px aperture has no wide column
        assert second[f"mag_v_r{radius}"] == pytest.approx(22.0 - 0.1 * radius)
        assert second[f"mag_v_r{radius}_err"] == pytest.approx(0.01 * radius)
        assert wide[0][f"mag_v_r{radius}"] is None
    assert wide[0]["mag_f555w"] is None  # V not detected for k = 0


def test_sed_results(connection: Connection, synthetic: dict, backend: str) -> None:
    rows = _rows(
        connection,
        "SELECT source_id, method, is_default, log_age, log_mass, ebv, ssp_model "
        "FROM sed_results WHERE release = 'views-a' ORDER BY source_id, method",
    )
    assert len(rows) == 3 * 2
    defaults = [r for r in rows if r["is_default"]]
    others = [r for r in rows if not r["is_default"]]
    assert [r["log_age"] for r in defaults] == pytest.approx([6.0, 7.0, 8.0])
    assert {r["method"] for r in defaults} == {"views-a default SED"}
    assert {r["ssp_model"] for r in defaults} == {"Yggdrasil"}
    assert [r["log_age"] for r in others] == pytest.approx([9.9, 9.9, 9.9])
    assert {r["ssp_model"] for r in others} == {"BC03"}


def test_crossmatch_pairs(connection: Connection, synthetic: dict, backend: str) -> None:
    rows = _rows(
        connection,
        "SELECT * FROM crossmatch_pairs WHERE run_id = :run ORDER BY pair_pk",
        run=synthetic["run"],
    )
    assert len(rows) == 2
    pair, lonely = rows
    assert (pair["release_a"], pair["release_b"]) == ("views-a", "views-b")
    assert (pair["source_id_a"], pair["source_id_b"]) == (1, 1)
    assert pair["ra_a"] == pytest.approx(24.17) and pair["ra_b"] == pytest.approx(24.17)
    assert pair["mag_v_a"] is None  # V not detected for the factory's first source
    assert (pair["class_a"], pair["class_b"]) == (1, 1)
    assert pair["class_method_a"] == "views-a human"
    assert pair["galaxy"] == "NGC 628" and pair["separation_arcsec"] == pytest.approx(0.1)
    assert lonely["source_id_a"] == 3 and lonely["source_id_b"] is None
    assert lonely["mag_v_a"] == pytest.approx(22.3) and lonely["class_a"] == 3
    assert lonely["field_b"] is None and lonely["outcome"] == "unmatched"


def test_release_summary(connection: Connection, synthetic: dict, backend: str) -> None:
    rows = _rows(
        connection,
        'SELECT galaxy, method, "class", n_sources, n_classified, n_galaxy_sources, '
        "n_galaxy_fields, n_galaxy_sed_fitted, delivered_by FROM release_summary "
        'WHERE release = :r ORDER BY "class"',
        r="views-a",
    )
    # factory: class = k % 4 + 1 for k = 0, 1, 2
    assert [(r["class"], r["n_sources"]) for r in rows] == [(1, 1), (2, 1), (3, 1)]
    assert {r["n_classified"] for r in rows} == {3}
    assert {r["n_galaxy_sources"] for r in rows} == {3}
    assert {r["n_galaxy_sed_fitted"] for r in rows} == {3}
    assert {r["delivered_by"] for r in rows} == {"views-a"}
    empty = _rows(connection, "SELECT * FROM release_summary WHERE release = 'views-c'")
    assert len(empty) == 1
    assert empty[0]["method"] is None and empty[0]["class"] is None
    assert (empty[0]["n_sources"], empty[0]["n_galaxy_sources"]) == (0, 2)


def test_views_v2_comments_cover_every_column() -> None:
    assert set(VIEW_COMMENTS_V2) == set(VIEWS_V2)
    for view, (comment, columns) in VIEW_COMMENTS_V2.items():
        assert comment and columns, view
        assert all(split_comment(c)[1] for c in columns.values()), view
