"""Spectral-energy-distribution fits and the simple-stellar-population grids behind them.

DESIGN.md §4; Whitmore et al. 2021 §5 and §7 (BC03), Viana et al. §II. Ages and masses are
stored as log10, so ``log_age`` is log10(age / yr) and ``log_mass`` log10(M / Msun).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, JSONDoc, created_at_column
from .reference import Filter
from .source import Source


class SedMethod(Base):
    """How ages, masses and reddenings were derived: code, SSP model, IMF, Z, extinction law."""

    __tablename__ = "sed_method"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("metallicity > 0", name="metallicity_positive"),
        {"comment": "SED-fitting methods and their physical assumptions"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        Text, comment="method name, e.g. 'LEGUS Yggdrasil Padova-AGB MW' (text)"
    )
    code: Mapped[str | None] = mapped_column(
        Text, comment="fitting code, e.g. 'clustercat', 'CIGALE', 'LEGUS' (text)"
    )
    ssp_model: Mapped[str | None] = mapped_column(
        Text, comment="SSP model family, e.g. 'BC03', 'Yggdrasil' (text)"
    )
    ssp_grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("ssp_grid.id"),
        comment="SSP grid in this database the fit used (key: ssp_grid.id)",
    )
    imf: Mapped[str | None] = mapped_column(Text, comment="initial mass function (text)")
    metallicity: Mapped[float | None] = mapped_column(
        Double, comment="metal mass fraction Z (dimensionless)"
    )
    extinction_law: Mapped[str | None] = mapped_column(
        Text, comment="extinction law, e.g. 'CCM89 R_V=3.1' (text)"
    )
    config: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="priors, grids, error floors and other settings (JSON)"
    )
    description: Mapped[str | None] = mapped_column(Text, comment="free-text description (text)")


class SedFit(Base):
    """Best-fitting age, mass and reddening of one source under one SED method."""

    __tablename__ = "sed_fit"
    __table_args__ = (
        UniqueConstraint("source_id", "method_id"),
        CheckConstraint("log_age BETWEEN 4 AND 11", name="log_age_range"),
        CheckConstraint("log_mass BETWEEN -2 AND 12", name="log_mass_range"),
        CheckConstraint("ebv >= -1 AND ebv <= 10", name="ebv_range"),
        CheckConstraint("chi2 >= 0", name="chi2_nonnegative"),
        CheckConstraint("reduced_chi2 >= 0", name="reduced_chi2_nonnegative"),
        CheckConstraint("q_prob BETWEEN 0 AND 1", name="q_prob_range"),
        CheckConstraint("n_bands >= 0", name="n_bands_nonnegative"),
        {"comment": "SED fit results per source and method"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"), comment="source fitted (key: source.id)"
    )
    method_id: Mapped[int] = mapped_column(
        ForeignKey("sed_method.id"), index=True, comment="SED method (key: sed_method.id)"
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("processing_run.id"),
        comment="processing run, NULL when from the catalogue (key: processing_run.id)",
    )
    log_age: Mapped[float | None] = mapped_column(Double, comment="best-fit log10 age (log yr)")
    log_age_min: Mapped[float | None] = mapped_column(
        Double, comment="lower bound of log10 age, 16th percentile or catalogue min (log yr)"
    )
    log_age_max: Mapped[float | None] = mapped_column(
        Double, comment="upper bound of log10 age, 84th percentile or catalogue max (log yr)"
    )
    log_mass: Mapped[float | None] = mapped_column(
        Double, comment="best-fit log10 stellar mass (log Msun)"
    )
    log_mass_min: Mapped[float | None] = mapped_column(
        Double, comment="lower bound of log10 mass (log Msun)"
    )
    log_mass_max: Mapped[float | None] = mapped_column(
        Double, comment="upper bound of log10 mass (log Msun)"
    )
    ebv: Mapped[float | None] = mapped_column(Double, comment="best-fit colour excess E(B-V) (mag)")
    ebv_min: Mapped[float | None] = mapped_column(Double, comment="lower bound of E(B-V) (mag)")
    ebv_max: Mapped[float | None] = mapped_column(Double, comment="upper bound of E(B-V) (mag)")
    chi2: Mapped[float | None] = mapped_column(
        Double, comment="chi-squared of the best fit (dimensionless)"
    )
    reduced_chi2: Mapped[float | None] = mapped_column(
        Double, comment="chi-squared per degree of freedom (dimensionless)"
    )
    q_prob: Mapped[float | None] = mapped_column(
        Double, comment="Q: probability of a chi2 at least this large (probability)"
    )
    n_bands: Mapped[int | None] = mapped_column(comment="bands used in the fit (count)")
    band_residuals: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="chi2 residual per band label, bands not used omitted (JSON)"
    )

    source: Mapped[Source] = relationship()
    method: Mapped[SedMethod] = relationship()


class SspGrid(Base):
    """One simple-stellar-population grid (model, metallicity, IMF) and where it came from."""

    __tablename__ = "ssp_grid"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("metallicity > 0", name="metallicity_positive"),
        {"comment": "SSP model grids with their provenance"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        String(128), comment="grid name, e.g. 'bc03-miles-z0.02-chabrier' (text)"
    )
    model: Mapped[str] = mapped_column(
        String(32), comment="model family: 'bc03', 'yggdrasil' (text)"
    )
    metallicity: Mapped[float] = mapped_column(
        Double, comment="metal mass fraction Z (dimensionless)"
    )
    imf: Mapped[str | None] = mapped_column(String(32), comment="initial mass function (text)")
    provenance: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="source files with SHA-256, filter curves, code versions (JSON)"
    )
    built_at: Mapped[dt.datetime] = created_at_column("time the grid was built (UTC)")

    rows: Mapped[list[SspModel]] = relationship(back_populates="grid")


class SspModel(Base):
    """One grid point: magnitude per unit stellar mass of an SSP at one age in one filter."""

    __tablename__ = "ssp_model"
    __table_args__ = (
        UniqueConstraint("grid_id", "log_age", "filter_id", "mag_system"),
        CheckConstraint("mag_system IN ('vega', 'ab')", name="mag_system_known"),
        Index("ix_ssp_model_grid_filter", "grid_id", "filter_id"),
        {"comment": "SSP magnitudes per unit mass on an age grid, per filter"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    grid_id: Mapped[int] = mapped_column(
        ForeignKey("ssp_grid.id", ondelete="CASCADE"), comment="grid (key: ssp_grid.id)"
    )
    log_age: Mapped[float] = mapped_column(Double, comment="log10 age (log yr)")
    filter_id: Mapped[int] = mapped_column(
        ForeignKey("filter.id"), comment="filter (key: filter.id)"
    )
    mag_system: Mapped[str] = mapped_column(String(4), comment="'vega' or 'ab' (text)")
    mag_per_msun: Mapped[float] = mapped_column(
        Double, comment="absolute magnitude of 1 Msun of the population at 10 pc (mag)"
    )

    grid: Mapped[SspGrid] = relationship(back_populates="rows")
    filter: Mapped[Filter] = relationship()
