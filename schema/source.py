"""Sources and their measurements: positions, photometry per filter and aperture, morphology.

DESIGN.md §4 "Sources and measurements". Long format: a new aperture or filter needs no
schema change. Missing values are NULL with a status, never a sentinel number
(66.666, 99.999, 44.444, -9999 are rejected by CHECK constraints).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK
from .reference import Field, Filter
from .release import CatalogueRelease

PHOTOMETRY_STATUSES = (
    "measured",
    "not_detected",
    "outside_footprint",
    "no_coverage",
    "apcor_undefined",
)
APERTURE_KINDS = ("total", "aperture")


class Source(Base):
    """A detected object of a release: position in the sky and on the reference frame."""

    __tablename__ = "source"
    __table_args__ = (
        UniqueConstraint("release_id", "field_id", "id_in_release"),
        CheckConstraint("ra >= 0 AND ra < 360", name="ra_range"),
        CheckConstraint("dec >= -90 AND dec <= 90", name="dec_range"),
        Index("ix_source_dec_ra", "dec", "ra"),
        {"comment": "detected objects of each release (one row per source and release)"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    release_id: Mapped[int] = mapped_column(
        ForeignKey("catalogue_release.id", ondelete="CASCADE"),
        index=True,
        comment="release the source belongs to (key: catalogue_release.id)",
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("field.id"),
        index=True,
        comment="field (pointing) the source lies in (key: field.id)",
    )
    id_in_release: Mapped[int] = mapped_column(
        BigInteger, comment="source id as published in the release's catalogue (id)"
    )
    ra: Mapped[float] = mapped_column(Double, comment="right ascension, ICRS J2000 (deg)")
    dec: Mapped[float] = mapped_column(Double, comment="declination, ICRS J2000 (deg)")
    x: Mapped[float | None] = mapped_column(
        Double, comment="x on the field's reference frame, 1-based (pix)"
    )
    y: Mapped[float | None] = mapped_column(
        Double, comment="y on the field's reference frame, 1-based (pix)"
    )
    x_mosaic: Mapped[float | None] = mapped_column(
        Double, comment="x on the mosaic frame where a catalogue gives one (pix)"
    )
    y_mosaic: Mapped[float | None] = mapped_column(
        Double, comment="y on the mosaic frame where a catalogue gives one (pix)"
    )
    selection_flag: Mapped[int | None] = mapped_column(
        comment="how the source was selected: 0 pipeline, 1/2 added by visual inspection (code)"
    )
    halpha_morph: Mapped[int | None] = mapped_column(
        comment="H-alpha morphology: 1 on top, 2 ring/associated, 3 possible, 4 none (code)"
    )
    cc_class: Mapped[str | None] = mapped_column(
        String(16), comment="PHANGS colour-colour region: ycl, map, ogcc, outside (text)"
    )
    flags: Mapped[int] = mapped_column(
        BigInteger,
        default=0,
        server_default=text("0"),
        comment="bitmask of ingest flags, see clustercat.ingest.contract.SourceFlag (bits)",
    )

    release: Mapped[CatalogueRelease] = relationship()
    field: Mapped[Field] = relationship()
    photometry: Mapped[list[Photometry]] = relationship(back_populates="source")


class Photometry(Base):
    """A flux or magnitude of a source in one filter and aperture (or the total)."""

    __tablename__ = "photometry"
    __table_args__ = (
        CheckConstraint("kind IN ('total', 'aperture')", name="kind_known"),
        CheckConstraint(
            "status IN ('measured', 'not_detected', 'outside_footprint', 'no_coverage', "
            "'apcor_undefined')",
            name="status_known",
        ),
        CheckConstraint("kind = 'total' OR radius_px > 0", name="aperture_has_radius"),
        CheckConstraint("mag_err >= 0", name="mag_err_nonnegative"),
        CheckConstraint("flux_err_mjy >= 0", name="flux_err_nonnegative"),
        CheckConstraint("sky_std >= 0", name="sky_std_nonnegative"),
        CheckConstraint("mag_vega > -30 AND mag_vega < 44", name="mag_vega_not_sentinel"),
        CheckConstraint(
            "status = 'measured' OR (mag_vega IS NULL AND flux_mjy IS NULL)",
            name="unmeasured_is_null",
        ),
        Index("ix_photometry_source_filter", "source_id", "filter_id"),
        Index(
            "uq_photometry_total",
            "source_id",
            "filter_id",
            unique=True,
            sqlite_where=text("kind = 'total'"),
            postgresql_where=text("kind = 'total'"),
        ),
        Index(
            "uq_photometry_aperture",
            "source_id",
            "filter_id",
            "radius_px",
            unique=True,
            sqlite_where=text("kind = 'aperture'"),
            postgresql_where=text("kind = 'aperture'"),
        ),
        {"comment": "photometry per source, filter and aperture radius (long format)"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"), comment="source measured (key: source.id)"
    )
    filter_id: Mapped[int] = mapped_column(
        ForeignKey("filter.id"), index=True, comment="filter and instrument (key: filter.id)"
    )
    kind: Mapped[str] = mapped_column(
        String(8),
        comment="'total' (aperture-corrected total) or 'aperture' (in radius_px) (text)",
    )
    radius_px: Mapped[float | None] = mapped_column(
        Double, comment="aperture radius; for totals the measuring aperture if known (pix)"
    )
    status: Mapped[str] = mapped_column(
        String(20),
        default="measured",
        comment="measured | not_detected | outside_footprint | no_coverage | "
        "apcor_undefined (text)",
    )
    mag_vega: Mapped[float | None] = mapped_column(Double, comment="Vega magnitude (mag)")
    mag_err: Mapped[float | None] = mapped_column(Double, comment="1-sigma magnitude error (mag)")
    flux_mjy: Mapped[float | None] = mapped_column(Double, comment="flux density (mJy)")
    flux_err_mjy: Mapped[float | None] = mapped_column(
        Double, comment="1-sigma flux density error (mJy)"
    )
    sky_median: Mapped[float | None] = mapped_column(
        Double, comment="sigma-clipped median sky in the annulus (e-/s/pix)"
    )
    sky_std: Mapped[float | None] = mapped_column(
        Double, comment="standard deviation of the sky in the annulus (e-/s/pix)"
    )
    aperture_correction_mag: Mapped[float | None] = mapped_column(
        Double, comment="aperture correction added to reach the total magnitude (mag)"
    )
    mw_extinction_corrected: Mapped[bool | None] = mapped_column(
        Boolean, comment="Milky-Way foreground extinction removed; NULL if unknown (boolean)"
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("processing_run.id"),
        comment="processing run, NULL when from the catalogue (key: processing_run.id)",
    )

    source: Mapped[Source] = relationship(back_populates="photometry")
    filter: Mapped[Filter] = relationship()


class Morphology(Base):
    """Concentration indices of a source: CI(1,3), MCI_in and MCI_out (Thilker et al. 2022 §3)."""

    __tablename__ = "morphology"
    __table_args__ = (
        UniqueConstraint("source_id", "constants_version"),
        CheckConstraint("ci < 40", name="ci_not_sentinel"),
        CheckConstraint("ci_err >= 0", name="ci_err_nonnegative"),
        CheckConstraint("mci_in_err >= 0", name="mci_in_err_nonnegative"),
        CheckConstraint("mci_out_err >= 0", name="mci_out_err_nonnegative"),
        {"comment": "concentration indices per source and constants version"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source.id", ondelete="CASCADE"), comment="source (key: source.id)"
    )
    constants_version: Mapped[str] = mapped_column(
        String(32),
        comment="'catalogue' for published values, else the MCI constants version (text)",
    )
    filter_id: Mapped[int | None] = mapped_column(
        ForeignKey("filter.id"),
        comment="filter the indices were measured in, usually V (key: filter.id)",
    )
    ci: Mapped[float | None] = mapped_column(
        Double, comment="concentration index CI = m(1 px) - m(3 px) (mag)"
    )
    ci_err: Mapped[float | None] = mapped_column(Double, comment="1-sigma error of CI (mag)")
    nci: Mapped[float | None] = mapped_column(
        Double, comment="normalised concentration index NCI (dimensionless)"
    )
    mci_in: Mapped[float | None] = mapped_column(
        Double, comment="inner multiple concentration index MCI_in (dimensionless)"
    )
    mci_in_err: Mapped[float | None] = mapped_column(
        Double, comment="1-sigma error of MCI_in (dimensionless)"
    )
    mci_out: Mapped[float | None] = mapped_column(
        Double, comment="outer multiple concentration index MCI_out (dimensionless)"
    )
    mci_out_err: Mapped[float | None] = mapped_column(
        Double, comment="1-sigma error of MCI_out (dimensionless)"
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("processing_run.id"),
        comment="processing run, NULL when from the catalogue (key: processing_run.id)",
    )

    source: Mapped[Source] = relationship()
