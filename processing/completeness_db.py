"""C-4 completeness networks against the database: trials in, ``ml_model`` rows out.

* :func:`train_and_register` reads a **complete** injection run's trials with the SQL it
  records (``ml_model.training_query``, plus the sha256 of the rows as used), trains the
  physical or photometric network (:mod:`clustercat.processing.completeness`; optionally
  the paper's learning-rate x weight-decay grid), writes the weights file and registers an
  ``ml_model`` row (task ``completeness``, architecture, hyper-parameters with the scaler
  and the grid's losses, metrics with the loss curves, weights path and sha256).
* :func:`load_registered` finds a model by id or name (newest version) and refuses a weights
  file whose sha256 is not the registered one.
* :func:`predict_frame` / :func:`predict_csv`: p-hat for rows of inputs, unknown physical
  parameters marginalised over their priors (Tang et al. 2026 Eq. 14-16).
* :func:`source_completeness`: a per-source completeness function for
  :func:`clustercat.processing.analyses.mass_function` / ``age_function``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from clustercat.ingest.releases import code_version
from clustercat.schema import write_transaction
from sqlalchemy import Connection, Engine, text

from .completeness import (
    ARCHITECTURE,
    FEATURES,
    LEARNING_RATES,
    WEIGHT_DECAYS,
    TrainedNetwork,
    TrainSettings,
    grid_search,
    load_network,
    predict_marginal,
    save_network,
    train_network,
)

#: Points of the marginalisation grids (A_V ~ U(0, 3) mag, Tang Eq. 15; log M, log T
#: uniform over the training range).
AV_PRIOR_RANGE = (0.0, 3.0)
MARGINAL_POINTS = 25


class CompletenessModelError(LookupError):
    """No such run or model, an incomplete run, or a weights file that does not match."""


@dataclass
class RegisteredModel:
    """An ``ml_model`` row of a completeness network and the network itself."""

    id: int
    name: str
    version: str
    kind: str
    network: TrainedNetwork
    hyperparameters: dict[str, Any]


def training_query(run_id: int, kind: str) -> str:
    """The SQL that selects a run's training rows (stored in ``ml_model.training_query``)."""
    cols = ", ".join(FEATURES[kind])
    return (f"SELECT trial, {cols}, recovered FROM injection_trial WHERE run_id = {int(run_id)} "
            "ORDER BY trial")  # fmt: skip


def rows_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of the training rows as used (CSV with 17 significant digits)."""
    return hashlib.sha256(frame.to_csv(index=False, float_format="%.17g").encode()).hexdigest()


def training_rows(conn: Connection, run_id: int, kind: str) -> tuple[str, pd.DataFrame, Any]:
    """(query, rows, run row) of a complete run, or :class:`CompletenessModelError`."""
    run = conn.execute(text("SELECT r.id, r.status, f.name AS field FROM injection_run r "
                            "JOIN field f ON f.id = r.field_id WHERE r.id = :r"),
                       {"r": run_id}).first()  # fmt: skip
    if run is None:
        raise CompletenessModelError(f"no injection run {run_id}")
    if run.status != "complete":
        raise CompletenessModelError(f"injection run {run_id} is {run.status}; finish it first "
                                     "(run the same 'inject run' command again)")  # fmt: skip
    query = training_query(run_id, kind)
    frame = pd.read_sql_query(text(query), conn)
    frame["recovered"] = frame["recovered"].astype(bool)
    frame = frame.dropna(subset=list(FEATURES[kind]))
    return query, frame, run


def train_and_register(
    engine: Engine,
    run_id: int,
    kind: str,
    *,
    settings: TrainSettings | None = None,
    search_grid: bool = False,
    learning_rates: tuple[float, ...] = LEARNING_RATES,
    weight_decays: tuple[float, ...] = WEIGHT_DECAYS,
    output_dir: Path | str = "models",
) -> RegisteredModel:
    """Train a network on a complete run's trials and register it (module docstring)."""
    settings = settings or TrainSettings(kind=kind)
    if settings.kind != kind:
        raise ValueError(f"settings are for {settings.kind}, not {kind}")
    with engine.connect() as conn:
        query, rows, run = training_rows(conn, run_id, kind)
    x = rows[list(FEATURES[kind])].to_numpy(dtype=float)
    y = rows["recovered"].to_numpy()
    grid_rows: list[dict[str, float]] = []
    if search_grid:
        net, grid_rows = grid_search(x, y, settings, learning_rates, weight_decays)
    else:
        net = train_network(x, y, settings)
    name = f"c4-{kind}-{run.field}-run{run_id}"
    with engine.connect() as conn:
        n_prev = conn.execute(text("SELECT count(*) FROM ml_model WHERE name = :n"),
                              {"n": name}).scalar_one()  # fmt: skip
    version = str(n_prev + 1)
    path = Path(output_dir).resolve() / f"{name}-v{version}.pt"
    sha = save_network(net, path)
    hyper = {
        **net.settings.to_dict(), "features": list(net.features),
        "scaler_mean": net.mean.tolist(), "scaler_std": net.std.tolist(),
        "feature_min": x.min(axis=0).tolist(), "feature_max": x.max(axis=0).tolist(),
        "optimizer": "AdamW", "loss": "BCEWithLogitsLoss",
        "schedule": "linear warm-up then cosine decay", "split": "stratified shuffle",
        "grid_search": grid_rows, "injection_run_id": int(run_id), "label": "recovered",
    }  # fmt: skip
    metrics = {**net.metrics, "history": net.history}
    architecture = ARCHITECTURE.replace("d-", f"{len(net.features)}-")
    with write_transaction(engine) as conn:
        cast = "CAST(:{} AS JSONB)" if conn.dialect.name == "postgresql" else ":{}"
        model_id = conn.execute(text(
            "INSERT INTO ml_model (name, version, task, architecture, hyperparameters, "
            "training_query, training_query_sha256, metrics, weights_path, weights_sha256, "
            f"code_version) VALUES (:name, :version, 'completeness', :arch, {cast.format('h')}, "
            f":q, :qsha, {cast.format('m')}, :path, :wsha, :cv) RETURNING id"),
            {"name": name, "version": version, "arch": architecture,
             "h": json.dumps(hyper), "q": query, "qsha": rows_sha256(rows),
             "m": json.dumps(metrics), "path": str(path), "wsha": sha,
             "cv": code_version()[:64]}).scalar_one()  # fmt: skip
    return RegisteredModel(int(model_id), name, version, kind, net, hyper)


def load_registered(conn: Connection, model: str | int) -> RegisteredModel:
    """A registered completeness network by id or name (newest version), checked against
    its registered sha256."""
    key = str(model)
    where = "id = :k" if key.isdigit() else "name = :k"
    row = conn.execute(text(
        "SELECT id, name, version, task, hyperparameters, weights_path, weights_sha256 "
        f"FROM ml_model WHERE {where} AND task = 'completeness' ORDER BY id DESC"),
        {"k": int(key) if key.isdigit() else key}).first()  # fmt: skip
    if row is None:
        raise CompletenessModelError(f"no completeness model {model!r} in ml_model")
    try:
        net = load_network(row.weights_path, row.weights_sha256)
    except ValueError as exc:
        raise CompletenessModelError(f"model {row.name} v{row.version}: {exc}") from None
    hyper = row.hyperparameters
    hyper = json.loads(hyper) if isinstance(hyper, str) else dict(hyper or {})
    return RegisteredModel(int(row.id), row.name, row.version, net.kind, net, hyper)


def _priors(model: RegisteredModel) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Marginalisation grids of the physical inputs: A_V ~ U(0, 3); log M and log T uniform
    over the training range."""
    if model.kind != "physical":
        return {}
    lo = model.hyperparameters.get("feature_min", [2.0, 6.0, 0.0])
    hi = model.hyperparameters.get("feature_max", [8.0, 10.1, 3.0])
    grids = {0: np.linspace(lo[0], hi[0], MARGINAL_POINTS),
             1: np.linspace(lo[1], hi[1], MARGINAL_POINTS),
             2: np.linspace(*AV_PRIOR_RANGE, MARGINAL_POINTS)}  # fmt: skip
    return {i: (g, np.ones_like(g)) for i, g in grids.items()}


def predict_frame(model: RegisteredModel, frame: pd.DataFrame) -> np.ndarray:
    """p-hat for each row; missing or NaN physical inputs are marginalised (Eq. 14-16)."""
    cols = list(model.network.features)
    missing = [c for c in cols if c not in frame.columns]
    if model.kind == "photometric" and (missing or frame[cols].isna().any().any()):
        raise ValueError(f"the photometric network needs every one of {cols}")
    x = np.column_stack([frame[c].to_numpy(dtype=float) if c in frame.columns
                         else np.full(len(frame), np.nan) for c in cols])  # fmt: skip
    return predict_marginal(model.network, x, _priors(model))


def predict_csv(engine: Engine, model: str | int, input_path: Path, output_path: Path) -> int:
    """CSV in, CSV out (the input's columns plus ``p_hat``); written atomically, nothing on
    error. Returns the number of rows."""
    with engine.connect() as conn:
        registered = load_registered(conn, model)
    try:
        frame = pd.read_csv(input_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{input_path}: cannot read CSV ({exc})") from None
    known = set(registered.network.features) & set(frame.columns)
    if not known:
        raise ValueError(f"{input_path}: none of the columns {registered.network.features}")
    for c in known:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ValueError(f"{input_path}: column {c} is not numeric")
    frame["p_hat"] = predict_frame(registered, frame)
    output_path = Path(output_path)
    fd, tmp = tempfile.mkstemp(dir=output_path.parent or ".", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(frame)


def source_completeness(model: RegisteredModel, floor: float = 1e-3):  # noqa: ANN201
    """Per-source completeness for the function fits: p-hat at each source's log mass and
    log age with A_V marginalised over U(0, 3) (and an unknown age or mass over its range),
    floored at ``floor`` (C-4 §4.4 step 5)."""
    if model.kind != "physical":
        raise ValueError("mass and age functions need the physical network")

    def completeness(sample: pd.DataFrame) -> np.ndarray:
        frame = sample[["log_mass", "log_age"]].copy()
        return np.clip(predict_frame(model, frame), floor, 1.0)

    return completeness
