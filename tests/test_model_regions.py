"""Model-cluster regions from hit maps (processing/model_regions.py; Thilker et al. 2022
§4.2.2): thresholds, opening, nesting, membership, and use by the selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
from clustercat.processing.model_regions import (
    crossing_time_yr,
    detectable,
    exists,
    model_region,
    moffat_enclosed_fraction,
    nested_model_regions,
)
from clustercat.processing.selection import select_candidates


def cloud(n: int = 20000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian cloud of measured MCIs: centre (-0.1, -0.5), sigmas 0.05 and 0.2."""
    rng = np.random.default_rng(seed)
    return rng.normal(-0.1, 0.05, n), rng.normal(-0.5, 0.2, n)


def test_bins_need_nine_clusters_and_isolated_bins_are_opened_away() -> None:
    x, y = cloud()
    # an isolated clump of 30 clusters in one 0.01 bin far from the cloud
    x = np.append(x, np.full(30, 0.3051))
    y = np.append(y, np.full(30, 0.4051))
    region = model_region(x, y, 0.01)
    assert region.counts.sum() == len(x)
    assert not region(np.array([0.3051]), np.array([0.4051]))[0]  # opened away
    # every bin kept had >= 9 clusters
    assert (region.counts[region.mask] >= 9).all()
    # the core of the cloud is in, far outside is out
    inside = region(np.array([-0.1, -0.1]), np.array([-0.5, 2.0]))
    assert inside.tolist() == [True, False]


def test_three_layers_are_nested_and_grow() -> None:
    x, y = cloud()
    regions = nested_model_regions(x, y)
    areas = [layer.area for layer in regions.layers]
    assert areas[0] < areas[1] < areas[2]
    rng = np.random.default_rng(3)
    px, py = rng.uniform(-0.5, 0.3, 40000), rng.uniform(-1.8, 0.8, 40000)
    fine, mid, coarse = (layer(px, py) for layer in regions.layers)
    # nested up to the bin edges: < 1 % of the fine region's probes outside the coarser ones
    assert (fine & ~mid).sum() <= 0.01 * fine.sum()
    assert (mid & ~coarse).sum() <= 0.01 * mid.sum()
    layer = regions.layer_of(px, py)
    assert set(np.unique(layer[np.isfinite(layer)])) == {0.01, 0.02, 0.04}
    assert (np.isfinite(layer) == regions(px, py)).all()
    # the coarse region holds the cloud's 2-sigma ellipse
    t = np.linspace(0, 2 * np.pi, 50)
    assert coarse.any() and regions(-0.1 + 0.1 * np.cos(t), -0.5 + 0.4 * np.sin(t)).all()


def test_selection_uses_the_model_region() -> None:
    x, y = cloud()
    regions = nested_model_regions(x, y)
    table = pd.DataFrame({
        "x": [10.0, 50.0], "y": [10.0, 50.0], "count_rate": [5.0, 5.0], "v_snr": [50.0, 50.0],
        "mci_in": [-0.1, 0.35], "mci_in_err": [0.05, 0.05], "mci_out": [-0.5, 0.9],
        "mci_out_err": [0.1, 0.1], "mag_v": [21.0, 21.0],
        "mag_err_V": [0.05, 0.05], "mag_err_B": [0.05, 0.05], "mag_err_I": [0.05, 0.05],
    })  # fmt: skip
    flags = select_candidates(table, 10.0, model_region=regions, region="model")
    assert flags["in_model_region"].tolist() == [True, False]
    assert flags["candidate"].tolist() == [True, False]


def test_existence_and_detection_criteria() -> None:
    # t_cr of 1e4 Msun, r_eff 3 pc: 10 sqrt(27 / (4.30091e-3 * 1e4)) pc/(km/s) = 7.9 pc/(km/s)
    assert crossing_time_yr(4.0, 3.0) == np.float64(
        10 * np.sqrt(27 / (4.30091e-3 * 1e4)) * 9.7779e5
    )
    ok = exists([4.0, 4.0, 4.0, 3.0], [6.5, 8.0, 8.0, 7.5], [3.0, 3.0, 12.0, 10.0])
    # young: no Pi cut; 100 Myr / 7.7 Myr > 3; r_eff > 10 pc; Pi of 1e3 Msun 10 pc < 3
    assert ok.tolist() == [True, True, False, False]
    assert moffat_enclosed_fraction(1e6, 2.0, 3.0) == np.float64(1.0) or np.isclose(
        moffat_enclosed_fraction(1e6, 2.0, 3.0), 1.0
    )
    half = moffat_enclosed_fraction(1.0, 2.0, 3.0)  # half the FWHM of a narrow profile
    assert 0.3 < half < 0.8
    # SB limit: flux F with fraction f inside 2.5 px is detectable when F f / (pi 6.25) > 0.04
    f = float(moffat_enclosed_fraction(2.5, 2.0, 3.0))
    flux_lim = 0.04 * np.pi * 6.25 / f
    mag_lim = 25.0 - 2.5 * np.log10(flux_lim)
    assert detectable([mag_lim - 0.01, mag_lim + 0.01], 25.0, 2.0, 3.0).tolist() == [True, False]
