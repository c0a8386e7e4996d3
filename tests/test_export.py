"""``clustercat export``: a release of a view to FITS, VOTable, ECSV, Parquet or CSV with units.

The exported files are read back with astropy and compared with the view itself, row by row.
"""

from __future__ import annotations

import time
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.io.votable.ucd import check_ucd
from astropy.table import Table
from click.testing import CliRunner
from clustercat.schema.cli_sql import export_cmd
from clustercat.schema.export import (
    EXPORTABLE_VIEWS,
    ExportTimeoutError,
    UnknownReleaseError,
    column_ucd,
    export_query,
    export_table,
    frame_table,
    parse_unit,
    read_only_transaction,
    table_text,
)
from clustercat.schema.views import CURRENT_VIEW_COMMENTS
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError


@pytest.fixture(scope="module")
def export_engine(legus_engine: Engine) -> Engine:
    """The LEGUS database with planner statistics (see tests/test_sql_docs.py)."""
    if legus_engine.dialect.name == "postgresql":
        with legus_engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return legus_engine


def _view(engine: Engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def test_fits_export_has_units_and_the_rows_of_the_view(
    backend: str, export_engine: Engine, legus_db_url: str, tmp_path: Path
) -> None:
    """Acceptance: FITS read back with astropy has the units and the same rows as the view."""
    out = tmp_path / "legus.fits"
    result = CliRunner().invoke(
        export_cmd,
        ["--release", "legus", "--format", "fits", "--output", str(out)],
        obj={"database": legus_db_url},
    )
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    view = _view(
        export_engine,
        "SELECT * FROM cluster_catalogue WHERE release = 'legus' ORDER BY release_id, source_pk",
    )
    assert len(table) == len(view) == 36197
    assert f"wrote {len(view)} rows" in result.output
    assert table.colnames == list(view.columns)
    units = {name: table[name].unit for name in table.colnames}
    assert units["ra"] == u.deg and units["dec"] == u.deg
    assert units["mag_v"] == u.mag and units["mag_v_err"] == u.mag and units["ci"] == u.mag
    assert units["x"] == u.pix and units["distance_mpc"] == u.Mpc
    assert units["log_age"] is None  # FITS has no logarithmic units: see TCOMM
    assert units["source_id"] is None and units["galaxy"] is None
    np.testing.assert_array_equal(np.asarray(table["source_pk"]), view["source_pk"].to_numpy())
    np.testing.assert_array_equal(np.asarray(table["ra"]), view["ra"].to_numpy(dtype=float))
    for column in ("mag_v", "mag_i", "log_age", "ci"):
        got = np.ma.filled(table[column], np.nan).astype(float)
        want = view[column].to_numpy(dtype=float, na_value=np.nan)
        np.testing.assert_array_equal(got, want)
    assert [s.strip() for s in table["galaxy"][:3]] == list(view["galaxy"][:3])
    header = fits.getheader(out, 1)
    comments = {
        header[f"TTYPE{k}"]: header.get(f"TCOMM{k}") for k in range(1, header["TFIELDS"] + 1)
    }
    assert comments["log_age"] == CURRENT_VIEW_COMMENTS["cluster_catalogue"][1]["log_age"]
    assert comments["ra"] == "right ascension, ICRS J2000 (deg)"
    assert header["RELEASE"] == "legus" and header["VIEW"] == "cluster_catalogue"


@pytest.mark.parametrize("fmt", ["votable", "ecsv", "parquet", "csv"])
def test_other_formats_with_where(
    fmt: str, backend: str, export_engine: Engine, legus_db_url: str, tmp_path: Path
) -> None:
    where = "galaxy = 'NGC 628' AND mag_v < 22 AND field LIKE 'ngc628%'"
    want = _view(
        export_engine,
        f"SELECT source_pk, mag_v FROM cluster_catalogue WHERE release = 'legus' AND {where} "
        "ORDER BY release_id, source_pk",
    )
    assert 200 < len(want) < 400
    out = tmp_path / f"ngc628.{fmt}"
    result = CliRunner().invoke(
        export_cmd,
        ["--release", "legus", "--format", fmt, "-o", str(out), "--where", where],
        obj={"database": legus_db_url},
    )
    assert result.exit_code == 0, result.output
    table = Table.read(out, format={"ecsv": "ascii.ecsv", "csv": "ascii.csv"}.get(fmt, fmt))
    assert list(table["source_pk"]) == list(want["source_pk"])
    np.testing.assert_allclose(np.asarray(table["mag_v"], float), want["mag_v"].astype(float))
    if fmt == "csv":
        return
    assert table["ra"].unit == u.deg and table["mag_v"].unit == u.mag
    assert table["ra"].description == "right ascension, ICRS J2000 (deg)"
    if fmt in ("ecsv", "parquet"):
        assert table["log_age"].unit == u.dex(u.yr) and table["log_mass"].unit == u.dex(u.Msun)
        assert table.meta["WHERE"] == where
    if fmt == "votable":
        assert table["ra"].meta["ucd"] == "pos.eq.ra;meta.main"
        assert table["mag_v"].meta["ucd"] == "phot.mag;em.opt.V"
        assert table["source_id"].meta["ucd"] == "meta.id;meta.main"


def test_every_view_exports(backend: str, export_engine: Engine) -> None:
    for view in EXPORTABLE_VIEWS:
        where = "galaxy = 'NGC 1705'" if view != "crossmatch_pairs" else None
        table = export_table(export_engine, "legus", view=view, where=where)
        assert table.colnames == list(CURRENT_VIEW_COMMENTS[view][1]), view
        if view != "crossmatch_pairs":
            assert len(table) > 0, view


def test_where_is_refused_with_semicolons_or_comments(tmp_path: Path) -> None:
    for bad in ("1 = 1; DROP TABLE source", "mag_v < 22 -- and more", "1 = 1 /* x */"):
        with pytest.raises(ValueError, match="refused"):
            export_query("cluster_catalogue", bad)
    result = CliRunner().invoke(
        export_cmd,
        ["--release", "legus", "--format", "csv", "-o", str(tmp_path / "x.csv"),
         "--where", "1=1; DELETE FROM source"],
        obj={"database": f"sqlite:///{tmp_path / 'none.db'}"},
    )  # fmt: skip
    assert result.exit_code == 1 and "';' is not allowed" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_where_runs_in_a_read_only_transaction(backend: str, export_engine: Engine) -> None:
    with pytest.raises(ValueError, match="nextval"):  # refused before reaching the database
        export_table(export_engine, "legus", where="nextval('source_id_seq') > 0")
    with read_only_transaction(export_engine) as conn, pytest.raises(DBAPIError):
        conn.exec_driver_sql("DELETE FROM galaxy")
    with export_engine.connect() as conn:  # nothing leaked: a normal connection writes
        conn.exec_driver_sql("UPDATE galaxy SET notes = 'x' WHERE 1 = 0")
        conn.rollback()


def test_statement_timeout_cancels_a_long_query(backend: str, export_engine: Engine) -> None:
    """Both backends: a query running past the timeout is cancelled, and the setting does not
    outlive the transaction."""
    slow = (
        "pg_sleep(3)"
        if backend == "postgresql"
        else "(WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 1e8) "
        "SELECT count(*) FROM n)"
    )
    start = time.monotonic()
    with read_only_transaction(export_engine, 0.5) as conn, pytest.raises(DBAPIError) as info:
        conn.exec_driver_sql(f"SELECT {slow}")
    assert 0.4 < time.monotonic() - start < 2.5
    if backend == "postgresql":
        assert info.value.orig.sqlstate == "57014"
    else:
        assert "interrupted" in str(info.value.orig)
    with export_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        if backend == "postgresql":
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    with pytest.raises(ExportTimeoutError, match="statement timeout of 0.001 s"):
        export_table(export_engine, "legus", statement_timeout_s=0.001)
    with pytest.raises(ValueError, match="positive"):
        export_table(export_engine, "legus", statement_timeout_s=float("nan"))


def test_unknown_release_is_an_error_and_writes_nothing(
    backend: str, legus_db_url: str, export_engine: Engine, tmp_path: Path
) -> None:
    """Issue 13: exporting a release that does not exist used to exit 0 with an empty file."""
    with pytest.raises(UnknownReleaseError, match="no release named 'legus-v9'"):
        export_table(export_engine, "legus-v9")
    out = tmp_path / "none.fits"
    result = CliRunner().invoke(
        export_cmd,
        ["--release", "nope", "--format", "fits", "-o", str(out)],
        obj={"database": legus_db_url},
    )
    assert result.exit_code == 1
    assert "no release named 'nope' (releases: " in result.output and "legus" in result.output
    assert not out.exists()
    # an existing release whose filter matches nothing is not an error: an empty table
    empty = export_table(export_engine, "legus", where="mag_v > 100")
    assert len(empty) == 0 and empty.colnames == list(CURRENT_VIEW_COMMENTS["cluster_catalogue"][1])


def test_existing_file_needs_overwrite(backend: str, legus_db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "x.ecsv"
    out.write_text("keep me")
    args = ["--release", "legus", "--format", "ecsv", "-o", str(out), "--where",
            "galaxy = 'UGC 695'", "--view", "sed_results"]  # fmt: skip
    refused = CliRunner().invoke(export_cmd, args, obj={"database": legus_db_url})
    assert refused.exit_code == 1 and "--overwrite" in refused.output
    assert out.read_text() == "keep me"
    done = CliRunner().invoke(export_cmd, [*args, "--overwrite"], obj={"database": legus_db_url})
    assert done.exit_code == 0, done.output
    assert len(Table.read(out, format="ascii.ecsv")) == 140  # UGC 695: 140 SED fits


def test_parse_unit_and_ucds() -> None:
    cases = {
        "right ascension, ICRS J2000 (deg)": u.deg,
        "total V magnitude (mag)": u.mag,
        "x on the reference frame, 1-based (pix)": u.pix,
        "adopted galaxy distance (Mpc)": u.Mpc,
        "best-fit log10 age (log yr)": u.dex(u.yr),
        "best-fit log10 stellar mass (log Msun)": u.dex(u.Msun),
        "pivot wavelength (Angstrom)": u.AA,
        "match radius (arcsec)": u.arcsec,
        "flux density (mJy)": u.mJy,
        "injected V (Vega mag)": u.mag,
        "release name (text)": None,
        "source.id (key)": None,
        "class (code)": None,
        "ML probability (probability)": None,
        "no parentheses": None,
    }
    for comment, unit in cases.items():
        assert parse_unit(comment) == unit, comment
    for view, (_, columns) in CURRENT_VIEW_COMMENTS.items():
        for column in columns:
            ucd = column_ucd(column)
            if ucd is not None:
                assert check_ucd(ucd, check_controlled_vocabulary=True), (view, column, ucd)
    assert column_ucd("mag_f814w_err") == "stat.error;phot.mag;em.opt.I"
    assert column_ucd("mag_v_r3") == "phot.mag;em.opt.V"
    assert column_ucd("method") is None


def test_frame_table_gives_a_figures_rows_the_views_units() -> None:
    """The dashboard's figure downloads: view columns keep their unit, derived ones get theirs."""
    frame = pd.DataFrame({"galaxy": ["NGC 628", None], "source_id": [7, 8],
                          "mag_v": [20.25, np.nan], "v_minus_i": [0.5, -0.25]})  # fmt: skip
    table = frame_table(frame, "cluster_catalogue", units={"v_minus_i": "colour V - I (mag)"})
    assert table["mag_v"].unit == u.mag and table["v_minus_i"].unit == u.mag
    assert table["source_id"].unit is None and list(table["source_id"]) == [7, 8]
    assert np.isnan(table["mag_v"][1]) and table["galaxy"].mask.tolist() == [False, True]
    back = Table.read(table_text(table, "ecsv"), format="ascii.ecsv")
    assert back["mag_v"].unit == u.mag and back["v_minus_i"][1] == -0.25
    assert back["mag_v"].description == CURRENT_VIEW_COMMENTS["cluster_catalogue"][1]["mag_v"]
    csv = table_text(table, "csv").splitlines()
    assert csv[0] == "galaxy,source_id,mag_v,v_minus_i" and csv[1] == "NGC 628,7,20.25,0.5"
    with pytest.raises(ValueError, match="csv and ecsv"):
        table_text(table, "fits")
