"""The Viana et al. age CNN on synthetic cutouts whose clusters take SSP colours (issue 12).

Each 24 px stamp holds one cluster at its centre: a circular Gaussian (FWHM 2-4 px) whose
five-band fluxes are the Yggdrasil Z = 0.02 SSP magnitudes at a known log age (6.5-9.5,
uniform) and a random mass, plus a few field stars with random colours (environment
without age information) and noise. The three acceptance points: the scatter is >= 30 %
below the constant-mean null predictor's; masking the centre raises it; randomised
labels give a scatter close to the null's. Small network (width 1/8), few epochs, 1 thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from clustercat.processing import cnn_train, ssp
from clustercat.processing.cutouts import normalise
from clustercat.processing.occlusion import (
    filter_collapse,
    occlusion_attribution,
    occlusion_curve,
)
from conftest import skip_or_fail

PX = 24
SETTINGS = cnn_train.TrainSettings(epochs=30, patience=8, batch_size=32, learning_rate=2e-3,
                                   width=0.125, normalisation="minmax", flips=False,
                                   threads=1, seed=0, weight_decay=0.0)  # fmt: skip


def ssp_stamps(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(stamps (n, 5, PX, PX) in flux units, log ages) with SSP colours at known ages."""
    try:
        grid = ssp.yggdrasil_grid()
    except (FileNotFoundError, OSError) as exc:
        skip_or_fail(f"Yggdrasil table unavailable: {exc}")
    rng = np.random.default_rng(seed)
    log_age = rng.uniform(6.5, 9.5, n)
    mags = np.stack([np.interp(log_age, grid.log_age, grid.mag[:, b]) for b in range(5)], 1)
    log_mass = rng.uniform(4.0, 5.0, n)
    v_ref = np.median(mags[:, 3])  # fluxes relative to the median V of 1 Msun, times the mass
    flux = 10 ** (-0.4 * (mags - v_ref)) * 10 ** (log_mass[:, None] - 4.5)
    yy, xx = np.mgrid[:PX, :PX]
    c = (PX - 1) / 2
    stamps = np.zeros((n, 5, PX, PX), dtype=np.float32)
    for k in range(n):
        sigma = rng.uniform(2.0, 4.0) / 2.355
        shape = np.exp(-((xx - c) ** 2 + (yy - c) ** 2) / (2 * sigma**2))
        stamps[k] = flux[k, :, None, None] * shape / shape.sum() * 20.0
        for _ in range(rng.integers(0, 4)):  # field stars: random colours, off centre
            sx, sy = rng.uniform(0, PX, 2)
            if np.hypot(sx - c, sy - c) < 7:
                continue
            star = np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * 0.8**2))
            stamps[k] += (rng.uniform(0.02, 0.3, 5)[:, None, None] * star).astype(np.float32)
    stamps += rng.normal(0.0, 0.01, stamps.shape).astype(np.float32)
    return stamps, log_age


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": ssp_stamps(700, 1), "test": ssp_stamps(300, 2)}


@pytest.fixture(scope="module")
def trained(data: dict) -> cnn_train.TrainedNetwork:
    torch.set_num_threads(1)
    raw, age = data["train"]
    return cnn_train.train_age_regressor(normalise(raw, "minmax"), age, SETTINGS)


def test_age_cnn_beats_the_null_predictor(trained: cnn_train.TrainedNetwork, data: dict) -> None:
    raw, age = data["test"]
    pred = cnn_train.predict_log_age(trained, normalise(raw, "minmax"))
    m = cnn_train.age_metrics(pred, age, trained.train_mean)
    print(f"scatter {m['scatter_dex']:.3f} dex, null {m['null_scatter_dex']:.3f} dex, "
          f"predictive power {m['predictive_power_pct']:.1f} %")  # fmt: skip
    assert m["null_scatter_dex"] == pytest.approx(1.49 * np.median(np.abs(age - age.mean())),
                                                  rel=0.05)  # fmt: skip
    assert m["scatter_dex"] <= 0.7 * m["null_scatter_dex"]
    assert m["predictive_power_pct"] == pytest.approx(
        100 * (1 - (m["scatter_dex"] / m["null_scatter_dex"]) ** 2)
    )


def test_masking_the_centre_raises_the_scatter(
    trained: cnn_train.TrainedNetwork, data: dict
) -> None:
    raw, age = data["test"]
    curve = occlusion_curve(trained, raw, age, [0, 4, 12])
    print(curve.to_string(index=False))
    s = curve.set_index("diameter_px")["scatter_dex"]
    assert curve["n_masked_px"].tolist()[0] == 0 and curve["n_masked_px"].is_monotonic_increasing
    assert s[12.0] > 1.3 * s[0.0]
    assert curve["predictive_power_pct"].iloc[0] > curve["predictive_power_pct"].iloc[-1]
    collapse = filter_collapse(trained, raw, age).set_index("input")["scatter_dex"]
    assert collapse["white light (band mean)"] > collapse["five bands"]  # colour carries age
    profile = occlusion_attribution(trained, raw[:16])
    inner = profile.loc[profile["radius_px"] <= 3, "mean_abs_attribution"].mean()
    outer = profile.loc[profile["radius_px"] >= 9, "mean_abs_attribution"].mean()
    assert inner > outer  # the prediction rests on the centre


def test_randomised_labels_give_the_null_scatter(data: dict) -> None:
    torch.set_num_threads(1)
    raw, age = data["train"]
    shuffled = np.random.default_rng(7).permutation(age)
    model = cnn_train.train_age_regressor(normalise(raw, "minmax"), shuffled, SETTINGS)
    test_raw, test_age = data["test"]
    pred = cnn_train.predict_log_age(model, normalise(test_raw, "minmax"))
    m = cnn_train.age_metrics(pred, test_age, model.train_mean)
    print(f"randomised: scatter {m['scatter_dex']:.3f}, null {m['null_scatter_dex']:.3f}")
    assert m["scatter_dex"] >= 0.85 * m["null_scatter_dex"]
