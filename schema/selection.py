"""Cluster-candidate selection flags of the image pipeline (Thilker et al. 2022 §4).

One row per source and constants version: which of the paper's cuts the source passes
(general photometric criteria §4.1, morphology quality, semi-empirical MCI region §3.11,
the M_V <= -10 "super H-D" pathway §4.3, the 2-px doubles cut §4.4) and the final
candidate flag, with the V-band S/N and absolute magnitude the cuts used. The rows are
written, with the release's sources, by the same atomic loader as every catalogue
(:mod:`clustercat.ingest.loader`), and point at the ``processing_run`` that made them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Double, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK
from .source import Source


class SourceSelection(Base):
    """Candidate-selection flags of one source (Thilker et al. 2022 §4, Table 5 funnel)."""

    __tablename__ = "source_selection"
    __table_args__ = (
        UniqueConstraint("source_id", "constants_version"),
        CheckConstraint("v_snr >= 0", name="v_snr_nonnegative"),
        CheckConstraint("distance_mpc > 0", name="distance_positive"),
        {"comment": "cluster-candidate selection flags per source (Thilker et al. 2022 §4)"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"),
        index=True,
        comment="source selected or rejected (key: source.id)",
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("processing_run.id"),
        index=True,
        comment="processing run that applied the cuts (key: processing_run.id)",
    )
    constants_version: Mapped[str] = mapped_column(
        String(32),
        comment="version of the fiducial MCI constants the morphology cuts used (text)",
    )
    distance_mpc: Mapped[float | None] = mapped_column(
        Double, comment="distance adopted for M_V and the semi-empirical region (Mpc)"
    )
    passes_general: Mapped[bool] = mapped_column(
        Boolean,
        comment="general criteria: V S/N and error cuts, detected in >= 3 bands incl. V (boolean)",
    )
    passes_morph_quality: Mapped[bool] = mapped_column(
        Boolean, comment="MCI_in/MCI_out defined with small enough errors (boolean)"
    )
    in_semi_empirical: Mapped[bool] = mapped_column(
        Boolean, comment="inside the distance-cropped semi-empirical MCI region (boolean)"
    )
    super_hd: Mapped[bool] = mapped_column(
        Boolean, comment="'super H-D' luminosity pathway, M_V <= -10 (boolean)"
    )
    is_double: Mapped[bool] = mapped_column(
        Boolean, comment="removed as the fainter member of a close pair (doubles cut) (boolean)"
    )
    candidate: Mapped[bool] = mapped_column(
        Boolean, comment="final cluster candidate of the human-classification sample (boolean)"
    )
    v_snr: Mapped[float | None] = mapped_column(
        Double, comment="signal-to-noise ratio in V used by the cuts (dimensionless)"
    )
    abs_mag_v: Mapped[float | None] = mapped_column(
        Double, comment="absolute V magnitude, total, Vega, at distance_mpc (mag)"
    )

    source: Mapped[Source] = relationship()
