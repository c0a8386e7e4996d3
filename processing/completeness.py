"""C-4 completeness networks (Tang et al. 2026 §3.3, App. D; extract §2.11, §3.12-3.15).

Pure torch: arrays in, trained networks and probabilities out; no database
(:mod:`clustercat.processing.completeness_db` reads trials and writes ``ml_model`` rows).

* architecture (§3.3.1, Eq. 9): Linear(d -> 512) - GELU - Linear(512 -> 512) - GELU -
  Linear(512 -> 1) -> logit z, p-hat = sigmoid(z); d = 3 for the **physical** network
  (log M, log T, A_V) and 5 for the **photometric** one (m_F275W, m_F336W, m_F435W,
  m_F555W, m_F814W, here the injected NUV, U, B, V, I magnitudes);
* inputs standardised with the training split's mean and standard deviation;
* training (§3.3.2): stratified 80/20 split, ``BCEWithLogitsLoss``, AdamW, linear warm-up
  over the first 10 % of the steps then cosine decay to zero, batch 4096, 100 epochs,
  fixed seeds; the hyper-parameter grid is learning rate {5e-3, 1e-2, 5e-2, 1e-1} x weight
  decay {1e-3, 5e-3, 1e-2, 3e-2, 5e-2, 1e-1} (App. D.1), the best being the lowest final
  validation loss (the paper's: physical (1e-2, 5e-2), photometric (5e-2, 1e-3));
* marginalisation (§4.2, Eq. 14-16): where a physical parameter is unknown, p-hat is
  averaged over its prior on a grid (A_V ~ U(0, 3) by default, Eq. 15; log M and log T
  uniform over the training range unless a prior is given).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

KINDS: tuple[str, ...] = ("physical", "photometric")
#: Input columns of each network (trial column names), in order.
FEATURES: dict[str, tuple[str, ...]] = {
    "physical": ("log_mass", "log_age", "av_mag"),
    "photometric": ("mag_in_nuv", "mag_in_u", "mag_in_b", "mag_in_v", "mag_in_i"),
}
#: Hyper-parameter grid of Tang et al. 2026 App. D.1.
LEARNING_RATES: tuple[float, ...] = (5e-3, 1e-2, 5e-2, 1e-1)
WEIGHT_DECAYS: tuple[float, ...] = (1e-3, 5e-3, 1e-2, 3e-2, 5e-2, 1e-1)
#: The paper's best (learning rate, weight decay) per network.
PAPER_BEST: dict[str, tuple[float, float]] = {"physical": (1e-2, 5e-2),
                                              "photometric": (5e-2, 1e-3)}  # fmt: skip
#: C-4's |p-hat - p_true| percentiles (50th, 90th, 95th), Fig. 7.
PAPER_ABS_ERROR_PERCENTILES: dict[str, tuple[float, float, float]] = {
    "physical": (0.007, 0.200, 0.356), "photometric": (0.006, 0.177, 0.321)}  # fmt: skip
HIDDEN = 512
ARCHITECTURE = "C-4 MLP d-512-512-1 GELU"


class CompletenessMLP(nn.Module):
    """Linear(d, 512) - GELU - Linear(512, 512) - GELU - Linear(512, 1): the logit (Eq. 9)."""

    def __init__(self, n_inputs: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


@dataclass(frozen=True)
class TrainSettings:
    """One training (Tang §3.3.2): defaults are the paper's except the learning rate and
    weight decay, which default to the paper's best of the network's kind."""

    kind: str = "physical"
    learning_rate: float | None = None
    weight_decay: float | None = None
    epochs: int = 100
    batch_size: int = 4096
    warmup_fraction: float = 0.1
    validation_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        lr, wd = PAPER_BEST[self.kind]
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", lr)
        if self.weight_decay is None:
            object.__setattr__(self, "weight_decay", wd)
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if not 0 < self.validation_fraction < 1:
            raise ValueError("validation_fraction must be in (0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedNetwork:
    """A trained network with its scaler, history and settings."""

    kind: str
    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    model: CompletenessMLP
    settings: TrainSettings
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def predict(self, x: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """p-hat for rows of ``x`` (n, d) in :attr:`features` order."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected (n, {len(self.features)}) inputs {self.features}, "
                             f"got shape {x.shape}")  # fmt: skip
        z = (x - self.mean) / self.std
        out = np.empty(len(z))
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(z), chunk):
                t = torch.as_tensor(z[i : i + chunk], dtype=torch.float32)
                out[i : i + chunk] = torch.sigmoid(self.model(t)).numpy()
        return out

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the network (weights, scaler, features, settings)."""
        return {
            "kind": self.kind, "features": list(self.features), "mean": self.mean.tolist(),
            "std": self.std.tolist(), "settings": self.settings.to_dict(),
            "state_dict": self.model.state_dict(),
        }  # fmt: skip


def stratified_split(
    y: np.ndarray, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices keeping the label balance (a stratified shuffle split)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y).astype(bool)
    train, val = [], []
    for label in (False, True):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_val = int(round(validation_fraction * len(idx)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def warmup_cosine(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over the first fraction of steps, then cosine
    decay to zero (Tang §3.3.2)."""
    warm = max(1, int(round(warmup_fraction * total_steps)))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _bce(model: CompletenessMLP, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float(nn.functional.binary_cross_entropy_with_logits(model(x), y))


def train_network(
    x: np.ndarray,
    y: np.ndarray,
    settings: TrainSettings,
    *,
    progress: Callable[[int], None] | None = None,
) -> TrainedNetwork:
    """Train one network on inputs ``x`` (n, d) and labels ``y`` (recovered 0/1)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.float32)
    features = FEATURES[settings.kind]
    if x.ndim != 2 or x.shape[1] != len(features):
        raise ValueError(f"{settings.kind} network needs (n, {len(features)}) inputs")
    if len(x) < 10 or not np.all(np.isfinite(x)):
        raise ValueError("need at least 10 rows of finite inputs to train")
    if y.min() == y.max():
        raise ValueError("labels are all equal: nothing to learn")
    train, val = stratified_split(y, settings.validation_fraction, settings.seed)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = ((x - mean) / std).astype(np.float32)
    torch.manual_seed(settings.seed)
    model = CompletenessMLP(len(features))
    xt, yt = torch.from_numpy(z[train]), torch.from_numpy(y[train])
    xv, yv = torch.from_numpy(z[val]), torch.from_numpy(y[val])
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                            weight_decay=settings.weight_decay)  # fmt: skip
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total, settings.warmup_fraction))
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(settings.seed)
    history: dict[str, list[float]] = {"train": [], "validation": []}
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        running, seen = 0.0, 0
        for i in range(0, len(order), settings.batch_size):
            idx = order[i : i + settings.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
        history["train"].append(running / seen)
        history["validation"].append(_bce(model, xv, yv))
        if progress is not None:
            progress(epoch)
    net = TrainedNetwork(kind=settings.kind, features=features, mean=mean, std=std,
                         model=model, settings=settings, history=history)  # fmt: skip
    p_val = net.predict(x[val])
    net.metrics = {
        "n_train": int(len(train)), "n_validation": int(len(val)),
        "train_loss": history["train"][-1], "validation_loss": history["validation"][-1],
        "validation_accuracy": float(np.mean((p_val > 0.5) == (y[val] > 0.5))),
    }  # fmt: skip
    return net


def grid_search(
    x: np.ndarray,
    y: np.ndarray,
    base: TrainSettings,
    learning_rates: Sequence[float] = LEARNING_RATES,
    weight_decays: Sequence[float] = WEIGHT_DECAYS,
) -> tuple[TrainedNetwork, list[dict[str, float]]]:
    """Train every (learning rate, weight decay) of the grid; the best is the lowest final
    validation loss (Tang App. D.1). Returns it and one row per grid point."""
    from dataclasses import replace

    best: TrainedNetwork | None = None
    rows = []
    for lr in learning_rates:
        for wd in weight_decays:
            net = train_network(x, y, replace(base, learning_rate=lr, weight_decay=wd))
            rows.append({"learning_rate": lr, "weight_decay": wd,
                         "validation_loss": net.metrics["validation_loss"]})  # fmt: skip
            if best is None or net.metrics["validation_loss"] < best.metrics["validation_loss"]:
                best = net
    assert best is not None
    for row in rows:
        row["is_best"] = (row["learning_rate"] == best.settings.learning_rate
                          and row["weight_decay"] == best.settings.weight_decay)  # fmt: skip
    return best, rows


def save_network(net: TrainedNetwork, path: Path | str) -> str:
    """Write the network (weights, scaler, settings) with ``torch.save``; returns its sha256."""
    buffer = io.BytesIO()
    torch.save(net.state(), buffer)
    data = buffer.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


class WeightsMismatchError(ValueError):
    """A weights file whose sha256 is not the registered one (or that is missing)."""


def load_network(path: Path | str, sha256: str | None = None) -> TrainedNetwork:
    """Read a network written by :func:`save_network`, refusing a file whose sha256 differs."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMismatchError(f"weights file {path} does not exist")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise WeightsMismatchError(
            f"{path}: sha256 {digest[:16]}... does not match the registered {sha256[:16]}...; "
            "the file changed since the model was trained"
        )
    state = torch.load(io.BytesIO(data), weights_only=True)
    settings = TrainSettings(**state["settings"])
    model = CompletenessMLP(len(state["features"]))
    model.load_state_dict(state["state_dict"])
    return TrainedNetwork(kind=state["kind"], features=tuple(state["features"]),
                          mean=np.asarray(state["mean"]), std=np.asarray(state["std"]),
                          model=model, settings=settings)  # fmt: skip


def predict_marginal(
    net: TrainedNetwork,
    x: np.ndarray,
    priors: dict[int, tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """p-hat with unknown (NaN) inputs marginalised over their priors (Tang Eq. 14-16).

    ``priors``: input column -> (grid values, weights) of its prior, e.g. A_V on a grid over
    0-3 mag with equal weights for U(0, 3) (Eq. 15). Each row's NaN columns are replaced by
    every combination of their grids and p-hat averaged with the product weights; rows
    without NaN are predicted directly. A NaN column without a prior raises ValueError.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), np.nan)
    nan = ~np.isfinite(x)
    patterns = {tuple(r) for r in nan}
    for pattern in patterns:
        rows = np.flatnonzero((nan == np.asarray(pattern)).all(axis=1))
        cols = [i for i, v in enumerate(pattern) if v]
        if not cols:
            out[rows] = net.predict(x[rows])
            continue
        missing = [net.features[i] for i in cols if i not in priors]
        if missing:
            raise ValueError(f"no prior to marginalise unknown {missing}")
        grids = np.meshgrid(*[priors[i][0] for i in cols], indexing="ij")
        weights = np.ones_like(grids[0], dtype=float)
        for g, i in enumerate(cols):
            shape = [1] * len(cols)
            shape[g] = -1
            weights = weights * np.asarray(priors[i][1], dtype=float).reshape(shape)
        weights = (weights / weights.sum()).ravel()
        combos = np.column_stack([g.ravel() for g in grids])
        block = np.repeat(x[rows], len(combos), axis=0)
        block[:, cols] = np.tile(combos, (len(rows), 1))
        p = net.predict(block).reshape(len(rows), len(combos))
        out[rows] = p @ weights
    return out


def abs_error_percentiles(p_hat: np.ndarray, p_true: np.ndarray) -> tuple[float, float, float]:
    """50th, 90th and 95th percentiles of |p-hat - p_true| (Tang Eq. 12, Fig. 7)."""
    d = np.abs(np.asarray(p_hat, float) - np.asarray(p_true, float))
    return tuple(float(v) for v in np.percentile(d, [50, 90, 95]))  # type: ignore[return-value]
