"""Login roles for collaborators: ``clustercat db grant-reader`` / ``grant-writer``.

On PostgreSQL every test logs in *as the new role* over TCP (127.0.0.1, password auth: the
server's pg_hba.conf allows ``scram-sha-256`` on localhost, while its Unix socket only allows
peer authentication, i.e. the OS user's own role). If no TCP login is possible the login
tests skip with the reason (fail under ``CLUSTERCAT_REQUIRE_POSTGRES=1``); the SET ROLE tests
of tests/test_postgres.py cover the group roles in any case. Roles are cluster-wide: each
test role gets a unique name and is dropped afterwards.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner
from clustercat.schema import make_engine, metadata, migrate
from clustercat.schema.cli import db_group
from clustercat.schema.roles import (
    READER_GROUP,
    WRITER_GROUP,
    RolesNotSupportedError,
    grant_reader,
    grant_writer,
    role_settings,
)
from clustercat.schema.views import CURRENT_VIEW_COMMENTS
from conftest import login_as
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError


def test_sqlite_has_no_roles(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'roles.db'}"
    engine = make_engine(url)
    with pytest.raises(RolesNotSupportedError, match="SQLite has no roles"):
        grant_reader(engine, "alice")
    engine.dispose()
    result = CliRunner().invoke(db_group, ["grant-writer", "alice"], obj={"database": url})
    assert result.exit_code == 1
    assert "SQLite has no roles, logins or privileges" in result.output


# --- PostgreSQL ------------------------------------------------------------------------------

#: PostgreSQL-only tests (counted as such in the per-backend summary).
postgres_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture(scope="module")
def roles_db(postgres_databases) -> Iterator[str]:  # noqa: ANN001
    """A database of its own at head (the last test downgrades and upgrades it)."""
    url = postgres_databases.create("clustercat_roles")
    migrate.upgrade(url)
    yield url
    postgres_databases.drop(url)


@pytest.fixture(scope="module")
def admin(roles_db: str) -> Iterator[Engine]:
    engine = make_engine(roles_db)
    yield engine
    engine.dispose()


@pytest.fixture
def new_role(admin: Engine) -> Iterator[Callable[[], str]]:
    """Factory of unique role names; every role made is dropped after the test."""
    made: list[str] = []

    def make() -> str:
        name = f"cc_test_{uuid.uuid4().hex[:10]}"
        made.append(name)
        return name

    yield make
    with admin.begin() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')


def _login(roles_db: str, admin: Engine, role: str, password: str) -> Engine:
    """An engine that logs in as ``role`` over TCP with its password."""
    return login_as(roles_db, role, password)


def _relations() -> list[str]:
    return sorted(metadata.tables) + list(CURRENT_VIEW_COMMENTS)


@postgres_only
def test_grant_reader_creates_a_login_role(
    backend: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    name = new_role()
    first = grant_reader(admin, name, secrets.token_hex(8))
    assert first.created and first.password_set and first.group == READER_GROUP
    again = grant_reader(admin, name)
    assert not again.created and not again.password_set
    with admin.connect() as conn:
        login = conn.execute(
            text("SELECT rolcanlogin, rolinherit FROM pg_roles WHERE rolname = :n"), {"n": name}
        ).one()
        groups = conn.execute(
            text(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :n"
            ),
            {"n": name},
        ).scalars()
        settings = role_settings(conn, name)
    assert tuple(login) == (True, True)
    assert set(groups) == {READER_GROUP}
    assert settings == {
        "statement_timeout": "60s",
        "idle_in_transaction_session_timeout": "5min",
        "default_transaction_read_only": "on",
    }


@postgres_only
def test_reader_logs_in_and_reads_every_table_and_view(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    name, password = new_role(), secrets.token_hex(8)
    grant_reader(admin, name, password)
    reader = _login(roles_db, admin, name, password)
    try:
        with reader.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == name
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1min"
            assert conn.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
            for relation in _relations():
                conn.execute(text(f'SELECT * FROM "{relation}" LIMIT 1')).all()
    finally:
        reader.dispose()


WRITES = [
    "INSERT INTO galaxy (name) VALUES ('NGC 9999')",
    "UPDATE filter SET band = 'V' WHERE name = 'F555W'",
    "DELETE FROM survey",
    "DROP TABLE source",
    "DROP VIEW release_summary",
    "CREATE TABLE intruder (id int)",
    "CREATE VIEW intruder AS SELECT 1 AS one",
    "TRUNCATE photometry",
    "ALTER TABLE source ADD COLUMN intruder int",
]


@postgres_only
def test_reader_cannot_write_or_change_the_schema(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    """Two layers: the default read-only transaction (25006) and, in a transaction that asks
    for READ WRITE, the missing privileges (42501)."""
    name, password = new_role(), secrets.token_hex(8)
    grant_reader(admin, name, password)
    reader = _login(roles_db, admin, name, password)
    try:
        for statement in WRITES:
            for read_write in (False, True):
                with reader.connect() as conn:
                    if read_write:
                        conn.exec_driver_sql("SET TRANSACTION READ WRITE")
                    with pytest.raises(DBAPIError) as excinfo:
                        conn.exec_driver_sql(statement)
                    conn.rollback()
                want = {"42501"} if read_write else {"25006", "42501"}
                assert excinfo.value.orig.sqlstate in want, (statement, read_write)
    finally:
        reader.dispose()
    with admin.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM survey").scalar() == 2


@postgres_only
def test_runaway_query_is_cancelled_by_the_statement_timeout(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    name, password = new_role(), secrets.token_hex(8)
    grant_reader(admin, name, password, statement_timeout="1s")
    reader = _login(roles_db, admin, name, password)
    try:
        with reader.connect() as conn:
            start = time.monotonic()
            with pytest.raises(DBAPIError) as excinfo:
                conn.exec_driver_sql("SELECT pg_sleep(10)")
            elapsed = time.monotonic() - start
    finally:
        reader.dispose()
    assert excinfo.value.orig.sqlstate == "57014"  # query_canceled
    assert 0.9 < elapsed < 5


@postgres_only
def test_writer_writes_data_but_not_schema(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    name, password = new_role(), secrets.token_hex(8)
    grant_reader(admin, name, password)  # a former reader ...
    result = grant_writer(admin, name)  # ... made a writer: read-only default removed
    assert result.group == WRITER_GROUP and result.reset == ["default_transaction_read_only"]
    writer = _login(roles_db, admin, name, password)
    try:
        with writer.connect() as conn:
            conn.exec_driver_sql("INSERT INTO galaxy (name, distance_mpc) VALUES ('NGC 9998', 5)")
            assert (
                conn.exec_driver_sql("SELECT count(*) FROM galaxy WHERE name = 'NGC 9998'").scalar()
                == 1
            )
            conn.rollback()
            with pytest.raises(DBAPIError) as excinfo:
                conn.exec_driver_sql("CREATE TABLE intruder (id int)")
            conn.rollback()
    finally:
        writer.dispose()
    assert excinfo.value.orig.sqlstate == "42501"


@postgres_only
def test_cli_grant_reader(backend: str, roles_db: str, admin: Engine, new_role) -> None:  # noqa: ANN001
    name, password = new_role(), secrets.token_hex(8)
    runner = CliRunner()
    obj = {"database": roles_db}
    out = runner.invoke(
        db_group,
        ["grant-reader", name, "--password-env", "CC_PW"],
        obj=obj,
        env={"CC_PW": password},
    )
    assert out.exit_code == 0, out.output
    assert f"created login role {name}" in out.output and "statement_timeout = 60s" in out.output
    again = runner.invoke(db_group, ["grant-reader", name], obj=obj)
    assert again.exit_code == 0 and f"updated existing role {name}" in again.output
    bad = runner.invoke(db_group, ["grant-reader", "Robert'); DROP TABLE source; --"], obj=obj)
    assert bad.exit_code == 1 and "not a plain lower-case identifier" in bad.output
    reader = _login(roles_db, admin, name, password)
    reader.dispose()


@postgres_only
@pytest.mark.parametrize("bad", ["Alice", "x;drop", "1abc", "pg_admin", READER_GROUP, "a" * 64])
def test_role_names_are_checked(backend: str, admin: Engine, bad: str) -> None:
    with pytest.raises(ValueError):
        grant_reader(admin, bad)


@postgres_only
def test_grants_survive_a_downgrade_and_upgrade_of_the_newest_revision(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    """Membership in the group role is all a login role has, so the views that revision 0007
    drops and re-creates are readable again at once (explicit grants and 0004's defaults)."""
    name, password = new_role(), secrets.token_hex(8)
    grant_reader(admin, name, password)
    admin.dispose()  # the downgrade drops views: no pooled connection may hold them
    migrate.downgrade(roles_db, "0006")
    with admin.connect() as conn:
        views = set(conn.exec_driver_sql("SELECT viewname FROM pg_views").scalars())
    assert "release_summary" in views and "cluster_catalogue_all" not in views
    migrate.upgrade(roles_db)
    reader = _login(roles_db, admin, name, password)
    try:
        with reader.connect() as conn:
            for relation in _relations():
                conn.execute(text(f'SELECT * FROM "{relation}" LIMIT 1')).all()
    finally:
        reader.dispose()


# --- passwords never on the command line; what is and is not a limit (issue 13) --------------


def test_password_on_the_command_line_is_refused(tmp_path) -> None:  # noqa: ANN001
    """No database is needed: the option is refused before anything connects."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    runner = CliRunner()
    for command in ("grant-reader", "grant-writer"):
        out = runner.invoke(
            db_group, [command, "alice", "--password", "s3cret"], obj={"database": url}
        )
        assert out.exit_code == 2, out.output
        assert "--password is not accepted" in out.output and "--password-env" in out.output
        assert "s3cret" not in out.output
    unset = runner.invoke(
        db_group, ["grant-reader", "alice", "--password-env", "CC_NOT_SET_ANYWHERE"],
        obj={"database": url}, env={"CC_NOT_SET_ANYWHERE": None},
    )  # fmt: skip
    assert unset.exit_code == 2 and "CC_NOT_SET_ANYWHERE: that variable is not set" in unset.output
    both = runner.invoke(
        db_group, ["grant-writer", "alice", "--password-env", "X", "--password-prompt"],
        obj={"database": url}, env={"X": "pw"},
    )  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output


@postgres_only
def test_password_prompt_is_hidden_and_confirmed(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    name, password = new_role(), secrets.token_hex(8)
    runner = CliRunner()
    obj = {"database": roles_db}
    mismatch = runner.invoke(
        db_group, ["grant-writer", name, "--password-prompt"], obj=obj,
        input=f"{password}\nsomething-else\n{password}\n{password}\n",
    )  # fmt: skip
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output and password not in mismatch.output
    writer = _login(roles_db, admin, name, password)
    writer.dispose()


def _reader_session(roles_db: str, admin: Engine, new_role: Callable[[], str], **kwargs):  # noqa: ANN003, ANN202
    name, password = new_role(), secrets.token_hex(8)
    grant_reader(admin, name, password, **kwargs)
    return name, password, _login(roles_db, admin, name, password)


@postgres_only
def test_session_settings_are_defaults_not_limits(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    """What PostgreSQL does not prevent, stated as a test: a reader can SET its statement
    timeout to 0 in a session and even ALTER ROLE itself; grant-reader restores the setting."""
    name, _, reader = _reader_session(roles_db, admin, new_role, statement_timeout="1s")
    try:
        with reader.connect() as conn:
            conn.exec_driver_sql("SET statement_timeout = 0")
            assert conn.exec_driver_sql("SELECT pg_sleep(1.2) IS NULL").scalar() is not None
            with pytest.raises(DBAPIError) as excinfo:  # read-only by default ...
                conn.exec_driver_sql(f'ALTER ROLE "{name}" SET statement_timeout = 0')
            assert excinfo.value.orig.sqlstate == "25006"
            conn.rollback()
            conn.exec_driver_sql("SET default_transaction_read_only = off")  # ... a default
            conn.commit()
            conn.exec_driver_sql(f'ALTER ROLE "{name}" SET statement_timeout = 0')
            conn.exec_driver_sql(f'ALTER ROLE "{name}" SET default_transaction_read_only = off')
            conn.commit()
        with admin.connect() as conn:
            assert role_settings(conn, name)["statement_timeout"] == "0"
        grant_reader(admin, name, statement_timeout="1s")  # the owner puts it back
        with admin.connect() as conn:
            settings = role_settings(conn, name)
        assert settings["statement_timeout"] == "1s"
        assert settings["default_transaction_read_only"] == "on"
    finally:
        reader.dispose()


@postgres_only
def test_connection_limit_and_privileges_are_limits(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    name, password, reader = _reader_session(roles_db, admin, new_role, connection_limit=2)
    try:
        with reader.connect() as conn:
            conn.exec_driver_sql("SET default_transaction_read_only = off")
            conn.commit()
            for statement in (
                f'ALTER ROLE "{name}" CONNECTION LIMIT -1',
                f'ALTER ROLE "{name}" CREATEROLE',
                f'ALTER DATABASE "{make_url(roles_db).database}" SET statement_timeout = 0',
                f'GRANT clustercat_writer TO "{name}"',
            ):
                with pytest.raises(DBAPIError) as excinfo:
                    conn.exec_driver_sql(statement)
                conn.rollback()
                assert excinfo.value.orig.sqlstate == "42501", statement
        first, second = reader.connect(), reader.connect()
        try:
            with pytest.raises(OperationalError, match="too many connections"):
                reader.connect()
        finally:
            first.close()
            second.close()
    finally:
        reader.dispose()
    with admin.connect() as conn:
        limit = conn.execute(
            text("SELECT rolconnlimit FROM pg_roles WHERE rolname = :n"), {"n": name}
        ).scalar()
    assert limit == 2


@postgres_only
def test_owner_cancels_a_reader_query_that_removed_its_timeout(
    backend: str, roles_db: str, admin: Engine, new_role: Callable[[], str]
) -> None:
    """The server-side limit: cancel_long_reader_queries (run from cron) stops a statement of
    a reader that SET statement_timeout = 0; the admin's own sessions are untouched."""
    import threading

    from clustercat.schema.roles import cancel_long_reader_queries

    name, _, reader = _reader_session(roles_db, admin, new_role)
    outcome: dict[str, object] = {}

    def runaway() -> None:
        with reader.connect() as conn:
            conn.exec_driver_sql("SET statement_timeout = 0")
            start = time.monotonic()
            try:
                conn.exec_driver_sql("SELECT pg_sleep(20)")
            except DBAPIError as exc:
                outcome["sqlstate"] = exc.orig.sqlstate
            outcome["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=runaway)
    try:
        thread.start()
        time.sleep(1.5)
        assert cancel_long_reader_queries(admin, 60.0) == []  # not yet over the limit
        cancelled = cancel_long_reader_queries(admin, 1.0)
        thread.join(10)
    finally:
        reader.dispose()
    assert [c.role for c in cancelled] == [name] and "pg_sleep" in cancelled[0].query
    assert outcome["sqlstate"] == "57014" and outcome["seconds"] < 5
