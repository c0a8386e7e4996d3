"""The dashboard under ``streamlit.testing``: every page on the real LEGUS releases, both backends.

The numbers a page shows are compared with those :mod:`clustercat.processing.analyses` and
:mod:`clustercat.processing.crossmatch_db` compute through the collaborator views (a second,
independent path from the database to the same science functions), and with golden facts of
the data (StarcNet vs LEGUS human classes in NGC 1566: 1061 sources, 64.8 % the same class).
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from clustercat.schema import make_engine, migrate
from clustercat.schema.config import PROJECT_ROOT
from sqlalchemy import Engine

pytest.importorskip("streamlit", reason="the dashboard needs streamlit (pip install streamlit)")
pytest.importorskip("plotly", reason="the dashboard needs plotly (pip install plotly)")

import streamlit as st  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from clustercat.dashboard import cache  # noqa: E402
from clustercat.dashboard.cli import dashboard_cmd, streamlit_command  # noqa: E402
from clustercat.processing import analyses, crossmatch_db  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = (
    "overview.py",
    "colours.py",
    "quality.py",
    "agreement.py",
    "functions.py",
    "crossmatch.py",
    "explorer.py",
)
NGC1566_METHODS = ["LEGUS human mode", "LEGUS hybrid", "StarcNet", "LEGUS ML"]


def open_page(
    url: str, monkeypatch: pytest.MonkeyPatch, page: str = "overview.py", **query: object
) -> AppTest:
    """Run the app on ``url`` with the query string ``query`` and show ``page``."""
    monkeypatch.setenv("CLUSTERCAT_DATABASE_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "overview.py":
        at.switch_page(f"app_pages/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def texts(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.info, *at.warning, *at.error])


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts with empty Streamlit caches (results, tokens, engines)."""
    st.cache_data.clear()


# --- a second database: LEGUS NGC 1566 and a synthetic PHANGS-HST release of it ---------------


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "clustercat_bench_dashboard", PROJECT_ROOT / "bench" / "dashboard.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def xmatch_db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> str:
    """Release ``legus-1566`` (the LEGUS NGC 1566 file) and ``phangs-test``, a synthetic
    PHANGS-HST DR4 table of the same field (90 % of the sources re-observed, classes partly
    flipped, 500 extra field sources), ingested with the real readers."""
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    folder = tmp_path_factory.mktemp("dashboard_xmatch")
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'xmatch.db'}"
    else:
        dbs = request.getfixturevalue("postgres_databases")
        url = dbs.create("clustercat_dash")
        request.addfinalizer(lambda: dbs.drop(url))
    migrate.upgrade(url)
    engine = make_engine(url)
    legus = reader_info("legus")
    path = (
        shared_data / "legus" / "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"
    )
    ingest_release(
        engine, ReleaseRequest("legus-1566", legus.name, legus.version, [path]), legus.reader()
    )
    _bench().ingest_phangs_synthetic(
        engine, folder, 3000, release="phangs-test", legus_release="legus-1566", seed=7
    )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def xmatch_engine(xmatch_db_url: str) -> Engine:
    engine = make_engine(xmatch_db_url)
    yield engine
    engine.dispose()


# --- every page, real LEGUS releases ----------------------------------------------------------


def test_every_page_renders_without_error(
    legus_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(legus_db_url, monkeypatch)
    assert at.title[0].value == "Overview"
    assert metric(at, "Sources in them") == "36,197"  # the 28 LEGUS catalogues
    for page in PAGES[1:]:
        at.switch_page(f"app_pages/{page}").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
    # one database with one release that has sources: the cross-match page says so
    assert "needs two releases with sources" in texts(
        at.switch_page("app_pages/crossmatch.py").run()
    )


def test_colour_box_counts_equal_processing(
    legus_db_url: str, legus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W21 Figs. 9-14: per-method counts in the four boxes (and in none) under M_V < -7.8."""
    at = open_page(
        legus_db_url, monkeypatch, "colours.py", gal="NGC 1566", meth=NGC1566_METHODS, cls="1"
    )
    assert len(at.get("plotly_chart")) == 2  # U-B and NUV-B vs V-I
    shown = at.dataframe[0].value
    expected = analyses.colour_box_counts(
        legus_engine,
        "legus",
        methods=NGC1566_METHODS,
        galaxies=["NGC 1566"],
        class_sets={"1": (1,)},
        include_outside=True,
    ).pivot_table(index="box", columns="method", values="n", aggfunc="sum")
    for box, label in enumerate(["in no box", "Box 1", "Box 2", "Box 3", "Box 4"]):
        row = shown.loc[[i for i in shown.index if i.startswith(label)][0]]
        for method in NGC1566_METHODS:
            assert row[method] == expected.loc[box, method], (label, method)
    assert shown.loc["total plotted", "LEGUS human mode"] == expected["LEGUS human mode"].sum()
    assert expected.loc[1:4].to_numpy().sum() > 100  # the comparison is not vacuous
    # every panel plots exactly the sources counted (its title gives N)
    spec = at.get("plotly_chart")[0].proto.spec
    for method in NGC1566_METHODS:
        n = int(re.search(re.escape(method) + r"  \(N = ([\d,]+)\)", spec)[1].replace(",", ""))
        assert n == shown.loc["total plotted", method], method


def test_quality_ratios_equal_processing(
    legus_db_url: str, legus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W21 Table 2: box counts per method and class set, QR and its good/poor tally."""
    at = open_page(legus_db_url, monkeypatch, "quality.py", meth=NGC1566_METHODS)
    numbers = next(d.value for d in at.dataframe if "qr_good" in d.value.columns)
    counts = analyses.colour_box_counts(legus_engine, "legus", methods=NGC1566_METHODS)
    expected = analyses.colour_box_quality(counts, methods=NGC1566_METHODS)
    merged = numbers.merge(expected, on=["galaxy", "class_set", "box"], suffixes=("", "_ref"))
    assert len(merged) == len(expected) > 0
    for method in NGC1566_METHODS:
        np.testing.assert_array_equal(merged[method], merged[f"{method}_ref"])
    rated = merged["class_set"] != "4"  # W21 §5.5: Class 4 takes no QR
    np.testing.assert_allclose(merged.loc[rated, "qr"], merged.loc[rated, "qr_ref"], equal_nan=True)
    eligible = rated & np.isfinite(merged["qr_ref"].to_numpy(dtype=float))
    assert eligible.sum() > 0
    assert metric(at, "Box rows with a QR") == f"{int(eligible.sum()):,}"
    assert metric(at, "QR ≤ 1.0") == f"{int((eligible & merged['qr_good_ref']).sum()):,}"


def test_agreement_equals_processing_and_the_starcnet_golden(
    legus_db_url: str, legus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W21 Table 1 fractions; StarcNet agrees with the LEGUS human class for 64.8 % of 1061."""
    at = open_page(
        legus_db_url,
        monkeypatch,
        "agreement.py",
        gal="NGC 1566",
        meth=["LEGUS human mode", "StarcNet"],
        mvcut="false",
        ag_a="LEGUS human mode",
        ag_b="StarcNet",
    )
    assert metric(at, "Sources classified by both") == "1,061"
    shown = at.dataframe[0].value.set_index("class_set")
    expected = analyses.agreement(
        legus_engine,
        "legus",
        "LEGUS human mode",
        "StarcNet",
        galaxies=["NGC 1566"],
        by_galaxy=False,
    ).set_index("class_set")
    for k in ("1", "2", "3", "4", "1+2"):
        assert shown.loc[k, "n_both"] == expected.loc[k, "n_both"]
        assert shown.loc[k, "agreement"] == pytest.approx(expected.loc[k, "agreement"])
    assert shown.loc["mean", "agreement"] == pytest.approx(expected.loc["mean", "agreement"])
    same = sum(shown.loc[k, "n_both"] for k in ("1", "2", "3", "4"))
    assert round(100 * same / 1061, 1) == 64.8
    # with W21's M_V < -7.8 sample
    cut = open_page(
        legus_db_url, monkeypatch, "agreement.py", gal="NGC 1566",
        meth=["LEGUS human mode", "StarcNet"], ag_a="LEGUS human mode", ag_b="StarcNet",
    ).dataframe[0].value.set_index("class_set")  # fmt: skip
    expected = analyses.agreement(
        legus_engine, "legus", "LEGUS human mode", "StarcNet", galaxies=["NGC 1566"],
        by_galaxy=False, abs_mag_limit=-7.8,
    ).set_index("class_set")  # fmt: skip
    assert 0 < cut.loc["1+2", "n_a"] < shown.loc["1+2", "n_a"]
    for k in ("1", "2", "3", "4", "1+2"):
        assert (
            cut.loc[k, ["n_a", "n_b", "n_both"]].tolist()
            == expected.loc[k, ["n_a", "n_b", "n_both"]].tolist()
        )


def test_mass_and_age_function_slopes_equal_processing(
    legus_db_url: str, legus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W21 §7: beta per age range and gamma per mass range, binned least squares and MLE."""
    at = open_page(
        legus_db_url,
        monkeypatch,
        "functions.py",
        gal="NGC 1566",
        meth=["LEGUS human mode"],
        mvcut="false",
    )
    fits = [d.value for d in at.dataframe if "fit" in d.value.columns]
    mass_fits, age_fits = fits[0].set_index(["range", "fit"]), fits[1].set_index(["range", "fit"])
    mf = analyses.mass_function(
        legus_engine, "legus", "LEGUS human mode", galaxies=["NGC 1566"],
        age_range=(1e6, 1e7), mass_range=(10**3.5, None), n_bins=5, equal_number=True,
    ).fits.set_index("fit")  # fmt: skip
    row = mass_fits.loc[("6 ≤ log τ < 7", "binned")]
    assert row["slope"] == pytest.approx(mf.loc["binned", "slope"])
    assert row["slope_err"] == pytest.approx(mf.loc["binned", "slope_err"])
    mle = mass_fits.loc[("6 ≤ log τ < 7", "mle")]
    assert mle["slope"] == pytest.approx(mf.loc["mle", "slope"])
    af = analyses.age_function(
        legus_engine, "legus", "LEGUS human mode", galaxies=["NGC 1566"],
        mass_range=(1e4, 10**4.8), age_range=(1e6, 1e9), fit_age_range=(10**6.5, 1e9), n_bins=6,
    ).fits.set_index("fit")  # fmt: skip
    row = age_fits.loc[("4 ≤ log M < 4.8", "binned")]
    assert row["slope"] == pytest.approx(af.loc["binned", "slope"])
    assert row["n"] == af.loc["binned", "n"]


def test_url_query_string_selects_and_keeps_the_view(
    legus_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(
        legus_db_url, monkeypatch, "colours.py", gal="NGC 628", cls="3", mv="-8.5",
        meth=["LEGUS human mode"],
    )  # fmt: skip
    side = at.sidebar
    assert side.selectbox(key="gal").value == "NGC 628"
    assert side.selectbox(key="cls").value == "3"
    assert side.number_input(key="mv").value == pytest.approx(-8.5)
    assert "NGC 628 · Class 3 · M_V < -8.5 mag" in at.caption[0].value
    at.switch_page("app_pages/quality.py").run()  # the sidebar's parameters stay in the URL
    assert at.query_params["gal"] == ["NGC 628"] or at.query_params["gal"] == "NGC 628"
    assert side.selectbox(key="gal").value == "NGC 628"
    # a shared link naming something that does not exist falls back to the defaults
    stale = open_page(legus_db_url, monkeypatch, "colours.py", gal="Nowhere", meth=["No such"])
    assert stale.sidebar.selectbox(key="gal").value == "All galaxies"


# --- two releases: cross-match, explorer twins, caching per release -----------------------------


def test_crossmatch_page_equals_processing(
    xmatch_db_url: str, xmatch_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = {
        "xm_a": "legus-1566 v1",
        "xm_b": "phangs-test v1",
        "xm_ma": "LEGUS hybrid",
        "xm_mb": "PHANGS-HST human",
        "gal": "NGC 1566",
    }
    at = open_page(xmatch_db_url, monkeypatch, "crossmatch.py", **query)
    with xmatch_engine.connect() as conn:
        match = crossmatch_db.match_sides(
            conn, "legus-1566:ngc1566", "phangs-test:ngc1566", 0.08 * u.arcsec,
            class_method_a="LEGUS hybrid", class_method_b="PHANGS-HST human",
        )  # fmt: skip
    assert 2000 < match.n_pairs < 2752
    assert metric(at, "One-to-one pairs") == f"{match.n_pairs:,}"
    per = at.dataframe[0].value.set_index("galaxy").loc["NGC 1566"]
    for outcome, n in match.counts.items():
        assert per.get(outcome, 0) == n, outcome
    # outcomes, footprints, fractions vs magnitude, class flips, offsets, sky, separations
    assert len(at.get("plotly_chart")) == 7

    # a stored run (another radius) is what the page then shows by default
    stored = crossmatch_db.run_crossmatch(
        xmatch_engine, "legus-1566", "phangs-test", 0.05 * u.arcsec,
        class_method_a="LEGUS hybrid", class_method_b="PHANGS-HST human",
    )  # fmt: skip
    st.cache_data.clear()
    at = open_page(xmatch_db_url, monkeypatch, "crossmatch.py", **query)
    assert metric(at, "One-to-one pairs") == f"{stored.n_pairs:,}"
    assert stored.n_pairs < match.n_pairs
    assert any(f"stored run #{stored.run_id}" in c.value for c in at.caption)


def test_pages_never_mix_releases(xmatch_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same selection for two releases in one session: each gets its own numbers."""
    tables = {}
    for release in ("legus-1566 v1", "phangs-test v1"):
        at = open_page(
            xmatch_db_url, monkeypatch, "colours.py", rel=release, gal="NGC 1566", cls="1+2"
        )
        tables[release] = at.dataframe[0].value
    assert list(tables["legus-1566 v1"].columns)[0].startswith("LEGUS")
    assert all(c.startswith("PHANGS-HST") for c in tables["phangs-test v1"].columns)
    both = open_page(
        xmatch_db_url, monkeypatch, "colours.py",
        rel=["legus-1566 v1", "phangs-test v1"], gal="NGC 1566", cls="1+2",
        meth=["LEGUS hybrid", "PHANGS-HST human"],
    ).dataframe[0].value  # fmt: skip
    assert list(both.columns) == [
        "LEGUS hybrid · legus-1566 v1",
        "PHANGS-HST human · phangs-test v1",
    ]
    np.testing.assert_array_equal(
        both.iloc[:, 0], tables["legus-1566 v1"]["LEGUS hybrid"].to_numpy()
    )


def test_agreement_across_releases_uses_the_crossmatch(
    xmatch_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(
        xmatch_db_url, monkeypatch, "agreement.py",
        rel=["legus-1566 v1", "phangs-test v1"], gal="NGC 1566", mvcut="false",
        meth=["LEGUS hybrid", "PHANGS-HST human"],
    )  # fmt: skip
    n = int(metric(at, "Sources classified by both").replace(",", ""))
    assert n > 500
    counts = at.dataframe[0].value.set_index("class_set")
    assert counts.loc["1+2", "agreement"] > 0.5  # 80 % of the human classes were kept


def test_explorer_links_twins_and_csv(
    xmatch_db_url: str, xmatch_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(
        xmatch_db_url, monkeypatch, "explorer.py",
        rel="legus-1566 v1", gal="NGC 1566", ex_twin="phangs-test v1",
    )  # fmt: skip
    table = at.dataframe[0].value
    assert len(table) > 100
    assert table["open"].str.contains(r"^source\?.*src=\d+$").all()
    twinned = table["twin link"].notna()
    assert 0.5 < twinned.mean() <= 1.0
    assert (table.loc[twinned, "twin separation (arcsec)"] <= 0.08 + 1e-9).all()
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    # following a twin link opens that source of the other release
    pk = int(table.loc[twinned, "twin link"].iloc[0].rsplit("src=", 1)[1])
    focus = open_page(xmatch_db_url, monkeypatch, "source.py", src=str(pk))
    assert focus.title[0].value.startswith("Source ")
    assert f"source_pk = {pk}" in focus.caption[0].value
    assert "phangs-test v1" in focus.caption[0].value


# --- release versions: the picker offers the newest complete versions --------------------------


def test_release_picker_offers_newest_versions_and_superseded_on_request(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dr4 v1 (8 sources) superseded by dr4 v2 (12), and another release: by default one
    release, dr4 v2, is selected and v1 is not offered; ticking "old" offers it, and its
    own numbers are shown."""
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info
    from factories import phangs_table

    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    info = reader_info("phangs")
    name = "hlsp_phangs-cat_hst_uvis_{}_multi_v1_obs-human-cluster-class12.fits"
    for release, galaxy, n, seed, new in (("dr4", "ngc1566", 8, 1, False),
                                          ("other", "ngc628", 5, 3, False),
                                          ("dr4", "ngc1566", 12, 2, True)):  # fmt: skip
        path = tmp_path / f"{release}{seed}" / name.format(galaxy)
        path.parent.mkdir()
        phangs_table(n, seed=seed).write(path)
        request = ReleaseRequest(release, info.name, info.version, [path], new_version=new)
        ingest_release(engine, request, info.reader())
    engine.dispose()
    at = open_page(empty_db_url, monkeypatch)
    picker = at.sidebar.multiselect(key="rel")
    assert picker.value == ["dr4 v2"]
    assert picker.options == ["dr4 v2", "other v1"]
    galaxies = next(d.value for d in at.dataframe if "n_sources" in d.value.columns)
    assert galaxies[["release", "n_sources"]].values.tolist() == [["dr4 v2", 12]]
    old = open_page(empty_db_url, monkeypatch, old="true", rel="dr4 v1")
    picker = old.sidebar.multiselect(key="rel")
    assert picker.options == ["dr4 v2", "dr4 v1", "other v1"] and picker.value == ["dr4 v1"]
    galaxies = next(d.value for d in old.dataframe if "n_sources" in d.value.columns)
    assert galaxies[["release", "n_sources"]].values.tolist() == [["dr4 v1", 8]]


# --- databases the dashboard cannot show ------------------------------------------------------


def test_empty_database_gives_messages_not_tracebacks(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(empty_db_url)
    at = open_page(empty_db_url, monkeypatch)
    assert "holds no catalogue release" in texts(at)
    for page in PAGES[1:]:
        at.switch_page(f"app_pages/{page}").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert "holds no catalogue release" in texts(at), page


def test_database_without_schema_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite3.connect(tmp_path / "blank.db").close()
    at = open_page(f"sqlite:///{tmp_path / 'blank.db'}", monkeypatch)
    assert "no ClusterCat schema" in texts(at) and "clustercat db upgrade" in texts(at)
    missing = tmp_path / "absent.db"
    at = open_page(f"sqlite:///{missing}", monkeypatch)
    assert "no SQLite database file" in texts(at)
    assert not missing.exists()  # looking did not create it


def test_cli_refuses_a_missing_database_and_serves_headless(tmp_path: Path) -> None:
    result = CliRunner().invoke(dashboard_cmd, ["--database", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code != 0 and "clustercat demo" in result.output
    command = streamlit_command(port=8765)
    assert command[command.index("--server.port") + 1] == "8765"
    assert command[command.index("--server.headless") + 1] == "true"
    assert str(APP) in command


def test_cache_keys_include_the_releases(xmatch_db_url: str) -> None:
    """Bare-mode call of the cached page functions: two releases, two results."""
    from clustercat.dashboard.data import DEFAULT_BOXES, Scope

    token = cache.token(xmatch_db_url)
    ctx = cache.context(xmatch_db_url, token)
    ids = dict(zip(ctx.shown["label"], ctx.shown["release_id"], strict=True))
    methods = ("LEGUS hybrid", "PHANGS-HST human")
    a = cache.quality(
        xmatch_db_url, token, Scope((ids["legus-1566 v1"],), None, methods), DEFAULT_BOXES
    )
    b = cache.quality(
        xmatch_db_url, token, Scope((ids["phangs-test v1"],), None, methods), DEFAULT_BOXES
    )
    assert a.keys == ["LEGUS hybrid"] and b.keys == ["PHANGS-HST human"]
    assert not pd.DataFrame.equals(a.counts, b.counts)


# --- a release made from images: the MCI plane and the explorer's stamps ----------------------


@pytest.fixture(scope="module")
def pipeline_db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Release ``pipe``: the image pipeline run on a synthetic 256^2 five-band field."""
    from clustercat.processing.images_db import register_images
    from clustercat.processing.pipeline import PipelineSettings
    from clustercat.processing.pipeline_db import run_pipeline
    from conftest import _new_database
    from test_pipeline import synthetic_field

    url = _new_database(backend, request, tmp_path_factory.mktemp("dashboard_pipeline"))
    migrate.upgrade(url)
    paths, _ = synthetic_field(tmp_path_factory.mktemp("dashboard_images"))
    engine = make_engine(url)
    register_images(engine, list(paths.values()), field="ngc628c", galaxy="NGC 628")
    run_pipeline(engine, "ngc628c", "pipe", settings=PipelineSettings(n_fiducial=60))
    engine.dispose()
    return url


def test_mci_plane_shows_the_pipeline_release(
    pipeline_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    engine = make_engine(pipeline_db_url)
    with engine.connect() as conn:
        n_cand, n_region, n_hd = conn.execute(text(
            "SELECT count(*), sum(CASE WHEN in_semi_empirical THEN 1 ELSE 0 END), "
            "sum(CASE WHEN super_hd THEN 1 ELSE 0 END) FROM source_selection WHERE candidate"
        )).one()  # fmt: skip
        pk = conn.execute(text(
            "SELECT s.id FROM source s JOIN source_selection x ON x.source_id = s.id "
            "WHERE x.candidate ORDER BY x.v_snr DESC")).scalars().first()  # fmt: skip
    engine.dispose()
    at = open_page(pipeline_db_url, monkeypatch, "mci.py", rel="pipe v1")
    assert at.title[0].value == "MCI plane"
    caption = " ".join(c.value for c in at.caption)
    assert (
        f"{n_cand:,} sources shown; {n_region:,} inside the semi-empirical region, "
        f"{n_hd:,} by the super H-D pathway" in caption
    )
    assert n_cand >= 35
    # the explorer: five-band and RGB stamps, and the growth curve, of a candidate
    at = open_page(pipeline_db_url, monkeypatch, "source.py", rel="pipe v1", src=str(pk))
    assert any(s.value == "Image stamps" for s in at.subheader)
    assert any(c.key == "src-growth" for c in at.get("plotly_chart"))
    captions = [c for image in at.get("image") for c in image.captions]
    assert captions == ["NUV (F275W)", "U (F336W)", "B (F435W)", "V (F555W)", "I (F814W)",
                        "RGB: I, V, B"]  # fmt: skip
    assert not at.warning


def test_mci_page_without_mci_explains(legus_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(legus_db_url, monkeypatch, "mci.py")
    assert "clustercat pipeline run" in texts(at)


# --- injection completeness and completeness-corrected functions (issue 11) --------------------


@pytest.fixture(scope="module")
def completeness_db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> str:
    """Release ``legus-1566`` (the LEGUS NGC 1566 file), one tiny complete injection run
    (three frame sets of 30 clusters in the synthetic field ngc628c, as test_injection_db
    makes them) and a physical completeness network trained on it for a few epochs."""
    from dataclasses import replace

    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info
    from clustercat.processing import ssp_db
    from clustercat.processing.completeness import TrainSettings
    from clustercat.processing.completeness_db import train_and_register
    from clustercat.processing.images_db import register_images
    from clustercat.processing.injection_db import run_injection
    from clustercat.schema import write_transaction
    from conftest import _new_database
    from sqlalchemy import text
    from test_injection_db import DISTANCE, FIELD, GEN, SETTINGS
    from test_pipeline import synthetic_field

    url = _new_database(backend, request, tmp_path_factory.mktemp("dashboard_completeness"))
    migrate.upgrade(url)
    engine = make_engine(url)
    legus = reader_info("legus")
    path = (
        shared_data / "legus" / "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"
    )
    ingest_release(
        engine, ReleaseRequest("legus-1566", legus.name, legus.version, [path]), legus.reader()
    )
    paths, _ = synthetic_field(tmp_path_factory.mktemp("completeness_images"))
    register_images(engine, list(paths.values()), field=FIELD, galaxy="NGC 628")
    with engine.connect() as conn:
        filters = list(conn.execute(text(
            "SELECT DISTINCT fl.name, im.instrument FROM image im JOIN filter fl "
            "ON fl.id = im.filter_id")).all())  # fmt: skip
    parts, _ = ssp_db.synthesize_grid("bc03", filters)
    with write_transaction(engine) as conn:
        ssp_db.store_grid(conn, parts)
    run = run_injection(
        engine, FIELD, 90, generator=replace(GEN, batch_size=30), settings=SETTINGS,
        distance_mpc=DISTANCE, seed=5, workers=1,
    )  # fmt: skip
    assert run.status == "complete"
    train_and_register(
        engine, run.run_id, "physical",
        settings=TrainSettings(kind="physical", epochs=3, batch_size=64, seed=1),
        output_dir=tmp_path_factory.mktemp("completeness_models"),
    )  # fmt: skip
    engine.dispose()
    return url


def test_completeness_page_shows_the_run(
    completeness_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    engine = make_engine(completeness_db_url)
    with engine.connect() as conn:
        run_id, n_frame_sets = conn.execute(
            text("SELECT max(run_id), count(DISTINCT frame_set) FROM injection_trial")
        ).one()
        n_inj, n_rec = conn.execute(text(
            "SELECT sum(n_injected), sum(n_recovered) FROM injection_completeness "
            "WHERE run_id = :r AND quantity = 'mag_v'"), {"r": run_id}).one()  # fmt: skip
        n_hits = conn.execute(
            text(
                "SELECT count(*) FROM injection_trial WHERE run_id = :r AND recovered AND "
                "mci_in_out IS NOT NULL AND mci_out_out IS NOT NULL"
            ),
            {"r": run_id},
        ).scalar_one()
    engine.dispose()
    assert n_frame_sets == 3 and n_inj == 90 and 0 < n_rec < 90
    at = open_page(completeness_db_url, monkeypatch, "completeness.py")
    assert at.title[0].value == "Injection completeness"
    caption = " ".join(c.value for c in at.caption)
    assert f"{int(n_rec):,} of {int(n_inj):,} injected clusters recovered" in caption
    assert f"overall completeness {int(n_rec) / int(n_inj):.4f}" in caption
    assert f"{n_hits:,} recovered trials" in str(at.get("plotly_chart")[1].proto.spec)
    assert len(at.get("plotly_chart")) == 2
    # against log mass: the same run's numbers
    at.selectbox(key="cp_axis").set_value("log mass (log M/M☉)").run()
    assert not at.exception, [e.value for e in at.exception]
    caption = " ".join(c.value for c in at.caption)
    assert f"{int(n_rec):,} of {int(n_inj):,} injected clusters recovered" in caption


def test_completeness_page_without_runs_and_functions_without_model(
    legus_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(legus_db_url, monkeypatch, "completeness.py")
    assert "clustercat inject run --field F --n N" in texts(at)
    assert not at.get("plotly_chart")
    at = open_page(
        legus_db_url, monkeypatch, "functions.py", gal="NGC 1566", meth=["LEGUS human mode"]
    )
    notes = [c.value for c in at.caption if c.value.startswith("No physical completeness model")]
    assert len(notes) == 1


def test_functions_page_draws_corrected_functions(
    completeness_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clustercat.processing.completeness_db import load_registered, source_completeness
    from sqlalchemy import text

    at = open_page(completeness_db_url, monkeypatch, "functions.py")
    assert at.selectbox(key="fn_model").value.startswith("c4-physical-")
    key = at.selectbox(key="fn_ckey").value
    charts = [c for c in at.get("plotly_chart") if "completeness-corrected" in c.proto.spec]
    assert len(charts) == 2
    captions = [c.value for c in at.caption if c.value.startswith("Maximum-likelihood")]
    assert len(captions) == 2
    engine = make_engine(completeness_db_url)
    with engine.connect() as conn:
        model_id = conn.execute(text("SELECT max(id) FROM ml_model")).scalar_one()
        p = source_completeness(load_registered(conn, model_id))
    common = {"classes": (1, 2), "completeness": p}
    expected = {
        "β": analyses.mass_function(
            engine, "legus-1566", key, age_range=(1e6, 1e7), mass_range=(10**3.5, None),
            n_bins=5, equal_number=True, **common,
        ),
        "γ": analyses.age_function(
            engine, "legus-1566", key, mass_range=(10**4.0, 10**4.8), age_range=(1e6, 1e9),
            fit_age_range=(10**6.5, 1e9), n_bins=6, **common,
        ),
    }  # fmt: skip
    plain = analyses.mass_function(
        engine, "legus-1566", key, classes=(1, 2), age_range=(1e6, 1e7),
        mass_range=(10**3.5, None), n_bins=5, equal_number=True,
    )  # fmt: skip
    engine.dispose()
    for caption, (sym, tables) in zip(captions, expected.items(), strict=True):
        fits = tables.fits.set_index("fit")
        got = [float(v) for v in re.findall(rf"{sym} = (-?\d+\.\d+)", caption)]
        assert got == [round(fits.loc["mle", "slope"], 3),
                       round(fits.loc["mle_completeness", "slope"], 3)]  # fmt: skip
        assert got[0] != got[1]
    fits = plain.fits.set_index("fit")
    assert f"β = {fits.loc['mle', 'slope']:.3f} ± {fits.loc['mle', 'slope_err']:.3f}" in captions[0]


# --- the machine-learning page and the explorer's predictions (issue 12) -----------------------


@pytest.fixture(scope="module")
def ml_db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Release ``legus`` of LEGUS NGC 628-C, a 256 px synthetic field rendered from it (images
    registered), one tiny ResNet18 classifier on its "LEGUS human mode" classes (16 px stamps,
    width 0.25, two epochs, one thread) registered and applied through
    :mod:`clustercat.processing.ml_db`."""
    import torch
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info
    from clustercat.processing import cli_synth, cnn_train, ml_db, synth
    from clustercat.processing.images_db import register_images
    from conftest import _new_database, shared_path
    from test_cnn_classifier import FILES, GALAXY, TRAIN_FIELD

    tmp = tmp_path_factory.mktemp("dashboard_ml")
    url = _new_database(backend, request, tmp)
    migrate.upgrade(url)
    engine = make_engine(url)
    legus = reader_info("legus")
    ingest_release(
        engine,
        ReleaseRequest("legus", legus.name, legus.version,
                       [shared_path("legus", FILES[TRAIN_FIELD])]),
        legus.reader(),
    )  # fmt: skip
    cat = cli_synth.read_field_catalogue(engine, "legus", TRAIN_FIELD)
    bands, _ = cli_synth.field_bands(cat)
    field = synth.render_field(
        cat.frame, bands, field_name=cat.field, distance_mpc=cat.distance_mpc,
        settings=synth.SynthSettings(size_px=256, seed=1, n_stars=0, exptime_scale=100.0),
    )  # fmt: skip
    paths = synth.write_synthetic_field(field, tmp / "images")
    register_images(engine, [p for p in paths if p.suffix == ".fits"], field=TRAIN_FIELD,
                    galaxy=GALAXY[TRAIN_FIELD])  # fmt: skip
    torch.set_num_threads(1)
    settings = cnn_train.TrainSettings(epochs=2, patience=2, batch_size=32, width=0.25,
                                       small_input=True, threads=1, seed=0)  # fmt: skip
    result = ml_db.train_classifier_models(
        engine, "legus", "LEGUS human mode", "resnet18", fields=[TRAIN_FIELD], n_members=1,
        size_px=16, settings=settings, name="tiny cnn", cache_dir=tmp / "cache",
        model_dir=tmp / "models",
    )  # fmt: skip
    ml_db.predict_release(engine, result.model_id, "legus", cache_dir=tmp / "cache")
    engine.dispose()
    return url


def test_ml_page_lists_the_model_and_its_confusion_matrix(
    ml_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from clustercat.processing import ml_db
    from sqlalchemy import text

    engine = make_engine(ml_db_url)
    registry = ml_db.list_models(engine)
    with engine.connect() as conn:
        model_id, raw = conn.execute(text("SELECT id, metrics FROM ml_model")).one()
        pk, p1 = conn.execute(text(
            "SELECT source_id, p_class1 FROM ml_prediction WHERE model_id = :m "
            "ORDER BY source_id"), {"m": model_id}).first()  # fmt: skip
    engine.dispose()
    stored = raw if isinstance(raw, dict) else json.loads(raw)
    assert len(registry) == 1 and registry["name"].iloc[0] == "tiny cnn"
    at = open_page(ml_db_url, monkeypatch, "ml.py")
    assert at.title[0].value == "Machine-learning models"
    assert not at.error and not at.info
    table = at.dataframe[0].value
    assert table["id"].tolist() == [model_id] and table["name"].tolist() == ["tiny cnn"]
    assert table["task"].tolist() == ["classification"]
    assert table["training sha256"].iloc[0] == registry["training_sha256"].iloc[0][:12]
    train = stored["training_set"]
    assert table["accuracy"].iloc[0] == pytest.approx(train["accuracy"])
    assert table["n"].iloc[0] == train["n"]
    # the confusion matrix as stored, drawn as a heatmap
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["data"][0]["type"] == "heatmap"
    assert np.array_equal(np.asarray(spec["data"][0]["z"], dtype=float),
                          np.asarray(train["confusion_matrix"], dtype=float))  # fmt: skip
    per_class = at.dataframe[1].value.set_index("class")
    for c, v in train["per_class"].items():
        for k in ("precision", "recall"):
            got = per_class.loc[int(c), k]
            assert (pd.isna(got) and v[k] is None) or got == pytest.approx(v[k])
    # the explorer shows the source's probabilities
    at = open_page(ml_db_url, monkeypatch, "explorer.py", src=str(pk))
    assert any(s.value == "Model predictions" for s in at.subheader)
    preds = at.dataframe[-1].value
    assert preds["P(class 1)"].iloc[0] == pytest.approx(p1)
    assert preds["model"].iloc[0].startswith(f"{model_id} · tiny cnn")


def test_ml_page_without_models_names_the_command(
    legus_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(legus_db_url, monkeypatch, "ml.py")
    assert "clustercat ml train classifier" in texts(at)
    assert not at.get("plotly_chart") and not at.error


def test_ml_page_shows_an_age_model_and_its_occlusion_curve(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two age-model rows with stored metrics (one with an occlusion curve): the page shows
    the stored numbers, draws the curve, and names the command for the other."""
    import json

    from clustercat.schema import MlModel, write_transaction
    from sqlalchemy import insert

    migrate.upgrade(empty_db_url)
    part = {"n": 40, "scatter_dex": 0.41, "null_scatter_dex": 0.82, "predictive_power_pct": 75.0}
    curve = [{"diameter_px": d, "scatter_dex": 0.41 + 0.02 * d, "null_scatter_dex": 0.82}
             for d in (0, 4, 8)]  # fmt: skip
    engine = make_engine(empty_db_url)
    with write_transaction(engine) as conn:
        ids = [
            conn.execute(insert(MlModel).values(
                name=name, task="age_regression", architecture="VianaAgeNet",
                metrics={"training_set": part, "validation": part, **extra},
            ).returning(MlModel.id)).scalar_one()
            for name, extra in (("age a", {"occlusion": curve}), ("age b", {}))
        ]  # fmt: skip
    engine.dispose()
    at = open_page(empty_db_url, monkeypatch, "ml.py")
    assert not at.error and at.dataframe[0].value["id"].tolist() == ids
    assert metric(at, "Predictive power (%), training set") == "75.0"
    assert metric(at, "Scatter (dex), validation set") == "0.410"
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["data"][0]["type"] == "scatter" and "scatter per central mask" in str(spec)
    assert at.dataframe[-1].value["diameter_px"].tolist() == [0, 4, 8]
    at.selectbox(key="ml_model").set_value(f"{ids[1]} · age b v1 (age CNN)").run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"clustercat ml occlusion --model {ids[1]}" in texts(at)
    assert not at.get("plotly_chart")
