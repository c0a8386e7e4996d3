"""Reading the machine-learning model registry and its predictions (issues 11 and 12).

Models (``ml_model``) and their per-source predictions (``ml_prediction``) are metadata and
results no collaborator view shows: they are read from the tables. Metrics and
hyper-parameters come back as dicts on both backends (PostgreSQL hands JSON back as dicts,
SQLite as text).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from .catalogue_io import read_frame

__all__ = [
    "ML_MODEL_COLUMNS",
    "models_fingerprint",
    "read_completeness_models",
    "read_ml_models",
    "read_ml_predictions",
]

#: Columns of :func:`read_ml_models`.
ML_MODEL_COLUMNS = (
    *("id", "name", "version", "task", "architecture", "created_at"),
    *("training_query_sha256", "weights_sha256", "hyperparameters", "metrics"),
)


def _json_dict(value: Any) -> dict:
    """A JSON column as a dict (PostgreSQL returns dicts, SQLite may return text)."""
    if isinstance(value, dict):
        return value
    if value in (None, ""):
        return {}
    try:
        loaded = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def models_fingerprint(bind: Engine | Connection) -> tuple:
    """Fingerprint of the model registry and predictions (changes when a model is added)."""
    frame = read_frame(
        bind,
        "SELECT (SELECT count(*) FROM ml_model) AS n_models, "
        "(SELECT max(id) FROM ml_model) AS last_model, "
        "(SELECT count(*) FROM processing_run WHERE module = 'ml') AS n_runs",
    )
    return tuple(None if pd.isna(v) else int(v) for v in frame.iloc[0])


def read_ml_models(bind: Engine | Connection) -> pd.DataFrame:
    """Every ``ml_model`` row (:data:`ML_MODEL_COLUMNS`), ``hyperparameters`` and ``metrics``
    as dicts, by id."""
    frame = read_frame(bind, f"SELECT {', '.join(ML_MODEL_COLUMNS)} FROM ml_model ORDER BY id")
    if frame.empty:
        return pd.DataFrame(columns=list(ML_MODEL_COLUMNS))
    frame["hyperparameters"] = [_json_dict(h) for h in frame["hyperparameters"]]
    frame["metrics"] = [_json_dict(m) for m in frame["metrics"]]
    return frame


def read_completeness_models(bind: Engine | Connection) -> pd.DataFrame:
    """Registered completeness networks: ``model_id, name, version, kind, run_id``, newest
    first (``kind`` and the injection run from the hyper-parameters)."""
    frame = read_frame(
        bind,
        "SELECT id AS model_id, name, version, hyperparameters FROM ml_model "
        "WHERE task = 'completeness' ORDER BY id DESC",
    )
    hyper = [_json_dict(h) for h in frame["hyperparameters"]]
    frame["kind"] = [h.get("kind") for h in hyper]
    frame["run_id"] = [h.get("injection_run_id") for h in hyper]
    return frame.drop(columns="hyperparameters")


def read_ml_predictions(bind: Engine | Connection, source_pk: int) -> pd.DataFrame:
    """Each model's prediction for one source: ``model_id, model, version, task,
    predicted_class, p_class1..4, predicted_value, predicted_err``."""
    return read_frame(
        bind,
        """
        SELECT p.model_id, m.name AS model, m.version, m.task, p.predicted_class,
               p.p_class1, p.p_class2, p.p_class3, p.p_class4, p.predicted_value,
               p.predicted_err
        FROM ml_prediction p JOIN ml_model m ON m.id = p.model_id
        WHERE p.source_id = :pk ORDER BY p.model_id
        """,
        {"pk": int(source_pk)},
        floats=("p_class1", "p_class2", "p_class3", "p_class4", "predicted_value",
                "predicted_err"),
    )  # fmt: skip
