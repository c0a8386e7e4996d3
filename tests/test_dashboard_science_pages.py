"""The science pages under ``streamlit.testing``: mass and age functions, agreement, cross-match.

One database per backend (``xmatch_db_url`` of ``test_dashboard_apptest``: LEGUS NGC 1566 as
``legus-1566`` and a synthetic PHANGS-HST release of it), to which this module adds the
StarcNet NGC 1566 predictions, two stored cross-match runs (0.08″ and 0.05″) and a second SED
method of ``legus-1566`` (a BC03 refit, ``clustercat process sed --label test``). What the
pages show is compared with the science functions run on rows read independently from the
views: :mod:`clustercat.processing.crossmatch_diagnostics` (Thilker et al. 2022 §6.4),
:func:`clustercat.processing.agreement.binomial_interval` and
:mod:`clustercat.processing.mass_functions` (Whitmore et al. 2021 §7), and with the golden
StarcNet vs LEGUS human agreement in NGC 1566 (1061 sources, 64.8 % the same class).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from clustercat.schema import make_engine

pytest.importorskip("streamlit", reason="the dashboard needs streamlit (pip install streamlit)")
pytest.importorskip("plotly", reason="the dashboard needs plotly (pip install plotly)")

from click.testing import CliRunner  # noqa: E402
from clustercat.dashboard import data  # noqa: E402
from clustercat.processing import analyses, crossmatch_db  # noqa: E402
from clustercat.processing import crossmatch_diagnostics as xdiag  # noqa: E402
from clustercat.processing.agreement import binomial_interval  # noqa: E402
from clustercat.processing.catalogue_io import read_frame  # noqa: E402
from clustercat.processing.mass_functions import (  # noqa: E402
    fit_power_law_binned,
    fit_power_law_mle,
    log_binned_function,
)
from sqlalchemy import Engine  # noqa: E402
from test_dashboard_apptest import (  # noqa: E402, F401
    _fresh_caches,
    metric,
    open_page,
    texts,
    xmatch_db_url,
)

GALAXY = "NGC 1566"
SED_LABEL = "test"
XMATCH = {"xm_a": "legus-1566 v1", "xm_b": "phangs-test v1", "gal": GALAXY,
          "rel": ["legus-1566 v1", "phangs-test v1"]}  # fmt: skip


@pytest.fixture(scope="module")
def science_db(xmatch_db_url: str, shared_data: Path) -> dict:  # noqa: F811
    """``xmatch_db_url`` plus StarcNet NGC 1566 attached to ``legus-1566``, stored runs of
    0.08″ and 0.05″ (the newest) and a BC03 refit of ``legus-1566`` labelled ``test``."""
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info
    from clustercat.processing.cli_sed import process_group, ssp_group

    engine = make_engine(xmatch_db_url)
    starcnet = reader_info("starcnet")
    ingest_release(
        engine,
        ReleaseRequest("starcnet-1566", starcnet.name, starcnet.version,
                       [shared_data / "legus" / "starcnet_ml_predictions_ngc1566.tab"],
                       attach_to="legus-1566"),
        starcnet.reader(),
    )  # fmt: skip
    runs = [
        crossmatch_db.run_crossmatch(
            engine,
            "legus-1566",
            "phangs-test",
            radius * u.arcsec,
            class_method_a="LEGUS hybrid",
            class_method_b="PHANGS-HST human",
        )  # fmt: skip
        for radius in (0.08, 0.05)
    ]
    obj = {"database": xmatch_db_url}
    built = CliRunner().invoke(ssp_group, ["build", "bc03"], obj=obj)
    assert built.exit_code == 0, built.output
    fitted = CliRunner().invoke(
        process_group, ["sed", "-r", "legus-1566", "-m", "bc03", "--label", SED_LABEL], obj=obj
    )
    assert fitted.exit_code == 0, fitted.output
    methods = read_frame(
        engine, "SELECT DISTINCT method, is_default FROM sed_results_all WHERE release = :r",
        {"r": "legus-1566"},
    )  # fmt: skip
    engine.dispose()
    default = methods.loc[methods["is_default"].astype(bool), "method"].iloc[0]
    refit = methods.loc[~methods["is_default"].astype(bool), "method"].iloc[0]
    assert refit.endswith(f"[{SED_LABEL}]")
    return {"url": xmatch_db_url, "runs": runs, "default_sed": default, "refit_sed": refit}


@pytest.fixture(scope="module")
def engine(science_db: dict) -> Engine:
    eng = make_engine(science_db["url"])
    yield eng
    eng.dispose()


def _frame_with(at: object, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _chart(at: object, title: str) -> dict:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(s for s in specs if title in json.dumps(s.get("layout", {}).get("title", "")))


def _values(v: object) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array ``{"dtype", "bdata", "shape"}``."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        if shape:
            out = out.reshape([int(n) for n in str(shape).split(",")])
        return out
    return np.asarray(v)


def _run_rows(engine: Engine, run_id: int) -> pd.DataFrame:
    """The stored run's rows of the galaxy, straight from the crossmatch_pairs view."""
    return read_frame(
        engine, "SELECT * FROM crossmatch_pairs_all WHERE run_id = :r AND galaxy = :g",
        {"r": run_id, "g": GALAXY},
    )  # fmt: skip


# --- cross-match (Thilker et al. 2022 §6.4) ---------------------------------------------------


def test_crossmatch_fractions_inside_the_overlap_offsets_and_separations(
    science_db: dict, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = science_db["runs"]
    at = open_page(science_db["url"], monkeypatch, "crossmatch.py", **XMATCH)
    # the newest of the two stored runs is shown; both are offered
    run_box = at.selectbox(key="xm_run")
    assert run_box.value.startswith(f"stored run #{new.run_id}:")
    assert any(o.startswith(f"stored run #{old.run_id}:") for o in run_box.options)
    assert metric(at, "One-to-one pairs") == f"{new.n_pairs:,}"

    rows = _run_rows(engine, new.run_id)
    fp = xdiag.run_footprints(xdiag.side_sources(rows, "a"), xdiag.side_sources(rows, "b"))
    expected = xdiag.matched_fraction(rows, fp).set_index("side")
    shown = _frame_with(at, "fraction_of").set_index("side")
    for side in ("a", "b"):
        for column in ("n", "k"):
            assert shown.loc[side, column] == expected.loc[side, column], (side, column)
        for column in ("fraction", "fraction_lo", "fraction_hi"):
            assert shown.loc[side, column] == pytest.approx(expected.loc[side, column])
    assert metric(at, "Matched fraction of B in the overlap").startswith(
        f"{expected.loc['b', 'fraction']:.1%}"
    )
    # the synthetic B release scatters field sources over LEGUS's RA/Dec box: outside the
    # LEGUS footprint they are unmatched, and the all-galaxy fraction is lower
    per = at.dataframe[0].value.set_index("galaxy").loc[GALAXY]
    assert per["n_b"] > expected.loc["b", "n"]
    assert per["frac_b"] < expected.loc["b", "fraction"] - 0.03
    flips = xdiag.class_flip_fraction(rows, fp).iloc[0]
    assert shown.loc["a+b", "n"] == flips["n"] > 100
    assert shown.loc["a+b", "fraction"] == pytest.approx(flips["fraction"])

    # the median offset of the pairs: about the synthetic 0.01" in RA, none in Dec
    summary = xdiag.offset_summary(xdiag.pair_offsets(rows))
    table = _frame_with(at, "median_dra_cosdec_arcsec").iloc[0]
    assert table["n"] == summary.n == new.n_pairs
    assert table["median_dra_cosdec_arcsec"] == pytest.approx(
        summary.median_dra_cosdec.to_value(u.arcsec)
    )
    assert table["median_ddec_arcsec"] == pytest.approx(summary.median_ddec.to_value(u.arcsec))
    assert 0.005 < table["median_dra_cosdec_arcsec"] < 0.015
    assert abs(table["median_ddec_arcsec"]) < 0.003

    # separations: bins from 0 to the radius, every pair counted
    hist = _chart(at, "Separations of the")["data"][0]
    lo = _values(hist["customdata"])[:, 0]
    assert lo[0] == 0.0 and (np.diff(lo) > 0).all()
    x, width = _values(hist["x"]), _values(hist["width"])
    assert x[0] - width[0] / 2 == pytest.approx(0.0, abs=1e-12)
    assert (x - width / 2 >= -1e-12).all()
    assert _values(hist["y"]).sum() == new.n_pairs
    # footprints and the overlap drawn, with areas; fractions against V with error bars
    foot = _chart(at, "footprints and their overlap")
    assert [t["name"].split(" (")[0] for t in foot["data"]] == [
        "A: legus-1566 v1", "B: phangs-test v1", "overlap"]  # fmt: skip
    by_mag = next(
        json.loads(c.proto.spec) for c in at.get("plotly_chart")
        if "Matched fraction (inside the overlap)" in c.proto.spec
    )  # fmt: skip
    assert all(t["error_y"]["visible"] for t in by_mag["data"])
    assert not at.exception and not at.error

    # the older run (0.08"): its own pairs
    at.selectbox(key="xm_run").set_value(
        next(o for o in run_box.options if o.startswith(f"stored run #{old.run_id}:"))
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert metric(at, "One-to-one pairs") == f"{old.n_pairs:,}" != f"{new.n_pairs:,}"
    hist = _chart(at, "Separations of the")["data"][0]
    assert _values(hist["customdata"])[-1, 1] == pytest.approx(0.08)


def test_crossmatch_download_sql_returns_the_rows_drawn(science_db: dict, engine: Engine) -> None:
    """The SQL offered with the offsets, separations and fractions figures returns their rows."""
    ctx = data.load_context(engine)
    ids = ctx.releases.set_index("label")["release_id"]
    methods = ctx.methods.drop_duplicates("method").set_index("method")["method_id"]
    run = science_db["runs"][1]
    # seen from the other side: the run stored legus-1566 as A, the page asks for B first
    match = data.crossmatch(
        engine, ctx, int(ids["phangs-test v1"]), int(ids["legus-1566 v1"]), GALAXY,
        int(methods["PHANGS-HST human"]), int(methods["LEGUS hybrid"]), 0.08, run.run_id,
    )  # fmt: skip
    dd = data.crossmatch_diagnostics(match, GALAXY, run.run_id, swapped=True, run_classes=True)
    d = dd.diagnostics
    pairs = read_frame(engine, *dd.pairs_sql)
    assert len(pairs) == len(d.offsets) == run.n_pairs
    got = pairs.sort_values("source_pk_a").reset_index(drop=True)
    drawn = d.offsets.sort_values("source_pk_a").reset_index(drop=True)
    for column in ("source_pk_a", "source_pk_b", "source_id_a", "field_b"):
        assert got[column].astype(str).tolist() == drawn[column].astype(str).tolist(), column
    for column in ("ra_a", "dec_b", "separation_arcsec", "mag_v_a"):
        np.testing.assert_allclose(got[column].astype(float), drawn[column].astype(float))
    assert (drawn["field_a"].str.contains("phangs|1566", case=False)).all()
    every = read_frame(engine, *dd.rows_sql)
    assert len(every) == len(d.rows)
    assert set(every["source_pk_a"].dropna().astype(int)) == set(
        d.rows["source_pk_a"].dropna().astype(int)
    )
    keyed = d.rows.dropna(subset=["source_pk_a", "source_pk_b"]).set_index(
        ["source_pk_a", "source_pk_b"])["class_a"]  # fmt: skip
    from_sql = every.dropna(subset=["source_pk_a", "source_pk_b"]).astype(
        {"source_pk_a": int, "source_pk_b": int}).set_index(
        ["source_pk_a", "source_pk_b"])["class_a"].astype(float)  # fmt: skip
    np.testing.assert_array_equal(
        keyed.reindex(from_sql.index).to_numpy(float), from_sql.to_numpy(float)
    )


# --- agreement (W21 §4, binomial errors) --------------------------------------------------------


def test_agreement_errors_are_binomial_intervals_for_starcnet_vs_human(
    science_db: dict, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = {"rel": "legus-1566 v1", "gal": GALAXY, "meth": ["LEGUS human mode", "StarcNet"],
             "mvcut": "false", "ag_a": "LEGUS human mode", "ag_b": "StarcNet"}  # fmt: skip
    at = open_page(science_db["url"], monkeypatch, "agreement.py", **query)
    assert metric(at, "Sources classified by both") == "1,061"
    assert metric(at, "Same class (1–4)") == "64.8%"
    table = at.dataframe[0].value.set_index("class_set")
    for k in ("1", "2", "3", "4", "1+2"):
        n_both, n_a, n_b = (int(table.loc[k, c]) for c in ("n_both", "n_a", "n_b"))
        lo_a, hi_a = binomial_interval(n_both, n_a)
        lo_b, hi_b = binomial_interval(n_both, n_b)
        assert table.loc[k, "frac_a_lo"] == pytest.approx(lo_a)
        assert table.loc[k, "frac_a_hi"] == pytest.approx(hi_a)
        assert table.loc[k, "frac_b_lo"] == pytest.approx(lo_b)
        assert table.loc[k, "agreement_lo"] == pytest.approx(0.5 * (lo_a + lo_b))
        assert table.loc[k, "agreement_hi"] == pytest.approx(0.5 * (hi_a + hi_b))
        assert table.loc[k, "agreement_lo"] < table.loc[k, "agreement"] < table.loc[
            k, "agreement_hi"]  # fmt: skip
        assert table.loc[k, "n"] == 1061
    # the error bars drawn are those intervals
    bars = _chart(at, "A: LEGUS human mode")["data"][0]
    one_two = table.loc["1+2"]
    i = list(_values(bars["x"])).index("Class 1+2")
    assert _values(bars["error_y"]["array"])[i] == pytest.approx(
        one_two["agreement_hi"] - one_two["agreement"]
    )
    assert _values(bars["error_y"]["arrayminus"])[i] == pytest.approx(
        one_two["agreement"] - one_two["agreement_lo"]
    )
    vs_mag = _chart(at, "Agreement vs magnitude")
    assert all(t["error_y"]["visible"] for t in vs_mag["data"])
    pairs = at.dataframe[1].value.iloc[0]
    assert pairs["1+2 lo"] == pytest.approx(one_two["agreement_lo"])
    # the SQL offered with the figures returns the 1061 pairs, classes and all
    ctx = data.load_context(engine)
    scope = data.Scope(
        (int(ctx.releases.set_index("label").loc["legus-1566 v1", "release_id"]),), GALAXY,
        ("LEGUS human mode", "StarcNet"), "1+2", None,
    )  # fmt: skip
    ad = data.agreement(engine, ctx, scope, "LEGUS human mode", "StarcNet")
    rows = read_frame(engine, ad.sql, ad.params).sort_values("source_pk").reset_index(drop=True)
    assert len(rows) == len(ad.rows) == 1061
    assert rows["source_pk"].tolist() == ad.rows["source_pk"].tolist()
    assert rows["class_a"].tolist() == ad.rows["class_a"].tolist()
    assert rows["class_b"].tolist() == ad.rows["class_b"].tolist()
    # with the M_V cut in SQL (log10 on both backends) the rows still agree
    cut_scope = data.Scope(scope.release_ids, GALAXY, scope.methods, "1+2", -7.8)
    cut = data.agreement(engine, ctx, cut_scope, "LEGUS human mode", "StarcNet")
    cut_rows = read_frame(engine, cut.sql, cut.params)
    assert 0 < len(cut_rows) == len(cut.rows) < 1061
    assert set(cut_rows["source_pk"]) == set(cut.rows["source_pk"])


def test_agreement_across_releases_offers_the_runs_sql(science_db: dict, engine: Engine) -> None:
    ctx = data.load_context(engine)
    ids = ctx.releases.set_index("label")["release_id"]
    scope = data.Scope(
        (int(ids["legus-1566 v1"]), int(ids["phangs-test v1"])), GALAXY,
        ("LEGUS human mode", "PHANGS-HST human"), "1+2", None,
    )  # fmt: skip
    keys = ctx.keys(scope)["key"].tolist()
    ad = data.agreement(engine, ctx, scope, keys[0], keys[1])
    assert f"stored cross-match run #{science_db['runs'][1].run_id}" in ad.via
    rows = read_frame(engine, ad.sql, ad.params)
    assert len(rows) == len(ad.rows) == ad.n_pairs > 500
    merged = rows.merge(ad.rows, on=["source_pk_a", "source_pk_b"], suffixes=("", "_page"))
    assert len(merged) == len(rows)
    assert (merged["class_a"] == merged["class_a_page"]).all()
    assert (merged["class_b"] == merged["class_b_page"]).all()


# --- mass and age functions (W21 §7) --------------------------------------------------------


def _sample(engine: Engine, sed_method: str) -> pd.DataFrame:
    """Class 1+2 LEGUS human mode sources of NGC 1566 with the SED method's age and mass."""
    return read_frame(
        engine,
        "SELECT k.source_pk, s.log_age, s.log_mass FROM source_classes_all k "
        "JOIN sed_results_all s ON s.source_pk = k.source_pk "
        "WHERE k.release = 'legus-1566' AND k.galaxy = :g AND k.method = 'LEGUS human mode' "
        'AND k."class" IN (1, 2) AND s.method = :m AND s.log_age IS NOT NULL '
        "AND s.log_mass IS NOT NULL",
        {"g": GALAXY, "m": sed_method},
        floats=("log_age", "log_mass"),
    )


def _expected_mass_fits(sample: pd.DataFrame) -> tuple[float, float]:
    """Binned and MLE beta of the 6 <= log tau < 7 mass function above 10^3.5 Msun."""
    young = sample[(sample["log_age"] >= 6) & (sample["log_age"] < 7)
                   & (sample["log_mass"] >= 3.5)]["log_mass"].to_numpy()  # fmt: skip
    x = 10.0**young
    binned = log_binned_function(
        x * u.Msun, n_bins=5, log_range=(3.5, float(young.max())), equal_number=True
    )
    return fit_power_law_binned(binned).slope, fit_power_law_mle(x, 10**3.5).slope


def test_functions_page_binned_and_mle_slopes_and_sed_method(
    science_db: dict, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = {"rel": "legus-1566 v1", "gal": GALAXY, "meth": ["LEGUS human mode"],
             "mvcut": "false"}  # fmt: skip
    at = open_page(science_db["url"], monkeypatch, "functions.py", **query)
    sed_box = at.selectbox(key="fn_sed")
    assert sed_box.value == f"{science_db['default_sed']} (default)"  # the default first
    assert science_db["refit_sed"] in sed_box.options
    assert "no injection run is stored for NGC 1566" in " ".join(c.value for c in at.caption)

    def shown(page: object) -> tuple[pd.DataFrame, str]:
        fits = _frame_with(page, "fit").set_index(["range", "fit"])
        return fits, str(page.dataframe[0].value.to_dict())

    results = {}
    for label, method in (("default", science_db["default_sed"]),
                          ("refit", science_db["refit_sed"])):  # fmt: skip
        if label == "refit":
            at.selectbox(key="fn_sed").set_value(method).run()
            assert not at.exception, [e.value for e in at.exception]
        fits, slopes = shown(at)
        sample = _sample(engine, method)
        binned, mle = _expected_mass_fits(sample)
        assert fits.loc[("6 ≤ log τ < 7", "binned"), "slope"] == pytest.approx(binned)
        assert fits.loc[("6 ≤ log τ < 7", "mle"), "slope"] == pytest.approx(mle)
        # the slope table lists both fits, each with its error
        assert f"{binned:.2f} ± " in slopes and f"{mle:.2f} ± " in slopes
        assert "maximum likelihood" in slopes and "binned least squares" in slopes
        # the MLE line is drawn (dashed) beside the binned one
        mass = _chart(at, "Mass functions")
        dashed = [t for t in mass["data"] if t.get("line", {}).get("dash") == "dash"
                  and t.get("name", "").startswith("LEGUS human mode")]  # fmt: skip
        assert dashed and f"{mle:.2f}" in dashed[0]["name"]
        results[label] = (sample, fits.loc[("6 ≤ log τ < 7", "mle"), "n"])
    # the refit changes the sample (ages and masses of another method)
    (default, n_default), (refit, n_refit) = results["default"], results["refit"]
    assert n_default != n_refit
    both = default.merge(refit, on="source_pk", suffixes=("_d", "_r"))
    assert (np.abs(both["log_age_d"] - both["log_age_r"]) > 0.01).mean() > 0.3


def test_functions_download_sql_returns_the_sample(science_db: dict, engine: Engine) -> None:
    ctx = data.load_context(engine)
    release = int(ctx.releases.set_index("label").loc["legus-1566 v1", "release_id"])
    for sed in (None, science_db["refit_sed"]):
        for mv in (None, -7.8):
            scope = data.Scope((release,), GALAXY, ("LEGUS human mode", "StarcNet"), "1+2", mv)
            fd = data.functions(engine, ctx, scope, sed_method=sed)
            rows = read_frame(engine, fd.sql, fd.params, floats=("log_age", "log_mass"))
            drawn = fd.rows
            assert len(rows) == len(drawn) > 50, (sed, mv)
            key = ["source_pk", "method"]
            merged = rows.merge(drawn, on=key, suffixes=("", "_page"))
            assert len(merged) == len(rows)
            np.testing.assert_allclose(merged["log_mass"], merged["log_mass_page"])
            np.testing.assert_allclose(merged["log_age"], merged["log_age_page"])
            assert (merged["class"] == merged["class_page"]).all()


# --- pure helpers ------------------------------------------------------------------------------


def test_mle_normalisation_and_completeness_limit() -> None:
    # n objects of dN/dx = C x^beta on [x_min, x_max]: the integral of the line is n
    for slope, x_max in ((-2.0, np.inf), (-1.5, 1e7), (-1.0, 1e9), (-0.5, 1e9)):
        log_c = analyses.power_law_log_amplitude(slope, 200, 1e3, x_max)
        top = x_max if np.isfinite(x_max) else 1e14
        x = np.logspace(3, np.log10(top), 200001)
        integral = np.trapezoid(10**log_c * x**slope, x)
        assert integral == pytest.approx(200, rel=2e-3), slope
    curve = pd.DataFrame({"bin_low": [2.0, 2.5, 3.0, 3.5, 4.0],
                          "bin_high": [2.5, 3.0, 3.5, 4.0, 4.5],
                          "completeness": [0.1, 0.3, 0.7, 0.95, 1.0]})  # fmt: skip
    # 50 %: half-way between the centres 2.75 (0.3) and 3.25 (0.7)
    assert analyses.completeness_limit(curve, 0.5) == pytest.approx(3.0)
    assert analyses.completeness_limit(curve, 0.9) == pytest.approx(3.25 + 0.5 * 0.2 / 0.25)
    assert analyses.completeness_limit(curve, 0.05) == 2.0
    assert np.isnan(analyses.completeness_limit(curve.iloc[:3], 0.9))


def test_pages_without_data_say_why(science_db: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(science_db["url"], monkeypatch, "crossmatch.py", **{**XMATCH,
                   "xm_ma": "(none)", "xm_mb": "(none)"})  # fmt: skip
    assert "Choose a classification method on both sides" in texts(at)
    shown = _frame_with(at, "fraction_of").set_index("side")
    assert shown.loc["a+b", "n"] == 0
    assert metric(at, "Class flips in the overlap") == "–"
    assert not at.exception


def test_completeness_limits_of_a_stored_injection_run(
    science_db: dict, engine: Engine, tmp_path: Path
) -> None:
    """A tiny injection run (90 clusters in the synthetic field ngc628c, as
    test_injection_db makes them): the limits the functions page marks are where the
    ``injection_completeness`` curves of that run fall to 50 and 90 %."""
    from dataclasses import replace

    from clustercat.dashboard import plots
    from clustercat.processing.images_db import register_images
    from clustercat.processing.injection_db import completeness_table, run_injection
    from test_injection_db import DISTANCE, FIELD, GEN, SETTINGS
    from test_pipeline import synthetic_field

    assert "no injection run is stored" in data.function_completeness(engine, "NGC 628").reason
    paths, _ = synthetic_field(tmp_path)
    register_images(engine, list(paths.values()), field=FIELD, galaxy="NGC 628")
    # the BC03 grid the injection reads is the one `clustercat ssp build bc03` stored
    run = run_injection(
        engine, FIELD, 90, generator=replace(GEN, batch_size=30), settings=SETTINGS,
        distance_mpc=DISTANCE, seed=5, workers=1,
    )  # fmt: skip
    limits = data.function_completeness(engine, "NGC 628")
    assert limits.reason is None and limits.run_id == run.run_id and limits.field == FIELD
    got = limits.limits.set_index(["quantity", "level"])["limit"]
    with engine.connect() as conn:
        mass = completeness_table(conn, run.run_id, "log_mass")
        mags = completeness_table(conn, run.run_id, "mag_v")
    for level in (0.5, 0.9):
        expected = analyses.completeness_limit(mass.astype({"completeness": float}), level)
        assert got[("log_mass", level)] == pytest.approx(expected, nan_ok=True)
        # in V, fainter is less complete: every bin brighter than the limit is >= level
        limit = got[("mag_v", level)]
        centre = 0.5 * (mags["bin_low"].astype(float) + mags["bin_high"].astype(float))
        brighter = mags["completeness"].astype(float)[centre < limit - 0.125]
        assert (brighter >= level).all() and len(brighter) > 0
    assert got[("mag_v", 0.9)] <= got[("mag_v", 0.5)]
    # the mass functions mark them as dotted lines at 10^limit
    ctx = data.load_context(engine)
    release = int(ctx.releases.set_index("label").loc["legus-1566 v1", "release_id"])
    fd = data.functions(engine, ctx, data.Scope((release,), GALAXY, ("LEGUS human mode",),
                                                "1+2", None))  # fmt: skip
    level = 10.0 ** got[("log_mass", 0.9)]
    fig = plots.mass_function_figure(fd.mass_bins, fd.mass_fits, fd.keys, [(level, "90 %")])
    marked = [t for t in fig.data if t.name == "90 %"]
    assert len(marked) == fd.mass_bins["range"].nunique() == 3
    assert all(list(t.x) == [level, level] for t in marked)
