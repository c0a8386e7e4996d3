"""Source detection (Thilker et al. 2022 §2.1) and white-light images (Tang et al. 2026 App. A).

Pure tests, no database. Synthetic fields are rendered here (analytic Gaussian and Moffat
profiles averaged over 5 x 5 sub-pixels), so the true positions are known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from clustercat.processing.detection import (
    DETECTION_COLUMNS,
    LEGUS_WHITE_LIGHT_SCALES,
    detect_sources,
    legus_white_light,
    parabolic_peaks,
    white_light,
    windowed_centroid_errors,
    windowed_centroids,
)
from clustercat.processing.selection import suppress_fainter_neighbours
from scipy.spatial import cKDTree

NOISE = 1.0
SKY = 10.0


def _profile_stamp(dx, dy, half, kind, size, eta, sub=5):
    grid = np.arange(-half, half + 1)
    s = (np.arange(sub) + 0.5) / sub - 0.5
    fx = (grid[:, None] + s[None, :]).ravel() - dx
    fy = (grid[:, None] + s[None, :]).ravel() - dy
    r2 = fy[:, None] ** 2 + fx[None, :] ** 2
    if kind == "gauss":
        v = np.exp(-r2 / (2 * size**2))
    else:
        a = size / 2 / math.sqrt(2 ** (1 / eta) - 1)
        v = (1 + r2 / a**2) ** -eta
    n = 2 * half + 1
    return v.reshape(n, sub, n, sub).mean(axis=(1, 3))


def synthetic_field(n_sources=150, shape=(512, 512), seed=0, min_sep=8.0):
    """Gaussian (sigma 0.7-1.5 px) and Moffat (FWHM 1.5-4 px, eta 1.5-4) sources with peak
    pixels 10-200 sigma of the noise, on a flat sky with Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(12, shape[1] - 13, 6 * n_sources)
    y = rng.uniform(12, shape[0] - 13, 6 * n_sources)
    keep = ~suppress_fainter_neighbours(x, y, rng.random(x.size), min_sep)
    x, y = x[keep][:n_sources], y[keep][:n_sources]
    assert x.size == n_sources
    image = np.full(shape, SKY)
    peaks = rng.uniform(10, 200, n_sources) * NOISE
    half = 10
    for k in range(n_sources):
        ix, iy = round(x[k]), round(y[k])
        if k % 2:
            stamp = _profile_stamp(x[k] - ix, y[k] - iy, half, "gauss", rng.uniform(0.7, 1.5), 0)
        else:
            fwhm, eta = rng.uniform(1.5, 4.0), rng.uniform(1.5, 4.0)
            stamp = _profile_stamp(x[k] - ix, y[k] - iy, half, "moffat", fwhm, eta)
        image[iy - half : iy + half + 1, ix - half : ix + half + 1] += (
            peaks[k] * stamp / stamp.max()
        )
    image += rng.normal(0, NOISE, shape)
    return image, x, y


@pytest.fixture(scope="module")
def field():
    return synthetic_field()


def test_sources_above_10_sigma_are_found_once_and_well_centred(field):
    image, x, y = field
    found = detect_sources(image)
    assert list(found.columns) == list(DETECTION_COLUMNS)
    tree = cKDTree(found[["x", "y"]].to_numpy())
    dist, _ = tree.query(np.c_[x, y])
    matched = dist < 1.0
    assert matched.mean() >= 0.98, matched.mean()
    assert np.median(dist[matched]) < 0.1, np.median(dist[matched])
    # no two detections within 1 px of each other
    assert not tree.query_pairs(1.0)
    # and, around each true source, one detection within 2 px (no split sources)
    near = tree.query_ball_point(np.c_[x, y], 2.0)
    assert np.mean([len(n) == 1 for n in near]) >= 0.98
    # the threshold and the settings used are recorded
    assert found.attrs["threshold_sigma"] == 3.0 and found.attrs["fwhm_px"] == 2.5
    assert found.attrs["sky_rms"] == pytest.approx(NOISE, rel=0.05)
    assert found.attrs["sky_level"] == pytest.approx(SKY, abs=0.05)
    assert found["flux"].is_monotonic_decreasing


def test_refined_centroids_beat_daofind(field):
    """Windowed (default) and 2-D Gaussian centroids are better than DAOFIND's own."""
    image, x, y = field
    median = {}
    for method in ("daofind", "window", "2dg"):
        found = detect_sources(image, threshold_sigma=8.0, centroid=method)
        d, _ = cKDTree(found[["x", "y"]].to_numpy()).query(np.c_[x, y])
        assert (d < 1).mean() >= 0.98
        median[method] = np.median(d[d < 1])
    assert median["window"] < 0.6 * median["daofind"], median
    assert median["2dg"] < 0.6 * median["daofind"], median
    assert median["window"] < 0.02 and median["2dg"] < 0.02, median


def _two_sources(dx_b, flux_b, sigma_b=0.9, seed=5, noise=NOISE, sigma_a=0.9):
    """A Gaussian A (sigma ``sigma_a`` px, peak 150) at (30.2, 29.7) and a Gaussian B
    ``dx_b`` px to its right with ``flux_b`` times A's flux, on the flat noisy sky."""
    rng = np.random.default_rng(seed)
    image = np.full((61, 61), SKY) + rng.normal(0, noise, (61, 61))
    xa, ya = 30.2, 29.7
    xb, yb = xa + dx_b, ya + 0.4
    peak_b = 150.0 * flux_b * sigma_a**2 / sigma_b**2
    for x, y, peak, sig in ((xa, ya, 150.0, sigma_a), (xb, yb, peak_b, sigma_b)):
        ix, iy = round(x), round(y)
        stamp = _profile_stamp(x - ix, y - iy, 12, "gauss", sig, 0)
        image[iy - 12 : iy + 13, ix - 12 : ix + 13] += peak * stamp / stamp.max()
    return image, (xa, ya), (xb, yb)


def test_close_pair_is_split_and_each_centroid_stays_on_its_own_peak():
    """Two stars 2.3 px apart (the NGC 628-C case): the wide window alone pulls both to
    their midpoint, where the 1 px de-duplication merges them; the peak-anchored narrow
    window keeps each near its own star."""
    image, a, b = _two_sources(2.3, 0.8, sigma_a=0.6, sigma_b=0.6)
    found = detect_sources(image, threshold_sigma=5.0)
    assert len(found) == 2 and found.attrs["n_centroid_narrow"] >= 1
    d = cKDTree(found[["x", "y"]].to_numpy()).query(np.array([a, b]))[0]
    assert d[0] < 0.15 and d[1] < 0.4, d
    wide_only = detect_sources(image, threshold_sigma=5.0, asymmetry_px=np.inf)
    assert len(wide_only) == 1  # what the wide window alone does


def test_faint_knot_pulls_the_wide_window_but_not_the_result():
    """A 40 % knot 3 px away: the reported centroid stays on the dominant peak."""
    image, a, _ = _two_sources(3.0, 0.4, sigma_b=1.2)
    found = detect_sources(image, threshold_sigma=5.0)
    d = cKDTree(found[["x", "y"]].to_numpy()).query(np.array([a]))[0]
    assert d[0] < 0.1, d


def test_windowed_centroid_errors_match_the_scatter_and_diverge_for_broad_sources():
    rng = np.random.default_rng(11)
    stamp = _profile_stamp(0.2, -0.1, 10, "gauss", 0.9, 0)
    clean = 20.0 * stamp / stamp.max()
    xs, errs = [], []
    for _ in range(300):
        img = clean + rng.normal(0, 1.0, clean.shape)
        x, y, ok = windowed_centroids(img, np.array([10.0]), np.array([10.0]), sigma_px=0.6,
                                      half_width_px=2)  # fmt: skip
        xs.append((x[0], y[0]))
        errs.append(windowed_centroid_errors(img, x, y, 1.0, sigma_px=0.6, half_width_px=2)[0])
    xs = np.array(xs)
    scatter = math.sqrt(np.var(xs[:, 0]) + np.var(xs[:, 1]))
    assert np.median(errs) == pytest.approx(scatter, rel=0.25)
    flat = np.ones((21, 21))  # light flat across the window: no peak to find
    assert windowed_centroid_errors(flat, [10.0], [10.0], 1.0, sigma_px=0.6,
                                    half_width_px=2)[0] > 10 * np.median(errs)  # fmt: skip


def test_parabolic_peaks():
    yy, xx = np.mgrid[0:9, 0:9]
    img = 10 - (xx - 4.3) ** 2 - 2 * (yy - 3.8) ** 2
    x, y, ok = parabolic_peaks(img, [4], [4])
    assert ok[0] and x[0] == pytest.approx(4.3) and y[0] == pytest.approx(3.8)
    x, y, ok = parabolic_peaks(img, [0], [4])  # on the edge: unchanged, flagged
    assert not ok[0] and x[0] == 0


def test_mask_and_local_background():
    image, x, y = synthetic_field(n_sources=40, shape=(256, 256), seed=3)
    yy, xx = np.mgrid[0:256, 0:256]
    sloped = image + 0.05 * xx  # a background rising by 13 sigma across the field
    found = detect_sources(sloped, background_box_px=32)
    dist, _ = cKDTree(found[["x", "y"]].to_numpy()).query(np.c_[x, y])
    assert (dist < 1.0).mean() >= 0.95
    mask = xx < 128
    masked = detect_sources(image, mask=mask)
    assert (masked["x"] >= 127).all()
    dist, _ = cKDTree(masked[["x", "y"]].to_numpy()).query(np.c_[x, y])
    assert (dist[x > 131] < 1.0).all() and (dist[x < 124] > 1.0).all()


def test_blank_image_gives_an_empty_frame_and_bad_input_errors():
    rng = np.random.default_rng(9)
    empty = detect_sources(rng.normal(0, 1, (64, 64)), threshold_sigma=50.0)
    assert len(empty) == 0 and list(empty.columns) == list(DETECTION_COLUMNS)
    with pytest.raises(ValueError, match="2-D"):
        detect_sources(np.zeros(10))
    with pytest.raises(ValueError, match="mask shape"):
        detect_sources(np.zeros((8, 8)), mask=np.zeros((4, 4), dtype=bool))


def test_white_light_equation_19():
    """I = sqrt(sum (f'/s)^2) / sqrt(sum (1/s)^2), f' = max(f - median, 0) (Tang App. A)."""
    a = np.array([[1.0, 5.0], [3.0, 3.0]])  # median 3 -> [[0, 2], [0, 0]]
    b = np.array([[10.0, 0.0], [4.0, 4.0]])  # median 4 -> [[6, 0], [0, 0]]
    got = white_light([a, b], [2.0, 3.0])
    norm = math.sqrt(1 / 4 + 1 / 9)
    assert got == pytest.approx(np.array([[2.0, 1.0], [0.0, 0.0]]) / norm)
    with pytest.raises(ValueError, match="one scale per image"):
        white_light([a, b], [1.0])


def test_legus_white_light_is_the_mean_of_the_two_scale_sets():
    rng = np.random.default_rng(2)
    images = {f: rng.uniform(0, 10, (8, 8)) for f in ("F275W", "F336W", "F438W", "F555W", "F814W")}
    got = legus_white_light(images)
    ordered = ["F275W", "F336W", "F438W", "F555W", "F814W"]
    sets = [
        white_light([images[f] for f in ordered], [s[f.replace("F438W", "F435W")] for f in ordered])
        for s in LEGUS_WHITE_LIGHT_SCALES.values()
    ]
    assert got == pytest.approx((sets[0] + sets[1]) / 2)
    assert LEGUS_WHITE_LIGHT_SCALES["21Myr"]["F555W"] == 65.7
    assert LEGUS_WHITE_LIGHT_SCALES["RGB"]["F814W"] == 13.7
    with pytest.raises(KeyError, match="F814W"):
        legus_white_light({k: v for k, v in images.items() if k != "F814W"})
