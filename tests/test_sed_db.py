"""SED fits through the database (``processing/sed_db.py``): real LEGUS NGC 628, both backends.

A database of its own per backend and module (so that the shared ``legus`` fixture is never
modified): the two real NGC 628 catalogues (fields ngc628c, ACS F435W/F555W/F814W, and
ngc628e, whose V is WFC3/UVIS F555W) ingested with the project's loader as release
``legus``, with the LEGUS catalogue's own fits as SED method 'LEGUS padagb-mwext-avgapcor'.

Acceptance (issue 5): refit NGC 628-c with Yggdrasil through the database and compare the new
``sed_fit`` rows with the LEGUS rows by SQL. Measured on both backends: of the 1901 sources
LEGUS fitted, 79.7 % have |Δ log age| ≤ 0.3 dex and 89.4 % |Δ log M| ≤ 0.3 dex (86.4 %
|Δ E(B-V)| ≤ 0.1 mag), the numbers of the pure fit in ``tests/test_sed_fit.py``. The floors
asserted are 78 % and 88 %.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.processing import sed_db, ssp_db
from clustercat.schema import make_engine, migrate
from sqlalchemy import Engine, text

LEGUS_FILES = (
    "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab",
    "hlsp_legus_hst_acs-wfc3_ngc628-e_multiband_v1_padagb-mwext-avgapcor.tab",
)
LEGUS_METHOD = "LEGUS padagb-mwext-avgapcor"
YGG_METHOD = (
    "clustercat chi2 Yggdrasil Z=0.02 floor=0.05 E(B-V)=0-1.5/0.01 "
    "grid=yggdrasil-z0.02-kroupa-fcov1"
)

#: Sources of a release (field) with at least 3 bands with magnitude and error: SQL of its own.
N_VALID_SQL = """
SELECT count(*) FROM (
    SELECT p.source_id FROM photometry p
    JOIN source s ON s.id = p.source_id
    JOIN catalogue_release r ON r.id = s.release_id
    JOIN field f ON f.id = s.field_id
    WHERE r.name = 'legus' AND f.name = :field AND p.kind = 'total'
      AND p.status = 'measured' AND p.mag_vega IS NOT NULL AND p.mag_err IS NOT NULL
    GROUP BY p.source_id HAVING count(*) >= 3
) AS valid
"""

#: Agreement of a method with the LEGUS catalogue's fits, per source both fitted.
AGREEMENT_SQL = """
SELECT count(*) AS n,
    avg(CASE WHEN abs(n.log_age - l.log_age) <= 0.3 THEN 1.0 ELSE 0.0 END) AS age,
    avg(CASE WHEN abs(n.log_mass - l.log_mass) <= 0.3 THEN 1.0 ELSE 0.0 END) AS mass,
    avg(CASE WHEN abs(n.ebv - l.ebv) <= 0.1 THEN 1.0 ELSE 0.0 END) AS ebv
FROM sed_fit n
JOIN sed_fit l ON l.source_id = n.source_id
JOIN sed_method mn ON mn.id = n.method_id
JOIN sed_method ml ON ml.id = l.method_id
JOIN source s ON s.id = n.source_id
JOIN field f ON f.id = s.field_id
WHERE mn.name = :new AND ml.name = :legus AND f.name = :field
"""


def make_ngc628_db(
    backend: str, request: pytest.FixtureRequest, tmp_dir: Path, shared_data: Path
) -> str:
    """A migrated database with the two NGC 628 LEGUS catalogues as release ``legus``."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / 'ngc628.db'}"
    else:
        dbs = request.getfixturevalue("postgres_databases")
        url = dbs.create("clustercat_sed")
        request.addfinalizer(lambda: dbs.drop(url))
    migrate.upgrade(url)
    engine = make_engine(url)
    info = reader_info("legus")
    files = [shared_data / "legus" / name for name in LEGUS_FILES]
    ingest_release(engine, ReleaseRequest("legus", info.name, info.version, files), info.reader())
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def sed_engine(backend, request, tmp_path_factory, shared_data):  # noqa: ANN001, ANN201
    url = make_ngc628_db(backend, request, tmp_path_factory.mktemp("sed_db"), shared_data)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def ygg_run(sed_engine: Engine) -> sed_db.SedRunSummary:
    """The acceptance run: NGC 628-c refitted with Yggdrasil through the database."""
    return sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628c")


def _scalar(engine: Engine, sql: str, **params) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _counts(engine: Engine) -> dict[str, int]:
    tables = ("sed_fit", "sed_method", "processing_run", "source", "photometry", "ssp_model")
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def test_read_path(sed_engine: Engine) -> None:
    """Per-field matrices: each field's own filters and instruments, galaxy distance."""
    with sed_engine.connect() as conn:
        rel = sed_db.resolve_release(conn, "legus")
        fields = sed_db.read_photometry(conn, rel.id)
        legus = conn.execute(
            text("SELECT id FROM sed_method WHERE name = :n"), {"n": LEGUS_METHOD}
        ).scalar_one()
        fitted = sed_db.read_photometry(conn, rel.id, fitted_by=legus)
        only_c = sed_db.resolve_fields(conn, rel.id, ["NGC628-C"])
    by_name = {f.field: f for f in fields}
    assert sorted(by_name) == ["ngc628c", "ngc628e"]
    c, e = by_name["ngc628c"], by_name["ngc628e"]
    assert c.filter_labels == ["F275W WFC3/UVIS", "F336W WFC3/UVIS", "F435W ACS/WFC",
                               "F555W ACS/WFC", "F814W ACS/WFC"]  # fmt: skip
    assert e.filter_labels[3] == "F555W WFC3/UVIS" and e.bands == ("NUV", "U", "B", "V", "I")
    assert (c.n_sources, e.n_sources) == (3080, 593)
    assert c.distance_mpc == e.distance_mpc == 9.9 and "Calzetti" in c.distance_ref
    assert c.mag.shape == c.mag_err.shape == (3080, 5)
    n_valid_sql = _scalar(sed_engine, N_VALID_SQL, field="ngc628c")
    assert int((c.n_valid() >= 3).sum()) == n_valid_sql == 3074
    assert np.isnan(c.mag).sum() > 0 and np.nanmax(c.mag) < 40  # NULL, never sentinels
    assert {f.field: f.n_sources for f in fitted} == {"ngc628c": 1901, "ngc628e": 426}
    assert only_c["field"].tolist() == ["ngc628c"]


def test_refit_ngc628c_with_yggdrasil_agrees_with_legus(
    sed_engine: Engine, ygg_run: sed_db.SedRunSummary
) -> None:
    """One row per source with >= 3 valid bands; SQL agreement with the LEGUS fits."""
    assert ygg_run.method == YGG_METHOD and ygg_run.grid == "yggdrasil-z0.02-kroupa-fcov1"
    n_valid = _scalar(sed_engine, N_VALID_SQL, field="ngc628c")
    rows = _scalar(
        sed_engine, "SELECT count(*) FROM sed_fit WHERE method_id = :m", m=ygg_run.method_id
    )
    assert rows == n_valid == ygg_run.n_fitted == 3074
    assert [f.field for f in ygg_run.fields] == ["ngc628c"]  # ngc628e untouched
    with sed_engine.connect() as conn:
        # n_bands is the SQL count of the source's valid bands, for every row
        mismatched = conn.execute(
            text(
                "SELECT count(*) FROM sed_fit sf WHERE sf.method_id = :m AND sf.n_bands <> ("
                "SELECT count(*) FROM photometry p WHERE p.source_id = sf.source_id "
                "AND p.kind = 'total' AND p.mag_vega IS NOT NULL AND p.mag_err IS NOT NULL)"
            ),
            {"m": ygg_run.method_id},
        ).scalar_one()
        assert mismatched == 0
        run = conn.execute(
            text("SELECT module, status, code_version, config, finished_at FROM processing_run "
                 "WHERE id = :r"), {"r": ygg_run.run_id},
        ).one()  # fmt: skip
        method = conn.execute(
            text("SELECT ssp_model, ssp_grid_id, imf, metallicity, extinction_law, config "
                 "FROM sed_method WHERE id = :m"), {"m": ygg_run.method_id},
        ).one()  # fmt: skip
        sample = conn.execute(
            text("SELECT chi2, reduced_chi2, n_bands, band_residuals, log_age, log_age_min, "
                 "log_age_max, q_prob FROM sed_fit WHERE method_id = :m ORDER BY source_id"),
            {"m": ygg_run.method_id},
        ).all()  # fmt: skip
        agree = conn.execute(
            text(AGREEMENT_SQL), {"new": YGG_METHOD, "legus": LEGUS_METHOD, "field": "ngc628c"}
        ).one()
        grid_id = ssp_db.find_grid(conn, ("yggdrasil", 0.02)).id
    assert (run.module, run.status) == ("sed", "complete") and run.finished_at is not None
    config = run.config if isinstance(run.config, dict) else json.loads(run.config)
    assert config["fields"][0]["n_fitted"] == 3074 and config["ssp_grid"] == ygg_run.grid
    assert run.code_version.startswith("0.")
    mcfg = method.config if isinstance(method.config, dict) else json.loads(method.config)
    assert (method.ssp_model, method.ssp_grid_id, method.metallicity) == ("Yggdrasil", grid_id,
                                                                          0.02)  # fmt: skip
    assert method.extinction_law == "CCM89 R_V=3.1" and method.imf == "Kroupa (2001)"
    assert mcfg["error_floor_mag"] == 0.05 and mcfg["ebv_max_mag"] == 1.5
    assert mcfg["ebv_step_mag"] == 0.01 and mcfg["f435w_for_f438w"] is False
    assert mcfg["filters_used"] == ["F275W WFC3/UVIS", "F336W WFC3/UVIS", "F435W ACS/WFC",
                                    "F555W ACS/WFC", "F814W ACS/WFC"]  # fmt: skip
    assert mcfg["stand_ins_used"] == {} and mcfg["ssp_grid"] == ygg_run.grid
    # residuals are per band label, their squares sum to chi2; bounds stay on the grid
    for chi2, red, n_bands, resid, age, lo, hi, q in sample[::97]:
        res = resid if isinstance(resid, dict) else json.loads(resid)
        assert len(res) == n_bands and set(res) <= {"NUV", "U", "B", "V", "I"}
        assert sum(v * v for v in res.values()) == pytest.approx(chi2, rel=1e-3, abs=1e-3)
        assert lo <= hi and lo >= 6.0 and hi <= 10.2 and 6.0 < age < 10.2
        if n_bands > 3:
            assert red == pytest.approx(chi2 / (n_bands - 3)) and 0 <= q <= 1
        else:
            assert red is None and q is None  # no degrees of freedom left
    # the acceptance numbers (measured 79.7 % / 89.4 % / 86.4 % of 1901)
    assert agree.n == 1901
    assert float(agree.age) >= 0.78
    assert float(agree.mass) >= 0.88
    assert float(agree.ebv) >= 0.85
    print(f"NGC 628-c via the DB: n={agree.n} age {float(agree.age):.2%} "
          f"mass {float(agree.mass):.2%} E(B-V) {float(agree.ebv):.2%}")  # fmt: skip


def test_rerun_refused_labelled_refit_sits_beside(
    sed_engine: Engine, ygg_run: sed_db.SedRunSummary
) -> None:
    before = _counts(sed_engine)
    with pytest.raises(sed_db.SedRunConflictError, match="never replaced.*--label"):
        sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628c")
    with pytest.raises(sed_db.SedConfigError, match="--replace .* is gone.*--label"):
        sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628c", replace=True)
    with pytest.raises(sed_db.SedConfigError, match="label"):
        sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628c", label="[x]")
    assert _counts(sed_engine) == before  # refused: nothing written, no run recorded
    per_method = "SELECT count(*) FROM sed_fit WHERE method_id = :m"
    assert _scalar(sed_engine, per_method, m=ygg_run.method_id) == 3074
    values = (
        "SELECT source_id, log_age, log_mass, ebv, run_id FROM sed_fit WHERE method_id = :m "
        "ORDER BY 1"
    )
    with sed_engine.connect() as conn:
        old = conn.execute(text(values), {"m": ygg_run.method_id}).all()

    again = sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628c", label="fix 1")
    assert again.method == f"{YGG_METHOD} [fix 1]" and again.n_fitted == 3074
    assert again.method_id != ygg_run.method_id and again.run_id != ygg_run.run_id
    after = _counts(sed_engine)
    assert after["sed_fit"] == before["sed_fit"] + 3074  # added beside, nothing deleted
    assert after["sed_method"] == before["sed_method"] + 1
    assert after["processing_run"] == before["processing_run"] + 1
    with sed_engine.connect() as conn:
        kept = conn.execute(text(values), {"m": ygg_run.method_id}).all()
        new = conn.execute(text(values), {"m": again.method_id}).all()
        cfg = conn.execute(
            text("SELECT config FROM sed_method WHERE id = :m"), {"m": again.method_id}
        ).scalar_one()
    assert kept == old  # the first fits, their run included, are untouched
    assert [r[:4] for r in new] == [r[:4] for r in old]  # deterministic refit
    assert {r.run_id for r in new} == {again.run_id}
    cfg = cfg if isinstance(cfg, dict) else json.loads(cfg)
    assert cfg["label"] == "fix 1" and cfg["ssp_grid"] == ygg_run.grid

    # the labelled method is a method like any other: its second run is refused too
    with pytest.raises(sed_db.SedRunConflictError, match=r"\[fix 1\]' already has 3074 fits"):
        sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628c", label=" fix 1 ")
    assert _counts(sed_engine) == after


def test_set_default_shows_new_fits_and_touches_no_data(
    sed_engine: Engine, ygg_run: sed_db.SedRunSummary
) -> None:
    view = (
        "SELECT count(*) FROM cluster_catalogue c JOIN sed_fit sf ON sf.source_id = c.source_pk "
        "JOIN sed_method m ON m.id = sf.method_id AND m.name = :method "
        "WHERE c.field = 'ngc628c' AND c.log_age = sf.log_age AND c.log_mass = sf.log_mass "
        "AND c.ebv = sf.ebv"
    )
    legus_rows = (
        "SELECT count(*), sum(sf.log_age), sum(sf.log_mass) FROM sed_fit sf "
        "JOIN sed_method m ON m.id = sf.method_id WHERE m.name = :n"
    )
    with sed_engine.connect() as conn:
        legus_before = conn.execute(text(legus_rows), {"n": LEGUS_METHOD}).one()
    assert _scalar(sed_engine, view, method=LEGUS_METHOD) == 1901
    counts = _counts(sed_engine)
    run = sed_db.fit_release(
        sed_engine, "legus", "yggdrasil", field="ngc628c", label="default", set_default=True
    )
    labelled = f"{YGG_METHOD} [default]"
    try:
        assert run.default_set and run.method == labelled
        assert _scalar(sed_engine, view, method=labelled) == 3074
        assert _scalar(sed_engine, view, method=LEGUS_METHOD) < 1901 * 0.7  # other values
        assert _scalar(
            sed_engine,
            "SELECT count(*) FROM cluster_catalogue WHERE field = 'ngc628e' AND log_age IS NULL",
        ) == 593  # fmt: skip
        after = _counts(sed_engine)
        assert after["sed_fit"] == counts["sed_fit"] + 3074
        assert {k: after[k] for k in ("source", "photometry")} == {
            k: counts[k] for k in ("source", "photometry")
        }
        with sed_engine.connect() as conn:
            assert conn.execute(text(legus_rows), {"n": LEGUS_METHOD}).one() == legus_before
        # the first Yggdrasil fits may be shown instead; no row changes either way
        old, new = sed_db.set_default_sed_method(sed_engine, "legus", YGG_METHOD)
        assert (old, new) == (run.method_id, ygg_run.method_id)
        assert _scalar(sed_engine, view, method=YGG_METHOD) == 3074
        assert _counts(sed_engine) == after
    finally:
        old, new = sed_db.set_default_sed_method(sed_engine, "legus", LEGUS_METHOD)
    assert old == ygg_run.method_id
    assert _scalar(sed_engine, view, method=LEGUS_METHOD) == 1901  # restored exactly
    with pytest.raises(sed_db.SedConfigError, match="no SED method"):
        sed_db.set_default_sed_method(sed_engine, "legus", "no such method")


def test_stand_ins_are_refused_unless_asked_and_then_recorded(sed_engine: Engine) -> None:
    """ngc628e's V is WFC3/UVIS F555W, which Yggdrasil lacks (ACS F555W may stand in)."""
    before = _counts(sed_engine)
    with pytest.raises(sed_db.SedConfigError, match="F555W WFC3/UVIS.*stand-ins"):
        sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628e")
    assert _counts(sed_engine) == before
    run = sed_db.fit_release(sed_engine, "legus", "yggdrasil", field="ngc628e", stand_ins=True)
    assert "stand-ins" in run.method and run.n_fitted == 593
    assert run.fields[0].stand_ins == {
        "F555W WFC3/UVIS": "F555W ACS/WFC AB magnitude used as the F555W WFC3/UVIS AB "
        "magnitude, converted to Vega with the F555W WFC3/UVIS AB-Vega offset"
    }
    with sed_engine.connect() as conn:
        cfg = conn.execute(
            text("SELECT config FROM sed_method WHERE id = :m"), {"m": run.method_id}
        ).scalar_one()
    cfg = cfg if isinstance(cfg, dict) else json.loads(cfg)
    assert cfg["f435w_for_f438w"] is True and list(cfg["stand_ins_used"]) == ["F555W WFC3/UVIS"]
    assert "F438W WFC3/UVIS" in cfg["stand_ins_allowed"]


def test_bc03_whole_release_uses_each_fields_exact_filters(sed_engine: Engine) -> None:
    run = sed_db.fit_release(sed_engine, "legus", "bc03")
    assert [f.field for f in run.fields] == ["ngc628c", "ngc628e"]
    assert run.fields[1].filters[3] == "F555W WFC3/UVIS" and run.fields[1].stand_ins == {}
    assert run.fields[0].filters[3] == "F555W ACS/WFC"
    n_valid = sum(_scalar(sed_engine, N_VALID_SQL, field=f) for f in ("ngc628c", "ngc628e"))
    assert run.n_fitted == n_valid == 3667
    assert _scalar(
        sed_engine, "SELECT count(*) FROM sed_fit WHERE method_id = :m", m=run.method_id
    ) == 3667  # fmt: skip


def test_errors_write_nothing(sed_engine: Engine) -> None:
    before = _counts(sed_engine)
    with pytest.raises(sed_db.SedConfigError, match="known releases: legus"):
        sed_db.fit_release(sed_engine, "nope", "bc03")
    with pytest.raises(sed_db.SedConfigError, match="ngc628c, ngc628e"):
        sed_db.fit_release(sed_engine, "legus", "bc03", field="ngc1566")
    with pytest.raises(ValueError, match="Z = 0.02 only"):
        sed_db.fit_release(sed_engine, "legus", "yggdrasil", metallicity=0.008)
    with sed_engine.begin() as conn:
        conn.execute(text("UPDATE galaxy SET distance_mpc = NULL WHERE name = 'NGC 628'"))
    try:
        with pytest.raises(sed_db.SedConfigError, match="no galaxy distance"):
            sed_db.fit_release(sed_engine, "legus", "bc03", field="ngc628c", error_floor=0.1)
    finally:
        with sed_engine.begin() as conn:
            conn.execute(text("UPDATE galaxy SET distance_mpc = 9.9 WHERE name = 'NGC 628'"))
    assert _counts(sed_engine) == before


def test_reading_every_legus_source_the_catalogue_fitted(legus_engine: Engine) -> None:
    """The shared 28-catalogue database (read only): the bench's reading path."""
    with legus_engine.connect() as conn:
        rel = sed_db.resolve_release(conn, "legus")
        fields = sed_db.read_photometry(conn, rel.id, fitted_by=rel.default_sed_method_id)
    assert len(fields) == 28
    assert sum(f.n_sources for f in fields) == 27154
    assert all(len(f.filters) == 5 and f.distance_mpc for f in fields)
    assert {f.bands for f in fields} == {("NUV", "U", "B", "V", "I")}
    assert sum((f.n_valid() >= 3).sum() for f in fields) == 27154  # LEGUS fitted >= 3 bands
