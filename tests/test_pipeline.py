"""The image pipeline's pure runner: tiles, duplicates, truth recovery, Dask = inline.

Synthetic five-band fields (:func:`synthetic_field`) hold fiducial clusters (Moffat FWHM 2 px,
eta = 3, Thilker et al. 2022 §4.2.1) convolved with each band's PSF, at known positions and
Vega magnitudes, with Poisson and read noise and the real NGC 628-C zeropoints and exposure
times: the truth is what we generated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.wcs import WCS
from clustercat.ingest.contract import SourceFlag
from clustercat.processing.aperture_corrections import (
    average_aperture_correction,
    isolated_cluster_sample,
)
from clustercat.processing.images import HSTImage, read_hst_image, write_hst_fits
from clustercat.processing.pipeline import (
    PipelineSettings,
    Tile,
    band_aperture_correction,
    catalogue_tables,
    duplicates,
    field_aperture_corrections,
    run_field,
    tile_grid,
)
from conftest import shared_path
from scipy.spatial import cKDTree

SKY_E_S = 0.01  # e-/s/pix
READ_NOISE_E_S = 0.003  # e-/s/pix, Gaussian


def synthetic_field(
    folder: Path, n_px: int = 256, n_sources: int = 40, seed: int = 3, target: str = "ngc628c"
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Five MAST-like FITS files of fiducial clusters, and the truth (0-based x, y, mag_<band>).

    Positions are at least 6 px apart and 15 px from the edges; V magnitudes uniform in
    19-23 mag, other bands V + N(0, 0.3) mag.
    """
    shared_path("phangs-metadata")
    from clustercat.processing.hst_metadata import read_header_info
    from clustercat.processing.profiles import add_profiles
    from clustercat.processing.psf import load_psf

    rng = np.random.default_rng(seed)
    info = read_header_info(target)
    info = info[info["band"].notna()]
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [24.1739, 15.7836]
    wcs.wcs.crpix = [n_px / 2, n_px / 2]
    scale = 0.04 / 3600
    wcs.wcs.cd = [[-scale, 0], [0, scale]]
    x, y = np.empty(0), np.empty(0)
    while len(x) < n_sources:  # rejection sampling: no two sources closer than 6 px
        cx, cy = rng.uniform(15, n_px - 16, 2)
        if len(x) == 0 or np.min(np.hypot(x - cx, y - cy)) >= 6:
            x, y = np.append(x, cx), np.append(y, cy)
    mag_v = rng.uniform(19.0, 23.0, n_sources)
    truth = pd.DataFrame({"x": x, "y": y})
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for _, row in info.iterrows():
        band = row["band"]
        mag = mag_v if band == "V" else mag_v + rng.normal(0.0, 0.3, n_sources)
        truth[f"mag_{band}"] = mag
        flux = 10 ** (-0.4 * (mag - row["zp_vega"]))
        model = np.zeros((n_px, n_px))
        add_profiles(model, x, y, flux, np.full(n_sources, 2.0), np.full(n_sources, 3.0),
                     psf=load_psf(row["filter"], row["instrument"]))  # fmt: skip
        t = row["exptime_s"]
        data = rng.poisson((model + SKY_E_S) * t) / t + rng.normal(0, READ_NOISE_E_S, model.shape)
        paths[band] = write_hst_fits(
            folder / f"{target}_{row['filter'].lower()}_drc.fits", data, wcs,
            filter_name=row["filter"], instrument=row["instrument"], photflam=row["photflam"],
            photplam=row["photplam"], exptime_s=t,
        )  # fmt: skip
    return paths, truth


@pytest.fixture(scope="module")
def field_images(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, HSTImage], pd.DataFrame]:
    paths, truth = synthetic_field(tmp_path_factory.mktemp("field"))
    return {b: read_hst_image(p) for b, p in paths.items()}, truth


#: The field holds fiducial clusters only, so their own (single) aperture correction is the
#: right one; the default (average-isolated) and the per-source growth-curve corrections are
#: tested on this field separately (test_average_isolated_correction_is_the_clusters_own,
#: test_growth_curve_correction_recovers_fiducial_cluster_magnitudes).
SETTINGS = PipelineSettings(n_fiducial=60, apcor_method="fiducial-cluster-psf-sky")


@pytest.fixture(scope="module")
def inline_result(field_images):  # noqa: ANN001, ANN201
    images, _ = field_images
    return run_field(images, SETTINGS, 9.9)


def _match(result, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Index of the nearest detection of each true source, and its distance (px)."""
    d, i = cKDTree(result.sources[["x", "y"]].to_numpy()).query(truth[["x", "y"]].to_numpy())
    return i, d


def test_tile_grid_cores_partition_the_image() -> None:
    tiles = tile_grid((300, 250), 100, 12)
    assert len(tiles) == 3 * 3
    cover = np.zeros((300, 250), dtype=int)
    for t in tiles:
        x0, x1, y0, y1 = t.core
        cover[y0:y1, x0:x1] += 1
        ox0, ox1, oy0, oy1 = t.outer
        assert (ox0, oy0) == (max(0, x0 - 12), max(0, y0 - 12))
        assert (ox1, oy1) == (min(250, x1 + 12), min(300, y1 + 12))
    assert np.all(cover == 1)
    assert tile_grid((300, 250), None, 12) == [Tile(0, (0, 250, 0, 300), (0, 250, 0, 300))]
    assert [t.core[:2] for t in tiles[:3]] == [(0, 83), (83, 167), (167, 250)]
    # ownership follows the nearest pixel: x = 82.49 is pixel 82 (first tile), 82.5 pixel 83
    assert tiles[0].owns(np.array([82.49, 82.5]), np.array([5.0, 5.0])).tolist() == [True, False]
    assert tiles[1].owns(np.array([82.49, 82.5]), np.array([5.0, 5.0])).tolist() == [False, True]
    assert PipelineSettings().overlap_px == 8 + 4


def test_duplicates_drops_the_fainter_copy() -> None:
    x = np.array([10.0, 10.4, 30.0, 30.0, 50.0])
    y = np.array([10.0, 10.0, 30.0, 31.5, 50.0])
    flux = np.array([1.0, 2.0, 5.0, 5.0, 1.0])
    assert duplicates(x, y, flux, 1.0).tolist() == [True, False, False, False, False]
    assert duplicates(x, y, flux, 2.0).tolist() == [True, False, False, True, False]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="tile_px must be at least 48"):
        PipelineSettings(tile_px=40)
    with pytest.raises(ValueError, match="detection band"):
        PipelineSettings(bands=("B", "I"))
    with pytest.raises(ValueError, match="aperture-correction radius"):
        PipelineSettings(apcor_radius_px=3.5)
    assert PipelineSettings(tile_px=512).to_dict()["radii_px"] == [
        1.0,
        1.5,
        2.0,
        2.5,
        3.0,
        4.0,
        5.0,
    ]


def test_run_field_recovers_the_generated_sources(field_images, inline_result) -> None:  # noqa: ANN001
    images, truth = field_images
    result = inline_result
    i, d = _match(result, truth)
    found = d < 1.0
    total = result.photometry[result.photometry["radius_px"].isna()]
    v = total[total["band"] == "V"].set_index("id")["mag_vega"]
    dm = v.loc[result.sources["id"].to_numpy()[i[found]]].to_numpy() - truth["mag_V"][found]
    mci = result.morphology.set_index("id").loc[result.sources["id"].to_numpy()[i[found]]]
    print(f"\nsynthetic 256^2 field: {found.sum()}/{len(truth)} recovered, median dm_V "
          f"{np.median(dm):+.4f} mag, median MCI_in {mci['mci_in'].median():+.3f}, MCI_out "
          f"{mci['mci_out'].median():+.3f}, CI {mci['ci'].median():.3f} (fiducial "
          f"{result.constants.ci_1_3:.3f})")  # fmt: skip
    assert found.mean() >= 0.95
    assert abs(np.median(dm)) < 0.03
    assert np.percentile(np.abs(dm), 68) < 0.08
    # fiducial clusters sit at the origin of the MCI plane (Thilker §4.2.1)
    assert abs(mci["mci_in"].median()) < 0.05 and abs(mci["mci_out"].median()) < 0.15
    assert abs(mci["ci"].median() - result.constants.ci_1_3) < 0.05
    # every band: the total is the 4 px magnitude plus the stored (negative) correction
    rows = result.photometry
    for band, ac in result.aperture_corrections.items():
        assert ac.method == "fiducial-cluster-psf-sky" and 0.2 < ac.value_mag < 0.5, band
        b = rows[rows["band"] == band]
        m4 = b[np.isclose(b["radius_px"], 4.0)].set_index("id")["mag_vega"]
        mt = b[b["radius_px"].isna()].set_index("id")
        ok = m4.notna()
        assert np.allclose(mt["mag_vega"][ok], m4[ok] + mt["aperture_correction_mag"][ok])
        assert np.allclose(mt["aperture_correction_mag"], -ac.value_mag)
    # RA/Dec from the V image's WCS
    ra, dec = images["V"].wcs.pixel_to_world_values(result.sources["x"], result.sources["y"])
    assert np.allclose(result.sources["ra"], ra) and np.allclose(result.sources["dec"], dec)
    # selection: the bright isolated fiducials are candidates
    sel = result.selection.set_index("id").loc[result.sources["id"].to_numpy()[i[found]]]
    bright = truth["mag_V"][found].to_numpy() < 22
    assert sel["candidate"].to_numpy()[bright].mean() >= 0.9


def test_tiled_run_on_dask_equals_the_whole_image_inline(field_images, inline_result) -> None:  # noqa: ANN001
    from distributed import Client, LocalCluster

    images, _ = field_images
    settings = PipelineSettings(n_fiducial=60, apcor_method=SETTINGS.apcor_method, tile_px=64)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,  # fmt: skip
        Client(cluster) as client,
    ):
        tiled = run_field(images, settings, 9.9, client=client)
    assert tiled.n_tiles == 16 and inline_result.n_tiles == 1
    a, b = inline_result, tiled
    assert len(a.sources) == len(b.sources) > 40
    assert np.allclose(a.sources[["x", "y"]], b.sources[["x", "y"]])
    assert np.allclose(a.photometry["flux"], b.photometry["flux"], equal_nan=True)
    assert np.allclose(a.morphology["mci_out"], b.morphology["mci_out"], equal_nan=True)
    assert a.selection["candidate"].tolist() == b.selection["candidate"].tolist()


def test_catalogue_tables_meet_the_contract(field_images, inline_result, tmp_path) -> None:  # noqa: ANN001
    images, _ = field_images
    result = inline_result
    tables = catalogue_tables(
        result, images, field_name="ngc628c", galaxy="NGC 628", survey="PHANGS-HST",
        source_path=tmp_path / "parameters.json", constants_version=result.constants.version,
    )  # fmt: skip
    tables.check()
    assert np.allclose(tables.sources["x"], result.sources["x"] + 1)  # 1-based in the database
    n = len(result.sources)
    assert len(tables.photometry) == n * 5 * 8 and len(tables.selection) == n
    assert set(tables.morphology["constants_version"]) == {result.constants.version}
    measured = tables.photometry["status"] == "measured"
    assert tables.photometry.loc[~measured, "mag_vega"].isna().all()
    flagged = (tables.sources["flags"].to_numpy() & int(SourceFlag.PHOT_NOT_DETECTED)) > 0
    undetected = set(tables.photometry.loc[tables.photometry["status"] == "not_detected",
                                           "id_in_release"])  # fmt: skip
    assert set(tables.sources.loc[flagged, "id_in_release"]) == undetected
    # mJy through the AB zeropoint: 1 e-/s of F555W is 10^(-0.4 (zp_AB - 8.90)) Jy
    v = images["V"]
    row = tables.photometry[measured & (tables.photometry["band"] == "V")].iloc[0]
    flux = result.photometry.set_index(["id", "band"]).loc[(row["id_in_release"], "V")]
    rate = flux[np.isclose(flux["radius_px"], row["aperture_px"], equal_nan=True)]["flux"].iloc[0]
    assert row["flux_mjy"] == pytest.approx(rate * 10 ** (-0.4 * (v.zeropoint_ab - 8.90)) * 1e3,
                                            rel=1e-3)  # fmt: skip


def test_ci_dependent_aperture_correction_grows_with_ci() -> None:
    """Model ladder (Moffat x PSF): broader sources need more correction; the fiducial
    cluster's CI gets the fiducial cluster's correction (the no-CI fallback)."""
    shared_path("psf")
    from clustercat.processing.pipeline import band_model_apertures, ci_aperture_corrections

    settings = PipelineSettings()
    models = pd.concat([band_model_apertures("F555W", "ACS/WFC", "V", settings),
                        band_model_apertures("F275W", "WFC3/UVIS", "NUV", settings)])  # fmt: skip
    corrections = ci_aperture_corrections(models, "V", settings)
    v = corrections["V"]
    assert np.all(np.diff(v.apcor_grid) > 0) and np.all(np.diff(v.ci_grid) > 0)
    m = models[models["band"] == "V"].assign(
        ci=lambda f: 2.5 * np.log10(f["f3"] / f["f1"]),
        apcor=lambda f: 2.5 * np.log10(f["total"] / f["f4"]),
    )
    fid = m[(m["eta"] == 3.0) & (m["fwhm_px"] == 2.0)].iloc[0]
    assert v.value_mag == pytest.approx(fid["apcor"])  # the no-CI fallback
    # at the fiducial's CI the correction lies between the steepest and the broadest
    # profile's: CI does not fix the wings (module docstring of the pipeline)
    steep, broad = (m[m["eta"] == eta] for eta in (4.0, 1.25))
    at_fid = v.apcor_mag(np.array([fid["ci"]]))[0]
    assert np.interp(fid["ci"], steep["ci"], steep["apcor"]) < at_fid
    assert at_fid < np.interp(fid["ci"], broad["ci"], broad["apcor"])
    point = models[(models["band"] == "V") & (models["fwhm_px"] == 0.0)].iloc[0]
    assert v.apcor_mag(np.array([np.nan]))[0] == v.value_mag
    assert v.apcor_mag(np.array([0.0]))[0] == pytest.approx(
        2.5 * np.log10(point["total"] / point["f4"]), abs=0.01
    )
    # the bluer band's PSF has broader wings: more correction at every CI
    assert np.all(np.asarray(corrections["NUV"].apcor_grid) > np.asarray(v.apcor_grid))


def test_growth_curve_fit_picks_the_shape_and_applies_it_in_every_band() -> None:
    """A source with a model's own growth curve gets that model's correction in every band
    (its V shape seen through each band's PSF); at equal CI(1, 3) the broad-winged and the
    steep profile get their own, different corrections; no growth curve -> the fiducial's."""
    shared_path("psf")
    from clustercat.processing.aperture_corrections import fit_growth_curves
    from clustercat.processing.pipeline import band_growth_models, growth_curve_corrections

    settings = PipelineSettings()
    models = pd.concat([band_growth_models("F555W", "ACS/WFC", "V", settings),
                        band_growth_models("F275W", "WFC3/UVIS", "NUV", settings)])  # fmt: skip
    corr = growth_curve_corrections(models, settings)
    v, nuv = corr["V"], corr["NUV"]
    radii = settings.radii_px
    assert v.radii_px == tuple(r for r in radii if r <= 5.0)
    growth = np.asarray(v.growth)
    k4 = v.radii_px.index(4.0)
    assert np.allclose(growth[:, k4], 1.0)
    # every model's noiseless growth curve (x 1000 e-/s, 0.1 % errors) picks that model
    # (with the default 0.5 % systematic floor as the best fit; without the floor its
    # weight dominates, so its correction is the one applied)
    flux = 1000.0 * growth
    err = 0.001 * flux
    distinct = [
        i
        for i in range(len(growth))
        if not np.any(np.all(np.isclose(growth[:i], growth[i], atol=1e-4), axis=1))
    ]
    assert (v.fit(flux, err, None, v.radii_px).best[distinct] == np.asarray(distinct)).all()
    fit = fit_growth_curves(flux, None, err, growth, systematic_fraction=0.0)
    assert (fit.best[distinct] == np.asarray(distinct)).all()
    np.testing.assert_allclose(v.apcor_mag(fit)[distinct], np.asarray(v.apcor_grid)[distinct],
                               atol=0.03)  # fmt: skip
    np.testing.assert_allclose(nuv.apcor_mag(fit)[distinct],
                               np.asarray(nuv.apcor_grid)[distinct], atol=0.03)  # fmt: skip
    # the NUV PSF has broader wings: each shape needs more correction there
    assert np.all(np.asarray(nuv.apcor_grid) > np.asarray(v.apcor_grid))
    # equal CI, different wings (eta 1.25 vs 4): the growth curve tells them apart
    g = models[models["band"] == "V"].reset_index(drop=True)
    ci = 2.5 * np.log10(g["f_3"] / g["f_1"])
    broad = g.index[(g["eta"] == 1.25) & (g["fwhm_px"] == 1.0)][0]
    steep_rows = g.index[g["eta"] == 4.0]
    steep = steep_rows[np.argmin(np.abs(ci[steep_rows] - ci[broad]))]
    assert abs(ci[steep] - ci[broad]) < 0.1
    assert v.apcor_grid[broad] - v.apcor_grid[steep] > 0.2
    assert fit.best[broad] == broad and fit.best[steep] == steep
    # a source with no usable growth curve gets the fiducial cluster's correction
    bad = fit_growth_curves(np.array([[np.nan] * len(v.radii_px)]), None,
                            np.ones((1, len(v.radii_px))), growth)  # fmt: skip
    assert not bad.fitted[0] and v.apcor_mag(bad)[0] == v.value_mag
    fid = g.index[(g["eta"] == 3.0) & (g["fwhm_px"] == 2.0)][0]
    assert v.value_mag == pytest.approx(v.apcor_grid[fid], abs=1e-5)
    assert v.to_dict()["method"] == "growth-curve" and "growth" not in v.to_dict()


def test_growth_curve_correction_recovers_fiducial_cluster_magnitudes(field_images) -> None:  # noqa: ANN001
    """The per-source growth-curve correction on the field of fiducial clusters (no prior on
    their shape): V totals within a few hundredths of a magnitude of the truth."""
    images, truth = field_images
    result = run_field(images, PipelineSettings(n_fiducial=60, apcor_method="growth-curve"), 9.9)
    idx, dist = _match(result, truth)
    ok = dist < 1.0
    ph = result.photometry
    tot = ph[(ph["band"] == "V") & ph["radius_px"].isna()].set_index("id")
    dm = (
        tot.loc[result.sources["id"].to_numpy()[idx[ok]], "mag_vega"].to_numpy()
        - truth["mag_V"].to_numpy()[ok]
    )
    print(f"\ngrowth-curve on fiducial clusters: median dm_V {np.median(dm):+.4f}, "
          f"median |dm_V| {np.median(np.abs(dm)):.4f} ({ok.sum()} sources)")  # fmt: skip
    assert ok.sum() >= 38
    assert abs(np.median(dm)) < 0.03 and np.median(np.abs(dm)) < 0.05


def test_average_isolated_correction_is_the_clusters_own(field_images) -> None:  # noqa: ANN001
    """The default, LEGUS's and PHANGS's method (the field's mean 4 px -> 20 px correction
    over bright isolated clusters) on a field of fiducial clusters equals the fiducial cluster's own
    correction and gives their V totals; what was used is recorded."""
    images, truth = field_images
    result = run_field(images, PipelineSettings(n_fiducial=60), 9.9)
    assert result.settings.apcor_method == "average-isolated"
    fiducial = band_aperture_correction(images["V"].filter_name, images["V"].instrument, "V",
                                        SETTINGS)  # fmt: skip
    v = result.aperture_corrections["V"]
    print(f"\naverage-isolated V {v.value_mag:.4f} +- {v.settings['error_mag']} "
          f"({v.settings['n_sample']} clusters) vs fiducial {fiducial.value_mag:.4f}")
    assert v.method == "average-isolated" and v.settings["source"] == "sample"
    assert v.settings["n_sample"] >= 5 and len(v.settings["sample_ids"]) >= 5
    assert abs(v.value_mag - fiducial.value_mag) < max(0.03, 3 * v.settings["error_mag"])
    idx, dist = _match(result, truth)
    ok = dist < 1.0
    ph = result.photometry
    tot = ph[(ph["band"] == "V") & ph["radius_px"].isna()].set_index("id")
    dm = (tot.loc[result.sources["id"].to_numpy()[idx[ok]], "mag_vega"].to_numpy()
          - truth["mag_V"].to_numpy()[ok])  # fmt: skip
    assert abs(np.median(dm)) < 0.03
    # the injection context's call gives the run's corrections (same detections, same sample)
    alone = field_aperture_corrections(images, result.settings)
    assert alone["V"].value_mag == pytest.approx(v.value_mag, abs=1e-9)
    assert alone["V"].settings["sample_ids"] == v.settings["sample_ids"]


def test_isolated_cluster_sample_and_its_average() -> None:
    """The sample: bright enough, resolved (CI above the PSF's), no bright neighbour within
    21 px, the brightest first; the average is sigma-clipped."""
    x = np.array([10.0, 100.0, 110.0, 200.0, 300.0, 400.0, 400.0])
    y = np.array([10.0, 100.0, 100.0, 200.0, 300.0, 400.0, 415.0])
    flux = np.array([1000.0, 1000.0, 500.0, 1000.0, 50.0, 2000.0, 50.0])
    err = np.full(7, 10.0)  # S/N 100, 100, 50, 100, 5, 200, 5
    ci = np.array([1.6, 1.6, 1.6, 1.2, 1.6, 1.7, 1.6])
    keep = isolated_cluster_sample(x, y, flux, err, ci, psf_ci=1.25)
    # 0 kept; 1 and 2 neighbours; 3 a point source; 4 faint; 5 kept (its 50 is 2.5 %);
    # 6 faint and next to 5
    assert keep.tolist() == [True, False, False, False, False, True, False]
    assert isolated_cluster_sample(x, y, flux, err, ci, psf_ci=1.25, size=1).tolist() == [
        False, False, False, False, False, True, False]  # fmt: skip
    c = np.array([0.45, 0.48, 0.5, 0.51, 0.53, 0.55, 0.42, 0.6, 0.47, 0.5, 0.52, 3.0])
    f4 = np.full(c.size, 100.0)
    total = f4 * 10 ** (0.4 * c)  # the last: a neighbour's light in the 20 px aperture
    mean, err_mean, n = average_aperture_correction(f4, total)
    assert n == 11 and mean == pytest.approx(c[:11].mean(), abs=1e-9)
    assert err_mean == pytest.approx(c[:11].std() / np.sqrt(11), rel=1e-9)
    # weighted: 1 / (var(c) + 0.1^2), var(c) from both fluxes' errors
    e4, et = f4 * 0.01, total * np.linspace(0.01, 0.2, c.size)
    mean_w, _, n_w = average_aperture_correction(f4, total, e4, et)
    w = 1.0 / ((2.5 / np.log(10)) ** 2 * ((e4 / f4) ** 2 + (et / total) ** 2) + 0.01)
    assert n_w == 11 and mean_w == pytest.approx(np.sum(w[:11] * c[:11]) / w[:11].sum(), 1e-9)
    assert np.isnan(average_aperture_correction(np.array([np.nan]), np.array([1.0]))[0])
