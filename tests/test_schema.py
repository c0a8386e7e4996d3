"""The schema on both backends: tables, constraints, comments, seeded reference data, views."""

from __future__ import annotations

import re

import pytest
from clustercat.schema import (
    Classification,
    Filter,
    Photometry,
    Source,
    Survey,
    metadata,
)
from clustercat.schema.seed import FILTERS_V1
from factories import filter_id, make_release
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

CLUSTER_CATALOGUE_COLUMNS = [
    "release", "survey", "galaxy", "field", "source_id", "ra", "dec",
    "mag_nuv", "mag_nuv_err", "mag_u", "mag_u_err", "mag_b", "mag_b_err",
    "mag_v", "mag_v_err", "mag_i", "mag_i_err", "ci", "mci_in", "mci_out",
    "log_age", "log_mass", "ebv",
]  # fmt: skip
SOURCE_CLASSES_COLUMNS = [
    "release", "galaxy", "field", "source_id", "method", "method_kind", "class", "subclass",
    "score",
]  # fmt: skip

UNIT_AT_END = re.compile(r"\([^()]+\)\s*$")


def test_every_column_comment_ends_with_a_unit() -> None:
    missing = [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if not column.comment or not UNIT_AT_END.search(column.comment)
    ]
    assert missing == []
    assert all(table.comment for table in metadata.sorted_tables)


def test_data_model_tables_exist(engine) -> None:  # noqa: ANN001
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    assert set(metadata.tables) <= tables
    assert {"cluster_catalogue", "source_classes"} <= set(inspector.get_view_names())


def test_seeded_filters_and_surveys(session) -> None:  # noqa: ANN001
    rows = session.execute(select(Filter.name, Filter.instrument, Filter.band)).all()
    assert sorted(rows) == sorted((f[0], f[1], f[2]) for f in FILTERS_V1)
    assert {f.name for f in session.scalars(select(Filter))} == {
        "F275W", "F336W", "F435W", "F438W", "F555W", "F606W", "F814W",
    }  # fmt: skip
    bands = {name: band for name, band in session.execute(select(Filter.name, Filter.band))}
    assert bands["F275W"] == "NUV" and bands["F438W"] == "B" and bands["F606W"] == "V"
    assert set(session.scalars(select(Survey.name))) == {"PHANGS-HST", "LEGUS"}


def test_seeded_pivots_agree_with_pyphot_curves() -> None:
    pyphot = pytest.importorskip("pyphot")
    library = pyphot.get_library()
    for name, instrument, _band, pivot, curve in FILTERS_V1:
        curve_pivot = library[curve].lpivot.to("AA").value
        # pyphot's WFC3 F814W curve includes the red wing (8307 Å); all others agree to 1 %
        tolerance = 0.04 if (name, instrument) == ("F814W", "WFC3/UVIS") else 0.01
        assert abs(curve_pivot - pivot) / pivot < tolerance, (name, instrument, curve_pivot)


@pytest.mark.parametrize(
    ("column", "value"),
    [("ra", 360.0), ("ra", -0.1), ("dec", 90.5), ("dec", -91.0)],
)
def test_source_position_checks(session, column: str, value: float) -> None:  # noqa: ANN001
    release = make_release(session, n_sources=1)
    values = {"ra": 10.0, "dec": 10.0, column: value}
    session.add(Source(release_id=release.id, field_id=1, id_in_release=99, **values))
    with pytest.raises(IntegrityError):
        session.flush()


def test_duplicate_source_id_in_release_rejected(session) -> None:  # noqa: ANN001
    release = make_release(session, n_sources=1)
    field_id = session.scalar(select(Source.field_id))
    session.add(Source(release_id=release.id, field_id=field_id, id_in_release=1, ra=1, dec=1))
    with pytest.raises(IntegrityError):
        session.flush()


@pytest.mark.parametrize("bad_class", [0, 5, 50])
def test_class_outside_scheme_rejected(session, bad_class: int) -> None:  # noqa: ANN001
    make_release(session, n_sources=1)
    existing = session.scalars(select(Classification)).first()
    session.add(
        Classification(
            source_id=existing.source_id, method_id=existing.method_id + 0, cluster_class=bad_class
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


@pytest.mark.parametrize(
    "values",
    [
        {"mag_vega": 99.999, "mag_err": 99.999},  # LEGUS "not detected" sentinel
        {"mag_vega": 66.666, "mag_err": 66.666},  # LEGUS "outside footprint" sentinel
        {"mag_vega": 21.0, "mag_err": -0.1},  # negative error
        {"mag_vega": 21.0, "status": "not_detected"},  # a value where none was measured
    ],
)
def test_photometry_rejects_sentinels_and_negative_errors(session, values) -> None:  # noqa: ANN001
    make_release(session, n_sources=1)
    source_id = session.scalar(select(Source.id))
    row = {"kind": "aperture", "radius_px": 4.0, "status": "measured", **values}
    session.add(Photometry(source_id=source_id, filter_id=filter_id(session, "V"), **row))
    with pytest.raises(IntegrityError):
        session.flush()


def test_one_total_magnitude_per_source_and_filter(session) -> None:  # noqa: ANN001
    make_release(session, n_sources=1)
    source_id = session.scalar(select(Source.id))
    # A second total in the same filter is a duplicate ...
    session.add(
        Photometry(
            source_id=source_id,
            filter_id=filter_id(session, "I"),
            kind="total",
            mag_vega=21.0,
            mag_err=0.1,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_apertures_of_different_radii_coexist(session) -> None:  # noqa: ANN001
    make_release(session, n_sources=1)
    source_id = session.scalar(select(Source.id))
    for radius in (1.0, 1.5, 2.0, 3.0, 4.0):
        session.add(
            Photometry(
                source_id=source_id,
                filter_id=filter_id(session, "V"),
                kind="aperture",
                radius_px=radius,
                mag_vega=22.0 - radius,
                mag_err=0.02,
            )
        )
    session.flush()
    n = session.scalar(
        select(text("count(*)")).select_from(Photometry).where(Photometry.kind == "aperture")
    )
    assert n == 5


def test_cluster_catalogue_columns_and_values(session) -> None:  # noqa: ANN001
    make_release(session, name="rel-a", n_sources=3)
    make_release(session, name="rel-loading", status="loading", n_sources=2)
    result = session.execute(
        text("SELECT * FROM cluster_catalogue WHERE release = 'rel-a' ORDER BY source_id")
    )
    columns = list(result.keys())
    assert columns[: len(CLUSTER_CATALOGUE_COLUMNS)] == CLUSTER_CATALOGUE_COLUMNS
    rows = [r._mapping for r in result]
    assert [r["source_id"] for r in rows] == [1, 2, 3]
    for k, row in enumerate(rows):
        assert row["survey"] == "LEGUS" and row["galaxy"] == "NGC 628"
        assert row["field"] == "ngc628c"
        assert row["ra"] == pytest.approx(24.17 + 0.001 * k)
        assert row["mag_nuv"] == pytest.approx(20.0 + k)
        assert row["mag_i"] == pytest.approx(20.4 + k)
        assert row["mag_b_err"] == pytest.approx(0.05)
        assert row["ci"] == pytest.approx(1.0 + 0.1 * k)
        assert row["mci_in"] is None and row["mci_out"] is None
        assert row["log_age"] == pytest.approx(6.0 + k)  # the default SED method, not 9.9
        assert row["filter_b"] == "F435W" and row["filter_v"] == "F555W"
    assert rows[0]["mag_v"] is None and rows[0]["mag_v_err"] is None
    assert rows[1]["mag_v"] == pytest.approx(21.3)
    # A release that is still loading is invisible.
    hidden = session.execute(
        text("SELECT count(*) FROM cluster_catalogue WHERE release = 'rel-loading'")
    ).scalar()
    assert hidden == 0


def test_source_classes_columns_and_values(session) -> None:  # noqa: ANN001
    make_release(session, name="rel-b", n_sources=5)
    result = session.execute(
        text("SELECT * FROM source_classes WHERE release = 'rel-b' ORDER BY source_id")
    )
    assert list(result.keys())[: len(SOURCE_CLASSES_COLUMNS)] == SOURCE_CLASSES_COLUMNS
    rows = [r._mapping for r in result]
    assert [r["class"] for r in rows] == [1, 2, 3, 4, 1]
    assert {r["method"] for r in rows} == {"rel-b human"}
    assert {r["method_kind"] for r in rows} == {"human"}
    assert all(r["score"] == pytest.approx(1.5) for r in rows)
