"""The source page (issue 14): one reader of one source, and the page that shows it.

The reader's numbers (:func:`clustercat.processing.readers_source.read_source`) and the page's
are compared with the real LEGUS files read here independently (NGC 1566 source 2: five
classification methods plus StarcNet; an NGC 628-c class-1 cluster), and with what a
collaborator's SQL over the views gives. A BC03 refit stored by ``clustercat process sed`` is
drawn as model magnitudes whose χ² reproduces the stored χ² (the model is exact at the
grid's nodes). Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clustercat.processing.readers_source import (
    read_population,
    read_source,
    sed_models,
    source_query,
)
from clustercat.schema import make_engine
from conftest import shared_path
from sqlalchemy import Engine, text

pytest.importorskip("streamlit", reason="the dashboard needs streamlit (pip install streamlit)")
pytest.importorskip("plotly", reason="the dashboard needs plotly (pip install plotly)")

from clustercat.dashboard import plots, ui  # noqa: E402
from clustercat.processing.catalogue_io import read_frame  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402
from test_dashboard_apptest import (  # noqa: E402, F401
    _fresh_caches,
    open_page,
    pipeline_db_url,
    texts,
)

NGC1566 = "hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"
NGC628C = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"
STARCNET = "starcnet_ml_predictions_ngc1566.tab"
#: 1-based columns of the LEGUS standard block (data/legus/LAYOUTS.md §2.1)
COL = {"id": 1, "x": 2, "y": 3, "ra": 4, "dec": 5, "mag_v": 12, "mag_v_err": 13, "ci": 16,
       "age": 17, "mass": 20, "ebv": 23, "reduced_chi2": 31, "q_prob": 32, "nflt": 33}  # fmt: skip
#: NGC 1566 class columns (LAYOUTS.md §2.2, layout L39-1566-HYBRID)
NGC1566_CLASSES = {"LEGUS hybrid": 34, "LEGUS human mode": 36, "LEGUS ML": 37,
                   "LEGUS human reclassify class 4": 39}  # fmt: skip


def legus_row(name: str, source_id: int) -> np.ndarray:
    table = np.loadtxt(shared_path("legus", name))
    return table[table[:, 0] == source_id][0]


def col(row: np.ndarray, name: str | int) -> float:
    return float(row[(COL[name] if isinstance(name, str) else name) - 1])


def ngc628c_cluster() -> int:
    """The first NGC 628-c class-1 source (human mode) with a five-band SED fit."""
    table = np.loadtxt(shared_path("legus", NGC628C))
    ok = (table[:, 33] == 1) & (table[:, COL["nflt"] - 1] == 5) & (table[:, COL["age"] - 1] > 0)
    return int(table[ok][0, 0])


def source_pk(engine: Engine, field: str, source_id: int, version: int | None = None) -> int:
    sql = "SELECT source_pk FROM cluster_catalogue_all WHERE field = :f AND source_id = :i"
    params: dict = {"f": field, "i": source_id}
    if version is not None:
        sql += " AND release_version = :v"
        params["v"] = version
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


class ArrowLog(logging.Handler):
    """Streamlit's 'Serialization of dataframe to Arrow table was unsuccessful' messages: the
    server-log traceback a mixed-type object column passed to st.dataframe produces."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def arrow_log() -> Iterator[ArrowLog]:
    handler = ArrowLog()
    logger = logging.getLogger("streamlit.dataframe_util")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def legus(legus_db_url: str) -> Iterator[Engine]:
    engine = make_engine(legus_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def versions_db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> str:
    """The browser test's database (tests/dashboard_fixture.py): ``legus`` v1 (superseded) and
    v2, a BC03 refit of NGC 4248, two stored cross-match runs with ``phangs-test``."""
    from conftest import _new_database
    from dashboard_fixture import build_browser_database

    folder = tmp_path_factory.mktemp("source_page")
    url = _new_database(backend, request, folder)
    build_browser_database(url, folder, shared_data / "legus")
    return url


@pytest.fixture(scope="module")
def versions(versions_db_url: str) -> Iterator[Engine]:
    engine = make_engine(versions_db_url)
    yield engine
    engine.dispose()


# --- the reader --------------------------------------------------------------------------------


def test_read_source_equals_the_legus_files(legus: Engine) -> None:
    """NGC 1566 source 2: position, V, CI, the SED fit and five classes as in the files."""
    row = legus_row(NGC1566, 2)
    rec = read_source(legus, source_pk(legus, "ngc1566", 2))
    assert rec is not None and (rec.galaxy, rec.field, rec.source_id) == ("NGC 1566", "ngc1566", 2)
    assert rec.release_label == "legus v1" and rec.text("release_status") == "complete"
    for name in ("ra", "dec", "x", "y", "mag_v", "mag_v_err", "ci"):
        assert rec.number(name) == pytest.approx(col(row, name), abs=1e-9), name
    # photometry: five measured totals, V as in the file, with units of the view
    totals = rec.totals.set_index("band")
    assert list(totals.index) == ["NUV", "U", "B", "V", "I"]
    assert (totals["status"] == "measured").all()
    for band, c in zip(("NUV", "U", "B", "V", "I"), (6, 8, 10, 12, 14), strict=True):
        assert totals.loc[band, "mag_vega"] == pytest.approx(col(row, c))
        assert totals.loc[band, "mag_err"] == pytest.approx(col(row, c + 1))
    assert totals.loc["V", "filter"] == "F555W" and totals.loc["B", "filter"] == "F438W"
    # classes of every method, and StarcNet's (the other release attached to it)
    classes = rec.classes.set_index("method")["class"]
    for method, c in NGC1566_CLASSES.items():
        assert classes[method] == int(col(row, c)), method
    starcnet = pd.read_csv(shared_path("legus", STARCNET), sep="\t", header=None)
    mine = starcnet[starcnet[0] == 2].iloc[0]
    assert classes["StarcNet"] == int(mine[3])
    assert rec.classes.set_index("method").loc["StarcNet", "delivered_by"] == "starcnet-ngc1566"
    # the SED fit
    fit = rec.default_sed
    assert fit is not None and fit["method"] == "LEGUS padagb-mwext-avgapcor"
    assert fit["log_age"] == pytest.approx(np.log10(col(row, "age")))
    assert fit["log_mass"] == pytest.approx(np.log10(col(row, "mass")))
    assert fit["ebv"] == pytest.approx(col(row, "ebv"))
    assert fit["reduced_chi2"] == pytest.approx(col(row, "reduced_chi2"))
    assert int(fit["n_bands"]) == int(col(row, "nflt"))
    assert rec.images == {} and rec.crossmatch.empty
    assert read_source(legus, 10**12) is None


def test_read_source_rows_are_the_views_rows(legus: Engine) -> None:
    """Each part of the record is what its SQL (shown beside the downloads) returns."""
    pk = source_pk(legus, "ngc628c", ngc628c_cluster())
    rec = read_source(legus, pk)
    for part, frame in (("photometry", rec.photometry), ("classes", rec.classes),
                        ("sed", rec.sed)):  # fmt: skip
        sql, params = source_query(part, pk)
        direct = read_frame(legus, sql, params)
        assert len(direct) == len(frame) > 0, part
        assert list(direct.columns) == list(frame.columns), part
        assert direct["source_pk"].astype(int).eq(pk).all()
    assert rec.photometry["mag_vega"].dtype == float
    assert str(rec.photometry["filter"].dtype) == "string"


def test_sed_model_of_a_legus_cluster_lands_on_its_points(legus: Engine) -> None:
    """The LEGUS Yggdrasil fit of an NGC 628-c cluster (9.9 Mpc as the fits used) drawn in
    its five filters: within 0.2 mag of every measured magnitude."""
    sid = ngc628c_cluster()
    rec = read_source(legus, source_pk(legus, "ngc628c", sid))
    (model,) = sed_models(legus, rec)
    assert model.points is not None, model.reason
    assert "Yggdrasil" in model.note and "living" in model.note
    assert list(model.points["filter"]) == ["F275W", "F336W", "F435W", "F555W", "F814W"]
    assert np.abs(model.points["residual"]).max() < 0.2
    res = model.points["residual"] / model.points["mag_err"]
    assert model.chi2 == pytest.approx(float((res**2).sum()))


def test_superseded_source_and_a_stored_refit(versions: Engine) -> None:
    """A source of the superseded ``legus`` v1 reads from the _all views; the BC03 refit of a v2
    source is drawn with its stored grid, and its χ² is the stored χ²."""
    sid = 1
    old = read_source(versions, source_pk(versions, "ngc4248", sid, version=1))
    new = read_source(versions, source_pk(versions, "ngc4248", sid, version=2))
    assert (old.release_label, old.text("release_status")) == ("legus v1", "superseded")
    assert (new.release_label, new.text("release_status")) == ("legus v2", "complete")
    row = legus_row("hlsp_legus_hst_acs-wfc3_ngc4248_multiband_v2_padagb-mwext-avgapcor.tab", sid)
    assert old.number("mag_v") == new.number("mag_v") == pytest.approx(col(row, "mag_v"))
    assert len(new.sed) == 2 and bool(new.sed["is_default"].iloc[0])
    models = {m.method: m for m in sed_models(versions, new)}
    refit = next(m for name, m in models.items() if "browser-refit" in name)
    assert refit.points is not None, refit.reason
    assert "stored SSP grid" in refit.note and refit.error_floor == pytest.approx(0.05)
    stored = float(new.sed.set_index("method").loc[refit.method, "chi2"])
    assert refit.chi2 == pytest.approx(stored, rel=1e-9)
    # the stored cross-match pairs of a NGC 1566 source: one row per run
    with versions.connect() as conn:
        pk = conn.execute(text(
            "SELECT source_pk_a FROM crossmatch_pairs WHERE is_best AND source_pk_b IS NOT NULL "
            "ORDER BY source_pk_a")).scalars().first()  # fmt: skip
    paired = read_source(versions, int(pk))
    assert sorted(paired.crossmatch["run_id"].unique().tolist()) == [1, 2]


def test_population_query_reads_the_galaxy(legus: Engine) -> None:
    bands = ("mag_u", "mag_b", "mag_v", "mag_i")
    frame = read_population(legus, [1], ["galaxy", "source_id", *bands], galaxy="NGC 628",
                            not_null=bands)  # fmt: skip
    table = np.vstack([np.loadtxt(shared_path("legus", n)) for n in (NGC628C, NGC628C.replace(
        "ngc628-c", "ngc628-e"))])  # fmt: skip
    measured = (table[:, [7, 9, 11, 13]] < 60).all(axis=1)  # no 66.666 / 99.999 sentinel
    assert len(frame) == int(measured.sum())
    assert frame["source_pk"].is_unique and (frame["galaxy"] == "NGC 628").all()


# --- the page ----------------------------------------------------------------------------------


def numbers(values: object) -> list[float]:
    """A trace's array from a plotly figure spec (plain list, or base64 ``bdata``)."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def dataframe_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_source_page_shows_the_legus_values(
    legus_db_url: str, legus: Engine, monkeypatch: pytest.MonkeyPatch, arrow_log: ArrowLog
) -> None:
    row = legus_row(NGC1566, 2)
    pk = source_pk(legus, "ngc1566", 2)
    at = open_page(legus_db_url, monkeypatch, "source.py", src=str(pk))
    assert at.title[0].value == "Source 2 · NGC 1566"
    assert "legus v1" in at.caption[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert (
        metrics["m_V (F555W, Vega mag)"] == f"{col(row, 'mag_v'):.3f} ± {col(row, 'mag_v_err'):.3f}"
    )
    assert metrics["log age (yr), default SED fit"] == f"{np.log10(col(row, 'age')):.2f}"
    classes = dataframe_with(at, "P(class 1)").set_index("method")["class"]
    for method, c in NGC1566_CLASSES.items():
        assert classes[method] == int(col(row, c)), method
    fits = dataframe_with(at, "log age (yr)")
    assert fits["log age (yr)"].iloc[0] == pytest.approx(np.log10(col(row, "age")))
    phot = dataframe_with(at, "mag (Vega mag)").set_index("band")
    assert phot.loc["V", "mag (Vega mag)"] == pytest.approx(col(row, "mag_v"))
    assert phot.loc["V", "error (mag)"] == pytest.approx(col(row, "mag_v_err"))
    headings = [s.value for s in at.subheader]
    assert headings[:5] == ["Photometry", "Classes", "SED fits", "Colour–colour position",
                            "MCI plane"]  # fmt: skip
    # the SED and colour-colour figures; the population's points open their sources
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2
    colour = charts[1]["data"]
    assert colour[1]["customdata"][0][0] == pk and colour[0]["hovertemplate"].startswith(
        plots.SOURCE_HOVER
    )
    assert "no image is registered" in " ".join(c.value for c in at.caption).lower()
    assert not at.warning and not at.exception
    assert not arrow_log.messages, arrow_log.messages  # no Arrow traceback in the server log


@pytest.mark.parametrize("src", ["999999999", "abc", ""])
def test_unknown_source_warns(legus_db_url: str, monkeypatch: pytest.MonkeyPatch, src: str) -> None:
    at = open_page(legus_db_url, monkeypatch, "source.py", src=src)
    assert len(at.warning) == 1 and "Source explorer" in at.get("page_link")[0].proto.label
    expected = {"999999999": "No source with key 999999999", "abc": "not a source key",
                "": "No source chosen"}[src]  # fmt: skip
    assert expected in at.warning[0].value


def test_source_page_sed_method_selector_and_superseded(
    versions_db_url: str, versions: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_pk = source_pk(versions, "ngc4248", 1, version=1)
    at = open_page(versions_db_url, monkeypatch, "source.py", src=str(old_pk))
    assert "legus v1** (superseded)" in at.caption[0].value
    pk = source_pk(versions, "ngc4248", 1, version=2)
    at = open_page(versions_db_url, monkeypatch, "source.py", src=str(pk))
    picker = at.selectbox(key="src_sed")
    assert picker.value == "LEGUS padagb-mwext-avgapcor" and len(picker.options) == 2
    refit = next(o for o in picker.options if "browser-refit" in o)
    picker.select(refit).run()
    assert not at.exception
    stored = read_source(versions, pk).sed.set_index("method").loc[refit, "chi2"]
    caption = next(c.value for c in at.caption if c.value.startswith("Model:"))
    assert f": {stored:.2f}; the fit's stored χ²: {stored:.2f}" in caption
    assert "stored SSP grid" in caption


def test_source_page_of_a_pipeline_source(
    pipeline_db_url: str,  # noqa: F811 - the fixture of test_dashboard_apptest
    monkeypatch: pytest.MonkeyPatch,
    arrow_log: ArrowLog,
) -> None:
    """A source made from images: growth curve, MCI plane with the source, five-band stamps."""
    engine = make_engine(pipeline_db_url)
    with engine.connect() as conn:
        pk = conn.execute(text(
            "SELECT s.id FROM source s JOIN source_selection x ON x.source_id = s.id "
            "WHERE x.candidate ORDER BY x.v_snr DESC")).scalars().first()  # fmt: skip
    rec = read_source(engine, pk)
    engine.dispose()
    assert set(rec.images) == {"NUV", "U", "B", "V", "I"} and len(rec.apertures) > 0
    at = open_page(pipeline_db_url, monkeypatch, "source.py", rel="pipe v1", src=str(pk))
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert titles[0].startswith("Growth curve") and titles[-1].startswith("ngc628c:")
    star = next(t for t in charts[-1]["data"] if t.get("name") == "this source")
    assert numbers(star["x"]) == [pytest.approx(rec.number("mci_in"))]
    captions = [c for image in at.get("image") for c in image.captions]
    assert captions == ["NUV (F275W)", "U (F336W)", "B (F435W)", "V (F555W)", "I (F814W)",
                        "RGB: I, V, B"]  # fmt: skip
    assert not at.warning and not at.exception and not arrow_log.messages


# --- the pages that lead to it -----------------------------------------------------------------


def test_explorer_links_to_the_source_page(
    legus_db_url: str, legus: Engine, monkeypatch: pytest.MonkeyPatch, arrow_log: ArrowLog
) -> None:
    at = open_page(legus_db_url, monkeypatch, "explorer.py", gal="NGC 1566")
    table = at.dataframe[0].value
    assert len(table) > 100 and table["open"].str.match(r"^source\?.*src=\d+$").all()
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    assert not arrow_log.messages
    # an old explorer link to a source forwards to its page
    pk = source_pk(legus, "ngc1566", 2)
    at = open_page(legus_db_url, monkeypatch, "explorer.py", src=str(pk))
    assert at.title[0].value == "Source 2 · NGC 1566"


def _plotly_values(v: object) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array ``{"dtype", "bdata", "shape"}``."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def test_mci_points_carry_their_source(
    pipeline_db_url: str,  # noqa: F811 - the fixture of test_dashboard_apptest
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = open_page(pipeline_db_url, monkeypatch, "mci.py", rel="pipe v1", mci_subset="all")
    (chart,) = at.get("plotly_chart")
    traces = [t for t in json.loads(chart.proto.spec)["data"] if "customdata" in t]
    # the source hover pre-formatted per point (plots.source_point_args), pks 1-D
    assert traces and all(t["hovertemplate"].startswith("%{text}") for t in traces)
    assert all("source " in t["text"][0] and "m_V" in t["text"][0] for t in traces)
    pks_of = [_plotly_values(t["customdata"]) for t in traces]
    assert all(len(t["text"]) == len(pk) == len(_plotly_values(t["x"]))
               for t, pk in zip(traces, pks_of, strict=True))  # fmt: skip
    engine = make_engine(pipeline_db_url)
    pks = [int(pk) for pk_of in pks_of for pk in pk_of]
    with engine.connect() as conn:
        known = set(conn.execute(text("SELECT source_pk FROM cluster_catalogue")).scalars())
    engine.dispose()
    assert set(pks) <= known


def test_clicked_source_reads_a_plotly_selection_event() -> None:
    """The dict Streamlit returns for a click on a point (``st.plotly_chart(on_select=...)``)."""

    def event(points: list[dict]) -> dict:
        return {"selection": {"points": points, "point_indices": [p.get("point_index", 0)
                for p in points], "box": [], "lasso": []}}  # fmt: skip

    track = {"curve_number": 2, "point_number": 4, "point_index": 4, "x": 0.3, "y": -0.5}
    custom = [29438, "NGC 1566", "ngc1566", 2, 4, "23.26", "7.18", "4.12"]
    point = {"curve_number": 0, "point_number": 17, "point_index": 17, "x": 0.41, "y": -0.62,
             "customdata": custom}  # fmt: skip
    assert ui.clicked_source(event([point])) == 29438
    assert ui.clicked_source(event([track, point])) == 29438  # a track point has no key
    assert ui.clicked_source(event([track])) is None
    assert ui.clicked_source(event([])) is None
    assert ui.clicked_source({"selection": {"points": [{**point, "customdata": "29438"}]}}) == 29438

    class State(dict):  # st.plotly_chart returns an attribute dictionary
        __getattr__ = dict.__getitem__

    assert ui.clicked_source(State(selection=State(points=[point]))) == 29438
    assert ui.clicked_source(None) is None
