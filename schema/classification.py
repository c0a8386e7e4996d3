"""Morphological classes of sources, one row per source and classification method.

DESIGN.md §4; classes after Whitmore et al. 2021 §3 and Adamo et al. 2017: 1 compact
symmetric cluster, 2 asymmetric cluster, 3 compact association, 4 not a cluster (star,
artefact, background galaxy). PHANGS 4.x codes are stored as class 4 with a subclass
(4.10 → class 4, subclass 10; never the float 4.1).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, Double, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, JSONDoc
from .source import Source

METHOD_KINDS = ("human", "ml", "hybrid", "consensus")


class ClassificationMethod(Base):
    """Who or what classified: a human team, an ML model, a hybrid scheme or a consensus."""

    __tablename__ = "classification_method"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint("kind IN ('human', 'ml', 'hybrid', 'consensus')", name="kind_known"),
        {"comment": "classification methods (human, ML, hybrid, consensus)"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        String(128),
        comment="method name, e.g. 'LEGUS human mode', 'StarcNet', 'VGG19-BN' (text)",
    )
    version: Mapped[str] = mapped_column(
        String(32), default="1", server_default="1", comment="method version (text)"
    )
    kind: Mapped[str] = mapped_column(String(16), comment="human | ml | hybrid | consensus (text)")
    description: Mapped[str | None] = mapped_column(Text, comment="what the method is (text)")
    classifier: Mapped[str | None] = mapped_column(
        String(200), comment="people or model that classified, e.g. 'B. Whitmore' (text)"
    )
    training_set: Mapped[str | None] = mapped_column(
        Text, comment="training set of an ML method (text)"
    )
    classified_on: Mapped[dt.date | None] = mapped_column(
        Date, comment="date of the classification (date)"
    )
    reference: Mapped[str | None] = mapped_column(
        String(200), comment="paper describing the method (text)"
    )
    ml_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_model.id"),
        comment="registered ML model behind the method, if any (key: ml_model.id)",
    )
    config: Mapped[dict | None] = mapped_column(JSONDoc, comment="extra settings (JSON)")


class Classification(Base):
    """The class one method gave one source."""

    __tablename__ = "classification"
    __table_args__ = (
        UniqueConstraint("source_id", "method_id"),
        CheckConstraint("cluster_class BETWEEN 1 AND 4", name="class_range"),
        CheckConstraint("subclass >= 0", name="subclass_nonnegative"),
        CheckConstraint("n_votes >= 0", name="votes_nonnegative"),
        CheckConstraint(
            "p_class1 BETWEEN 0 AND 1 AND p_class2 BETWEEN 0 AND 1 "
            "AND p_class3 BETWEEN 0 AND 1 AND p_class4 BETWEEN 0 AND 1",
            name="probabilities_range",
        ),
        {"comment": "class of each source per classification method"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"), comment="source classified (key: source.id)"
    )
    method_id: Mapped[int] = mapped_column(
        ForeignKey("classification_method.id"),
        index=True,
        comment="classification method (key: classification_method.id)",
    )
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalogue_release.id", ondelete="CASCADE"),
        index=True,
        comment="release that delivered the class when not the source's own, e.g. StarcNet "
        "(key: catalogue_release.id)",
    )
    cluster_class: Mapped[int] = mapped_column(
        comment="class 1 symmetric cluster, 2 asymmetric cluster, 3 association, 4 other (code)"
    )
    subclass: Mapped[int | None] = mapped_column(
        comment="PHANGS subclass of class 4, e.g. 10 for code 4.10 (code)"
    )
    score: Mapped[float | None] = mapped_column(
        Double,
        comment="method's score: human mean class, ML top probability or agreement (dimensionless)",
    )
    quality: Mapped[int | None] = mapped_column(
        comment="visual quality 1 certain, 2 likely, 3 possible (code)"
    )
    n_votes: Mapped[int | None] = mapped_column(comment="number of votes cast (count)")
    method_flag: Mapped[int | None] = mapped_column(
        comment="method-specific flag, e.g. LEGUS NGC 1566 hybrid origin 0/1/3/4/6 (code)"
    )
    p_class1: Mapped[float | None] = mapped_column(
        Double, comment="ML probability of class 1 (probability)"
    )
    p_class2: Mapped[float | None] = mapped_column(
        Double, comment="ML probability of class 2 (probability)"
    )
    p_class3: Mapped[float | None] = mapped_column(
        Double, comment="ML probability of class 3 (probability)"
    )
    p_class4: Mapped[float | None] = mapped_column(
        Double, comment="ML probability of class 4 (probability)"
    )

    source: Mapped[Source] = relationship()
    method: Mapped[ClassificationMethod] = relationship()
