"""Positional cross-matches between two releases (or two fields): runs and pairs.

DESIGN.md §4 "Cross-matching"; outcome codes after Whitmore et al. 2021 §6 and
Thilker et al. 2022 §7 (same class, other class, unmatched and why, double).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, JSONDoc, created_at_column

OUTCOMES = (
    "same_class",
    "other_class",
    "matched",
    "double",
    "unmatched_outside_footprint",
    "unmatched_not_detected",
    "unmatched_not_candidate",
    "unmatched",
)


class CrossmatchRun(Base):
    """One matching of release (or field) A against release (or field) B."""

    __tablename__ = "crossmatch_run"
    __table_args__ = (
        CheckConstraint("radius_arcsec > 0", name="radius_positive"),
        CheckConstraint("method IN ('kdtree', 'q3c')", name="method_known"),
        {"comment": "positional cross-match runs between two releases or fields"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    release_a_id: Mapped[int] = mapped_column(
        ForeignKey("catalogue_release.id"),
        index=True,
        comment="release of side A (key: catalogue_release.id)",
    )
    release_b_id: Mapped[int] = mapped_column(
        ForeignKey("catalogue_release.id"),
        index=True,
        comment="release of side B (key: catalogue_release.id)",
    )
    field_a_id: Mapped[int | None] = mapped_column(
        ForeignKey("field.id"),
        comment="field of side A, NULL for the whole release (key: field.id)",
    )
    field_b_id: Mapped[int | None] = mapped_column(
        ForeignKey("field.id"),
        comment="field of side B, NULL for the whole release (key: field.id)",
    )
    radius_arcsec: Mapped[float] = mapped_column(Double, comment="match radius (arcsec)")
    method: Mapped[str] = mapped_column(String(16), comment="'kdtree' or 'q3c' (text)")
    offset_ra_arcsec: Mapped[float] = mapped_column(
        Double, default=0.0, comment="offset added to A's RA*cos(Dec) before matching (arcsec)"
    )
    offset_dec_arcsec: Mapped[float] = mapped_column(
        Double, default=0.0, comment="offset added to A's Dec before matching (arcsec)"
    )
    classification_method_a_id: Mapped[int | None] = mapped_column(
        ForeignKey("classification_method.id"),
        comment="method whose class side A compares (key: classification_method.id)",
    )
    classification_method_b_id: Mapped[int | None] = mapped_column(
        ForeignKey("classification_method.id"),
        comment="method whose class side B compares (key: classification_method.id)",
    )
    n_pairs: Mapped[int | None] = mapped_column(comment="one-to-one pairs found (count)")
    config: Mapped[dict | None] = mapped_column(JSONDoc, comment="other settings (JSON)")
    code_version: Mapped[str | None] = mapped_column(
        String(64), comment="ClusterCat version that ran (text)"
    )
    created_at: Mapped[dt.datetime] = created_at_column()


class CrossmatchPair(Base):
    """A matched pair, or one unmatched source of side A or B with the reason."""

    __tablename__ = "crossmatch_pair"
    __table_args__ = (
        CheckConstraint("separation_arcsec >= 0", name="separation_nonnegative"),
        CheckConstraint("source_a_id IS NOT NULL OR source_b_id IS NOT NULL", name="has_a_side"),
        CheckConstraint(
            "outcome IN ('same_class', 'other_class', 'matched', 'double', "
            "'unmatched_outside_footprint', 'unmatched_not_detected', "
            "'unmatched_not_candidate', 'unmatched')",
            name="outcome_known",
        ),
        Index("ix_crossmatch_pair_run_a", "run_id", "source_a_id"),
        Index("ix_crossmatch_pair_run_b", "run_id", "source_b_id"),
        {"comment": "cross-match pairs and unmatched sources with outcome codes"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    run_id: Mapped[int] = mapped_column(
        ForeignKey("crossmatch_run.id", ondelete="CASCADE"),
        comment="cross-match run (key: crossmatch_run.id)",
    )
    source_a_id: Mapped[int | None] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"),
        comment="source on side A, NULL when only B has one (key: source.id)",
    )
    source_b_id: Mapped[int | None] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"),
        comment="source on side B, NULL when only A has one (key: source.id)",
    )
    separation_arcsec: Mapped[float | None] = mapped_column(
        Double, comment="angular separation after offsets (arcsec)"
    )
    is_best: Mapped[bool] = mapped_column(
        Boolean, default=True, comment="true for the one-to-one pair (boolean)"
    )
    outcome: Mapped[str] = mapped_column(
        String(32), comment="same_class | other_class | matched | double | unmatched_* (text)"
    )
