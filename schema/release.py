"""Versions and provenance: catalogue releases, their input files, processing runs.

DESIGN.md §4 "Versions and provenance". A release is one ingested pipeline version of
one survey. Complete releases are immutable; a new version is a new row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, JSONDoc, created_at_column
from .reference import Survey

RELEASE_STATUSES = ("loading", "complete", "failed", "superseded")
RUN_STATUSES = ("running", "complete", "failed")

#: Release names: a letter or digit, then letters, digits and ``. _ + -``; at most
#: :data:`RELEASE_NAME_MAX` characters (the length of ``catalogue_release.name``).
RELEASE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
RELEASE_NAME_MAX = 128


class CatalogueRelease(Base):
    """One ingested pipeline version of one survey's catalogue (immutable once complete)."""

    __tablename__ = "catalogue_release"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint(
            "status IN ('loading', 'complete', 'failed', 'superseded')", name="status_known"
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_catalogue_release_status", "status"),
        # at most one complete version per name: the one the plain views show
        Index(
            "uq_catalogue_release_complete_name",
            "name",
            unique=True,
            postgresql_where=text("status = 'complete'"),
            sqlite_where=text("status = 'complete'"),
        ),
        {"comment": "ingested catalogue versions; complete releases are never modified"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    name: Mapped[str] = mapped_column(
        String(RELEASE_NAME_MAX), comment="release name chosen at ingest, e.g. 'legus-v1' (text)"
    )
    version: Mapped[int] = mapped_column(
        default=1, comment="version number under this name, 1, 2, ... (count)"
    )
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey.id"),
        index=True,
        comment="survey that published the catalogue (key: survey.id)",
    )
    pipeline_version: Mapped[str | None] = mapped_column(
        Text, comment="version string(s) of the producing pipeline, e.g. 'v1', 'DR4' (text)"
    )
    status: Mapped[str] = mapped_column(
        String(16), default="loading", comment="loading | complete | failed | superseded (text)"
    )
    reader: Mapped[str | None] = mapped_column(
        String(64), comment="ingest reader used, e.g. 'legus-tab' (text)"
    )
    reader_version: Mapped[str | None] = mapped_column(
        String(32), comment="version of the ingest reader (text)"
    )
    layout: Mapped[str | None] = mapped_column(
        Text, comment="column layout(s) of the input files, e.g. 'L35-MODE-MEAN' (text)"
    )
    code_version: Mapped[str | None] = mapped_column(
        String(64), comment="ClusterCat version (and git commit) that ingested it (text)"
    )
    config: Mapped[dict | None] = mapped_column(
        JSONDoc, comment="ingest options and anything else needed to redo it (JSON)"
    )
    content_sha256: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 over the sorted input-file hashes: the release identity (hex)"
    )
    default_sed_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("sed_method.id"),
        comment="SED method shown by the cluster_catalogue view (key: sed_method.id)",
    )
    morphology_version: Mapped[str] = mapped_column(
        String(32),
        default="catalogue",
        server_default="catalogue",
        comment="morphology constants version shown by the cluster_catalogue view (text)",
    )
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalogue_release.id"),
        comment="earlier release this one replaces (key: catalogue_release.id)",
    )
    ingested_at: Mapped[dt.datetime] = created_at_column("time the ingest started (UTC)")
    completed_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="time the release became complete (UTC)"
    )
    notes: Mapped[str | None] = mapped_column(Text, comment="free-text notes (text)")

    survey: Mapped[Survey] = relationship()
    files: Mapped[list[ReleaseFile]] = relationship(back_populates="release")


class ReleaseFile(Base):
    """An input file of a release, identified by its SHA-256."""

    __tablename__ = "release_file"
    __table_args__ = (
        UniqueConstraint("release_id", "path"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        {"comment": "input files of each release with their checksums"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    release_id: Mapped[int] = mapped_column(
        ForeignKey("catalogue_release.id", ondelete="CASCADE"),
        comment="release (key: catalogue_release.id)",
    )
    path: Mapped[str] = mapped_column(Text, comment="file name as given at ingest (text)")
    sha256: Mapped[str] = mapped_column(
        String(64), index=True, comment="SHA-256 of the file contents (hex)"
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger, comment="file size (bytes)")
    layout: Mapped[str | None] = mapped_column(
        String(64), comment="column layout the reader applied to this file (text)"
    )
    field_id: Mapped[int | None] = mapped_column(
        ForeignKey("field.id"), comment="field the file describes (key: field.id)"
    )
    n_rows: Mapped[int | None] = mapped_column(comment="rows read from the file (count)")
    primary_classification_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("classification_method.id"),
        comment="the file's class column to use for 'class 1/2/3/4' "
        "(key: classification_method.id)",
    )

    release: Mapped[CatalogueRelease] = relationship(back_populates="files")


class ProcessingRun(Base):
    """One run of a processing module over a release (photometry, MCI, SED, cross-match ...)."""

    __tablename__ = "processing_run"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'complete', 'failed')", name="status_known"),
        {"comment": "processing-module runs: what ran, on what, with which settings"},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="surrogate key (key)")
    module: Mapped[str] = mapped_column(
        String(64), index=True, comment="processing module, e.g. 'sed', 'morphology' (text)"
    )
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalogue_release.id"),
        index=True,
        comment="release processed (key: catalogue_release.id)",
    )
    config: Mapped[dict | None] = mapped_column(JSONDoc, comment="run settings (JSON)")
    code_version: Mapped[str | None] = mapped_column(
        String(64), comment="ClusterCat version that ran (text)"
    )
    status: Mapped[str] = mapped_column(
        String(16), default="running", comment="running | complete | failed (text)"
    )
    started_at: Mapped[dt.datetime] = created_at_column("start time (UTC)")
    finished_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="end time (UTC)"
    )


class ReleaseDropGuard(Base):
    """Releases ``clustercat db drop-release`` is deleting in the current transaction.

    The immutability triggers (:mod:`clustercat.schema.immutability`) let UPDATE and DELETE
    through for a release listed here, and on PostgreSQL only when the current user is the
    database owner. Rows exist only inside the drop transaction; the table is empty otherwise.
    """

    __tablename__ = "release_drop_guard"
    __table_args__ = (
        {
            "comment": "releases being dropped by 'clustercat db drop-release' in the current "
            "transaction (the owner's only way past immutability); empty otherwise"
        },
    )

    release_id: Mapped[int] = mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        comment="catalogue_release.id being dropped (key)",
    )


class IngestLock(Base):
    """Named rows whose row lock (``SELECT ... FOR UPDATE``) serialises writers.

    Readers may SELECT but not UPDATE this table, so they cannot take the lock (an advisory
    lock could be taken by anyone who can connect). PostgreSQL only: on SQLite the write
    transaction (``BEGIN IMMEDIATE``) is the lock and the rows are unused.
    """

    __tablename__ = "ingest_lock"
    __table_args__ = (
        {"comment": "one row per writer lock (ingest, sync, sed, ssp): writers lock the row"},
    )

    name: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="lock name: ingest | sync | sed | ssp (text)"
    )
