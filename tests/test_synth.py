"""Synthetic HST fields: counts, WCS, noise, morphology, determinism and the CLI (both backends).

Pure tests build small catalogues whose truth they generate; database tests ingest the real
LEGUS NGC 628-c catalogue and render crops of it through ``clustercat synth field``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from click.testing import CliRunner
from clustercat.ingest.loader import ReleaseRequest, ingest_release
from clustercat.ingest.registry import reader_info
from clustercat.processing import synth
from clustercat.processing.cli_synth import (
    FieldCatalogue,
    field_bands,
    read_field_catalogue,
    synth_group,
)
from clustercat.processing.hst_metadata import read_header_info
from clustercat.processing.profiles import moffat_reff_px
from clustercat.schema import make_engine, migrate
from conftest import shared_path
from photutils.aperture import CircularAperture, aperture_photometry
from scipy import ndimage

NGC628C = "hlsp_legus_hst_acs-wfc3_ngc628-c_multiband_v1_padagb-mwext-avgapcor.tab"
#: a TAN WCS of a made-up field (0.0396"/px), for catalogues whose truth we generate
RA0, DEC0, SCALE = 24.17, 15.78, 0.03962 / 3600


def _known_wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [RA0, DEC0]
    w.wcs.crpix = [1000.0, 1000.0]
    w.wcs.cd = [[-SCALE, 0.0], [0.0, SCALE]]
    return w


def _catalogue(x: np.ndarray, y: np.ndarray, cls: np.ndarray, mag: float | dict) -> pd.DataFrame:
    """Sources at 1-based x, y of the known WCS, plus 8 faint anchors far away for the fit."""
    ax = np.array([0, 2000, 0, 2000, 1000, 500, 1500, 300], float) + 1
    ay = np.array([0, 0, 2000, 2000, 1900, 100, 1700, 1200], float) + 1
    xs, ys = np.concatenate([x, ax]), np.concatenate([y, ay])
    ra, dec = _known_wcs().pixel_to_world_values(xs - 1, ys - 1)
    mags = mag if isinstance(mag, dict) else dict.fromkeys(synth.BANDS, mag)
    frame = pd.DataFrame({"source_id": np.arange(1, xs.size + 1), "x": xs, "y": ys,
                          "ra": ra, "dec": dec, "ci": 1.6,
                          "class": np.concatenate([cls, np.full(ax.size, np.nan)])})  # fmt: skip
    for band, col in synth.MAG_COLUMN.items():
        frame[col] = np.concatenate([np.full(x.size, mags[band]), np.full(ax.size, np.nan)])
    return frame


@pytest.fixture(scope="module")
def bands() -> list[synth.BandSetup]:
    shared_path("phangs-metadata", "header_info_ngc628c_prime.txt")
    return synth.band_setups(read_header_info("ngc628c"))


def _render(catalogue: pd.DataFrame, bands, centre, size, **kwargs) -> synth.SyntheticField:  # noqa: ANN001
    # no extra features unless a test asks for them; catalogue magnitudes as totals, so that
    # a source's flux is its catalogue magnitude's (the default definition has its own test)
    kwargs = {"n_artefacts": 0, "magnitudes": "total", **kwargs}
    settings = synth.SynthSettings(size_px=size, centre=centre, n_stars=0, seed=5, **kwargs)
    return synth.render_field(
        catalogue, bands, field_name="test", distance_mpc=9.9, settings=settings
    )


# --- pure -------------------------------------------------------------------------------------


def test_band_setups_are_the_real_header_facts(bands: list[synth.BandSetup]) -> None:
    assert [(b.band, b.filter_name, b.instrument) for b in bands] == [
        ("NUV", "F275W", "WFC3/UVIS"), ("U", "F336W", "WFC3/UVIS"), ("B", "F435W", "ACS/WFC"),
        ("V", "F555W", "ACS/WFC"), ("I", "F814W", "ACS/WFC"),
    ]  # fmt: skip
    v = bands[3]
    assert (v.exptime_s, v.n_exposures, v.photflam) == (858.0, 2, 1.94305e-19)
    # the zeropoint a reader derives from the written PHOTFLAM/PHOTPLAM, not the table's
    # zpVEGA (25.7143), so the images give back the catalogue magnitudes exactly
    assert v.zp_vega == pytest.approx(25.7143 + 0.0107, abs=5e-4)
    info = read_header_info("ngc628c")
    with pytest.raises(ValueError, match="band\\(s\\) NUV"):
        synth.band_setups(info[info["filter"] != "F275W"])


def test_wcs_fit_recovers_a_known_wcs() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(1, 2000, 300), rng.uniform(1, 2000, 300)
    ra, dec = _known_wcs().pixel_to_world_values(x - 1, y - 1)
    fitted = synth.fit_catalogue_wcs(x, y, ra, dec)
    px, py = fitted.world_to_pixel_values(ra, dec)
    assert np.abs(px - (x - 1)).max() < 1e-3 and np.abs(py - (y - 1)).max() < 1e-3
    crop = synth.crop_wcs(fitted, 100.0, 250.0)
    cx, cy = crop.world_to_pixel_values(ra, dec)
    assert np.abs(cx - (x - 101)).max() < 1e-3 and np.abs(cy - (y - 251)).max() < 1e-3


def test_fwhm_from_reff_inverts_thilker() -> None:
    r, eta = np.array([0.5, 1.262, 3.0]), np.array([1.25, 3.0, 4.0])
    np.testing.assert_allclose(moffat_reff_px(synth.fwhm_from_reff(r, eta), eta), r, rtol=1e-12)
    assert synth.fwhm_from_reff(1.262384, 3.0) == pytest.approx(2.0, abs=1e-5)


def test_isolated_source_holds_its_flux_and_absent_bands_are_empty(bands) -> None:  # noqa: ANN001
    mags = {"NUV": np.nan, "U": 21.0, "B": 20.5, "V": 20.0, "I": 19.5}
    cat = _catalogue(np.array([1000.3]), np.array([1000.7]), np.array([1.0]), mags)
    field = _render(cat, bands, (1000.0, 1000.0), 96, noiseless=True)
    row = field.truth[0]
    assert (row["x_image"], row["y_image"]) == pytest.approx((999.3 - field.origin[0],
                                                              999.7 - field.origin[1]))  # fmt: skip
    for band in bands:
        image = field.images[band.band]
        key = band.band.lower()
        if band.band == "NUV":
            assert not image.any() and row["flux_nuv"] == 0 and np.isnan(row["mag_nuv"])
            continue
        expected = 10 ** (-0.4 * (mags[band.band] - band.zp_vega))
        aperture = CircularAperture((row["x_image"], row["y_image"]), r=30)
        measured = aperture_photometry(image.astype(float), aperture)["aperture_sum"][0]
        assert measured == pytest.approx(expected, rel=0.01)
        assert row[f"flux_{key}"] == pytest.approx(expected, rel=1e-12)
        assert row[f"mag_{key}"] == pytest.approx(mags[band.band], abs=1e-9)
    # the truth apertures are those of the noiseless render
    v = field.images["V"].astype(float)
    for r in (1, 3, 4):
        ap = CircularAperture((row["x_image"], row["y_image"]), r=r)
        assert row[f"flux_v_r{r}"] == pytest.approx(aperture_photometry(v, ap)["aperture_sum"][0],
                                                    rel=1e-5)  # fmt: skip
    assert row["ci_v"] == pytest.approx(-2.5 * np.log10(row["flux_v_r1"] / row["flux_v_r3"]))
    assert row["kind"] == "compact" and row["r_eff_pc"] > 0
    assert row["r_eff_px"] == pytest.approx(moffat_reff_px(row["fwhm_px"], row["eta"]))


def test_empty_sky_noise_matches_the_model(bands) -> None:  # noqa: ANN001
    cat = _catalogue(np.array([1000.0]), np.array([1000.0]), np.array([1.0]), 22.0)
    field = _render(cat, bands, (1000.0, 1000.0), 256)
    for band in bands:
        empty = field.images[band.band][:96, :96].astype(float)  # > 30 px from the source
        expected = synth.empty_pixel_sigma(band)
        assert empty.std() == pytest.approx(expected, rel=0.05), band.filter_name
        assert abs(empty.mean()) < 4 * expected / np.sqrt(empty.size)  # sky subtracted
    # F275W: sqrt(0.0015 e-/s * 2481 s + 3 reads * (3 e-)^2) / 2481 s = 0.00223 e-/s
    assert synth.empty_pixel_sigma(bands[0]) == pytest.approx(0.002234, rel=1e-3)


def test_class4_pairs_have_two_peaks(bands) -> None:  # noqa: ANN001
    g = np.arange(8)
    x, y = (np.meshgrid(g, g)[k].ravel() * 30.0 + 900 for k in (0, 1))
    cat = _catalogue(x, y, np.full(x.size, 4.0), 19.0)
    field = _render(cat, bands, (1005.0, 1005.0), 256, noiseless=True)
    truth, parts = field.truth, field.components
    kinds = dict(zip(truth["id"], truth["kind"], strict=True))
    counts = {k: int((truth["kind"] == k).sum()) for k in ("point", "pair", "artefact")}
    assert counts["pair"] >= 10 and counts["point"] >= 25  # 1/3 and 2/3 of 64
    assert counts["artefact"] == 0  # class 4: stars, never artefacts
    v = field.images["V"].astype(float)
    t = np.linspace(-0.4, 1.4, 73)
    for source_id in np.unique(parts["id"]):
        mine = parts[parts["id"] == source_id]
        kind = kinds[source_id]
        if kind == "pair":
            (x1, x2), (y1, y2) = mine["x_image"].value, mine["y_image"].value
            assert 3.0 <= np.hypot(x2 - x1, y2 - y1) <= 4.0
            profile = ndimage.map_coordinates(v, [y1 + t * (y2 - y1), x1 + t * (x2 - x1)], order=3)
            maxima = (profile[1:-1] > profile[:-2]) & (profile[1:-1] >= profile[2:])
            assert maxima.sum() == 2  # two peaks along the line through the pair
        else:
            assert kind == "point" and len(mine) == 1
            cx, cy = int(round(mine["x_image"][0])), int(round(mine["y_image"][0]))
            cut = v[cy - 8 : cy + 9, cx - 8 : cx + 9]
            local = (cut == ndimage.maximum_filter(cut, size=3)) & (cut > 0.2 * cut.max())
            assert local.sum() == 1


def test_class4_sources_shine_in_all_their_bands_and_artefacts_are_extra_rows(bands) -> None:  # noqa: ANN001
    """LEGUS class-4 sources were detected and measured in 4-5 bands: rendered as stars, with
    their catalogue flux in every band they have. Hot pixels and cosmic rays are separate
    V-only rows, not catalogue sources."""
    g = np.arange(6)
    x, y = (np.meshgrid(g, g)[k].ravel() * 30.0 + 925 for k in (0, 1))
    mags = {"NUV": np.nan, "U": 21.5, "B": 21.0, "V": 20.5, "I": 20.0}  # no NUV: 4 bands
    cat = _catalogue(x, y, np.full(x.size, 4.0), mags)
    field = _render(cat, bands, (1000.0, 1000.0), 256, noiseless=True, n_artefacts=12)
    truth, parts = field.truth, field.components
    four = truth[~truth["is_artefact"]]
    assert len(four) == 36 and set(four["class"]) == {4} and set(four["kind"]) <= {"point", "pair"}
    for band in bands:
        key = band.band.lower()
        if band.band == "NUV":
            assert np.all(four["flux_nuv"] == 0) and np.all(np.isnan(four["mag_nuv"]))
            continue
        expected = 10 ** (-0.4 * (mags[band.band] - band.zp_vega))
        assert np.allclose(four[f"flux_{key}"], expected, rtol=1e-12)
        assert np.allclose(four[f"mag_{key}"], mags[band.band], atol=1e-9)
        image = field.images[band.band].astype(float)  # the light is in the image, too
        for row in four[:6]:
            aperture = CircularAperture((row["x_image"], row["y_image"]), r=12)
            measured = aperture_photometry(image, aperture)["aperture_sum"][0]
            assert measured == pytest.approx(expected, rel=0.05), (band.band, row["id"])
    assert parts[~parts["is_artefact"]]["psf_convolved"].all()
    # the artefacts: extra rows, ids after the catalogue's, V only, not PSF-convolved
    art = truth[truth["is_artefact"]]
    assert len(art) == 12 == field.truth.meta["n_artefacts"]
    assert set(art["kind"]) == {"artefact"} and art["class"].mask.all()
    assert not art["is_field_star"].any()
    assert art["id"].min() > cat["source_id"].max() and len(set(truth["id"])) == len(truth)
    assert np.all(art["flux_v"] > 0) and np.all(art["mag_v"] >= 22) and np.all(art["mag_v"] <= 26)
    for key in ("nuv", "u", "b", "i"):
        assert np.all(art[f"flux_{key}"] == 0)
    art_parts = parts[parts["is_artefact"]]
    assert set(art_parts["id"]) == set(art["id"]) and not art_parts["psf_convolved"].any()
    assert art_parts.to_pandas().groupby("id").size().between(1, 4).all()
    for row in truth[truth["kind"] == "artefact"]:
        assert row["flux_v"] > 0 and row["flux_b"] == 0
    # without artefacts (same seed) the catalogue sources are rendered the same; the V image
    # then lacks exactly the artefacts' pixels, the other bands are identical
    none = _render(cat, bands, (1000.0, 1000.0), 256, noiseless=True, n_artefacts=0)
    assert list(none.truth["kind"]) == list(four["kind"]) and len(none.truth) == len(four)
    for band in ("NUV", "U", "B", "I"):
        assert np.array_equal(none.images[band], field.images[band])
    extra = field.images["V"].astype(float) - none.images["V"].astype(float)
    ix = np.floor(art_parts["x_image"].value + 0.5).astype(int)
    iy = np.floor(art_parts["y_image"].value + 0.5).astype(int)
    inside = (ix >= 0) & (ix < 256) & (iy >= 0) & (iy < 256)
    hit = np.zeros(extra.shape, bool)
    hit[iy[inside], ix[inside]] = True
    assert hit.sum() >= 12 and np.all(extra[hit] > 0) and np.abs(extra[~hit]).max() < 1e-4
    default = synth.SynthSettings(size_px=1024, n_stars=0)
    assert default.n_artefacts is None and synth.ARTEFACTS_PER_4096_SQ * (1024 / 4096) ** 2 == 16


def test_every_class_gets_its_morphology_and_the_brightest_component_is_centred(bands) -> None:  # noqa: ANN001
    g = np.arange(10)
    x, y = (np.meshgrid(g, g)[k].ravel() * 24.0 + 890 for k in (0, 1))
    cls = np.tile([1.0, 2.0, 3.0, 4.0, np.nan], 20)
    field = _render(_catalogue(x, y, cls, 20.0), bands, (1000.0, 1000.0), 256, noiseless=True)
    truth, parts = field.truth.to_pandas(), field.components.to_pandas()
    kinds = {c: set(truth.loc[truth["class"] == c, "kind"]) for c in (1, 2, 3, 4)}
    assert kinds[1] == {"compact"} and kinds[2] == {"elongated"}
    assert kinds[3] == {"multi-peak"} and kinds[4] <= {"point", "pair"}
    assert len(truth) == 100 and truth["class"].isna().sum() == 20
    assert set(truth.loc[truth["class"].isna(), "kind"]) == {"compact"}  # CI 1.6 >= 1.4
    n_parts = parts.groupby("id").size()
    by_kind = truth.set_index("id")["kind"]
    assert (n_parts[by_kind[by_kind == "elongated"].index] == 2).all()
    assert n_parts[by_kind[by_kind == "multi-peak"].index].between(2, 4).all()
    assert np.allclose(parts.groupby("id")["flux_fraction"].sum(), 1.0)
    # the brightest component of every source sits at its catalogue position (LEGUS
    # positions are detection peaks); the other components lie away from it
    brightest = parts.loc[parts.groupby("id")["flux_fraction"].idxmax()].set_index("id")
    at = truth.set_index("id").loc[brightest.index]
    assert np.abs(brightest["x_image"] - at["x_image"]).max() < 1e-9
    assert np.abs(brightest["y_image"] - at["y_image"]).max() < 1e-9
    assert np.allclose(at["x_image"], at["x_catalogue"] - 1 - field.origin[0])
    centred = parts.merge(truth[["id", "x_image", "y_image", "kind"]], on="id",
                          suffixes=("", "_src"))  # fmt: skip
    off = np.hypot(centred["x_image"] - centred["x_image_src"],
                   centred["y_image"] - centred["y_image_src"])  # fmt: skip
    knots = centred[(centred["kind"] == "multi-peak") & (off > 1e-9)]
    assert len(knots) and off[knots.index].between(2.5, 5.0).all()
    mp = centred[centred["kind"] == "multi-peak"]
    assert ((off[mp.index] < 1e-9).groupby(mp["id"]).sum() == 1).all()  # one knot at (0, 0)
    pairs = centred[centred["kind"] == "pair"]
    if len(pairs):
        assert off[pairs.index].groupby(pairs["id"]).min().max() < 1e-9
        assert off[pairs.index].groupby(pairs["id"]).max().between(3.0, 4.0).all()
    elongated = parts[parts["id"].isin(by_kind[by_kind == "elongated"].index)]
    assert elongated["axis_ratio"].between(0.4, 0.7).sum() == (by_kind == "elongated").sum()


def test_density_centre_finds_the_crowd() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(1, 5000, 300), rng.normal(3500, 80, 300)])
    y = np.concatenate([rng.uniform(1, 5000, 300), rng.normal(1200, 80, 300)])
    cx, cy = synth.density_centre(x, y, 512)
    assert abs(cx - 3500) < 160 and abs(cy - 1200) < 160


def test_uvis_f814w_uses_the_empirical_grid_and_a_field_without_table_the_default() -> None:
    shared_path("phangs-metadata", "header_info_ngc1566_prime.txt")
    stub = FieldCatalogue(pd.DataFrame(), release="x v1", field="ngc1313e", galaxy="NGC 1313",
                          distance_mpc=4.4, pixel_scale_arcsec=0.03962, method=None,
                          filter_b=None, filter_v=None)  # fmt: skip
    bands, note = field_bands(stub)
    assert "no header table for ngc1313e" in note and "ngc1566" in note
    assert {b.instrument for b in bands} == {"WFC3/UVIS"}
    cat = _catalogue(np.array([1000.0]), np.array([1000.0]), np.array([1.0]), 20.0)
    field = _render(cat, bands, (1000.0, 1000.0), 64, noiseless=True)
    assert field.psfs["I"].position_dependent and not field.psfs["I"].is_approximation
    expected = 10 ** (-0.4 * (20.0 - bands[4].zp_vega))
    assert field.images["I"].sum() == pytest.approx(expected, rel=1e-5)


def test_bad_catalogue_is_refused(bands) -> None:  # noqa: ANN001
    cat = _catalogue(np.array([1000.0]), np.array([1000.0]), np.array([1.0]), 20.0)
    with pytest.raises(ValueError, match="lacks column\\(s\\) mag_u"):
        _render(cat.drop(columns="mag_u"), bands, (1000.0, 1000.0), 64)
    with pytest.raises(ValueError, match="distance_mpc"):
        synth.render_field(cat, bands, field_name="t", distance_mpc=float("nan"))


def test_sizes_follow_ryon_where_measured() -> None:
    ryon = synth.read_ryon_radii(shared_path("tables", "ryon2017_ngc628_ymc_radii.txt"))
    assert len(ryon) == 320
    median, scatter, pool = synth.size_distribution(ryon)
    assert 10**median == pytest.approx(3.5, abs=0.6) and 0.1 < scatter < 0.5
    rows = ryon.iloc[:5]
    rng = np.random.default_rng(0)
    sizes = synth.source_sizes(rows["ra"].to_numpy(), rows["dec"].to_numpy(), ryon, 1.9, rng)
    assert (sizes["size_origin"] == "ryon2017").all()
    assert set(sizes["eta"]) <= set(synth.ETA_GRID)
    # the rendered r_eff is Ryon's within half the 0.25-px FWHM quantum, in r_eff
    bound = 0.125 * moffat_reff_px(1.0, sizes["eta"].to_numpy())
    assert np.all(np.abs(sizes["r_eff_px"] - rows["r_eff_pc"].to_numpy() / 1.9) <= bound)


# --- through the database and the command line ----------------------------------------------


@pytest.fixture(scope="module")
def ngc628c_url(backend, request, tmp_path_factory, shared_data) -> str:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("synth")
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'synth.db'}"
    else:
        dbs = request.getfixturevalue("postgres_databases")
        url = dbs.create("clustercat_synth")
        request.addfinalizer(lambda: dbs.drop(url))
    migrate.upgrade(url)
    engine = make_engine(url)
    info = reader_info("legus")
    request_ = ReleaseRequest("legus", info.name, info.version, [shared_data / "legus" / NGC628C])
    ingest_release(engine, request_, info.reader())
    engine.dispose()
    return url


def _run(url: str, out: Path, *args: str):  # noqa: ANN202
    return CliRunner().invoke(
        synth_group,
        ["field", "--from-release", "legus", "--field", "ngc628c", "--out", str(out), *args],
        obj={"database": url},
    )


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_read_field_catalogue(ngc628c_url: str) -> None:
    engine = make_engine(ngc628c_url)
    try:
        cat = read_field_catalogue(engine, "legus", "ngc628c")
    finally:
        engine.dispose()
    assert len(cat.frame) == 3080 and cat.galaxy == "NGC 628" and cat.method == "LEGUS human mode"
    assert cat.frame["class"].value_counts().to_dict() == {4.0: 542, 2.0: 357, 1.0: 334, 3.0: 326}
    assert (cat.filter_b, cat.filter_v) == ("F435W", "F555W")
    ryon = synth.read_ryon_radii(shared_path("tables", "ryon2017_ngc628_ymc_radii.txt"))
    sizes = synth.source_sizes(cat.frame["ra"].to_numpy(), cat.frame["dec"].to_numpy(), ryon,
                               1.9, np.random.default_rng(0))  # fmt: skip
    # all 257 Ryon "-c" clusters plus 13 "-e" ones lying in the overlap with field c
    assert (sizes["size_origin"] == "ryon2017").sum() == 270


def test_cli_small_crop_files_headers_and_wcs(ngc628c_url: str, tmp_path: Path) -> None:
    result = _run(ngc628c_url, tmp_path, "--size", "512", "--seed", "7")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "hlsp_clustercat-synth_hst_acs-wfc_ngc628c_f435w_drc.fits",
        "hlsp_clustercat-synth_hst_acs-wfc_ngc628c_f555w_drc.fits",
        "hlsp_clustercat-synth_hst_acs-wfc_ngc628c_f814w_drc.fits",
        "hlsp_clustercat-synth_hst_wfc3-uvis_ngc628c_f275w_drc.fits",
        "hlsp_clustercat-synth_hst_wfc3-uvis_ngc628c_f336w_drc.fits",
        "truth_ngc628c.ecsv",
        "truth_ngc628c_components.ecsv",
    ]
    with fits.open(tmp_path / names[1]) as hdus:
        primary, sci = hdus[0].header, hdus["SCI"].header
        data = hdus["SCI"].data
        wcs = WCS(sci)
    assert data.shape == (512, 512)
    assert (primary["INSTRUME"], primary["FILTER1"], primary["EXPTIME"]) == ("ACS", "F555W", 858.0)
    assert sci["PHOTFLAM"] == 1.94305e-19 and sci["PHOTPLAM"] == 5360.17
    assert sci["SYNSEED"] == 7 and sci["PSFAPPRX"] is True and "Moffat" in sci["PSFNOTE"]
    assert sci["BUNIT"] == "ELECTRONS/S"
    truth = Table.read(tmp_path / "truth_ngc628c.ecsv")
    assert str(truth["flux_v"].unit) == "electron / s" and str(truth["r_eff_pc"].unit) == "pc"
    cat = truth[~truth["is_field_star"] & ~truth["is_artefact"]]
    origin = truth.meta["crop_origin_px"]
    np.testing.assert_allclose(cat["x_image"], cat["x_catalogue"] - 1 - origin[0])
    assert len(cat) > 150 and int(truth["is_field_star"].sum()) == round(300 * (512 / 4096) ** 2)
    art = truth[truth["is_artefact"]]  # extra V-only features, ids after the catalogue's
    assert len(art) == round(synth.ARTEFACTS_PER_4096_SQ * (512 / 4096) ** 2) == 4
    assert set(art["kind"]) == {"artefact"} and art["id"].min() > cat["id"].max()
    assert np.all(art["flux_v"] > 0) and np.all(art["flux_i"] == 0)
    four = cat[cat["class"] == 4]  # real class-4 sources: stars, lit in all their bands
    assert len(four) and set(four["kind"]) <= {"point", "pair"}
    for key in ("nuv", "u", "b", "v", "i"):
        has = np.isfinite(four[f"mag_{key}"])
        assert np.all(four[f"flux_{key}"][has] > 0) and np.all(four[f"flux_{key}"][~has] == 0)
    assert np.all(np.isfinite(four["mag_v"]))
    no_nuv = np.isnan(cat["mag_nuv"])  # LEGUS 66.666/99.999: not rendered in that band
    assert 0 < no_nuv.sum() < len(cat) and np.all(cat["flux_nuv"][no_nuv] == 0)
    # the file's WCS maps the catalogue RA/Dec onto the rendered centres: no offset (median
    # < 0.05 px); the scatter is the catalogue's rounding of RA/Dec to 1e-5 deg (0.87 x 0.91
    # px, uniform: sigma 0.25, 0.26 px)
    px, py = wcs.world_to_pixel_values(cat["ra"], cat["dec"])
    dx, dy = px - cat["x_image"], py - cat["y_image"]
    assert abs(np.median(dx)) < 0.05 and abs(np.median(dy)) < 0.05
    assert 0.2 < np.std(dx) < 0.3 and 0.2 < np.std(dy) < 0.3
    qx, qy = wcs.world_to_pixel_values(cat["ra_wcs"], cat["dec_wcs"])
    assert np.abs(qx - cat["x_image"]).max() < 1e-4 and np.abs(qy - cat["y_image"]).max() < 1e-4


def test_cli_same_seed_same_bytes(ngc628c_url: str, tmp_path: Path) -> None:
    args = ("--size", "128", "--center", "3000,4000")
    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        result = _run(ngc628c_url, tmp_path / name, *args, "--seed", seed)
        assert result.exit_code == 0, result.output
        runs[name] = _digests(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert all(runs["a"][k] != runs["c"][k] for k in runs["a"])


def test_cli_unknown_field_is_a_usage_error(ngc628c_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        synth_group,
        ["field", "--from-release", "legus", "--field", "ngc9999", "--out", str(tmp_path)],
        obj={"database": ngc628c_url},
    )
    assert result.exit_code == 2 and "no field 'ngc9999'" in result.output
    assert not any(tmp_path.iterdir())


def test_aperture_corrected_magnitudes_are_4px_plus_the_field_correction(bands) -> None:  # noqa: ANN001
    """``magnitudes="aperture-corrected"`` (LEGUS avgapcor, PHANGS): every catalogue source's
    4 px flux (7-8 px annulus subtracted) in the noiseless images, corrected by the field's
    average correction, gives back its catalogue magnitude in every band; that correction is
    the mean of the sample's own 4 -> 20 px corrections, and the sample holds no multi-peak
    source or pair (their knots and companions are neighbours)."""
    from clustercat.processing.aperture_corrections import average_aperture_correction
    from clustercat.processing.photometry import measure_apertures

    g = np.arange(6)
    x, y = (np.meshgrid(g, g)[k].ravel() * 40.0 + 900 for k in (0, 1))
    cls = np.tile([1.0, 2.0, 3.0, 4.0, np.nan, 1.0], 6)
    mags = {"NUV": 21.0, "U": 20.5, "B": 20.2, "V": 20.0, "I": 19.5}
    field = _render(_catalogue(x, y, cls, mags), bands, (1000.0, 1000.0), 256, noiseless=True,
                    magnitudes="aperture-corrected")  # fmt: skip
    truth = field.truth.to_pandas()
    apcor = field.truth.meta["catalogue_aperture_correction_mag"]
    assert field.truth.meta["magnitudes"] == "aperture-corrected"
    sample = truth[truth["in_apcor_sample"]]
    assert len(sample) >= 10 and set(sample["kind"]) <= {"compact", "elongated"}
    # the pipeline's weighted, clipped mean with the errors of the V image's noise: the 4 px
    # flux is the catalogue's less C, the 20 px one 10^(0.4 c) times more
    v_band = next(b for b in field.bands if b.band == "V")
    own = sample["apcor_v"].to_numpy()
    f4 = np.full(own.size, 10 ** (-0.4 * (20.0 + apcor["F555W"] - v_band.zp_vega)))
    f20 = f4 * 10 ** (0.4 * own)
    e4 = synth.expected_flux_error(f4, v_band)
    e20 = synth.expected_flux_error(f20, v_band, 20.0, (20.0, 21.0))
    mean, _, n = average_aperture_correction(f4, f20, e4, e20)
    assert apcor["F555W"] == pytest.approx(mean, abs=2e-5) and n >= 10
    for b in field.bands:
        at = truth[np.isfinite(truth[f"mag_{b.band.lower()}"])]
        table = measure_apertures(field.images[b.band], at["x_image"], at["y_image"],
                                  exptime_s=1.0, radii_px=(4.0,), annulus_px=(7.0, 8.0),
                                  covariance=False)  # fmt: skip
        m4 = b.zp_vega - 2.5 * np.log10(table.flux[:, 0])
        assert np.allclose(m4 - apcor[b.filter_name], mags[b.band], atol=0.005), b.band
    # the rendered totals: fainter than the catalogue where the source is more compact than
    # the sample's average, brighter where it is broader (pairs, knots)
    v = truth.dropna(subset=["apcor_v"])
    # (totals: the flux of the whole stamp; the corrections: to 20 px minus 20-21 px)
    diff = v["mag_v"] - (20.0 + apcor["F555W"] - v["apcor_v"])
    assert np.median(np.abs(diff)) < 0.02 and np.abs(diff).max() < 0.15
    assert (v.loc[v["kind"] == "point", "mag_v"] > 20.1).all()
    assert (v.loc[v["kind"] == "multi-peak", "mag_v"] < 20.0).all()
