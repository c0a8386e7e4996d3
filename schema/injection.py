"""Artificial-cluster injection runs and trials, for completeness.

DESIGN.md §4 "Injection and completeness"; Thilker et al. 2022 §4, Tang et al. (C-4) §3.
Each trial records what was injected and how far it got through the pipeline.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Double, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, JSONDoc, created_at_column


class InjectionRun(Base):
    """A batch of synthetic clusters injected into one field with one set of settings."""

    __tablename__ = "injection_run"
    __table_args__ = (
        CheckConstraint("n_trials >= 0", name="n_trials_nonnegative"),
        {"comment": "artificial-cluster injection runs"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    field_id: Mapped[int] = mapped_column(
        ForeignKey("field.id"), index=True, comment="field injected into (key: field.id)"
    )
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalogue_release.id"),
        comment="release whose pipeline settings were used (key: catalogue_release.id)",
    )
    pipeline_settings: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="detection/photometry/selection settings re-run (JSON)"
    )
    generator_settings: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="profile, PSF, SSP model, parameter ranges (JSON)"
    )
    seed: Mapped[int | None] = mapped_column(comment="random seed (integer)")
    n_trials: Mapped[int | None] = mapped_column(comment="trials in the run (count)")
    code_version: Mapped[str | None] = mapped_column(
        String(64), comment="ClusterCat version that ran (text)"
    )
    created_at: Mapped[dt.datetime] = created_at_column()


class InjectionTrial(Base):
    """One injected synthetic cluster and its fate in each pipeline stage."""

    __tablename__ = "injection_trial"
    __table_args__ = (
        CheckConstraint("ra >= 0 AND ra < 360", name="ra_range"),
        CheckConstraint("dec >= -90 AND dec <= 90", name="dec_range"),
        CheckConstraint("av_mag >= 0", name="av_nonnegative"),
        CheckConstraint("r_eff_pc > 0", name="r_eff_positive"),
        CheckConstraint("fwhm_px > 0", name="fwhm_positive"),
        {
            "comment": "injected synthetic clusters and their recovery per stage",
            "postgresql_partition_by": "HASH (run_id)",
        },
    )

    run_id: Mapped[int] = mapped_column(
        ForeignKey("injection_run.id", ondelete="CASCADE"),
        primary_key=True,
        comment="run (key: injection_run.id)",
    )
    trial: Mapped[int] = mapped_column(
        primary_key=True, comment="trial number within the run (index)"
    )
    x: Mapped[float] = mapped_column(Double, comment="injected x position (pix)")
    y: Mapped[float] = mapped_column(Double, comment="injected y position (pix)")
    ra: Mapped[float | None] = mapped_column(Double, comment="injected right ascension (deg)")
    dec: Mapped[float | None] = mapped_column(Double, comment="injected declination (deg)")
    log_mass: Mapped[float | None] = mapped_column(Double, comment="log10 mass (log Msun)")
    log_age: Mapped[float | None] = mapped_column(Double, comment="log10 age (log yr)")
    av_mag: Mapped[float | None] = mapped_column(Double, comment="V-band extinction A_V (mag)")
    r_eff_pc: Mapped[float | None] = mapped_column(Double, comment="effective radius (pc)")
    fwhm_px: Mapped[float | None] = mapped_column(Double, comment="profile FWHM (pix)")
    profile_index: Mapped[float | None] = mapped_column(
        Double, comment="EFF/Moffat power-law index eta (dimensionless)"
    )
    mag_in_nuv: Mapped[float | None] = mapped_column(Double, comment="injected NUV (Vega mag)")
    mag_in_u: Mapped[float | None] = mapped_column(Double, comment="injected U (Vega mag)")
    mag_in_b: Mapped[float | None] = mapped_column(Double, comment="injected B (Vega mag)")
    mag_in_v: Mapped[float | None] = mapped_column(Double, comment="injected V (Vega mag)")
    mag_in_i: Mapped[float | None] = mapped_column(Double, comment="injected I (Vega mag)")
    mag_out_nuv: Mapped[float | None] = mapped_column(Double, comment="measured NUV (Vega mag)")
    mag_out_u: Mapped[float | None] = mapped_column(Double, comment="measured U (Vega mag)")
    mag_out_b: Mapped[float | None] = mapped_column(Double, comment="measured B (Vega mag)")
    mag_out_v: Mapped[float | None] = mapped_column(Double, comment="measured V (Vega mag)")
    mag_out_i: Mapped[float | None] = mapped_column(Double, comment="measured I (Vega mag)")
    ci_out: Mapped[float | None] = mapped_column(Double, comment="measured CI (mag)")
    mci_in_out: Mapped[float | None] = mapped_column(
        Double, comment="measured MCI_in (dimensionless)"
    )
    mci_out_out: Mapped[float | None] = mapped_column(
        Double, comment="measured MCI_out (dimensionless)"
    )
    detected: Mapped[bool | None] = mapped_column(
        Boolean, comment="found by source detection (boolean)"
    )
    passes_photometric_cuts: Mapped[bool | None] = mapped_column(
        Boolean, comment="passes the photometric-error/band cuts (boolean)"
    )
    passes_ci_cut: Mapped[bool | None] = mapped_column(
        Boolean, comment="passes the CI/MCI selection (boolean)"
    )
    passes_mag_cut: Mapped[bool | None] = mapped_column(
        Boolean, comment="passes the magnitude limit (boolean)"
    )
    recovered: Mapped[bool | None] = mapped_column(
        Boolean, comment="would enter the candidate catalogue (boolean)"
    )
