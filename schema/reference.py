"""Reference data: surveys, galaxies and their aliases, fields, HST filters, images.

DESIGN.md §4 "Reference data". Filters and surveys are seeded by the first migration.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, JSONDoc, created_at_column

#: Band labels used throughout (Whitmore et al. 2021 §2; LEGUS column order).
BAND_LABELS = ("NUV", "U", "B", "V", "I")


class Survey(Base):
    """An HST survey that publishes cluster catalogues (PHANGS-HST, LEGUS, ...)."""

    __tablename__ = "survey"
    __table_args__ = {"comment": "HST surveys that publish star-cluster catalogues"}

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        String(64), unique=True, comment="survey name, e.g. 'PHANGS-HST', 'LEGUS' (text)"
    )
    description: Mapped[str | None] = mapped_column(Text, comment="what the survey is (text)")
    reference: Mapped[str | None] = mapped_column(
        String(200), comment="survey paper, e.g. 'Calzetti et al. 2015, AJ 149, 51' (text)"
    )
    url: Mapped[str | None] = mapped_column(String(300), comment="survey web page (URL)")


class Galaxy(Base):
    """A host galaxy, under its canonical name (``NGC 628``)."""

    __tablename__ = "galaxy"
    __table_args__ = (
        CheckConstraint("ra_deg >= 0 AND ra_deg < 360", name="ra_range"),
        CheckConstraint("dec_deg >= -90 AND dec_deg <= 90", name="dec_range"),
        CheckConstraint("distance_mpc > 0", name="distance_positive"),
        CheckConstraint("ebv_mw >= 0", name="ebv_mw_nonnegative"),
        {"comment": "host galaxies under their canonical names"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        String(64), unique=True, comment="canonical name, e.g. 'NGC 628' (text)"
    )
    ra_deg: Mapped[float | None] = mapped_column(
        Double, comment="right ascension of the centre, ICRS (deg)"
    )
    dec_deg: Mapped[float | None] = mapped_column(
        Double, comment="declination of the centre, ICRS (deg)"
    )
    distance_mpc: Mapped[float | None] = mapped_column(Double, comment="adopted distance (Mpc)")
    distance_ref: Mapped[str | None] = mapped_column(
        String(200), comment="reference for the adopted distance (text)"
    )
    ebv_mw: Mapped[float | None] = mapped_column(
        Double, comment="Milky-Way foreground reddening E(B-V) (mag)"
    )
    morphology: Mapped[str | None] = mapped_column(
        String(32), comment="morphological type, e.g. 'SAc' (text)"
    )
    notes: Mapped[str | None] = mapped_column(Text, comment="free-text notes (text)")

    aliases: Mapped[list[GalaxyAlias]] = relationship(back_populates="galaxy")
    fields: Mapped[list[Field]] = relationship(back_populates="galaxy")


class GalaxyAlias(Base):
    """Another spelling of a galaxy's name (``NGC_628C``, ``ngc0628``) mapped to the galaxy."""

    __tablename__ = "galaxy_alias"
    __table_args__ = {"comment": "alternative galaxy names, matched case-insensitively"}

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    alias: Mapped[str] = mapped_column(
        String(64),
        unique=True,
        comment="normalised alias: lower case, no spaces/underscores (text)",
    )
    galaxy_id: Mapped[int] = mapped_column(
        ForeignKey("galaxy.id", ondelete="CASCADE"),
        index=True,
        comment="galaxy it names (key: galaxy.id)",
    )

    galaxy: Mapped[Galaxy] = relationship(back_populates="aliases")


class Filter(Base):
    """An HST filter on one instrument, with its band label and pivot wavelength."""

    __tablename__ = "filter"
    __table_args__ = (
        UniqueConstraint("name", "instrument"),
        CheckConstraint("band IN ('NUV', 'U', 'B', 'V', 'I')", name="band_label"),
        CheckConstraint("pivot_wavelength_aa > 0", name="pivot_positive"),
        {"comment": "HST filters per instrument (band label, pivot wavelength)"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(String(16), comment="filter name, e.g. 'F555W' (text)")
    instrument: Mapped[str] = mapped_column(
        String(16), comment="camera/channel: 'WFC3/UVIS' or 'ACS/WFC' (text)"
    )
    band: Mapped[str] = mapped_column(
        String(4), index=True, comment="band label NUV, U, B, V or I (text)"
    )
    pivot_wavelength_aa: Mapped[float] = mapped_column(
        Double, comment="pivot wavelength (Angstrom)"
    )
    pyphot_name: Mapped[str | None] = mapped_column(
        String(40), comment="name of the throughput curve in pyphot, e.g. 'HST_WFC3_F555W' (text)"
    )


class Field(Base):
    """One HST pointing or mosaic of a galaxy (``ngc628c``, ``ngc628e``)."""

    __tablename__ = "field"
    __table_args__ = (
        CheckConstraint("pixel_scale_arcsec > 0", name="pixel_scale_positive"),
        {"comment": "HST pointings/mosaics of a galaxy"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        String(64), unique=True, comment="field name, lower case, e.g. 'ngc628c' (text)"
    )
    galaxy_id: Mapped[int] = mapped_column(
        ForeignKey("galaxy.id"), index=True, comment="galaxy the field belongs to (key: galaxy.id)"
    )
    pixel_scale_arcsec: Mapped[float | None] = mapped_column(
        Double, comment="pixel scale of the reference frame (arcsec/pix)"
    )
    description: Mapped[str | None] = mapped_column(Text, comment="free-text description (text)")

    galaxy: Mapped[Galaxy] = relationship(back_populates="fields")
    filters: Mapped[list[FieldFilter]] = relationship(back_populates="field")


class FieldFilter(Base):
    """Which filter a field was observed in, on which instrument, with which zeropoint."""

    __tablename__ = "field_filter"
    __table_args__ = (
        UniqueConstraint("field_id", "filter_id"),
        CheckConstraint("exposure_time_s >= 0", name="exposure_nonnegative"),
        {"comment": "filters observed per field, with zeropoints"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    field_id: Mapped[int] = mapped_column(
        ForeignKey("field.id", ondelete="CASCADE"), comment="field (key: field.id)"
    )
    filter_id: Mapped[int] = mapped_column(
        ForeignKey("filter.id"), index=True, comment="filter and instrument (key: filter.id)"
    )
    zeropoint_vega: Mapped[float | None] = mapped_column(
        Double, comment="Vega zeropoint for 1 e-/s (mag)"
    )
    zeropoint_ab: Mapped[float | None] = mapped_column(
        Double, comment="AB zeropoint for 1 e-/s (mag)"
    )
    exposure_time_s: Mapped[float | None] = mapped_column(Double, comment="total exposure time (s)")

    field: Mapped[Field] = relationship(back_populates="filters")
    filter: Mapped[Filter] = relationship()


class Image(Base):
    """A drizzled science image on disk; the pixels stay in FITS, never in the database.

    Filled by ``clustercat images add`` (:mod:`clustercat.processing.images_db`); what each
    column is read from is in docs/images.md.
    """

    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("sha256"),
        UniqueConstraint("field_id", "filter_id", "path"),
        Index("ix_image_field_filter", "field_id", "filter_id"),
        CheckConstraint("exposure_time_s >= 0", name="exposure_nonnegative"),
        CheckConstraint("pixel_scale_arcsec > 0", name="pixel_scale_positive"),
        CheckConstraint("photflam > 0", name="photflam_positive"),
        CheckConstraint("photplam > 0", name="photplam_positive"),
        CheckConstraint("file_size_bytes >= 0", name="file_size_nonnegative"),
        {"comment": "science images (FITS files on disk) per field and filter"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    field_id: Mapped[int] = mapped_column(
        ForeignKey("field.id"), comment="field imaged (key: field.id)"
    )
    filter_id: Mapped[int] = mapped_column(
        ForeignKey("filter.id"), comment="filter (key: filter.id)"
    )
    path: Mapped[str] = mapped_column(Text, comment="path or URI of the FITS file (text)")
    sha256: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the file (hex)")
    hdu: Mapped[int] = mapped_column(default=0, comment="HDU index of the science array (index)")
    wcs_header: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="FITS WCS keywords of the science HDU (JSON)"
    )
    naxis1: Mapped[int | None] = mapped_column(comment="image width (pix)")
    naxis2: Mapped[int | None] = mapped_column(comment="image height (pix)")
    instrument: Mapped[str | None] = mapped_column(
        String(16), comment="camera/channel from INSTRUME/DETECTOR, e.g. 'WFC3/UVIS' (text)"
    )
    detector: Mapped[str | None] = mapped_column(
        String(8), comment="DETECTOR keyword: 'UVIS' or 'WFC' (text)"
    )
    exposure_time_s: Mapped[float | None] = mapped_column(
        Double, comment="EXPTIME, total exposure time of the drizzled image (s)"
    )
    pixel_scale_arcsec: Mapped[float | None] = mapped_column(
        Double, comment="pixel scale from the WCS (arcsec/pix)"
    )
    bunit: Mapped[str | None] = mapped_column(
        String(32), comment="BUNIT as written in the file, e.g. 'ELECTRONS/S' (text)"
    )
    photflam: Mapped[float | None] = mapped_column(
        Double, comment="PHOTFLAM, flux density of 1 e-/s (erg/s/cm2/Angstrom)"
    )
    photplam: Mapped[float | None] = mapped_column(
        Double, comment="PHOTPLAM, pivot wavelength (Angstrom)"
    )
    zeropoint_ab: Mapped[float | None] = mapped_column(
        Double, comment="AB zeropoint for 1 e-/s from PHOTFLAM/PHOTPLAM (mag)"
    )
    zeropoint_vega: Mapped[float | None] = mapped_column(
        Double, comment="Vega zeropoint for 1 e-/s, Vega through the pyphot curve (mag)"
    )
    date_obs: Mapped[dt.date | None] = mapped_column(
        Date, comment="DATE-OBS of the first exposure, if in the header (date)"
    )
    file_size_bytes: Mapped[int | None] = mapped_column(
        BigInteger, comment="size of the FITS file when registered (bytes)"
    )
    registered_at: Mapped[dt.datetime] = created_at_column("time the image was registered (UTC)")
