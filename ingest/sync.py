"""Scheduled ingest: every pipeline version in a drop directory that is not yet in the database.

A drop directory holds one folder per pipeline version, each with a ``manifest.toml``::

    # drop/2026-11-01_legus-v2/manifest.toml
    reader = "legus"                 # legus | legus-csv | phangs | starcnet | mrt
    release = "legus"                # release name; a new version is made when content changes
    pipeline_version = "v2"          # optional
    files = ["hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab"]
    # optional: layout = "L35-MODE-MEAN", attach_to = "legus" (starcnet), created = 2026-11-01

Versions are taken oldest first (``created`` if given, else the folder name in natural
order). Each is one ingest (atomic, idempotent), and the release definition of
docs/ingest.md decides what it is: files of new fields at the same pipeline version are
added to the newest version; other content, or another ``pipeline_version``, is a new
version. Overlapping runs are safe: a database-level lock (the row lock of
``ingest_lock`` 'sync' on PostgreSQL, which readers cannot take, or a lock file beside a
SQLite database) makes a second run wait for the first, after which it finds everything
ingested and does nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from .releases import SYNC_LOCK_KEY, lock_ingest

log = logging.getLogger(__name__)

MANIFEST = "manifest.toml"


class ManifestError(ValueError):
    """A manifest that cannot be used, naming the file and the key."""


@dataclass
class Manifest:
    folder: Path
    reader: str
    release: str
    files: list[Path]
    pipeline_version: str | None = None
    layout: str | None = None
    attach_to: str | None = None
    created: dt.date | dt.datetime | None = None
    options: dict = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple:
        natural = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", self.folder.name)]
        created = self.created
        if isinstance(created, dt.datetime):
            created = created.date()
        return (created or dt.date.max, natural)


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from exc
    for key in ("reader", "release", "files"):
        if key not in data:
            raise ManifestError(f"{path}: key '{key}' is missing")
    files = [folder / f for f in data["files"]]
    for f in files:
        if not f.is_file():
            raise ManifestError(f"{path}: key 'files': {f.name} does not exist in {folder}")
    known = {"reader", "release", "files", "pipeline_version", "layout", "attach_to", "created"}
    return Manifest(
        folder=folder,
        reader=str(data["reader"]),
        release=str(data["release"]),
        files=files,
        pipeline_version=data.get("pipeline_version"),
        layout=data.get("layout"),
        attach_to=data.get("attach_to"),
        created=data.get("created"),
        options={k: v for k, v in data.items() if k not in known},
    )


def find_versions(drop_dir: Path) -> list[Manifest]:
    """Every pipeline-version folder of ``drop_dir``, oldest first."""
    folders = [p for p in sorted(drop_dir.iterdir()) if (p / MANIFEST).is_file()]
    return sorted((read_manifest(p) for p in folders), key=lambda m: m.sort_key)


@contextlib.contextmanager
def sync_lock(engine: Engine) -> Iterator[None]:
    """Hold the database-level sync lock for the duration of the block (waits for it)."""
    if engine.dialect.name == "postgresql":
        # the row lock of ingest_lock 'sync', held by a transaction on a connection of its own
        with engine.connect() as conn, conn.begin():
            lock_ingest(conn, SYNC_LOCK_KEY)
            yield
    else:
        database = engine.url.database
        lock_path = Path(f"{database}.sync.lock") if database else None
        if lock_path is None:  # in-memory database: one process only
            yield
            return
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def request_for(manifest: Manifest):  # noqa: ANN201 - (ReleaseRequest, reader) pair
    """The ingest request and reader function a manifest describes."""
    from .loader import ReleaseRequest
    from .registry import reader_info

    info = reader_info(manifest.reader)
    request = ReleaseRequest(
        name=manifest.release,
        reader=info.name,
        reader_version=info.version,
        files=manifest.files,
        layout=manifest.layout,
        pipeline_version=manifest.pipeline_version,
        new_version=True,  # a drop directory delivers successive versions of a release ...
        extend=True,  # ... or fields added to the newest one (docs/ingest.md)
        skip_if_delivered=True,  # each folder once, however often sync runs
        attach_to=manifest.attach_to,
        options={"manifest": str(manifest.folder / MANIFEST), **manifest.options},
    )
    read = info.reader(layout=manifest.layout) if info.name == "legus" else info.reader()
    return request, read


def run_sync(engine: Engine, drop_dir: Path, *, show_progress: bool = False) -> list:
    """Ingest every version of ``drop_dir`` not yet in the database, oldest first.

    Stops at the first version that fails (later versions must not overtake it) and
    re-raises its error after logging it.
    """
    from .loader import ingest_release

    results = []
    with sync_lock(engine):
        for manifest in find_versions(drop_dir):
            request, read = request_for(manifest)
            try:
                result = ingest_release(engine, request, read, show_progress=show_progress)
            except Exception:
                log.error("sync: %s failed; later versions wait for it", manifest.folder.name)
                raise
            log.info(
                "sync: %s -> release %s v%s: %s",
                manifest.folder.name, result.release, result.version, result.status,
            )  # fmt: skip
            results.append(result)
    return results
