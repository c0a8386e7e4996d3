"""Training, ensembles and metrics of the cutout CNNs, in plain torch (no database code).

* Classifiers (Whitmore et al. 2021 §3 and §10.2; Thilker et al. 2022 §5): cross-entropy
  over classes 1-4 with inverse-frequency class weights, augmentation by rotations of
  0/90/180/270 degrees and a 50 % chance of a flip, Adam, early stopping on the validation
  loss (best weights restored). An ensemble is N members with seeds ``seed``,
  ``seed + 1``, ...; it predicts the mode of the members' classes and the fraction of
  members voting for it as its quality (W21 §10.1 "quality factor"), ties broken by the
  members' mean probability.
* Age regression (Viana et al. §III): MSE on log age scaled to [0, 1] with the training
  set's min and max (their code), rotations only (§II.3), early stopping. Metrics: the
  scatter 1.49 x median |Δ log age|, the constant-mean null predictor (mean training log
  age), and the predictive power 100 (σ_null² − σ²) / σ_null².
* Everything runs on :func:`~clustercat.processing.networks.choose_device`; on the CPU a
  given seed gives the same weights every time (deterministic algorithms, one generator).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from .agreement import agreement_fraction
from .agreement import confusion_matrix as class_confusion
from .networks import build_network, choose_device

__all__ = [
    "CLASSES",
    "TrainSettings",
    "TrainedNetwork",
    "TrainingDataError",
    "age_metrics",
    "age_scatter",
    "augment",
    "classification_metrics",
    "ensemble_vote",
    "network_bytes",
    "network_from_bytes",
    "predict_log_age",
    "predict_proba",
    "predictive_power",
    "split_indices",
    "train_age_regressor",
    "train_classifier",
    "train_ensemble",
]

#: The four morphological classes (W21 §3.2); network output k is class k + 1.
CLASSES = (1, 2, 3, 4)
#: Viana et al. code: scatter = 1.49 x median |Δ| (a robust sigma).
SCATTER_FACTOR = 1.49

Progress = Callable[[str, int, int], None]


class TrainingDataError(ValueError):
    """Training data that cannot train the asked network (too few classes, shapes, NaN)."""


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters (recorded in ``ml_model.hyperparameters``).

    Paper values: W21 batch 32; Viana batch 32, up to 200 epochs, patience 30, Adam. The
    defaults are smaller so a CPU can train; the CLI exposes all of them.
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    val_fraction: float = 0.2
    augment: bool = True
    flips: bool = True
    class_weights: bool = True
    seed: int = 0
    width: float = 1.0
    small_input: bool = False
    normalisation: str = "asinh"
    test_time_augment: bool = True
    device: str | None = None
    threads: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(eq=False)
class TrainedNetwork:
    """A trained network: how to rebuild it and its weights, plus its training history."""

    architecture: str
    task: str  # classification | age_regression
    in_channels: int
    size_px: int
    settings: TrainSettings
    state_dict: dict[str, torch.Tensor]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    target_range: tuple[float, float] | None = None  # age: training log-age min, max
    train_mean: float | None = None  # age: the null predictor

    def network(self, device: torch.device | None = None) -> nn.Module:
        """The network in eval mode on ``device``, built once per device and then reused."""
        dev = device or torch.device("cpu")
        built = self.__dict__.setdefault("_built", {})
        if str(dev) not in built:
            net = build_network(
                self.architecture, in_channels=self.in_channels, size_px=self.size_px,
                width=self.settings.width, small_input=self.settings.small_input,
            )  # fmt: skip
            net.load_state_dict(self.state_dict)
            built[str(dev)] = net.to(dev).eval()
        return built[str(dev)]

    def config(self) -> dict:
        return {
            "architecture": self.architecture, "task": self.task,
            "in_channels": self.in_channels, "size_px": self.size_px,
            "settings": self.settings.as_dict(), "best_epoch": self.best_epoch,
            "target_range": None if self.target_range is None else list(self.target_range),
            "train_mean": self.train_mean,
        }  # fmt: skip


def network_bytes(trained: TrainedNetwork) -> bytes:
    """The weights file: ``torch.save`` of the config and the state dict (weights-only)."""
    buffer = io.BytesIO()
    torch.save({"config": trained.config(), "state_dict": trained.state_dict}, buffer)
    return buffer.getvalue()


def network_from_bytes(data: bytes) -> TrainedNetwork:
    """Inverse of :func:`network_bytes` (``torch.load(weights_only=True)``)."""
    blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    cfg = blob["config"]
    return TrainedNetwork(
        architecture=cfg["architecture"], task=cfg["task"], in_channels=int(cfg["in_channels"]),
        size_px=int(cfg["size_px"]), settings=TrainSettings(**cfg["settings"]),
        state_dict=blob["state_dict"], best_epoch=int(cfg.get("best_epoch", 0)),
        target_range=None if cfg.get("target_range") is None else tuple(cfg["target_range"]),
        train_mean=cfg.get("train_mean"),
    )  # fmt: skip


# --- data --------------------------------------------------------------------------------------


def _check_x(x: NDArray) -> NDArray[np.float32]:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[-1] != arr.shape[-2]:
        raise TrainingDataError(f"cutouts must be (n, bands, s, s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise TrainingDataError("cutouts contain NaN or infinite pixels")
    return arr


def split_indices(
    labels: ArrayLike, val_fraction: float, seed: int, *, stratify: bool = True
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Random (stratified by label) training / validation split; at least one of each
    label stays in training."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == v) for v in np.unique(y)] if stratify else [np.arange(y.size)]
    train, val = [], []
    for g in groups:
        g = rng.permutation(g)
        n_val = min(int(round(val_fraction * g.size)), max(g.size - 1, 0))
        val.append(g[:n_val])
        train.append(g[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def augment(x: torch.Tensor, generator: torch.Generator, *, flips: bool = True) -> torch.Tensor:
    """Random rotation by a multiple of 90 degrees and (``flips``) a 50 % chance of a flip,
    per stamp (W21 §10.2)."""
    k = torch.randint(0, 4, (x.shape[0],), generator=generator)
    out = torch.empty_like(x)
    for r in range(4):
        sel = k == r
        if sel.any():
            out[sel] = torch.rot90(x[sel], r, dims=(2, 3))
    if flips:
        flip = torch.rand(x.shape[0], generator=generator) < 0.5
        if flip.any():
            out[flip] = torch.flip(out[flip], dims=(3,))
    return out


@contextlib.contextmanager
def _torch_settings(settings: TrainSettings) -> Iterator[torch.device]:
    device = choose_device(settings.device)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield device
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _batches(n: int, batch: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(torch.split(order, batch))


def _fit(
    net: nn.Module,
    x: NDArray[np.float32],
    target: NDArray,
    train_idx: NDArray[np.int64],
    val_idx: NDArray[np.int64],
    loss_fn: nn.Module,
    settings: TrainSettings,
    device: torch.device,
    progress: Progress | None,
    label: str,
) -> tuple[dict[str, torch.Tensor], list[dict], int]:
    gen = torch.Generator().manual_seed(settings.seed)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(target)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=settings.learning_rate,
                           weight_decay=settings.weight_decay)  # fmt: skip
    best_loss, best_state, best_epoch, history, stale = math.inf, None, 0, [], 0
    for epoch in range(1, settings.epochs + 1):
        net.train()
        total, seen = 0.0, 0
        for b in _batches(train_idx.size, settings.batch_size, gen):
            if b.numel() < 2:  # batch norm needs two samples
                continue
            idx = torch.from_numpy(train_idx)[b]
            xb = xt[idx]
            if settings.augment:
                xb = augment(xb, gen, flips=settings.flips)
            xb, yb = xb.to(device), yt[idx].to(device)
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * b.numel()
            seen += b.numel()
        train_loss = total / max(seen, 1)
        val_loss = _evaluate_loss(net, xt, yt, val_idx, loss_fn, settings.batch_size, device)
        if not np.isfinite(val_loss):  # no validation set: follow the training loss
            val_loss = train_loss
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best_loss - 1e-7:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
        else:
            stale += 1
        if progress is not None:
            progress(label, epoch, settings.epochs)
        if stale >= settings.patience:
            break
    assert best_state is not None
    return best_state, history, best_epoch


@torch.no_grad()
def _evaluate_loss(
    net: nn.Module,
    xt: torch.Tensor,
    yt: torch.Tensor,
    idx: NDArray[np.int64],
    loss_fn: nn.Module,
    batch: int,
    device: torch.device,
) -> float:
    if idx.size == 0:
        return float("nan")
    net.eval()
    total = 0.0
    for chunk in np.array_split(idx, max(1, math.ceil(idx.size / max(batch, 1)))):
        c = torch.from_numpy(chunk)
        total += float(loss_fn(net(xt[c].to(device)), yt[c].to(device))) * chunk.size
    return total / idx.size


# --- classifiers -------------------------------------------------------------------------------


def train_classifier(
    x: NDArray,
    classes: ArrayLike,
    architecture: str,
    settings: TrainSettings = TrainSettings(),
    *,
    progress: Progress | None = None,
    label: str = "training",
) -> TrainedNetwork:
    """Train one classifier on normalised stamps ``x`` (n, bands, s, s) and classes 1-4."""
    arr = _check_x(x)
    y = np.asarray(classes, dtype=float)
    if y.shape != (arr.shape[0],):
        raise TrainingDataError(f"{y.size} classes for {arr.shape[0]} cutouts")
    if not np.all(np.isin(y, CLASSES)):
        raise TrainingDataError("classes must be 1, 2, 3 or 4")
    present = np.unique(y).astype(int)
    if present.size < 2:
        raise TrainingDataError(
            f"the training set has {present.size} class(es) ({present.tolist()}); "
            "a classifier needs at least two"
        )
    target = (y - 1).astype(np.int64)
    counts = np.bincount(target, minlength=len(CLASSES)).astype(float)
    weights = np.where(counts > 0, counts.sum() / (present.size * np.maximum(counts, 1)), 0.0)
    with _torch_settings(settings) as device:
        torch.manual_seed(settings.seed)
        net = build_network(architecture, in_channels=arr.shape[1], n_classes=len(CLASSES),
                            size_px=arr.shape[-1], width=settings.width,
                            small_input=settings.small_input)  # fmt: skip
        w = torch.tensor(weights, dtype=torch.float32, device=device)
        loss_fn = nn.CrossEntropyLoss(weight=w if settings.class_weights else None)
        train_idx, val_idx = split_indices(target, settings.val_fraction, settings.seed)
        state, history, best = _fit(net, arr, target, train_idx, val_idx, loss_fn, settings,
                                    device, progress, label)  # fmt: skip
    return TrainedNetwork(architecture, "classification", arr.shape[1], arr.shape[-1], settings,
                          state, history, best)  # fmt: skip


def train_ensemble(
    x: NDArray,
    classes: ArrayLike,
    architecture: str,
    n_members: int,
    settings: TrainSettings = TrainSettings(),
    *,
    progress: Progress | None = None,
) -> list[TrainedNetwork]:
    """``n_members`` classifiers with seeds ``settings.seed + k`` (W21 §10.1: ten per net)."""
    if n_members < 1:
        raise TrainingDataError("an ensemble needs at least one member")
    return [
        train_classifier(
            x,
            classes,
            architecture,
            replace(settings, seed=settings.seed + k),
            progress=progress,
            label=f"member {k + 1}/{n_members}",
        )  # fmt: skip
        for k in range(n_members)
    ]


@torch.no_grad()
def _forward(trained: TrainedNetwork, x: NDArray, batch_size: int, device: torch.device | None):  # noqa: ANN202
    arr = _check_x(x)
    if arr.shape[1] != trained.in_channels:
        raise TrainingDataError(
            f"cutouts have {arr.shape[1]} bands but the model takes {trained.in_channels}"
        )
    if arr.shape[-1] != trained.size_px and trained.architecture == "viana":
        raise TrainingDataError(
            f"cutouts are {arr.shape[-1]} px but the model takes {trained.size_px} px"
        )
    dev = device or choose_device(trained.settings.device)
    net = trained.network(dev)
    outs = [net(torch.from_numpy(arr[i : i + batch_size]).to(dev)).cpu()
            for i in range(0, arr.shape[0], batch_size)]  # fmt: skip
    return torch.cat(outs) if outs else torch.zeros((0,))


def predict_proba(
    trained: TrainedNetwork, x: NDArray, *, batch_size: int = 256,
    device: torch.device | None = None,
) -> NDArray[np.float64]:  # fmt: skip
    """Class probabilities (n, 4) of one classifier (softmax of the logits). With the
    model's ``test_time_augment`` setting, the mean over the eight rotations and flips the
    training augmentation draws from (orientation carries no meaning, W21 §10.2)."""
    arr = _check_x(x)
    if arr.shape[0] == 0:
        return np.zeros((0, len(CLASSES)))
    views = [arr]
    if trained.settings.test_time_augment:
        views = [np.rot90(v, k, axes=(2, 3)) for v in (arr, arr[..., ::-1]) for k in range(4)]
    probs = [torch.softmax(_forward(trained, np.ascontiguousarray(v), batch_size, device)
                           .double(), dim=1).numpy() for v in views]  # fmt: skip
    return np.mean(probs, axis=0)


def ensemble_vote(
    probabilities: Sequence[NDArray] | NDArray,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Mode class of the members (each member's argmax), the vote fraction of the mode (its
    quality) and the members' mean probabilities; ``probabilities`` is (members, n, 4)."""
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 3 or p.shape[2] != len(CLASSES):
        raise TrainingDataError(f"member probabilities must be (members, n, 4), got {p.shape}")
    votes = np.zeros(p.shape[1:], dtype=float)
    member_class = p.argmax(axis=2)  # (members, n)
    for k in range(len(CLASSES)):
        votes[:, k] = (member_class == k).sum(axis=0)
    mean_p = p.mean(axis=0)
    score = votes + 1e-6 * mean_p  # ties go to the larger mean probability
    mode = score.argmax(axis=1)
    fraction = votes[np.arange(mode.size), mode] / p.shape[0]
    return mode.astype(np.int64) + 1, fraction, mean_p


def classification_metrics(
    true_class: ArrayLike, predicted_class: ArrayLike, classes: Sequence[int] = CLASSES
) -> dict:
    """Accuracy, per-class precision and recall, the confusion matrix (rows: true, i.e. the
    training method; columns: predicted) and W21's agreement fractions (``agreement.py``)."""
    t = np.asarray(true_class, dtype=float)
    p = np.asarray(predicted_class, dtype=float)
    counts = class_confusion(t, p, classes).to_numpy()
    per_class = {}
    for k, c in enumerate(classes):
        tp = counts[k, k]
        n_true, n_pred = counts[k].sum(), counts[:, k].sum()
        per_class[str(c)] = {
            "precision": float(tp / n_pred) if n_pred else None,
            "recall": float(tp / n_true) if n_true else None,
            "n_true": int(n_true),
            "n_predicted": int(n_pred),
        }
    agree = agreement_fraction(t, p)["agreement"]
    total = counts.sum()
    return {
        "n": int(total),
        "accuracy": float(np.trace(counts) / total) if total else None,
        "per_class": per_class,
        "confusion_matrix": counts.astype(int).tolist(),
        "confusion_classes": list(classes),
        "agreement": {k: (None if pd.isna(v) else float(v)) for k, v in agree.items()},
    }


# --- age regression ----------------------------------------------------------------------------


def train_age_regressor(
    x: NDArray,
    log_age: ArrayLike,
    settings: TrainSettings = TrainSettings(normalisation="minmax", flips=False),
    *,
    architecture: str = "viana",
    progress: Progress | None = None,
) -> TrainedNetwork:
    """Train the Viana et al. age CNN on normalised stamps and log10(age / yr)."""
    arr = _check_x(x)
    y = np.asarray(log_age, dtype=float)
    if y.shape != (arr.shape[0],) or not np.all(np.isfinite(y)):
        raise TrainingDataError("log ages must be finite, one per cutout")
    if arr.shape[0] < 4 or np.ptp(y) <= 0:
        raise TrainingDataError("age regression needs at least 4 cutouts of different ages")
    train_idx, val_idx = split_indices(np.zeros(y.size), settings.val_fraction, settings.seed,
                                       stratify=False)  # fmt: skip
    lo, hi = float(y[train_idx].min()), float(y[train_idx].max())
    span = hi - lo if hi > lo else 1.0
    target = ((y - lo) / span).astype(np.float32)
    with _torch_settings(settings) as device:
        torch.manual_seed(settings.seed)
        net = build_network(architecture, in_channels=arr.shape[1], size_px=arr.shape[-1],
                            width=settings.width)  # fmt: skip
        state, history, best = _fit(net, arr, target, train_idx, val_idx, nn.MSELoss(),
                                    settings, device, progress, "age")  # fmt: skip
    return TrainedNetwork(architecture, "age_regression", arr.shape[1], arr.shape[-1], settings,
                          state, history, best, (lo, hi), float(y[train_idx].mean()))  # fmt: skip


def predict_log_age(
    trained: TrainedNetwork, x: NDArray, *, batch_size: int = 256,
    device: torch.device | None = None,
) -> NDArray[np.float64]:  # fmt: skip
    """Predicted log10(age / yr), mapped back from the training scaling."""
    if trained.target_range is None:
        raise TrainingDataError("not an age-regression model")
    out = _forward(trained, x, batch_size, device).double().numpy()
    lo, hi = trained.target_range
    return lo + out * ((hi - lo) if hi > lo else 1.0)


def age_scatter(predicted: ArrayLike, true: ArrayLike) -> float:
    """Viana et al.'s scatter: 1.49 x median |predicted - true| (dex)."""
    d = np.asarray(predicted, dtype=float) - np.asarray(true, dtype=float)
    return float(SCATTER_FACTOR * np.median(np.abs(d)))


def predictive_power(scatter: float, null_scatter: float) -> float:
    """100 (σ_null² − σ²) / σ_null² (per cent; Viana et al. §V.1)."""
    return float(100.0 * (null_scatter**2 - scatter**2) / null_scatter**2)


def age_metrics(predicted: ArrayLike, true: ArrayLike, train_mean: float) -> dict:
    """Scatter, the constant-mean null predictor's scatter and the predictive power."""
    t = np.asarray(true, dtype=float)
    s = age_scatter(predicted, t)
    s0 = age_scatter(np.full(t.shape, train_mean), t)
    return {"n": int(t.size), "scatter_dex": s, "null_scatter_dex": s0,
            "predictive_power_pct": predictive_power(s, s0) if s0 > 0 else None,
            "train_mean_log_age": float(train_mean)}  # fmt: skip
