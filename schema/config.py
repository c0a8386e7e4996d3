"""Run-time configuration: where the database and the shared data live.

Two environment variables steer everything:

``CLUSTERCAT_DATABASE_URL``
    SQLAlchemy URL of the catalogue database. Default: a SQLite file ``clustercat.db``
    in the current working directory (the embedded default; no server needed).
``CLUSTERCAT_DATA``
    Folder with the shared real data (LEGUS catalogues, SSP tables, PSFs, published
    tables). Default: ``../shared/data`` relative to the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SQLITE_FILE = "clustercat.db"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def database_url(explicit: str | None = None) -> str:
    """The database URL: ``explicit`` if given, else ``$CLUSTERCAT_DATABASE_URL``, else SQLite."""
    if explicit:
        return explicit
    env = os.environ.get("CLUSTERCAT_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"


def data_dir() -> Path:
    """The shared real-data folder: ``$CLUSTERCAT_DATA``, else ``../shared/data``."""
    env = os.environ.get("CLUSTERCAT_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (PROJECT_ROOT.parent / "shared" / "data").resolve()


def data_required() -> bool:
    """True when missing shared data must fail tests instead of skipping them (CI sets it)."""
    return os.environ.get("CLUSTERCAT_REQUIRE_DATA", "") not in ("", "0", "false", "no")
