"""``catalogue_io.read_frame``: DBAPI rows to a frame, the one path every reader takes.

Rows are converted through one object array (float columns cast in C) and, on PostgreSQL,
fetched in binary format. Both must give what ``pandas`` gives from the same rows: the
same dtypes for the columns it infers, the same values, NULL as NaN in float columns.
"""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pandas as pd
from clustercat.processing import catalogue_io as cio
from sqlalchemy import Engine, text

#: One column per kind of value a driver returns, with a NULL where the kind allows it.
KINDS = {
    "int": [1, 2, 3],
    "int_null": [1, None, 3],
    "float": [1.5, 2.0, -3.25],
    "float_null": [1.5, None, float("nan")],
    "mixed_number": [1, 2.5, None],
    "text": ["NGC 628", "NGC 1566", "IC 559"],
    "text_null": ["a", None, "c"],
    "bool": [True, False, True],
    "bool_null": [True, None, False],
    "time": [datetime.datetime(2026, 12, 5, 12), None, datetime.datetime(2020, 1, 1)],
    "decimal": [decimal.Decimal("1.5"), None, decimal.Decimal("2")],
    "all_null": [None, None, None],
    "bytes": [b"\x00\x01", b"", b"z"],
    "json": [{"a": 1}, None, {"b": [1, 2]}],
}


def _rows(kinds: dict[str, list]) -> list[tuple]:
    return list(zip(*kinds.values(), strict=True))


def test_inferred_columns_match_pandas_from_records() -> None:
    rows, columns = _rows(KINDS), list(KINDS)
    expected = pd.DataFrame.from_records(rows, columns=columns)
    got = cio.rows_to_frame(rows, columns)
    assert list(got.columns) == columns
    for name in columns:
        assert got[name].dtype == expected[name].dtype, name
        assert got[name].isna().tolist() == expected[name].isna().tolist(), name
        assert [v for v in got[name] if not pd.isna(v)] == [
            v for v in expected[name] if not pd.isna(v)
        ], name


def test_float_columns_are_float64_with_nulls_as_nan() -> None:
    rows, columns = _rows(KINDS), list(KINDS)
    floats = ("int", "int_null", "float_null", "mixed_number", "decimal", "all_null", "text")
    got = cio.rows_to_frame(rows, columns, floats=floats)
    for name in floats:
        assert got[name].dtype == np.float64, name
    np.testing.assert_array_equal(got["int_null"], [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(got["decimal"], [1.5, np.nan, 2.0])
    np.testing.assert_array_equal(got["mixed_number"], [1.0, 2.5, np.nan])
    assert got["all_null"].isna().all()
    assert got["text"].isna().all()  # not numbers: coerced to NaN, as pd.to_numeric does
    assert got["text_null"].tolist()[0] == "a"  # the other columns untouched


def test_array_values_duplicate_names_and_no_rows_fall_back_to_pandas() -> None:
    # a column of equal-length lists would make a 3-D array: taken as pandas takes it
    rows = [(1, [1.0, 2.0]), (2, [3.0, 4.0])]
    got = cio.rows_to_frame(rows, ["id", "values"], floats=("id",))
    assert got["values"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert got["id"].dtype == np.float64
    # SELECT a.x, b.x: both columns kept
    got = cio.rows_to_frame([(1, 2), (3, 4)], ["x", "x"])
    assert got.shape == (2, 2) and got.iloc[:, 1].tolist() == [2, 4]
    empty = cio.rows_to_frame([], ["source_pk", "ra"], floats=("ra",))
    assert list(empty.columns) == ["source_pk", "ra"] and len(empty) == 0
    assert empty["ra"].dtype == np.float64


def test_read_frame_gives_the_rows_sqlalchemy_gives(legus_engine: Engine) -> None:
    """The catalogue of NGC 628 read by ``read_frame`` equals the same SELECT through
    SQLAlchemy row objects, value for value (binary format on PostgreSQL included)."""
    sql = (
        "SELECT c.source_pk, c.galaxy, c.field, c.source_id, c.ra, c.dec, c.mag_v, "
        "c.mag_nuv, c.ci, c.log_age, c.distance_mpc, c.filter_b, c.release_version "
        "FROM cluster_catalogue c WHERE c.release = 'legus' AND c.galaxy = :g "
        "ORDER BY c.source_pk"
    )
    frame = cio.read_frame(
        legus_engine, sql, {"g": "NGC 628"}, floats=("ra", "dec", "mag_v", "mag_nuv", "ci")
    )
    with legus_engine.connect() as conn:
        rows = conn.execute(text(sql), {"g": "NGC 628"}).all()
    assert len(frame) == len(rows) > 1000
    expected = pd.DataFrame([tuple(r) for r in rows], columns=list(frame.columns))
    for name in ("source_pk", "source_id", "release_version"):
        assert frame[name].dtype == np.int64
        np.testing.assert_array_equal(frame[name], expected[name].astype(np.int64))
    for name in ("galaxy", "field", "filter_b"):
        assert frame[name].tolist() == expected[name].tolist()
    for name in ("ra", "dec", "mag_v", "mag_nuv", "ci", "log_age", "distance_mpc"):
        assert frame[name].dtype == np.float64, name
        np.testing.assert_array_equal(
            frame[name].to_numpy(), pd.to_numeric(expected[name]).to_numpy(dtype=float)
        )
    # some NUV magnitudes are missing in LEGUS NGC 628: NULL became NaN, not None
    assert frame["mag_nuv"].isna().any() and frame["mag_nuv"].notna().any()


def test_read_catalogue_takes_galaxy_and_distance_per_field(legus_engine: Engine) -> None:
    """``read_catalogue`` reads galaxy and distance once per field: every LEGUS row gets the
    values the view gives it, in the view's column order, with or without ``field`` asked."""
    from clustercat.processing import analyses

    release = cio.resolve_release(legus_engine, "legus")
    with legus_engine.connect() as conn:
        view = pd.read_sql_query(
            text(
                "SELECT source_pk, galaxy, field, distance_mpc FROM cluster_catalogue "
                "WHERE release = 'legus' ORDER BY source_pk"
            ),
            conn,
        )
        full = cio.read_catalogue(conn, release)
        some = cio.read_catalogue(conn, release, ["NGC 628"], columns=["distance_mpc", "galaxy"])
        side = analyses._side_sources(conn, release, "NGC 1566", None)
    assert list(full.columns) == list(cio.CATALOGUE_COLUMNS)
    assert full["source_pk"].tolist() == view["source_pk"].tolist()
    assert full["galaxy"].tolist() == view["galaxy"].tolist()
    assert full["field"].tolist() == view["field"].tolist()
    np.testing.assert_array_equal(full["distance_mpc"], view["distance_mpc"].astype(float))
    assert view["galaxy"].nunique() > 20  # every LEGUS galaxy, each with its own distance
    assert list(some.columns) == ["source_pk", "distance_mpc", "galaxy"]  # field not added
    ngc628 = view[view["galaxy"] == "NGC 628"]
    assert some["source_pk"].tolist() == ngc628["source_pk"].tolist()
    assert set(some["galaxy"]) == {"NGC 628"}
    np.testing.assert_array_equal(some["distance_mpc"], ngc628["distance_mpc"].astype(float))
    assert list(side.columns[:4]) == ["source_pk", "source_id", "galaxy", "field"]
    assert set(side["galaxy"]) == {"NGC 1566"} and len(side) == (view["galaxy"] == "NGC 1566").sum()
