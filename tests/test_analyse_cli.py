"""``clustercat crossmatch`` and ``clustercat analyse`` on the real LEGUS database.

Runs through ``clustercat.__main__.main`` once the two click objects are registered there,
else through the objects themselves with the database in ``obj`` (what ``main`` puts there).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from clustercat.__main__ import main
from clustercat.processing import analyses
from clustercat.processing.catalogue_io import read_crossmatch_pairs, read_crossmatch_run
from clustercat.processing.cli import analyse_group, crossmatch_cmd
from clustercat.processing.crossmatch_db import outcome_counts
from clustercat.schema import make_engine
from sqlalchemy import Engine, text

HUMAN = "LEGUS human mode"
NGC1566_CONFUSION = [[241, 7, 0, 10], [59, 79, 19, 57], [9, 28, 114, 110], [20, 11, 44, 253]]


@pytest.fixture(scope="module")
def legus_url(legus_db_url: str) -> str:
    """The LEGUS database, ANALYZEd on PostgreSQL (see test_analyses_db.legus_db)."""
    engine = make_engine(legus_db_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return legus_db_url


def run(url: str, *args: str) -> Result:
    """Invoke like ``clustercat --database URL ARGS``."""
    runner = CliRunner()
    if args[0] in main.commands:  # wired into the clustercat command
        return runner.invoke(main, ["--database", url, *args], catch_exceptions=False)
    command = crossmatch_cmd if args[0] == "crossmatch" else analyse_group
    return runner.invoke(command, list(args[1:]), obj={"database": url}, catch_exceptions=False)


def _csv(result: Result) -> pd.DataFrame:
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


def test_crossmatch_prints_pairs_and_outcomes_and_stores_them(legus_url: str, backend: str):
    method = "q3c" if backend == "postgresql" else "kdtree"
    result = run(
        legus_url, "crossmatch", "legus:ngc628c", "legus:ngc628e", "--radius", "0.1arcsec",
        "--method", method,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "one-to-one pairs: 122" in out
    printed = {m[1]: int(m[2]) for m in re.finditer(r"│ (\w+)\s+│\s+(\d+) │", out)}
    run_id = int(re.search(r"stored as crossmatch_run (\d+)", out)[1])
    engine = make_engine(legus_url)
    try:
        stored_run = read_crossmatch_run(engine, run_id)
        stored = outcome_counts(read_crossmatch_pairs(engine, run_id))
    finally:
        with engine.begin() as conn:  # leave the shared database as it was
            conn.execute(text("DELETE FROM crossmatch_pair WHERE run_id = :i"), {"i": run_id})
            conn.execute(text("DELETE FROM crossmatch_run WHERE id = :i"), {"i": run_id})
        engine.dispose()
    assert stored_run["n_pairs"] == 122 and stored_run["method"] == method
    assert printed == {k: int(v) for k, v in stored.items()}
    assert printed["same_class"] + printed["other_class"] + printed["matched"] == 122
    assert sum(printed.values()) == 3080 + 593 - 122


def test_crossmatch_csv_dry_run_and_pixels(legus_url: str):
    frame = _csv(
        run(
            legus_url,
            "crossmatch",
            "legus:ngc628c",
            "legus:ngc628e",
            "--radius",
            "2px",
            "--pixel-scale",
            "0.025",
            "--dry-run",
            "--csv",
        )  # fmt: skip
    )
    assert frame["radius_arcsec"].unique().tolist() == [0.05]
    assert frame["n_pairs"].unique().tolist() == [109]  # as a 0.05" radius
    assert frame["run_id"].isna().all()  # dry run: nothing stored
    assert frame["n"].sum() == 3080 + 593 - 109


def test_crossmatch_errors_exit_2(legus_url: str, backend: str):
    bad = run(legus_url, "crossmatch", "legus:nowhere", "legus:ngc628e", "--radius", "0.1arcsec")
    assert bad.exit_code == 2 and "no field 'nowhere'" in bad.stderr
    no_unit = run(legus_url, "crossmatch", "legus:ngc628c", "legus:ngc628e", "--radius", "0.1")
    assert no_unit.exit_code == 2 and "unit" in no_unit.stderr
    if backend == "sqlite":
        q3c = run(legus_url, "crossmatch", "legus", "legus", "--radius", "1arcsec", "--method",
                  "q3c")  # fmt: skip
        assert q3c.exit_code == 2 and "PostgreSQL" in q3c.stderr


def test_analyse_agreement_confusion_csv(legus_url: str):
    frame = _csv(
        run(legus_url, "analyse", "agreement", "-r", "legus", "-a", HUMAN, "-b", "StarcNet",
            "--table", "confusion", "--csv")
    )  # fmt: skip
    matrix = frame.pivot(index="class_a", columns="class_b", values="n").to_numpy()
    np.testing.assert_array_equal(matrix, NGC1566_CONFUSION)
    agree = _csv(
        run(legus_url, "analyse", "agreement", "-r", "legus", "-a", HUMAN, "-b", "StarcNet",
            "--csv")
    ).set_index("class_set")  # fmt: skip
    assert agree.loc["1+2", "agreement"] == pytest.approx(0.5 * (386 / 472 + 386 / 454))
    table = run(legus_url, "analyse", "agreement", "-r", "legus", "-a", HUMAN, "-b", "StarcNet")
    assert table.exit_code == 0 and "0.8333" in table.stdout and "NGC 1566" in table.stdout
    by_mag = _csv(
        run(legus_url, "analyse", "agreement", "-r", "legus", "-a", HUMAN, "-b", "StarcNet",
            "--by", "mag_v", "--csv")
    )  # fmt: skip
    assert by_mag.loc[by_mag["class_set"] == "1", "n_pairs"].sum() == 1061
    missing = run(legus_url, "analyse", "agreement", "-r", "legus", "-a", HUMAN, "-b",
                  "StarcNet", "--by", "background")  # fmt: skip
    assert missing.exit_code == 2 and "no local background" in missing.stderr


def test_analyse_colour_boxes_csv_equals_the_library(legus_db_url: str, legus_url: str):
    frame = _csv(run(legus_url, "analyse", "colour-boxes", "-r", "legus", "-g", "NGC 628",
                     "--csv"))  # fmt: skip
    engine = make_engine(legus_url)
    expected = analyses.colour_box_counts(engine, "legus", galaxies=["NGC 628"])
    engine.dispose()
    pd.testing.assert_frame_equal(
        frame.astype({"class_set": str}), expected.astype({"class_set": str}), check_dtype=False
    )
    quality = run(legus_url, "analyse", "colour-boxes", "-r", "legus", "-g", "NGC 1566", "-m",
                  HUMAN, "-m", "StarcNet", "--table", "quality")  # fmt: skip
    assert quality.exit_code == 0 and "qr_good" in quality.stdout


def test_analyse_functions_csv(legus_url: str):
    fits = _csv(
        run(legus_url, "analyse", "functions", "-r", "legus", "-m", HUMAN, "-g", "NGC 628",
            "--mass-min", "5e3", "--age-max", "200Myr", "--csv")
    ).set_index("fit")  # fmt: skip
    engine: Engine = make_engine(legus_url)
    expected = analyses.mass_function(
        engine, "legus", HUMAN, galaxies=["NGC 628"], age_range=(None, 2e8),
        mass_range=(5e3, None),
    ).fits.set_index("fit")  # fmt: skip
    engine.dispose()
    assert fits.loc["mle", "n"] == expected.loc["mle", "n"] == 305
    assert fits.loc["mle", "slope"] == pytest.approx(expected.loc["mle", "slope"], rel=1e-12)
    ages = _csv(
        run(legus_url, "analyse", "functions", "-r", "legus", "-m", "LEGUS hybrid", "-g",
            "NGC 1566", "--kind", "age", "--mass-min", "1e4", "--bins", "6", "--table", "bins",
            "--csv")
    )  # fmt: skip
    assert len(ages) == 6 and ages["lo"].iloc[0] == pytest.approx(1e6)
    bad = run(legus_url, "analyse", "functions", "-r", "legus", "-m", HUMAN, "--age-max", "3kg")
    assert bad.exit_code == 2
