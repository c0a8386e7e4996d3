"""Injection and recovery, pure (processing/injection.py): the noise-only detection limit,
flag consistency, seeding, and bad generator settings.

The frames are in-memory five-band noise images (Gaussian sky of known sigma) with the
real PSFs and the pipeline's own stages; no database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from clustercat.processing.images import HSTImage
from clustercat.processing.injection import (
    GeneratorSettings,
    InjectionInputError,
    daofind_limiting_flux,
    field_context,
    frame_set_sizes,
    inject_and_recover,
    plan_frame_set,
    run_frame_set,
)
from clustercat.processing.pipeline import BANDS, PipelineSettings
from clustercat.processing.profiles import add_profiles
from conftest import shared_path

SKY_SIGMA = 0.01  # e-/s per pixel
ZP = 25.0  # Vega zeropoint of every band (mag for 1 e-/s)
FILTERS = {"NUV": "F275W", "U": "F336W", "B": "F438W", "V": "F555W", "I": "F814W"}
SETTINGS = PipelineSettings(n_fiducial=40, apcor_method="fiducial-cluster-psf-sky")


def noise_images(n_px: int = 320, seed: int = 5) -> dict[str, HSTImage]:
    """Five noise-only frames (zero sky level, Gaussian rms ``SKY_SIGMA``) on one grid."""
    rng = np.random.default_rng(seed)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [24.17, 15.78]
    wcs.wcs.crpix = [n_px / 2, n_px / 2]
    scale = 0.03962 / 3600
    wcs.wcs.cd = [[-scale, 0], [0, scale]]
    out = {}
    for band, filt in FILTERS.items():
        out[band] = HSTImage(
            path=Path(f"noise_{filt}.fits"), sha256="0" * 64, hdu=0, wcs=wcs,
            header=fits.Header(), filter_name=filt, instrument="WFC3/UVIS", detector="UVIS",
            photflam=1e-19, photplam=5000.0, exptime_s=1000.0, bunit="ELECTRONS/S",
            pixel_scale_arcsec=0.03962, zeropoint_ab=ZP, zeropoint_vega=ZP,
            shape=(n_px, n_px), data=rng.normal(0.0, SKY_SIGMA, (n_px, n_px)),
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def context():
    shared_path("psf")
    return field_context(noise_images(), SETTINGS, distance_mpc=10.0)


def _trials(context, settings: GeneratorSettings, frame_set: int, n: int, seed: int,
            mag_v: np.ndarray) -> pd.DataFrame:  # fmt: skip
    trials = plan_frame_set(settings, seed, frame_set, n, context.shape, context.px_per_pc,
                            context.edge_px(settings.match_radius_px))  # fmt: skip
    for b in BANDS:
        trials[f"mag_in_{b.lower()}"] = mag_v
    return trials


def test_noise_only_50pc_magnitude_matches_the_analytic_detection_limit(context) -> None:
    """3-sigma DAOStarFinder threshold on a frame of known sky sigma: the magnitude where
    half the injected clusters are detected is the analytic F_50 within 0.2 mag."""
    gen = GeneratorSettings(r_eff_pc_range=(2.0, 2.0), batch_size=150, shot_noise=False)
    probe = plan_frame_set(gen, 1, 0, 1, context.shape, context.px_per_pc, 20.0)
    fwhm, eta = float(probe["fwhm_px"].iloc[0]), float(probe["profile_index"].iloc[0])
    limits = []
    for ox, oy in ((0.0, 0.0), (0.25, 0.25), (0.5, 0.5), (0.25, 0.0), (0.5, 0.0)):
        stamp = np.zeros((41, 41))
        add_profiles(stamp, np.array([20.0 + ox]), np.array([20.0 + oy]), np.array([1.0]),
                     fwhm, eta, psf=context.psfs["V"])  # fmt: skip
        limits.append(
            daofind_limiting_flux(
                stamp,
                SKY_SIGMA,
                fwhm_px=SETTINGS.fwhm_px,
                threshold_sigma=SETTINGS.detection_threshold_sigma,
            )
        )
    m50_analytic = ZP - 2.5 * np.log10(np.median(limits))
    rng = np.random.default_rng(11)
    parts = []
    for k in range(4):
        mag = rng.uniform(m50_analytic - 1.5, m50_analytic + 1.5, gen.batch_size)
        trials = _trials(context, gen, k, gen.batch_size, 7, mag)
        parts.append(inject_and_recover(context, trials, seed=7, shot_noise=False))
    res = pd.concat(parts, ignore_index=True)
    edges = np.arange(m50_analytic - 1.5, m50_analytic + 1.51, 0.25)
    centre = 0.5 * (edges[1:] + edges[:-1])
    frac = res.groupby(np.digitize(res["mag_in_v"], edges))["detected"].mean()
    frac = frac.reindex(range(1, len(edges))).to_numpy()
    # first crossing of 0.5 going faint, interpolated
    i = int(np.flatnonzero(frac < 0.5)[0])
    m50 = np.interp(0.5, [frac[i], frac[i - 1]], [centre[i], centre[i - 1]])
    print(f"\nanalytic m50 {m50_analytic:.3f}, measured {m50:.3f} (fractions {np.round(frac, 2)})")
    assert abs(m50 - m50_analytic) <= 0.2
    assert frac[0] > 0.9 and frac[-1] < 0.1


def test_flags_are_monotone_counts_exact_and_seeded(context) -> None:
    gen = GeneratorSettings(batch_size=120, log_mass_range=(3.0, 6.0), log_age_range=(6.0, 8.0))

    def mags(trials: pd.DataFrame) -> np.ndarray:  # bright enough to pass some cuts
        v = 30.0 - 2.0 * trials["log_mass"].to_numpy() + trials["av_mag"].to_numpy()
        return np.column_stack([v + d for d in (1.0, 0.5, 0.3, 0.0, -0.4)])

    a = run_frame_set(context, gen, 3, 2, 120, mags)
    b = run_frame_set(context, gen, 3, 2, 120, mags)
    c = run_frame_set(context, gen, 4, 2, 120, mags)
    assert len(a) == 120 and a["trial"].tolist() == list(range(240, 360))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["x"], c["x"])
    for flag in ("passes_photometric_cuts", "passes_ci_cut", "in_selection_region",
                 "passes_mag_cut", "recovered"):  # fmt: skip
        assert not (a[flag] & ~a["detected"]).any(), flag
    assert not (a["recovered"] & ~a["passes_photometric_cuts"]).any()
    assert a["detected"].sum() > 30 and a["recovered"].sum() > 5
    # measured magnitudes only where detected; one profile per frame set, so the bright
    # ones are off the injected by one aperture-correction offset (the EFF eta = 1.5 wings
    # beyond 20 px that the fiducial correction misses), with little scatter
    assert a.loc[~a["detected"], "mag_out_v"].isna().all()
    bright = a["detected"] & (a["mag_in_v"] < 22.0)
    diff = (a.loc[bright, "mag_out_v"] - a.loc[bright, "mag_in_v"]).to_numpy()
    print(
        f"\nV out - in: median {np.median(diff):.3f}, std {np.std(diff):.3f} "
        f"(r_eff {a['r_eff_pc'].iloc[0]} pc)"
    )
    assert bright.sum() > 20 and np.std(diff) < 0.1 and -0.05 < np.median(diff) < 1.2
    assert (a.loc[a["detected"], "match_distance_px"] <= gen.match_radius_px).all()
    # clusters at least 12 px apart
    d = np.hypot(a["x"].to_numpy()[:, None] - a["x"].to_numpy(),
                 a["y"].to_numpy()[:, None] - a["y"].to_numpy())  # fmt: skip
    assert d[np.triu_indices(len(a), 1)].min() >= 12.0


def test_thilker_grid_batches_share_age_av_and_morphology(context) -> None:
    gen = GeneratorSettings.thilker()
    t = plan_frame_set(gen, 9, 5, 200, context.shape, context.px_per_pc, 20.0)
    assert len(t) == 200
    for c in ("log_age", "av_mag", "fwhm_px", "profile_index"):
        assert t[c].nunique() == 1
    assert t["log_age"].iloc[0] in (6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0)
    masses = 10 ** t["log_mass"]
    assert masses.between(1e3 - 1e-6, 1e5 + 1e-6).all()
    np.testing.assert_allclose(masses % 100.0 * (masses % 100.0 < 50), 0.0, atol=1e-6)
    frac = np.round((t["x"] % 1.0).to_numpy(), 6)
    assert len(set(frac)) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"log_mass_range": (5.0, 3.0)}, "inverted"),
        ({"av_range": (1.0, 0.5)}, "inverted"),
        ({"grid": "thilker", "log_age_range": (9.2, 9.4)}, "no thilker grid value"),
        ({"r_eff_pc_range": (10.5, 12.0)}, "no c4 grid value"),
        ({"grid": "nope"}, "grid must be"),
        ({"log_age_range": (float("nan"), 7.0)}, "not finite"),
    ],
)
def test_bad_generator_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InjectionInputError, match=message):
        GeneratorSettings(**kwargs)


def test_frame_set_sizes() -> None:
    assert frame_set_sizes(1100, 500) == [500, 500, 100]
    assert frame_set_sizes(400, 200) == [200, 200]
    with pytest.raises(InjectionInputError):
        frame_set_sizes(0, 200)
