"""Machine-learning model registry and per-source predictions.

DESIGN.md §4 "Machine learning". Predictions are the largest table after injection
trials; on PostgreSQL it is hash-partitioned by model.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Double, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, JSONDoc, created_at_column

ML_TASKS = ("classification", "age_regression", "completeness")
#: Hash partitions of the partitioned tables on PostgreSQL.
N_PARTITIONS = 4


class MlModel(Base):
    """A trained model: task, architecture, training query, metrics and weights on disk."""

    __tablename__ = "ml_model"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint(
            "task IN ('classification', 'age_regression', 'completeness')", name="task_known"
        ),
        {"comment": "registry of trained ML models (weights stay on disk)"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(String(128), comment="model name (text)")
    version: Mapped[str] = mapped_column(
        String(32), default="1", server_default="1", comment="model version (text)"
    )
    task: Mapped[str] = mapped_column(
        String(32), comment="classification | age_regression | completeness (text)"
    )
    architecture: Mapped[str | None] = mapped_column(
        String(64), comment="network, e.g. 'ResNet18', 'VGG19-BN', 'C-4 MLP' (text)"
    )
    hyperparameters: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="training hyper-parameters (JSON)"
    )
    training_query: Mapped[str | None] = mapped_column(
        Text, comment="SQL that selected the training rows (text)"
    )
    training_query_sha256: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the training rows as used (hex)"
    )
    metrics: Mapped[dict | None] = mapped_column(JSONDoc, comment="evaluation metrics (JSON)")
    weights_path: Mapped[str | None] = mapped_column(
        Text, comment="path of the weights file (text)"
    )
    weights_sha256: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the weights file (hex)"
    )
    code_version: Mapped[str | None] = mapped_column(
        String(64), comment="ClusterCat version that trained it (text)"
    )
    created_at: Mapped[dt.datetime] = created_at_column()


class MlPrediction(Base):
    """A model's prediction for a source: class probabilities or a value (e.g. log age)."""

    __tablename__ = "ml_prediction"
    __table_args__ = (
        CheckConstraint("predicted_class BETWEEN 1 AND 4", name="class_range"),
        CheckConstraint(
            "p_class1 BETWEEN 0 AND 1 AND p_class2 BETWEEN 0 AND 1 "
            "AND p_class3 BETWEEN 0 AND 1 AND p_class4 BETWEEN 0 AND 1",
            name="probabilities_range",
        ),
        CheckConstraint("predicted_err >= 0", name="err_nonnegative"),
        {
            "comment": "per-source predictions of registered models",
            "postgresql_partition_by": "HASH (model_id)",
        },
    )

    model_id: Mapped[int] = mapped_column(
        ForeignKey("ml_model.id", ondelete="CASCADE"),
        primary_key=True,
        comment="model (key: ml_model.id)",
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
        comment="source (key: source.id)",
    )
    predicted_class: Mapped[int | None] = mapped_column(comment="most probable class 1-4 (code)")
    p_class1: Mapped[float | None] = mapped_column(
        Double, comment="probability of class 1 (probability)"
    )
    p_class2: Mapped[float | None] = mapped_column(
        Double, comment="probability of class 2 (probability)"
    )
    p_class3: Mapped[float | None] = mapped_column(
        Double, comment="probability of class 3 (probability)"
    )
    p_class4: Mapped[float | None] = mapped_column(
        Double, comment="probability of class 4 (probability)"
    )
    predicted_value: Mapped[float | None] = mapped_column(
        Double, comment="regression output, unit per ml_model.task, e.g. log age (log yr)"
    )
    predicted_err: Mapped[float | None] = mapped_column(
        Double, comment="1-sigma uncertainty of predicted_value (same unit)"
    )
