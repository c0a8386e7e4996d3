"""C-4 completeness networks against measured truth (processing/completeness.py).

Training trials and the truth come from real injections (the pipeline's stages) into a
five-band noise-only frame, with BC03 magnitudes at 10 Mpc: C-4 sampling for training;
for the truth, held-out (log M, log T, A_V) points each injected ``REPEATS`` times at new
positions with new shot noise, p_true = recovered / REPEATS (Tang et al. 2026 Eq. 10).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
from clustercat.processing import ssp
from clustercat.processing.completeness import (
    PAPER_ABS_ERROR_PERCENTILES,
    TrainSettings,
    WeightsMismatchError,
    abs_error_percentiles,
    grid_search,
    load_network,
    predict_marginal,
    save_network,
    train_network,
    warmup_cosine,
)
from clustercat.processing.injection import (
    GeneratorSettings,
    cluster_magnitudes,
    field_context,
    inject_and_recover,
    plan_frame_set,
)
from clustercat.processing.pipeline import BANDS
from conftest import shared_path
from test_injection import SETTINGS, noise_images

DISTANCE = 10.0
GEN = GeneratorSettings(batch_size=250, log_mass_range=(2.0, 5.5), log_age_range=(6.0, 10.0),
                        av_range=(0.0, 3.0), r_eff_pc_range=(2.0, 2.0))  # fmt: skip
REPEATS = 40
N_POINTS = 40


@pytest.fixture(scope="module")
def injections():
    """(training trials, held-out points with p_true): 4,100 real injections."""
    shared_path("psf")
    torch.set_num_threads(1)
    context = field_context(noise_images(), SETTINGS, distance_mpc=DISTANCE)
    grid = ssp.bc03_grid(("F275W", "F336W", "F438W", "F555W", "F814W"))
    edge = context.edge_px(GEN.match_radius_px)

    def run(trials: pd.DataFrame, seed: int) -> pd.DataFrame:
        mags = cluster_magnitudes(grid, trials["log_mass"].to_numpy(),
                                  trials["log_age"].to_numpy(), trials["av_mag"].to_numpy(),
                                  DISTANCE)  # fmt: skip
        for i, b in enumerate(BANDS):
            trials[f"mag_in_{b.lower()}"] = mags[:, i]
        return inject_and_recover(context, trials, seed=seed, shot_noise=True)

    started = time.perf_counter()
    train = pd.concat([run(plan_frame_set(GEN, 1, k, GEN.batch_size, context.shape,
                                          context.px_per_pc, edge), 1) for k in range(10)],
                      ignore_index=True)  # fmt: skip
    rng = np.random.default_rng(77)
    points = pd.DataFrame({"log_mass": rng.uniform(2.0, 5.5, N_POINTS),
                           "log_age": rng.uniform(6.0, 10.0, N_POINTS),
                           "av_mag": rng.uniform(0.0, 3.0, N_POINTS)})  # fmt: skip
    per_frame = 200 // N_POINTS  # repeats per frame set
    parts = []
    for k in range(REPEATS // per_frame):
        trials = plan_frame_set(GEN, 2, 100 + k, N_POINTS * per_frame, context.shape,
                                context.px_per_pc, edge)  # fmt: skip
        point = np.tile(np.arange(N_POINTS), per_frame)
        for c in ("log_mass", "log_age", "av_mag"):
            trials[c] = points[c].to_numpy()[point]
        out = run(trials, 2)
        out["point"] = point
        parts.append(out)
    truth = pd.concat(parts, ignore_index=True)
    points["p_true"] = truth.groupby("point")["recovered"].mean().to_numpy()
    points["n"] = truth.groupby("point").size().to_numpy()
    print(f"\n{len(train) + len(truth)} injections in {time.perf_counter() - started:.1f} s; "
          f"training completeness {train['recovered'].mean():.3f}")  # fmt: skip
    return train, points


def test_physical_network_matches_measured_completeness(injections) -> None:
    train, points = injections
    assert (points["n"] == REPEATS).all()
    assert 0.1 < train["recovered"].mean() < 0.9
    settings = TrainSettings(kind="physical", epochs=40, batch_size=512, seed=3)
    started = time.perf_counter()
    net = train_network(train[["log_mass", "log_age", "av_mag"]].to_numpy(),
                        train["recovered"].to_numpy(), settings)  # fmt: skip
    seconds = time.perf_counter() - started
    p_hat = net.predict(points[["log_mass", "log_age", "av_mag"]].to_numpy())
    p50, p90, p95 = abs_error_percentiles(p_hat, points["p_true"].to_numpy())
    paper = PAPER_ABS_ERROR_PERCENTILES["physical"]
    print(f"\nphysical |p-hat - p_true| 50/90/95th: {p50:.3f} / {p90:.3f} / {p95:.3f} "
          f"(C-4: {paper[0]} / {paper[1]} / {paper[2]}); trained in {seconds:.1f} s, "
          f"validation loss {net.metrics['validation_loss']:.3f}")  # fmt: skip
    assert p50 <= 0.02 and p90 <= 0.25
    # the loss went down and the validation loss is close to the training loss
    assert net.history["validation"][-1] < 0.6 * net.history["validation"][0]


def test_photometric_network_and_save_load_marginalise(injections, tmp_path) -> None:
    train, _ = injections
    cols = ["mag_in_nuv", "mag_in_u", "mag_in_b", "mag_in_v", "mag_in_i"]
    net = train_network(train[cols].to_numpy(), train["recovered"].to_numpy(),
                        TrainSettings(kind="photometric", epochs=15, batch_size=512))  # fmt: skip
    assert net.metrics["validation_accuracy"] > 0.9
    path = tmp_path / "phot.pt"
    sha = save_network(net, path)
    again = load_network(path, sha)
    x = train[cols].to_numpy()[:50]
    np.testing.assert_allclose(again.predict(x), net.predict(x), atol=1e-6)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(WeightsMismatchError, match="does not match"):
        load_network(path, sha)
    # marginalising over an unknown input equals the explicit average over its grid
    phys = train_network(train[["log_mass", "log_age", "av_mag"]].to_numpy(),
                         train["recovered"].to_numpy(),
                         TrainSettings(kind="physical", epochs=3, batch_size=1024))  # fmt: skip
    av_grid = np.linspace(0.0, 3.0, 13)
    x = np.array([[4.0, 7.0, np.nan], [3.0, 8.0, 1.0]])
    p = predict_marginal(phys, x, {2: (av_grid, np.ones(13))})
    explicit = phys.predict(np.column_stack([np.full(13, 4.0), np.full(13, 7.0), av_grid]))
    assert p[0] == pytest.approx(explicit.mean(), abs=1e-6)
    assert p[1] == pytest.approx(phys.predict(x[1:])[0], abs=1e-6)
    with pytest.raises(ValueError, match="no prior"):
        predict_marginal(phys, x, {})


def test_grid_search_picks_the_lowest_validation_loss(injections) -> None:
    train, _ = injections
    x = train[["log_mass", "log_age", "av_mag"]].to_numpy()[:1500]
    y = train["recovered"].to_numpy()[:1500]
    best, rows = grid_search(x, y, TrainSettings(epochs=2, batch_size=512),
                             learning_rates=(1e-3, 1e-2), weight_decays=(1e-3, 5e-2))  # fmt: skip
    assert len(rows) == 4 and sum(r["is_best"] for r in rows) == 1
    assert best.metrics["validation_loss"] == min(r["validation_loss"] for r in rows)


def test_warmup_then_cosine() -> None:
    f = warmup_cosine(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5)
    assert f(99) < 0.01
