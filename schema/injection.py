"""Artificial-cluster injection runs and trials, for completeness.

DESIGN.md §4 "Injection and completeness"; Thilker et al. 2022 §4, Tang et al. (C-4) §3.
Each trial records what was injected and how far it got through the pipeline.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, JSONDoc, created_at_column

#: States of an injection run; only complete runs are visible in ``injection_completeness``.
INJECTION_RUN_STATUSES = ("running", "complete")


class InjectionRun(Base):
    """A batch of synthetic clusters injected into one field with one set of settings."""

    __tablename__ = "injection_run"
    __table_args__ = (
        CheckConstraint("n_trials >= 0", name="n_trials_nonnegative"),
        CheckConstraint("status IN ('running', 'complete')", name="status_known"),
        CheckConstraint("grid IN ('thilker', 'c4')", name="grid_known"),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
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
    status: Mapped[str] = mapped_column(
        String(16),
        default="running",
        server_default="running",
        comment="running | complete; trials of running runs are hidden from the views (text)",
    )
    grid: Mapped[str | None] = mapped_column(
        String(16), comment="parameter sampling: thilker | c4 (text)"
    )
    batch_size: Mapped[int | None] = mapped_column(
        comment="clusters injected per frame set (count)"
    )
    n_frame_sets: Mapped[int | None] = mapped_column(comment="frame sets in the run (count)")
    identity_sha256: Mapped[str | None] = mapped_column(
        String(64),
        unique=True,
        comment="SHA-256 of field, images, settings, seed and size: a resumed run's key (hex)",
    )
    completed_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="time the last frame set was written (UTC)"
    )


class InjectionTrial(Base):
    """One injected synthetic cluster and its fate in each pipeline stage."""

    __tablename__ = "injection_trial"
    __table_args__ = (
        CheckConstraint("ra >= 0 AND ra < 360", name="ra_range"),
        CheckConstraint("dec >= -90 AND dec <= 90", name="dec_range"),
        CheckConstraint("av_mag >= 0", name="av_nonnegative"),
        CheckConstraint("r_eff_pc > 0", name="r_eff_positive"),
        CheckConstraint("fwhm_px > 0", name="fwhm_positive"),
        CheckConstraint("frame_set >= 0", name="frame_set_nonnegative"),
        Index("ix_injection_trial_run_id_frame_set", "run_id", "frame_set"),
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
    frame_set: Mapped[int] = mapped_column(
        comment="frame set (batch) the cluster was injected with, 0-based (index)"
    )
    in_selection_region: Mapped[bool | None] = mapped_column(
        Boolean, comment="measured MCI inside the selection region used (boolean)"
    )
    match_distance_px: Mapped[float | None] = mapped_column(
        Double, comment="distance of the matched detection from the injection (pix)"
    )


#: Bins of the ``injection_completeness`` view: quantity -> (trial column, bin width, unit).
COMPLETENESS_BINS: dict[str, tuple[str, float, str]] = {
    "mag_v": ("mag_in_v", 0.25, "Vega mag"),
    "log_mass": ("log_mass", 0.25, "log Msun"),
    "log_age": ("log_age", 0.25, "log yr"),
    "av": ("av_mag", 0.25, "mag"),
    "r_eff": ("r_eff_pc", 1.0, "pc"),
}


def _completeness_view_sql() -> str:
    parts = [
        f"SELECT t.run_id, '{q}' AS quantity, '{unit}' AS unit, "
        f"floor(t.{col} / {w}) * {w} AS bin_low, {w} AS bin_width, "
        "CASE WHEN t.detected THEN 1 ELSE 0 END AS det, "
        "CASE WHEN t.recovered THEN 1 ELSE 0 END AS rec "
        f"FROM injection_trial t WHERE t.{col} IS NOT NULL"
        for q, (col, w, unit) in COMPLETENESS_BINS.items()
    ]
    binned = " UNION ALL ".join(parts)
    n = "CAST(count(*) AS DOUBLE PRECISION)"
    k = "CAST(sum(b.rec) AS DOUBLE PRECISION)"
    return (
        f"SELECT r.id AS run_id, f.name AS field, r.grid AS grid, b.quantity AS quantity, "
        f"b.unit AS unit, b.bin_low AS bin_low, b.bin_low + b.bin_width AS bin_high, "
        f"count(*) AS n_injected, sum(b.det) AS n_detected, sum(b.rec) AS n_recovered, "
        f"{k} / {n} AS completeness, sqrt({k} * ({n} - {k}) / {n}) / {n} AS completeness_err "
        f"FROM ({binned}) b JOIN injection_run r ON r.id = b.run_id AND r.status = 'complete' "
        "JOIN field f ON f.id = r.field_id "
        "GROUP BY r.id, f.name, r.grid, b.quantity, b.unit, b.bin_low, b.bin_width"
    )


#: The ``injection_completeness`` view (migration 0009): recovered / injected per bin.
INJECTION_COMPLETENESS_VIEW = _completeness_view_sql()

#: Comments of the view and its columns (COMMENT ON on PostgreSQL; docs/injection.md).
INJECTION_COMPLETENESS_COMMENTS: tuple[str, dict[str, str]] = (
    "completeness of complete injection runs: recovered / injected trials binned in injected "
    "V magnitude, log mass, log age, A_V and r_eff, with binomial errors",
    {
        "run_id": "injection run (key: injection_run.id)",
        "field": "field injected into (text)",
        "grid": "parameter sampling of the run: thilker | c4 (text)",
        "quantity": "binned quantity: mag_v | log_mass | log_age | av | r_eff (text)",
        "unit": "unit of bin_low and bin_high (text)",
        "bin_low": "lower bin edge, inclusive (unit column)",
        "bin_high": "upper bin edge, exclusive (unit column)",
        "n_injected": "trials injected in the bin (count)",
        "n_detected": "trials found by source detection (count)",
        "n_recovered": "trials that entered the candidate catalogue (count)",
        "completeness": "n_recovered / n_injected (fraction)",
        "completeness_err": "binomial error sqrt(p (1 - p) / n_injected) (fraction)",
    },
)
