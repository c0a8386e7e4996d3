"""Release bookkeeping: file identity, "already ingested", versions, stale leftovers, locks.

A release is identified by its name plus the content of its input files: the SHA-256 of
each file, the reader and the layout override. The same files under the same name are
"already ingested"; other content under an existing name is refused unless a new version
is asked for. Complete releases are never modified (DESIGN.md §6).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from clustercat import __version__
from clustercat.schema import CatalogueRelease
from sqlalchemy import Connection, select, text

#: PostgreSQL advisory-lock key shared by every ingest (``hashtext('clustercat ingest')``
#: would do too; a fixed 64-bit constant is simpler to recognise in pg_locks).
INGEST_LOCK_KEY = 0x436C75737443_01  # "ClustC" + 01
SYNC_LOCK_KEY = 0x436C75737443_02


class ReleaseConflictError(RuntimeError):
    """Different content under the name of an existing complete release."""


@dataclass(frozen=True)
class InputFile:
    """An input file with its checksum."""

    path: Path
    sha256: str
    size_bytes: int

    @classmethod
    def from_path(cls, path: str | Path) -> InputFile:
        path = Path(path)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return cls(path=path, sha256=digest.hexdigest(), size_bytes=path.stat().st_size)


def content_identity(reader: str, files: list[InputFile], options: dict | None = None) -> str:
    """SHA-256 over the reader, its identity-relevant options and the sorted file hashes."""
    payload = json.dumps(
        {"reader": reader, "options": options or {}, "files": sorted(f.sha256 for f in files)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def code_version() -> str:
    """ClusterCat version, with the git commit when running from a checkout."""
    head = Path(__file__).resolve().parent.parent / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (head.parent / ref[5:]).read_text().strip()
        return f"{__version__}+g{ref[:10]}"
    except OSError:
        return __version__


def lock_ingest(conn: Connection, key: int = INGEST_LOCK_KEY) -> None:
    """Serialise writers: a transaction-level advisory lock on PostgreSQL.

    On SQLite the write transaction itself (``BEGIN IMMEDIATE``) is the lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class ReleaseVersion(NamedTuple):
    id: int
    version: int


def complete_releases(conn: Connection, name: str) -> list[ReleaseVersion]:
    """(id, version) of the complete (or superseded) versions of ``name``, oldest first."""
    rows = conn.execute(
        select(CatalogueRelease.id, CatalogueRelease.version)
        .where(
            CatalogueRelease.name == name,
            CatalogueRelease.status.in_(("complete", "superseded")),
        )
        .order_by(CatalogueRelease.version)
    )
    return [ReleaseVersion(*r) for r in rows]


def find_identical(conn: Connection, name: str, identity: str) -> tuple[int, int] | None:
    """(id, version) of a complete release ``name`` with this content, if there is one."""
    row = conn.execute(
        select(CatalogueRelease.id, CatalogueRelease.version).where(
            CatalogueRelease.name == name,
            CatalogueRelease.content_sha256 == identity,
            CatalogueRelease.status.in_(("complete", "superseded")),
        )
    ).first()
    return (row[0], row[1]) if row else None


def remove_stale(conn: Connection, name: str) -> int:
    """Delete leftovers of failed or interrupted ingests of ``name``; returns how many.

    A release stays in ``loading`` only if its process died between two transactions
    (a single-transaction ingest that is killed leaves nothing); ``failed`` rows are the
    record of an ingest that raised. Neither is ever visible through the views.
    """
    ids = (
        conn.execute(
            select(CatalogueRelease.id).where(
                CatalogueRelease.name == name, CatalogueRelease.status.in_(("loading", "failed"))
            )
        )
        .scalars()
        .all()
    )
    for release_id in ids:
        conn.execute(text("DELETE FROM catalogue_release WHERE id = :id"), {"id": release_id})
    return len(ids)


def next_version(conn: Connection, name: str) -> int:
    """The version number a new release ``name`` gets."""
    current = conn.execute(
        text("SELECT max(version) FROM catalogue_release WHERE name = :name"), {"name": name}
    ).scalar()
    return (current or 0) + 1
