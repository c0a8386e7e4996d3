"""Acceptance on both backends: the real LEGUS NGC 628-C catalogue, rendered, re-measured.

The LEGUS file is ingested as release ``legus``; ``clustercat synth field`` renders the
4096^2 px of the field around its densest region (2489 of the catalogue's 3080 sources: the
LEGUS frame spans 6200 x 6800 px; five MAST-like images and a truth table); the images are
registered and ``pipeline run`` makes release ``pipe``; the cross-match of the two releases
within 1 px (the existing one-to-one cross-match) is then compared with LEGUS and with the
truth table. The measured numbers are printed (``pytest -s``), overall and per rendered kind.

Magnitudes, both ways the LEGUS way (the defaults, passed explicitly here): a LEGUS magnitude
is not a total magnitude. The LEGUS readme (``$CLUSTERCAT_DATA/ngc628/LEGUS_description.txt``;
Adamo et al. 2017) defines it as the 4 px aperture magnitude, sky at 7 px 1 px wide, plus
"average aperture corrections calculated from isolated clusters in the field" (the
"avgapcor" of the file name); PHANGS-HST does the same (Thilker et al. 2022 §2.2). So the
field renders each source such that its own 4 px flux plus the field's average correction
is its catalogue magnitude (``--magnitudes aperture-corrected``: a cluster broader than
average, a multi-peak source or a pair holds more light than that), and the pipeline
measures it as LEGUS did (``--apcor average-isolated``: 4 px plus the field's average
correction, estimated from its own bright isolated resolved detections; the truth's
correction is the same rule on the noiseless sources, docs/synthetic_fields.md). Rendered as
totals and measured per source from the growth curve (the defaults before December 2026),
the median |dm_V| was 0.083 on a 1024^2 crop: multi-peak totals include knots 2.5-5 px away
that no 4 px aperture holds.

The issue's acceptance, for ALL the LEGUS sources in the image with V S/N > 10 (V error
< 0.1086 mag), each criterion its own test; measured (seeds 0 / 1 / 2 of the field):

* at least 95 % of them are recovered within 1 px: 95.9 % (1844 of 1922) / 95.4 / 95.8;
  single-peak kinds 96.5 % / 95.9 / 96.3 (asserted >= 95 %);
* the median |dm_V| (pipeline total V - LEGUS V) of the matched ones is below 0.05 mag:
  0.024 / 0.031 / 0.028; the pipeline's V correction is the truth's within 2 sigma (0.463 +-
  0.033 against 0.459 from 30 clusters / 0.423 +- 0.020 against 0.404 / 0.477 +- 0.027
  against 0.464; neighbours' light in the 20 px apertures pushes it up a little);
* their median pipeline CI is within 0.05 mag of the truth table's median CI (1.572 against
  1.580).

On a 1024^2 crop (205 such sources, ~30 clusters of S/N 20-60 to average) the correction's
sampling error is +-0.03-0.06 mag and the median |dm_V| 0.027-0.11 over four seeds: the
whole field is what the acceptance needs and what LEGUS averaged over.

Detector artefacts are extra features of the synthetic field (256 hot pixels and cosmic-ray
streaks in V, ``is_artefact`` rows of the truth table with ids outside the catalogue's): none
is a LEGUS source, and the pipeline's detection rejects most of them (83 of 256 in its
catalogue, measured; at most half asserted).
"""

from __future__ import annotations

import json
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from click.testing import CliRunner
from clustercat.__main__ import main
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.processing.catalogue_io import read_frame
from clustercat.processing.crossmatch_db import match_sides
from clustercat.processing.images_db import register_images
from clustercat.processing.pipeline import PipelineSettings
from clustercat.processing.pipeline_db import run_pipeline
from clustercat.processing.synth import ARTEFACTS_PER_4096_SQ
from clustercat.schema import make_engine, migrate
from conftest import _new_database, shared_path
from sqlalchemy import text

LEGUS_FILE = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"
SIZE_PX = 4096
SINGLE_PEAK = ("compact", "elongated", "point")
SNR_10_MAG_ERR = 2.5 / np.log(10) / 10  # 0.1086 mag


def _ingest_legus(url: str) -> None:
    engine = make_engine(url)
    legus = reader_info("legus")
    ingest_release(
        engine,
        ReleaseRequest("legus", legus.name, legus.version, [shared_path("legus", LEGUS_FILE)]),
        legus.reader(),
    )
    engine.dispose()


@pytest.fixture(scope="module")
def synthetic_field(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered 4096^2 field (made once, from an SQLite database of the LEGUS file)."""
    folder = tmp_path_factory.mktemp("ngc628c_synth")
    url = f"sqlite:///{folder / 'source.db'}"
    migrate.upgrade(url)
    _ingest_legus(url)
    result = CliRunner().invoke(main, [
        "--database", url, "synth", "field", "--from-release", "legus", "--field", "ngc628c",
        "--out", str(folder / "images"), "--size", str(SIZE_PX),
        "--magnitudes", "aperture-corrected",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder / "images"


@pytest.fixture(scope="module")
def measured(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    synthetic_field: Path,
) -> dict:
    url = _new_database(backend, request, tmp_path_factory.mktemp("ngc628c_db"))
    migrate.upgrade(url)
    _ingest_legus(url)
    engine = make_engine(url)
    register_images(engine, sorted(synthetic_field.glob("*.fits")), field="ngc628c",
                    galaxy="NGC 628")  # fmt: skip
    run = run_pipeline(engine, "ngc628c", "pipe", workers=2,
                       settings=PipelineSettings(apcor_method="average-isolated"))  # fmt: skip
    with engine.connect() as conn:
        config = conn.execute(text("SELECT config FROM processing_run WHERE id = :r"),
                              {"r": run.run_id}).scalar_one()  # fmt: skip
        match = match_sides(conn, "pipe:ngc628c", "legus:ngc628c", 1 * u.pix)
        catalogue = read_frame(
            conn, "SELECT source_pk, release, source_id, ra, dec, mag_v, mag_v_err, ci "
            "FROM cluster_catalogue WHERE field = 'ngc628c'",
        )  # fmt: skip
    engine.dispose()
    truth = Table.read(synthetic_field / "truth_ngc628c.ecsv")
    config = json.loads(config) if isinstance(config, str) else config
    return {"run": run, "pairs": match.matched_pairs(), "catalogue": catalogue,
            "truth": truth.to_pandas(), "apcor_v": config["aperture_corrections"]["V"],
            "apcor_truth": truth.meta}  # fmt: skip


def _summary(measured: dict) -> dict:
    """The LEGUS sources in the image with V S/N > 10, which were recovered, and the matched
    ones' dm_V and CIs (printed once per backend)."""
    if "summary" in measured:
        return measured["summary"]
    run, pairs, cat = measured["run"], measured["pairs"], measured["catalogue"]
    truth = measured["truth"]
    artefacts = truth[truth["is_artefact"]]
    truth = truth[~truth["is_field_star"] & ~truth["is_artefact"]].set_index("id")
    legus = cat[cat["release"] == "legus"].set_index("source_pk")
    pipe = cat[cat["release"] == "pipe"].set_index("source_pk")
    in_image = legus[legus["source_id"].isin(truth.index)]
    bright = in_image[in_image["mag_v"].notna() & (in_image["mag_v_err"] < SNR_10_MAG_ERR)].copy()
    bright["kind"] = truth.loc[bright["source_id"], "kind"].to_numpy()
    found = pairs.set_index("source_b_pk")["source_a_pk"]
    bright["recovered"] = bright.index.isin(found.index)
    matched = bright[bright["recovered"]].copy()
    mine = found[matched.index].to_numpy()
    matched["dm_v"] = pipe.loc[mine, "mag_v"].to_numpy() - matched["mag_v"].to_numpy()
    matched["ci_pipe"] = pipe.loc[mine, "ci"].to_numpy()
    matched["ci_truth"] = truth.loc[matched["source_id"], "ci_v"].to_numpy()
    single = bright["kind"].isin(SINGLE_PEAK)
    per_kind = pd.DataFrame({
        "n": bright.groupby("kind").size(),
        "recovered": bright.groupby("kind")["recovered"].sum(),
        "median_dm_v": matched.groupby("kind")["dm_v"].median().round(3),
        "median_abs_dm_v": matched.groupby("kind")["dm_v"].apply(
            lambda d: np.nanmedian(np.abs(d))).round(3),
        "median_ci_pipe": matched.groupby("kind")["ci_pipe"].median().round(3),
        "median_ci_truth": matched.groupby("kind")["ci_truth"].median().round(3),
    })  # fmt: skip
    out = {
        "n": len(bright),
        "recovered": float(bright["recovered"].mean()),
        "recovered_single": float(bright.loc[single, "recovered"].mean()),
        "n_single": int(single.sum()),
        "median_dm": float(np.nanmedian(matched["dm_v"])),
        "median_abs_dm": float(np.nanmedian(np.abs(matched["dm_v"]))),
        "median_abs_dm_single": float(np.nanmedian(np.abs(
            matched.loc[matched["kind"].isin(SINGLE_PEAK), "dm_v"]))),
        "median_dm_single": float(np.nanmedian(
            matched.loc[matched["kind"].isin(SINGLE_PEAK), "dm_v"])),
        "ci_pipe": float(np.nanmedian(matched["ci_pipe"])),
        "ci_truth": float(np.nanmedian(matched["ci_truth"])),
        "n_artefacts": len(artefacts),
        "artefacts_in_legus": int(artefacts["id"].isin(legus["source_id"]).sum()),
        "artefacts_detected": _n_detected(artefacts, pipe),
    }  # fmt: skip
    print(
        f"\nNGC 628-C {SIZE_PX}^2: pipeline {run.n_sources} sources, {run.n_candidates} "
        f"candidates, median CI {run.median_ci:.3f} mag, {run.seconds:.1f} s "
        f"(stages {', '.join(f'{k} {v:.1f} s' for k, v in run.timings_s.items())})\n"
        f"LEGUS in the image {len(in_image)}, V S/N > 10: {out['n']}; recovered within 1 px: "
        f"all {out['recovered']:.3f} ({int(bright['recovered'].sum())}/{out['n']}), "
        f"single-peak {out['recovered_single']:.3f}\n"
        f"all matched: median dm_V {out['median_dm']:+.4f}, median |dm_V| "
        f"{out['median_abs_dm']:.4f}; single-peak: median dm_V {out['median_dm_single']:+.4f}, "
        f"median |dm_V| {out['median_abs_dm_single']:.4f}\n"
        f"median CI pipeline {out['ci_pipe']:.4f} vs truth {out['ci_truth']:.4f}\n"
        f"detector artefacts (extra, V only): {out['artefacts_detected']}/{out['n_artefacts']} "
        f"in the pipeline catalogue within 1 px\n"
        f"per kind:\n{per_kind.to_string()}"
    )  # fmt: skip
    measured["summary"] = out
    return out


def _n_detected(artefacts: pd.DataFrame, pipe: pd.DataFrame) -> int:
    """How many artefacts have a pipeline source within 1 px (0.0396") of their position."""
    if artefacts.empty or pipe.empty:
        return 0
    art = SkyCoord(artefacts["ra_wcs"].to_numpy() * u.deg, artefacts["dec_wcs"].to_numpy() * u.deg)
    cat = SkyCoord(pipe["ra"].to_numpy(float) * u.deg, pipe["dec"].to_numpy(float) * u.deg)
    _, sep, _ = art.match_to_catalog_sky(cat)
    return int((sep.arcsec < 0.0396).sum())


def test_median_ci_matches_the_truth(measured: dict) -> None:
    s = _summary(measured)
    assert s["n"] >= 1900  # 1922 LEGUS sources with V S/N > 10 in the image
    assert abs(s["ci_pipe"] - s["ci_truth"]) < 0.05


def test_single_peak_sources_are_recovered_and_measured(measured: dict) -> None:
    """Regression guards below the issue's bar (see the module docstring): the kinds with
    one peak (class 1-2 clusters, point sources) are recovered; V is unbiased overall."""
    s = _summary(measured)
    assert s["n_single"] >= 100
    assert s["recovered_single"] >= 0.95
    assert abs(s["median_dm"]) < 0.05 and abs(s["median_dm_single"]) < 0.05


def test_detector_artefacts_are_extra_and_mostly_rejected(measured: dict) -> None:
    """The synthetic field's hot pixels and cosmic rays are no LEGUS source; the detection's
    sharpness limits keep most of them out of the pipeline catalogue (83/256 measured)."""
    s = _summary(measured)
    assert s["n_artefacts"] == ARTEFACTS_PER_4096_SQ * (SIZE_PX / 4096) ** 2
    assert s["artefacts_in_legus"] == 0
    assert s["artefacts_detected"] <= s["n_artefacts"] // 2


def test_95_percent_of_all_bright_legus_sources_are_recovered(measured: dict) -> None:
    assert _summary(measured)["recovered"] >= 0.95


def test_median_abs_dm_v_of_all_matched_sources_is_below_0_05(measured: dict) -> None:
    assert _summary(measured)["median_abs_dm"] < 0.05


def test_the_average_correction_is_the_truths_within_its_error(measured: dict) -> None:
    """The pipeline's V correction (sample of bright isolated resolved detections) against
    the synthetic field's (the same rule on the noiseless truth): within 2 sigma."""
    mine = measured["apcor_v"]
    truth = measured["apcor_truth"]["catalogue_aperture_correction_mag"]["F555W"]
    settings = mine["settings"]
    print(f"\nV aperture correction: pipeline {mine['value_mag']:.4f} +- "
          f"{settings['error_mag']:.4f} ({settings['n_sample']} clusters, {settings['source']})"
          f", truth {truth:.4f}")  # fmt: skip
    assert mine["method"] == "average-isolated" and settings["source"] == "sample"
    assert settings["n_sample"] >= 8
    assert abs(mine["value_mag"] - truth) < 2 * settings["error_mag"]
