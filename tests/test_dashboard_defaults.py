"""Dashboard defaults, the Overview and Quality numbers, and the colour-colour figures (issue 14).

One small database per backend, loaded with the real LEGUS reader: release ``legus`` v1 (NGC
628, fields c and e; B = F435W on ACS) superseded by ``legus`` v2 (the same two fields plus
NGC 1566, B = F438W on WFC3), and a second release ``other`` v1 (NGC 1566 alone). The numbers
the pages show are compared with SQL over the collaborator views, the reddening vector with
:mod:`clustercat.processing.extinction`, the tracks with :mod:`clustercat.processing.analyses`,
and every figure's download with the SQL shown beside it (row for row).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clustercat.schema import make_engine, migrate
from sqlalchemy import Engine, text

pytest.importorskip("streamlit", reason="the dashboard needs streamlit (pip install streamlit)")
pytest.importorskip("plotly", reason="the dashboard needs plotly (pip install plotly)")

import streamlit as st  # noqa: E402
from clustercat.dashboard import cache, data, plots  # noqa: E402
from clustercat.processing import analyses  # noqa: E402
from clustercat.processing.extinction import pivot_extinction_coefficients  # noqa: E402
from test_dashboard_apptest import metric, open_page  # noqa: E402

NGC628 = ("hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab",
          "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab")  # fmt: skip
NGC1566 = "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"
HUMAN = "LEGUS human mode"


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    st.cache_data.clear()


@pytest.fixture(scope="module")
def versions_db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> str:
    """``legus`` v1 (NGC 628) superseded by ``legus`` v2 (NGC 628 + NGC 1566), and ``other``
    v1 (NGC 1566): two versions of one release and a second release."""
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    folder = tmp_path_factory.mktemp("dashboard_defaults")
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'defaults.db'}"
    else:
        dbs = request.getfixturevalue("postgres_databases")
        url = dbs.create("clustercat_defaults")
        request.addfinalizer(lambda: dbs.drop(url))
    migrate.upgrade(url)
    engine = make_engine(url)
    legus = reader_info("legus")
    folder_in = shared_data / "legus"
    for name, files, new in (("legus", NGC628, False), ("legus", (*NGC628, NGC1566), True),
                             ("other", (NGC1566,), False)):  # fmt: skip
        request_ = ReleaseRequest(name, legus.name, legus.version,
                                  [folder_in / f for f in files], new_version=new)  # fmt: skip
        ingest_release(engine, request_, legus.reader())
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def versions_engine(versions_db_url: str) -> Engine:
    engine = make_engine(versions_db_url)
    yield engine
    engine.dispose()


def _ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, name, version FROM catalogue_release")).all()
    return {f"{n} v{v}": int(i) for i, n, v in rows}


def _scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _decoded(value: object) -> object:
    """Plotly's JSON with numpy arrays as typed arrays (``{"dtype", "bdata"}``) decoded."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            shape = value.get("shape")
            if shape:
                array = array.reshape([int(n) for n in str(shape).split(",")])
            return array.tolist()
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _spec(at: object, index: int = 0) -> dict:
    return _decoded(json.loads(at.get("plotly_chart")[index].proto.spec))


def _all_text(at: object) -> str:
    parts = [e.value for e in [*at.info, *at.warning, *at.error, *at.caption, *at.markdown]]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    for chart in at.get("plotly_chart"):
        spec = _decoded(json.loads(chart.proto.spec))
        parts.append(json.dumps(spec.get("layout", {}).get("annotations", [])))
        parts += [str(t.get("name", "")) for t in spec.get("data", [])]
    return " ".join(parts)


def assert_sql_returns(engine: Engine, figure_rows: data.FigureRows) -> None:
    """The figure's SQL over the views returns exactly its download rows: the same rows in the
    same order, with the same values in every column it returns (the download may add derived
    columns, described in its units, such as the colour box)."""
    assert figure_rows.sql is not None
    with engine.connect() as conn:
        found = pd.read_sql_query(text(figure_rows.sql), conn, params=figure_rows.params)
    rows = figure_rows.rows.reset_index(drop=True)
    assert [c for c in rows.columns if c in found.columns] == list(found.columns)
    assert set(rows.columns) - set(found.columns) <= set(figure_rows.units)
    assert len(found) == len(rows) > 0
    for column in found.columns:
        a, b = rows[column].to_numpy(), found[column].to_numpy()
        if rows[column].dtype.kind == "f":
            np.testing.assert_allclose(b.astype(float), a, rtol=0, atol=1e-9, equal_nan=True,
                                       err_msg=column)  # fmt: skip
        else:
            assert [str(v) for v in a] == [str(v) for v in b], column


# --- defaults ------------------------------------------------------------------------------


def test_default_is_one_release_with_the_methods_of_the_galaxy(
    versions_db_url: str, versions_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(versions_db_url, monkeypatch)
    assert at.sidebar.multiselect(key="rel").value == ["legus v2"]  # one, the newest version
    assert "legus v1" not in at.sidebar.multiselect(key="rel").options
    rid = _ids(versions_engine)["legus v2"]
    with versions_engine.connect() as conn:
        per_galaxy = pd.read_sql_query(
            text("SELECT galaxy, method, count(*) AS n FROM source_classes_all "
                 "WHERE release_id = :r GROUP BY galaxy, method"), conn, params={"r": rid},
        )  # fmt: skip
    # all galaxies: the methods covering both galaxies come first
    both = per_galaxy.groupby("method")["galaxy"].nunique()
    shown = at.sidebar.multiselect(key="meth").value
    assert 0 < len(shown) <= 4
    assert set(both[both == 2].index) <= set(shown) or all(both[m] == 2 for m in shown)
    # NGC 1566: its own methods, most sources first; they follow the galaxy while untouched
    at.sidebar.selectbox(key="gal").select("NGC 1566").run()
    ngc1566 = per_galaxy[per_galaxy["galaxy"] == "NGC 1566"].sort_values("n", ascending=False)
    assert at.sidebar.multiselect(key="meth").value == ngc1566["method"].tolist()[:4]
    assert "LEGUS hybrid" in ngc1566["method"].tolist()  # NGC 1566 has methods NGC 628 lacks
    assert (
        "LEGUS hybrid" not in per_galaxy.loc[per_galaxy["galaxy"] == "NGC 628", "method"].tolist()
    )
    # a choice of the user is kept when the galaxy changes
    at.sidebar.multiselect(key="meth").set_value([HUMAN]).run()
    at.sidebar.selectbox(key="gal").select("NGC 628").run()
    assert at.sidebar.multiselect(key="meth").value == [HUMAN]


def test_stale_link_warns_and_falls_back(
    versions_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(versions_db_url, monkeypatch, rel="legus v1", gal="Nowhere",
                   meth=["No such method", HUMAN])  # fmt: skip
    warnings = " ".join(w.value for w in at.warning)
    assert "'legus v1'" in warnings and "superseded" in warnings
    assert "'Nowhere'" in warnings and "'No such method'" in warnings
    assert at.sidebar.multiselect(key="rel").value == ["legus v2"]
    assert at.sidebar.selectbox(key="gal").value == "All galaxies"
    assert at.sidebar.multiselect(key="meth").value == [HUMAN]
    # a link whose values exist: no warning
    fine = open_page(versions_db_url, monkeypatch, gal="NGC 628", meth=[HUMAN])
    assert not fine.warning


# --- the Overview ----------------------------------------------------------------------------


def test_overview_tiles_follow_the_galaxy(
    versions_db_url: str, versions_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _ids(versions_engine)["legus v2"]
    for galaxy in ("NGC 628", "NGC 1566", None):
        query = {} if galaxy is None else {"gal": galaxy}
        at = open_page(versions_db_url, monkeypatch, **query)
        where = "" if galaxy is None else " AND galaxy = :g"
        sources = _scalar(versions_engine, "SELECT count(*) FROM cluster_catalogue_all "
                          f"WHERE release_id = :r{where}", r=rid, g=galaxy)  # fmt: skip
        classes = _scalar(versions_engine, "SELECT count(*) FROM source_classes_all "
                          f"WHERE release_id = :r{where}", r=rid, g=galaxy)  # fmt: skip
        assert metric(at, "Sources in them") == f"{sources:,}", galaxy
        assert metric(at, "Classifications") == f"{classes:,}", galaxy
        assert metric(at, "Galaxies") == ("2" if galaxy is None else "1")
        assert metric(at, "Releases selected") == "1"
    assert sources == 3080 + 593 + 2752  # NGC 628 c and e, NGC 1566


def test_overview_chart_never_adds_releases(
    versions_db_url: str, versions_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two versions selected: one bar per galaxy and release; NGC 628 is not doubled."""
    at = open_page(versions_db_url, monkeypatch, old="true", rel=["legus v1", "legus v2"],
                   gal="NGC 628", meth=[HUMAN], ov_m=HUMAN)  # fmt: skip
    assert metric(at, "Releases selected") == "2"
    spec = _spec(at)
    bars: dict[tuple[str, str], int] = {}
    for trace in spec["data"]:
        galaxies, releases = trace["x"]
        for g, r, n in zip(galaxies, releases, trace["y"], strict=True):
            bars[(g, r)] = bars.get((g, r), 0) + int(n)
    assert set(bars) == {("NGC 628", "legus v1"), ("NGC 628", "legus v2")}
    ids = _ids(versions_engine)
    for label in ("legus v1", "legus v2"):
        n = _scalar(versions_engine, "SELECT count(*) FROM source_classes_all WHERE "
                    "release_id = :r AND galaxy = 'NGC 628' AND method = :m",
                    r=ids[label], m=HUMAN)  # fmt: skip
        assert bars[("NGC 628", label)] == n == 1940  # each version once, never 2 x 1,940
    # the chart's rows are the SQL's rows (release_summary_all)
    token = cache.token(versions_db_url)
    ov = cache.overview(versions_db_url, token, (ids["legus v1"], ids["legus v2"]))
    drawn = data.class_count_rows(ov, HUMAN, (ids["legus v1"], ids["legus v2"]), "NGC 628")
    assert drawn.rows["n_sources"].sum() == 2 * 1940
    assert_sql_returns(versions_engine, drawn)
    assert any(b.label.startswith("CSV (8 rows)") for b in at.get("download_button"))


# --- quality ratios with a second release ------------------------------------------------------


def test_quality_with_a_second_release_says_why_in_words(
    versions_db_url: str, versions_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """legus v1 (NGC 628 only) beside other v1 (NGC 1566 only): no galaxy is shared, so no
    QR and no figure of merit; the page says so and never shows NaN."""
    at = open_page(versions_db_url, monkeypatch, "quality.py", old="true",
                   rel=["legus v1", "other v1"], meth=[HUMAN])  # fmt: skip
    shown = _all_text(at)
    assert "nan" not in shown.lower()
    assert metric(at, "Box rows with a QR") == "0"
    info = " ".join(i.value for i in at.info)
    assert "no galaxy has sources in the colour boxes under every chosen method" in info
    assert "LEGUS human mode · legus v1: NGC 628" in info
    assert "LEGUS human mode · other v1: NGC 1566" in info
    assert not at.get("plotly_chart")
    # legus v2 and other v1 share NGC 1566 (the same catalogue): a finite figure of merit
    both = open_page(versions_db_url, monkeypatch, "quality.py",
                     rel=["legus v2", "other v1"], meth=[HUMAN])  # fmt: skip
    assert "nan" not in _all_text(both).lower()
    merit = next(d.value for d in both.dataframe if "n_rows" in d.value.columns)
    assert np.isfinite(merit["mean"]).all() and (merit["n_rows"] > 0).all()
    np.testing.assert_allclose(merit["mean"], 1.0)  # identical catalogues, identical counts
    # the source rows behind the counts come back from the views
    token = cache.token(versions_db_url)
    ids = _ids(versions_engine)
    qd = cache.quality(versions_db_url, token,
                       data.Scope((ids["legus v2"], ids["other v1"]), None, (HUMAN,)),
                       data.DEFAULT_BOXES)  # fmt: skip
    assert_sql_returns(versions_engine, qd.rows)


# --- colour-colour figures -------------------------------------------------------------------


def _panel_axes(spec: dict) -> list[tuple[str, str]]:
    layout = spec["layout"]
    names = sorted((k for k in layout if k.startswith("xaxis")), key=lambda k: int(k[5:] or 1))
    return [(layout[x]["title"]["text"], layout["y" + x[1:]]["title"]["text"]) for x in names
            if "title" in layout[x]]  # fmt: skip


def test_panel_labels_and_tracks_follow_the_filters(
    versions_db_url: str, versions_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LEGUS NGC 628 was observed in F435W: its axes say F435W and its tracks are computed in
    F435W; NGC 1566 (F438W) gets F438W and no Yggdrasil track (F435W only); a panel pooling
    both says so."""
    expected = {"NGC 628": "F435W", "NGC 1566": "F438W"}
    bc03 = {}
    for galaxy, blue in expected.items():
        at = open_page(versions_db_url, monkeypatch, "colours.py", gal=galaxy, meth=[HUMAN])
        spec = _spec(at)
        ((x_title, y_title),) = _panel_axes(spec)
        assert y_title == f"U − B (F336W − {blue}) [mag]" and "F555W" in x_title
        other = ({"F435W", "F438W"} - {blue}).pop()
        assert other not in json.dumps(spec["layout"])
        tracks = {t["name"]: t for t in spec["data"] if t.get("name", "").endswith(" track")}
        track_b, _ = analyses.colour_tracks(versions_engine, blue, "F555W", models=("bc03",))
        np.testing.assert_allclose(tracks["BC03 Z=0.02 track"]["y"],
                                   track_b[0].frame["u_minus_b"])  # fmt: skip
        bc03[blue] = np.asarray(tracks["BC03 Z=0.02 track"]["y"], dtype=float)
        assert ("Yggdrasil Z=0.02 track" in tracks) == (blue == "F435W")
    assert np.abs(bc03["F435W"] - bc03["F438W"]).max() > 0.01  # the filters do matter
    pooled = open_page(versions_db_url, monkeypatch, "colours.py", meth=[HUMAN])
    spec = _spec(pooled)
    ((x_title, y_title),) = _panel_axes(spec)
    assert "F435W/F438W" in y_title
    assert any("pools B F435W/F438W" in a.get("text", "") for a in spec["layout"]["annotations"])


def test_reddening_vector_error_cross_and_downloads(
    versions_db_url: str, versions_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(versions_db_url, monkeypatch, "colours.py", gal="NGC 628", meth=[HUMAN])
    assert not at.exception
    for index, (y, blue) in enumerate((("u_minus_b", "F336W"), ("nuv_minus_b", "F275W"))):
        spec = _spec(at, index)
        # the arrow is A_V = 1 mag of the CCM89 law (R_V = 3.1) in F555W, F814W, F435W
        k_blue, k_b, k_v, k_i = pivot_extinction_coefficients((blue, "F435W", "F555W", "F814W"))
        arrow = next(a for a in spec["layout"]["annotations"] if a.get("axref"))
        assert arrow["x"] - arrow["ax"] == pytest.approx((k_v - k_i) / k_v, abs=1e-9)
        assert arrow["y"] - arrow["ay"] == pytest.approx((k_blue - k_b) / k_v, abs=1e-9)
        assert 0.4 < (k_v - k_i) / k_v < 0.55  # E(V-I)/A_V of a Milky-Way law
        # the download holds the points drawn and the SQL returns them
        token = cache.token(versions_db_url)
        scope = data.Scope((_ids(versions_engine)["legus v2"],), "NGC 628", (HUMAN,))
        fig, drawn, _ = cache.colour_figure(versions_db_url, token, scope, data.DEFAULT_BOXES,
                                            y, ("bc03", "yggdrasil"), 0.02)  # fmt: skip
        assert_sql_returns(versions_engine, drawn)
        points = [t for t in spec["data"] if t.get("mode") == "markers" and "text" in t
                  and isinstance(t.get("customdata"), list)]  # fmt: skip
        drawn_pks = sorted(pk for t in points for pk in t["customdata"])
        assert drawn_pks == sorted(drawn.rows["source_pk"].tolist())
        hover = points[0]["text"][0]
        assert "NGC 628" in hover and "source" in hover and "m_V" in hover and "log(M/M☉)" in hover
        # the error cross: median errors of the points drawn, added in quadrature
        cross = next(t for t in spec["data"] if t.get("name") == "typical error (median)")
        rows = drawn.rows
        band = blue == "F336W" and "u" or "nuv"
        assert cross["error_x"]["array"][0] == pytest.approx(
            np.median(np.hypot(rows["mag_v_err"], rows["mag_i_err"]))
        )
        assert cross["error_y"]["array"][0] == pytest.approx(
            np.median(np.hypot(rows[f"mag_{band}_err"], rows["mag_b_err"]))
        )
    # points are clickable (plotly selection events open the source page)
    assert all(c.proto.selection_mode for c in at.get("plotly_chart"))


def test_age_labels_do_not_overlap() -> None:
    x = np.array([0.0, 0.01, 0.5, 0.52, 0.52])
    y = np.array([0.0, 0.01, 0.0, 0.5, 0.51])
    kept = plots.thin_labels(x, y, 3.0, 3.8, (300.0, 330.0))
    assert kept == [0, 2, 3]  # the near-duplicates of 0 and 3 are dropped
    track = pd.DataFrame({"log_age": np.linspace(6.0, 10.1, 200)})
    track["v_minus_i"] = np.where(track["log_age"] < 7.5, 0.0, (track["log_age"] - 7.5) * 0.5)
    track["u_minus_b"] = -1.5 + 0.01 * track["log_age"]  # ages up to 30 Myr crowd together
    marks = plots._age_marks(track, "u_minus_b", "#000000", cols=4)
    shown = [(xx, yy) for xx, yy, t in zip(marks.x, marks.y, marks.text, strict=True) if t]
    assert 2 <= len(shown) < len(marks.x)
    size = (plots.PANEL_PX[0] / 4, plots.PANEL_PX[1])
    for i, (xa, ya) in enumerate(shown):
        for xb, yb in shown[i + 1 :]:
            assert (abs(xa - xb) * size[0] / 3.0 >= plots.AGE_LABEL_PX[0]
                    or abs(ya - yb) * size[1] / 3.8 >= plots.AGE_LABEL_PX[1])  # fmt: skip


def test_a_rerun_serves_the_cached_figures(
    versions_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second run of the colour page builds no figure (they are cached like the data)."""
    built = []
    original = plots.colour_colour_figure

    def counting(*args: object, **kwargs: object) -> object:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(plots, "colour_colour_figure", counting)
    at = open_page(versions_db_url, monkeypatch, "colours.py", meth=[HUMAN])
    assert len(built) == 2  # U-B and NUV-B
    start = time.perf_counter()
    at.run()
    assert len(built) == 2 and not at.exception
    assert time.perf_counter() - start < 5.0  # generous: the test machine is shared


def test_crossmatch_of_a_galaxy_one_side_lacks_matches_nothing(versions_engine: Engine) -> None:
    """``other`` has no field in NGC 628: the comparison in NGC 628 runs no match (no
    whole-release match at 10^5-10^6 sources) and gives what the whole-release match gives
    there: every ``legus`` v2 NGC 628 source its own row, outside the other's footprint."""
    from clustercat.processing import analyses
    from clustercat.processing.catalogue_io import resolve_release

    legus = resolve_release(versions_engine, "legus", 2)
    other = resolve_release(versions_engine, "other")
    in_galaxy = analyses.crossmatch_comparison(versions_engine, legus, other, galaxy="NGC 628")
    everywhere = analyses.crossmatch_comparison(versions_engine, legus, other)
    with versions_engine.connect() as conn:
        n628 = conn.execute(
            text("SELECT count(*) FROM cluster_catalogue_all WHERE release_id = :r "
                 "AND galaxy = 'NGC 628'"), {"r": legus.id},
        ).scalar_one()  # fmt: skip
    assert n628 > 100 and len(in_galaxy.pairs) == n628
    assert "nothing was matched" in in_galaxy.source and "other v1 has no field" in in_galaxy.source
    assert set(in_galaxy.pairs["outcome"]) == {"unmatched_outside_footprint"}
    assert not in_galaxy.pairs["is_best"].any() and in_galaxy.pairs["source_b_pk"].isna().all()
    whole = everywhere.pairs[everywhere.pairs["galaxy"] == "NGC 628"]
    key = ["source_a_pk", "outcome", "is_best"]
    pd.testing.assert_frame_equal(
        in_galaxy.pairs[key].sort_values("source_a_pk").reset_index(drop=True),
        whole[key].sort_values("source_a_pk").reset_index(drop=True),
    )
    per = in_galaxy.per_galaxy.set_index("galaxy").loc["NGC 628"]
    assert (per["n_a"], per["n_b"], per["n_matched"]) == (n628, 0, 0)
    assert in_galaxy.matched.empty
