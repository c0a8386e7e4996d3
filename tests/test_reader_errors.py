"""Bad input gets a CatalogueFormatError naming file, line and column (DESIGN.md §6).

Every file here is written to ``tmp_path`` by the test itself: a small valid LEGUS catalogue
in the 35-column layout (named like the NGC 628-c file so the registry finds its layout), then
broken in one way per test. No shared data is needed.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from clustercat.ingest.errors import CatalogueFormatError
from clustercat.ingest.legus import read_legus_csv, read_legus_tab
from clustercat.ingest.mrt import read_mrt
from clustercat.ingest.phangs import read_phangs_fits
from clustercat.ingest.starcnet import read_starcnet

NAME = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"
NCOLS = 35  # layout L35-MODE-MEAN
N_ROWS = 6


def rows(n: int = N_ROWS, seed: int = 7) -> list[list[str]]:
    """Tokens of ``n`` valid rows of the standard 35-column layout (LAYOUTS.md §2.1-2.2)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(1, n + 1):
        mags = [f"{v:.3f}" for m in rng.uniform(20, 25, 5) for v in (m, rng.uniform(0.02, 0.2))]
        age = 10 ** rng.uniform(6, 9)
        mass = 10 ** rng.uniform(3, 5)
        sed = [age, age * 2, age / 2, mass, mass * 1.2, mass * 0.8, 0.1, 0.2, 0.0]
        row = [str(i), f"{rng.uniform(1, 4000):.3f}", f"{rng.uniform(1, 4000):.3f}"]
        row += [
            f"{24.17 + rng.uniform(-0.02, 0.02):.5f}",
            f"{15.78 + rng.uniform(-0.02, 0.02):.5f}",
        ]
        row += mags + [f"{rng.uniform(1.3, 2.5):.3f}"] + [f"{v:.3e}" for v in sed]
        row += [f"{v:.5f}" for v in rng.normal(0, 0.1, 5)] + ["1.2", "0.5", "5"]
        row += [str(int(rng.integers(1, 5))), f"{rng.uniform(1, 4):.3f}"]
        assert len(row) == NCOLS
        out.append(row)
    return out


def write(path: Path, table: list[list[str]], newline: str = "\n") -> Path:
    path.write_text("".join("  ".join(r) + newline for r in table))
    return path


def error_of(call: Callable[..., object], *args: object, **kw: object) -> CatalogueFormatError:
    with pytest.raises(CatalogueFormatError) as info:
        call(*args, **kw)
    return info.value


def assert_location(
    err: CatalogueFormatError, name: str, line: int | None, column: int | str | None
) -> None:
    text = str(err)
    assert text.startswith(name), text
    assert err.path is not None and err.path.name == name
    assert (err.line, err.column) == (line, column), text
    if line is not None:
        assert f"line {line}" in text
    if column is not None:
        assert f"column {column}" in text


def test_valid_synthetic_file_reads(tmp_path: Path) -> None:
    t = read_legus_tab(write(tmp_path / NAME, rows()))
    t.check()
    assert len(t.sources) == N_ROWS and len(t.sed_fits) == N_ROWS


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / NAME).write_text("")
    assert_location(error_of(read_legus_tab, tmp_path / NAME), NAME, 1, 1)
    (tmp_path / NAME).write_text("\n   \n\n")
    assert_location(error_of(read_legus_tab, tmp_path / NAME), NAME, 1, 1)


def test_truncated_last_line(tmp_path: Path) -> None:
    table = rows()
    table[-1] = table[-1][:12]
    err = error_of(read_legus_tab, write(tmp_path / NAME, table))
    assert_location(err, NAME, N_ROWS, 13)
    assert "expected 35 columns, found 12" in str(err) and "truncated" in str(err)


def test_row_with_wrong_number_of_columns(tmp_path: Path) -> None:
    table = rows()
    table[2].append("7")
    assert_location(error_of(read_legus_tab, write(tmp_path / NAME, table)), NAME, 3, 36)
    table = rows()
    del table[1][20]
    assert_location(error_of(read_legus_tab, write(tmp_path / NAME, table)), NAME, 2, 35)


def test_non_numeric_field(tmp_path: Path) -> None:
    table = rows()
    table[3][7] = "abc"
    err = error_of(read_legus_tab, write(tmp_path / NAME, table))
    assert_location(err, NAME, 4, 8)
    assert "'abc'" in str(err) and "mag_U" in str(err)


@pytest.mark.parametrize(
    ("column", "value", "word"),
    [(4, "nan", "finite"), (4, "400.0", "RA"), (4, "-1.0", "RA"), (5, "-95.0", "Dec"),
     (5, "inf", "finite")],
)  # fmt: skip
def test_bad_ra_dec(tmp_path: Path, column: int, value: str, word: str) -> None:
    table = rows()
    table[1][column - 1] = value
    err = error_of(read_legus_tab, write(tmp_path / NAME, table))
    assert_location(err, NAME, 2, column)
    assert word in str(err)


def test_duplicate_source_ids(tmp_path: Path) -> None:
    table = rows()
    table[4][0] = "2"
    err = error_of(read_legus_tab, write(tmp_path / NAME, table))
    assert_location(err, NAME, 5, 1)
    assert "duplicate source id 2 (first at line 2)" in str(err)


def test_non_integer_source_id(tmp_path: Path) -> None:
    table = rows()
    table[0][0] = "1.5"
    assert_location(error_of(read_legus_tab, write(tmp_path / NAME, table)), NAME, 1, 1)


def test_unknown_file_name_layout_or_galaxy(tmp_path: Path) -> None:
    """Not a line/column problem: the error names the file and leaves line/column out."""
    path = write(tmp_path / "mycat.tab", rows())
    err = error_of(read_legus_tab, path)
    assert_location(err, "mycat.tab", None, None)
    assert "unknown LEGUS file name" in str(err)
    err = error_of(read_legus_tab, path, layout="L99-NOPE", galaxy="NGC 628")
    assert_location(err, "mycat.tab", None, None)
    assert "unknown layout 'L99-NOPE'" in str(err)
    err = error_of(read_legus_tab, path, layout="L35-MODE-MEAN", galaxy="Andromeda XYZ")
    assert_location(err, "mycat.tab", None, None)
    assert "Andromeda XYZ" in str(err)
    err = error_of(read_legus_tab, path, layout="L35-MODE-MEAN")
    assert "pass galaxy=" in str(err)
    ok = read_legus_tab(path, layout="L35-MODE-MEAN", galaxy="NGC_628C")
    assert (ok.galaxy, ok.field) == ("NGC 628", "ngc628c")


def test_layout_that_does_not_fit_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / NAME, rows())
    err = error_of(read_legus_tab, path, layout="L37-SEL-WHITMORE")
    assert_location(err, NAME, 1, 36)
    assert "expected 37 columns, found 35" in str(err)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8)))
    err = error_of(read_legus_tab, path)
    assert err.path.name == NAME and err.line is not None and err.column is not None
    assert "binary data" in str(err)
    text = "".join("  ".join(r) + "\n" for r in rows())
    lines = text.splitlines(keepends=True)
    bad = lines[2][:30].encode() + b"\x00\x9f\xff" + lines[2][30:].encode()
    path.write_bytes("".join(lines[:2]).encode() + bad + "".join(lines[3:]).encode())
    err = error_of(read_legus_tab, path)
    column = len(lines[2][:30].split()) + (0 if lines[2][29] != " " else 1)
    assert_location(err, NAME, 3, column)


def test_gzip_is_read_not_refused(tmp_path: Path) -> None:
    plain = read_legus_tab(write(tmp_path / NAME, rows()))
    gz = tmp_path / (NAME + ".gz")
    gz.write_bytes(gzip.compress((tmp_path / NAME).read_bytes()))
    packed = read_legus_tab(gz)
    for name in ("sources", "photometry", "morphology", "classifications", "sed_fits"):
        pd.testing.assert_frame_equal(getattr(packed, name), getattr(plain, name))
    gz.write_bytes(gzip.compress((tmp_path / NAME).read_bytes())[:-20])  # cut short
    err = error_of(read_legus_tab, gz)
    assert err.path.name == NAME + ".gz" and "gzip" in str(err)


def test_crlf_line_endings_are_read(tmp_path: Path) -> None:
    plain = read_legus_tab(write(tmp_path / NAME, rows()))
    crlf = tmp_path / "crlf" / NAME
    crlf.parent.mkdir()
    write(crlf, rows(), newline="\r\n")
    assert b"\r\n" in crlf.read_bytes()
    other = read_legus_tab(crlf)
    for name in ("sources", "photometry", "classifications", "sed_fits"):
        pd.testing.assert_frame_equal(getattr(other, name), getattr(plain, name))
    table = rows()
    table[3][5] = "x1"
    err = error_of(read_legus_tab, write(crlf, table, newline="\r\n"))
    assert_location(err, NAME, 4, 6)  # line numbers are not doubled by CR


def test_csv_twin_errors(tmp_path: Path) -> None:
    header = ",".join(f"Column{i}" for i in range(1, NCOLS + 2))
    body = ["," + ",".join(r) for r in rows(3)]
    blank = "#" + "," * NCOLS
    path = tmp_path / "Catalog.csv"
    path.write_text("\n".join([header, *body, blank, *body]) + "\n")
    assert len(read_legus_csv(path)) == 2
    path.write_text("\n".join(["Col1,Col2", *body]) + "\n")
    assert_location(error_of(read_legus_csv, path), "Catalog.csv", 1, 1)
    fields = body[1].split(",")
    fields[9] = "zz"  # Column10 = .tab column 9
    bad = [body[0], ",".join(fields), body[2]]
    path.write_text("\n".join([header, *body, blank, *bad]) + "\n")
    err = error_of(read_legus_csv, path)
    # line 1 header, 2-4 first block, 5 blank row, 6-8 second block
    assert_location(err, "Catalog.csv", 7, 10)
    path.write_text("\n".join([header, *body]) + "\n")
    assert "expected 2" in str(error_of(read_legus_csv, path))


def test_starcnet_errors(tmp_path: Path) -> None:
    path = tmp_path / "starcnet_ml_predictions_ngc1566.tab"
    good = [
        "1\t3006\t5901\t4\t[0.00 - 0.00 - 0.02 - 0.98]",
        "2\t2797\t5852\t1\t[0.53 - 0.19 - 0.02 - 0.27]",
    ]
    path.write_text("\r\n".join([*good, "3\t2794\t5830\t4\t[0.00 - 0.00 - 0.01]"]) + "\r\n")
    assert_location(error_of(read_starcnet, path), path.name, 3, 5)
    path.write_text("\n".join([*good, "3\t2794\t5830\t9\t[0.00 - 0.00 - 0.01 - 0.99]"]))
    assert_location(error_of(read_starcnet, path), path.name, 3, 4)
    path.write_text("\n".join([*good, "2\t2794\t5830\t4\t[0.00 - 0.00 - 0.01 - 0.99]"]))
    assert_location(error_of(read_starcnet, path), path.name, 3, 1)
    path.write_text("\n".join([*good, "3\t2794\t4\t[0.00 - 0.00 - 0.01 - 0.99]"]))
    assert_location(error_of(read_starcnet, path), path.name, 3, 5)
    path.write_text("\n".join(good))
    assert len(read_starcnet(path).classifications) == 2


def _phangs(path: Path, drop: str | None = None, ids: list[int] | None = None) -> Path:
    n = 4
    t = Table()
    t["ID_PHANGS_CANDIDATE"] = ids or list(range(1, n + 1))
    t["PHANGS_X"] = np.arange(n) + 10.0
    t["PHANGS_Y"] = np.arange(n) + 20.0
    t["PHANGS_RA"] = 24.17 + np.arange(n) * 1e-4
    t["PHANGS_DEC"] = 15.78 + np.arange(n) * 1e-4
    t["PHANGS_CLUSTER_CLASS_HUMAN"] = [1, 2, 3, 4]
    t["PHANGS_CLUSTER_CLASS_ML_VGG"] = [1, 2, 3, 4]
    t["PHANGS_CLUSTER_CLASS_ML_VGG_QUAL"] = [1.0, 0.9, 0.8, 0.7]
    for f in ("F275W", "F336W", "F435W", "F555W", "F814W"):
        t[f"PHANGS_{f}_VEGA"] = [22.0, 23.0, 24.0, 25.0]
        t[f"PHANGS_{f}_VEGA_ERR"] = [0.1, 0.1, 0.1, 0.1]
    t["PHANGS_CI"] = [1.4, 1.5, 1.6, 1.7]
    if drop:
        t.remove_column(drop)
    t.write(path, overwrite=True)
    return path


def test_fits_table_missing_a_required_column(tmp_path: Path) -> None:
    name = "hlsp_phangs-cat_hst_acs-uvis_ngc628c_multi_v1_obs-human-cluster-class12.fits"
    read_phangs_fits(_phangs(tmp_path / name)).check()
    for column in ("PHANGS_RA", "PHANGS_F435W_VEGA_ERR", "PHANGS_CLUSTER_CLASS_ML_VGG"):
        err = error_of(read_phangs_fits, _phangs(tmp_path / name, drop=column))
        assert_location(err, name, None, column)
        assert "required column missing" in str(err)
    err = error_of(read_phangs_fits, _phangs(tmp_path / name, ids=[1, 2, 2, 3]))
    assert_location(err, name, 3, "ID_PHANGS_CANDIDATE")
    (tmp_path / "garbage.fits").write_bytes(b"SIMPLE  = nonsense" * 50)
    err = error_of(read_phangs_fits, tmp_path / "garbage.fits", galaxy="NGC 628")
    assert err.path.name == "garbage.fits"


def test_mrt_errors(tmp_path: Path) -> None:
    path = tmp_path / "table_mrt.txt"
    path.write_text("this is not a machine-readable table\n1 2 3\n")
    err = error_of(read_mrt, path)
    assert_location(err, "table_mrt.txt", None, None)
    path.write_bytes(b"\x00\x01binary")
    assert_location(error_of(read_mrt, path), "table_mrt.txt", 1, 1)


def test_error_message_format_and_pickling() -> None:
    err = CatalogueFormatError(Path("/x/ngc628c.tab"), 17, 8, "expected a number, got 'abc'")
    assert str(err) == "ngc628c.tab, line 17, column 8: expected a number, got 'abc'"
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.line, again.column) == (str(err), 17, 8)
    assert isinstance(err, ValueError)
    assert str(CatalogueFormatError("a.fits", None, "PHANGS_RA", "missing")) == (
        "a.fits, column PHANGS_RA: missing"
    )


# --- bad values: refused with their line and column (issue 13) ------------------------------
# Standard layout L35-MODE-MEAN: 6-15 mag/err pairs (UV, U, B, V, I), 17 age, 18-19 age
# bounds, 20 mass, 21-22 mass bounds (LAYOUTS.md §2.1).


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        (17, "-1.0e+07", "age"),  # a negative age used to be read as "unfitted", exit 0
        (19, "-5.0e+06", "age_min"),
        (20, "-3.0e+04", "mass"),
        (13, "-0.05", "err_V"),  # negative magnitude errors
        (7, "-1e-3", "err_UV"),
        (12, "1e300", "mag_V"),  # magnitudes of 1e300
        (10, "-1e300", "mag_B"),
        (15, "1e300", "err_I"),
    ],
)
def test_bad_values_are_refused_with_line_and_column(
    tmp_path: Path, column: int, value: str, words: str
) -> None:
    table = rows()
    table[3][column - 1] = value
    err = error_of(read_legus_tab, write(tmp_path / NAME, table))
    assert_location(err, NAME, 4, column)
    assert f"{words} = {float(value):g}" in str(err), str(err)


def test_bad_values_leave_the_database_unchanged(
    tmp_path: Path, empty_db_url: str, backend: str
) -> None:
    """Through the ingest command: exit status 1, file/line/column named, no release row."""
    from click.testing import CliRunner
    from clustercat.ingest.cli import ingest_group
    from clustercat.schema import migrate
    from sqlalchemy import create_engine, text

    migrate.upgrade(empty_db_url)
    table = rows()
    table[2][16] = "-2.5e+07"  # negative age on line 3, column 17
    folder = tmp_path / "cat"
    folder.mkdir()
    write(folder / NAME, table)
    result = CliRunner().invoke(
        ingest_group,
        ["legus", str(folder), "--release", "bad-values"],
        obj={"database": empty_db_url},
    )
    assert result.exit_code != 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert f"{NAME}, line 3, column 17: age = -2.5e+07" in output, output
    engine = create_engine(empty_db_url)
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM catalogue_release WHERE name = 'bad-values'")
        ).scalar()
        sources = conn.execute(text("SELECT count(*) FROM source")).scalar()
    engine.dispose()
    assert (n, sources) == (0, 0)


def test_bad_value_in_the_csv_twin_names_the_csv_column(tmp_path: Path) -> None:
    header = ",".join(f"Column{i}" for i in range(1, NCOLS + 2))
    body = ["," + ",".join(r) for r in rows(3)]
    fields = body[2].split(",")
    fields[13] = "-0.2"  # CSV Column14 = .tab column 13 (err_V)
    path = tmp_path / "Catalog.csv"
    blank = "#" + "," * NCOLS
    path.write_text("\n".join([header, *body, blank, body[0], body[1], ",".join(fields)]) + "\n")
    err = error_of(read_legus_csv, path)
    assert_location(err, "Catalog.csv", 8, 14)
    assert "err_V = -0.2" in str(err)


@pytest.mark.parametrize(
    ("column", "row", "value", "words"),
    [("PHANGS_F555W_VEGA", 3, 1e300, "1e+300"), ("PHANGS_F814W_VEGA_ERR", 2, -0.1, "-0.1"),
     ("PHANGS_F336W_VEGA", 4, -1e300, "-1e+300"), ("PHANGS_SED_AGE", 2, -5.0, "-5"),
     ("PHANGS_SED_MASS", 4, -1e4, "-10000")],
)  # fmt: skip
def test_phangs_bad_values_name_row_and_column(
    tmp_path: Path, column: str, row: int, value: float, words: str
) -> None:
    name = "hlsp_phangs-cat_hst_acs-uvis_ngc628c_multi_v1_obs-human-cluster-class12.fits"
    path = _phangs(tmp_path / name)
    t = Table.read(path)
    t["PHANGS_SED_AGE"] = [5.0, 10.0, 100.0, 1000.0]
    t["PHANGS_SED_MASS"] = [1e4, 2e4, 3e4, 4e4]
    t["PHANGS_SED_AV"] = [0.1, 0.2, 0.3, 0.4]
    t.write(path, overwrite=True)
    read_phangs_fits(path).check()
    t[column][row - 1] = value
    t.write(path, overwrite=True)
    err = error_of(read_phangs_fits, path)
    assert_location(err, name, row, column)
    assert f"{words}:" in str(err), str(err)


@pytest.mark.parametrize(
    ("byte_range", "label", "value"),
    [((96, 100), "e_F555Wmag", "-0.05"), ((148, 155), "Mass", " -1234.0")],
)
def test_mrt_bad_values_name_line_and_column(
    tmp_path: Path, byte_range: tuple[int, int], label: str, value: str
) -> None:
    """The real Whitmore et al. 2020 table with one value replaced (fixed-width bytes)."""
    from conftest import shared_path

    source = shared_path("tables", "whitmore2020_ngc4449_clusters_mrt.txt")
    lines = source.read_text().splitlines(keepends=True)
    first = max(k for k, line in enumerate(lines) if line.startswith("-" * 40)) + 1
    target = first + 4  # the fifth data row
    lo, hi = byte_range
    line = lines[target]
    lines[target] = line[: lo - 1] + value.rjust(hi - lo + 1) + line[hi:]
    path = tmp_path / source.name
    path.write_text("".join(lines))
    err = error_of(read_mrt, path)
    assert_location(err, source.name, target + 1, label)
    assert f"{float(value):g}:" in str(err)


def test_contract_check_names_the_line_of_a_bad_value(tmp_path: Path) -> None:
    """The contract check (run by the loader on every reader's tables) says where a bad value
    came from: its file line and source id, also for readers that do not check values."""
    t = read_legus_tab(write(tmp_path / NAME, rows()))
    t.photometry.loc[7, "mag_err"] = -0.25  # source 2, band B (rows 5-9: NUV, U, B, V, I)
    t.sed_fits.loc[3, "log_age"] = 13.0  # source 4
    with pytest.raises(ValueError) as info:
        t.check()
    text = str(info.value)
    assert (
        "photometry.mag_err outside [0, 100] (first at line 2, source id 2, band B: -0.25)" in text
    )
    assert "sed_fits.log_age outside [4, 11] (first at line 4, source id 4: 13)" in text
