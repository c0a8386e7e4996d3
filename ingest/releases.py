"""Release bookkeeping: names, file identity, "already ingested", versions, locks.

A release version is identified by its name plus the content of its input files: the
SHA-256 of each file, the reader, the layout override and an explicit pipeline version.
The same content as the newest complete version of the name is "already ingested"; other
content under an existing name is refused unless a new version is asked for (content
equal to an older, superseded version included). What ``fetch`` and ``sync`` make of their
files (a field added, or a new version carrying the other fields forward) is the release
definition of docs/ingest.md (:mod:`clustercat.ingest.loader`). Complete releases are
never modified (DESIGN.md §6; enforced by :mod:`clustercat.schema.immutability`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from clustercat import __version__
from clustercat.schema import CatalogueRelease, metadata
from clustercat.schema.release import RELEASE_NAME_MAX, RELEASE_NAME_PATTERN
from sqlalchemy import Connection, Row, bindparam, select, text
from sqlalchemy.exc import OperationalError

#: Lock keys of the writers. Each names a row of ``ingest_lock`` (revision 0007) whose row
#: lock the writer takes; readers can SELECT that table but not lock its rows.
INGEST_LOCK_KEY = 0x436C75737443_01  # "ClustC" + 01
SYNC_LOCK_KEY = 0x436C75737443_02
LOCK_NAMES = {
    INGEST_LOCK_KEY: "ingest",
    SYNC_LOCK_KEY: "sync",
    0x436C75737443_03: "ssp",
    0x436C75737443_04: "sed",
}
#: How long a writer waits for the lock before giving up and naming the holder (s).
LOCK_TIMEOUT_S = float(os.environ.get("CLUSTERCAT_LOCK_TIMEOUT", "600"))

_NAME = re.compile(RELEASE_NAME_PATTERN)


class ReleaseNameError(ValueError):
    """A release name outside the documented pattern or length."""


class LockTimeoutError(RuntimeError):
    """Another writer held the lock for longer than the timeout."""


def check_release_name(name: str) -> str:
    """``name`` if it is a valid release name, else :class:`ReleaseNameError`.

    Valid: 1 to 128 characters (the length of ``catalogue_release.name``), a letter or
    digit first, then letters, digits and ``. _ + -`` (no blanks, newlines or quotes).
    """
    if not isinstance(name, str) or not name:
        raise ReleaseNameError("release name is empty")
    if len(name) > RELEASE_NAME_MAX:
        raise ReleaseNameError(
            f"release name has {len(name)} characters; at most {RELEASE_NAME_MAX} are allowed"
        )
    if not _NAME.fullmatch(name):
        raise ReleaseNameError(
            f"release name {name!r} is not allowed: use letters, digits and . _ + - "
            "(starting with a letter or digit), no blanks or newlines"
        )
    return name


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


def _postgres_holder(conn: Connection, name: str) -> str:
    """Who holds the row lock of ``ingest_lock`` row ``name`` (its transaction's session)."""
    row = conn.execute(
        text(
            "SELECT a.pid, a.usename, a.application_name, a.client_addr, a.xact_start, a.query "
            "FROM pg_stat_activity a WHERE a.backend_xid = "
            "(SELECT l.xmax FROM ingest_lock l WHERE l.name = :name)"
        ),
        {"name": name},
    ).first()
    if row is None:
        return "a session that has since ended"
    return (
        f"PostgreSQL pid {row.pid} (user {row.usename}"
        + (f", application {row.application_name!r}" if row.application_name else "")
        + (f", from {row.client_addr}" if row.client_addr else "")
        + f", transaction started {row.xact_start:%Y-%m-%d %H:%M:%S %Z}; "
        f"last statement: {str(row.query)[:200]!r})"
    )


def lock_ingest(
    conn: Connection, key: int = INGEST_LOCK_KEY, *, timeout_s: float | None = None
) -> None:
    """Serialise writers for the rest of the transaction.

    PostgreSQL: ``SELECT ... FOR UPDATE`` of the lock's ``ingest_lock`` row, waiting at most
    ``timeout_s`` (default :data:`LOCK_TIMEOUT_S`); then :class:`LockTimeoutError` names the
    session holding it. Readers cannot take the lock (row locks need UPDATE privilege).
    On SQLite the write transaction itself (``BEGIN IMMEDIATE``) is the lock.
    """
    if conn.dialect.name != "postgresql":
        return
    name = LOCK_NAMES.get(key)
    if name is None:  # a key without a lock row: a plain transaction-level advisory lock
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return
    timeout_ms = int(1000 * (LOCK_TIMEOUT_S if timeout_s is None else timeout_s))
    previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": f"{timeout_ms}ms"})
    try:
        with conn.begin_nested():
            conn.execute(
                text("SELECT name FROM ingest_lock WHERE name = :name FOR UPDATE"),
                {"name": name},
            )
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        holder = _postgres_holder(conn, name)
        raise LockTimeoutError(
            f"waited {timeout_ms / 1000:g} s for the {name} lock; it is held by {holder}"
        ) from exc
    finally:
        conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": previous})


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


def newest_complete(conn: Connection, name: str) -> Row | None:
    """The newest complete version of release ``name`` (the one the views show), if any."""
    return conn.execute(
        select(CatalogueRelease)
        .where(CatalogueRelease.name == name, CatalogueRelease.status == "complete")
        .order_by(CatalogueRelease.version.desc())
        .limit(1)
    ).first()


def find_identical(conn: Connection, name: str, identity: str) -> tuple[int, int] | None:
    """(id, version) of the newest complete version of ``name`` if it has this content.

    Only the newest version counts: content equal to an older, superseded version (a
    revert) is a new version, so that withdrawn data never stays the newest.
    """
    newest = newest_complete(conn, name)
    if newest is not None and newest.content_sha256 == identity:
        return newest.id, newest.version
    return None


def mark_superseded(conn: Connection, name: str, newest_id: int) -> int:
    """Mark every other complete version of ``name`` superseded; returns how many."""
    result = conn.execute(
        text(
            "UPDATE catalogue_release SET status = 'superseded' "
            "WHERE name = :name AND status = 'complete' AND id <> :id"
        ),
        {"name": name, "id": newest_id},
    )
    return int(result.rowcount)


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


def find_delivered(
    conn: Connection, name: str, sha256s: list[str], pipeline_version: str | None
) -> tuple[int, int] | None:
    """(id, version) of a version of ``name`` (complete or superseded) that already holds
    every one of these files (and carries ``pipeline_version``, when given).

    A drop-directory folder is delivered once: ``sync`` re-reads every folder on each run,
    and an old folder must not come back as a "revert" of the newest version.
    """
    hashes = sorted(set(sha256s))
    label = "AND r.pipeline_version = :label " if pipeline_version else ""
    row = conn.execute(
        text(
            "SELECT r.id, r.version FROM catalogue_release r WHERE r.name = :name "
            f"AND r.status IN ('complete', 'superseded') {label}"
            "AND (SELECT count(DISTINCT f.sha256) FROM release_file f "
            "     WHERE f.release_id = r.id AND f.sha256 IN :hashes) = :n "
            "ORDER BY r.version DESC LIMIT 1"
        ).bindparams(bindparam("hashes", expanding=True)),
        {"name": name, "hashes": hashes, "n": len(hashes), "label": pipeline_version},
    ).first()
    return (row[0], row[1]) if row else None


#: Tables whose rows of a field are copied forward with its sources (own rows only: a
#: classification delivered by another release stays with that release's version).
CARRIED_TABLES = ("photometry", "morphology", "sed_fit", "classification", "source_selection")


def carry_forward(
    conn: Connection, old_id: int, new_id: int, field_ids: list[int]
) -> dict[str, int]:
    """Copy the fields ``field_ids`` of release ``old_id`` into the new version ``new_id``.

    A new version made because one field's file changed (same pipeline version) still holds
    the release's other fields: their sources, measurements, classes, SED fits and files are
    copied (INSERT ... SELECT, one statement per table), the old rows stay untouched.
    """
    if not field_ids:
        return {}
    fields = bindparam("fields", expanding=True)
    params = {"old": old_id, "new": new_id, "fields": list(field_ids)}
    copied: dict[str, int] = {}

    def columns(table: str, skip: tuple[str, ...]) -> list[str]:
        return [c.name for c in metadata.tables[table].columns if c.name not in skip]

    cols = columns("source", ("id", "release_id"))
    listed = ", ".join(cols)
    copied["source"] = conn.execute(
        text(
            f"INSERT INTO source (release_id, {listed}) SELECT :new, {listed} FROM source "
            "WHERE release_id = :old AND field_id IN :fields"
        ).bindparams(fields),
        params,
    ).rowcount
    for table in CARRIED_TABLES:
        if table not in metadata.tables:
            continue
        cols = columns(table, ("id", "source_id"))
        own = " AND t.release_id IS NULL" if table == "classification" else ""
        copied[table] = conn.execute(
            text(
                f"INSERT INTO {table} (source_id, {', '.join(cols)}) "
                f"SELECT ns.id, {', '.join('t.' + c for c in cols)} FROM {table} t "
                "JOIN source os ON os.id = t.source_id "
                "JOIN source ns ON ns.release_id = :new AND ns.field_id = os.field_id "
                "AND ns.id_in_release = os.id_in_release "
                f"WHERE os.release_id = :old AND os.field_id IN :fields{own}"
            ).bindparams(fields),
            params,
        ).rowcount
    cols = columns("release_file", ("id", "release_id"))
    listed = ", ".join(cols)
    copied["release_file"] = conn.execute(
        text(
            f"INSERT INTO release_file (release_id, {listed}) SELECT :new, {listed} "
            "FROM release_file WHERE release_id = :old AND field_id IN :fields"
        ).bindparams(fields),
        params,
    ).rowcount
    return copied
