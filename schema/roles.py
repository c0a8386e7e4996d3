"""Login roles for collaborators on PostgreSQL: ``clustercat db grant-reader / grant-writer``.

Revision 0004 creates two group roles without login: ``clustercat_reader`` (SELECT on every
table and view, now and later, through default privileges) and ``clustercat_writer`` (read
and write data, no DDL). A person or service gets a *login* role that is a member of one of
them. Role settings (``ALTER ROLE ... SET``) are not inherited through membership, so the
owner sets them on each login role; privileges *are* inherited (roles are created
``INHERIT``), so grants made by later migrations reach every member.

What is and is not a limit (docs/roles.md; each point tested in tests/test_roles.py):

* **limits** a reader cannot lift: the privileges (SELECT only: writes and DDL fail with
  42501 even in a ``READ WRITE`` transaction); the login role's ``CONNECTION LIMIT`` (a role
  attribute only a CREATEROLE role or superuser may change); no CREATEROLE/CREATEDB; queries
  cancelled by the owner with :func:`cancel_long_reader_queries` (e.g. from cron);
* **defaults**, not limits: ``statement_timeout``, ``idle_in_transaction_session_timeout``
  and ``default_transaction_read_only`` set on the login role. PostgreSQL (15) lets every
  role ``SET`` any such parameter in its session and even ``ALTER ROLE itself SET`` it; no
  privilege, event trigger or setting location prevents that. Re-running ``grant-reader``
  restores them.

Passwords never come from the command line (visible in ``ps`` and shell history): the CLI
takes them from an environment variable or a hidden prompt.

Roles are cluster-wide: a login role created here can connect to every ClusterCat database
of the server whose group roles grant it access. SQLite has no roles, users or privileges at
all (whoever can read the file can read everything, whoever can write it can change
everything); :func:`grant_role` refuses it with :class:`RolesNotSupportedError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, Engine, literal
from sqlalchemy.exc import DBAPIError

__all__ = [
    "READER_GROUP",
    "READER_STATEMENT_TIMEOUT",
    "SQLITE_HAS_NO_ROLES",
    "WRITER_GROUP",
    "GrantResult",
    "READER_CONNECTION_LIMIT",
    "READER_IDLE_IN_TRANSACTION_TIMEOUT",
    "RolesNotSupportedError",
    "cancel_long_reader_queries",
    "grant_reader",
    "grant_role",
    "grant_writer",
    "role_settings",
]

READER_GROUP = "clustercat_reader"
WRITER_GROUP = "clustercat_writer"
#: The reader's statement timeout (as revision 0004 sets on ``clustercat_reader``).
READER_STATEMENT_TIMEOUT = "60s"
#: Sessions idle inside a transaction longer than this are ended (a default, see above).
READER_IDLE_IN_TRANSACTION_TIMEOUT = "5min"
#: Concurrent sessions a reader login role may open (a role attribute: a real limit).
READER_CONNECTION_LIMIT = 8

SQLITE_HAS_NO_ROLES = (
    "SQLite has no roles, logins or privileges: anyone who can read the database file can "
    "read every table, and anyone who can write it can change anything. Control access with "
    "file permissions, or use PostgreSQL (CLUSTERCAT_DATABASE_URL=postgresql://...) for "
    "reader and writer roles."
)

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TIMEOUT = re.compile(r"^\d+\s*(ms|s|min|h)?$")

Kind = Literal["reader", "writer"]


class RolesNotSupportedError(RuntimeError):
    """Raised for a backend without roles (SQLite)."""


@dataclass
class GrantResult:
    """What :func:`grant_role` did."""

    role: str
    group: str
    created: bool
    password_set: bool
    connection_limit: int = -1
    settings: dict[str, str] = field(default_factory=dict)
    reset: list[str] = field(default_factory=list)


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"role name {name!r} is not a plain lower-case identifier "
            "(letters, digits, underscore; at most 63 characters; not starting with a digit)"
        )
    if name.startswith("pg_") or name in (READER_GROUP, WRITER_GROUP):
        raise ValueError(f"role name {name!r} is reserved")
    return name


def _literal(conn: Connection, value: str) -> str:
    """``value`` as a quoted SQL string literal (for DDL, which takes no bind parameters)."""
    return str(literal(value).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def role_settings(conn: Connection, name: str) -> dict[str, str]:
    """The cluster-wide ``ALTER ROLE name SET`` settings of a role (empty if none)."""
    rows = conn.exec_driver_sql(
        "SELECT unnest(s.setconfig) FROM pg_db_role_setting s "
        "JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = %(name)s AND s.setdatabase = 0",
        {"name": name},
    ).scalars()
    return dict(item.split("=", 1) for item in rows)


def _grant(
    conn: Connection,
    name: str,
    kind: Kind,
    password: str | None,
    statement_timeout: str,
    connection_limit: int,
) -> GrantResult:
    group = READER_GROUP if kind == "reader" else WRITER_GROUP
    quoted = conn.dialect.identifier_preparer.quote_identifier(name)
    exists = conn.exec_driver_sql(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%(names)s)",
        {"names": [name, group]},
    ).scalars()
    found = set(exists)
    if group not in found:
        raise RuntimeError(
            f"role {group} does not exist: migrate this database first ('clustercat db upgrade')"
        )
    created = name not in found
    pw = f" PASSWORD {_literal(conn, password)}" if password is not None else ""
    # never more than a plain login: no CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS
    attributes = (
        f"LOGIN INHERIT NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS "
        f"CONNECTION LIMIT {int(connection_limit):d}{pw}"
    )
    if created:
        conn.exec_driver_sql(f"CREATE ROLE {quoted} {attributes}")
    else:
        conn.exec_driver_sql(f"ALTER ROLE {quoted} {attributes}")
    conn.exec_driver_sql(f"GRANT {group} TO {quoted}")
    result = GrantResult(name, group, created, password is not None, int(connection_limit))
    if kind == "reader":
        settings = {
            "statement_timeout": statement_timeout,
            "idle_in_transaction_session_timeout": READER_IDLE_IN_TRANSACTION_TIMEOUT,
            "default_transaction_read_only": "on",
        }
        # a reader may have altered its own settings (ALTER ROLE itself [IN DATABASE] SET):
        # start again from the owner's
        conn.exec_driver_sql(f"ALTER ROLE {quoted} RESET ALL")
        per_database = conn.exec_driver_sql(
            "SELECT d.datname FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "JOIN pg_database d ON d.oid = s.setdatabase WHERE r.rolname = %(name)s",
            {"name": name},
        ).scalars()
        for database in list(per_database):
            db = conn.dialect.identifier_preparer.quote_identifier(database)
            conn.exec_driver_sql(f"ALTER ROLE {quoted} IN DATABASE {db} RESET ALL")
        for key, value in settings.items():
            conn.exec_driver_sql(f"ALTER ROLE {quoted} SET {key} = {_literal(conn, value)}")
        result.settings = settings
    elif role_settings(conn, name).get("default_transaction_read_only") == "on":
        # a former reader: a writer whose transactions start read-only could write nothing
        conn.exec_driver_sql(f"ALTER ROLE {quoted} RESET default_transaction_read_only")
        result.reset.append("default_transaction_read_only")
    return result


def grant_role(
    engine_or_conn: Engine | Connection,
    name: str,
    kind: Kind,
    password: str | None = None,
    *,
    statement_timeout: str = READER_STATEMENT_TIMEOUT,
    connection_limit: int | None = None,
) -> GrantResult:
    """Create login role ``name`` if missing and make it a ClusterCat reader or writer.

    Idempotent: an existing role keeps its password unless ``password`` is given, gets
    ``LOGIN``, its connection limit and the group membership again, and (reader) all its
    role settings reset to the values here. ``statement_timeout`` (reader only) is a
    PostgreSQL duration such as ``'60s'``; ``connection_limit`` defaults to
    :data:`READER_CONNECTION_LIMIT` for readers and no limit (-1) for writers.
    Needs a connection with CREATEROLE (or superuser) on a database migrated to head.
    """
    _check_name(name)
    if connection_limit is None:
        connection_limit = READER_CONNECTION_LIMIT if kind == "reader" else -1
    if isinstance(connection_limit, bool) or not isinstance(connection_limit, int):
        raise ValueError(f"connection_limit must be an integer, not {connection_limit!r}")
    if connection_limit < -1 or connection_limit == 0:
        raise ValueError("connection_limit must be at least 1 (or -1 for no limit)")
    if kind not in ("reader", "writer"):
        raise ValueError(f"kind must be 'reader' or 'writer', not {kind!r}")
    if not _TIMEOUT.match(statement_timeout.strip()):
        raise ValueError(f"statement_timeout {statement_timeout!r} is not a duration like '60s'")
    if engine_or_conn.dialect.name != "postgresql":
        raise RolesNotSupportedError(SQLITE_HAS_NO_ROLES)
    try:
        if isinstance(engine_or_conn, Engine):
            with engine_or_conn.begin() as conn:
                return _grant(
                    conn, name, kind, password, statement_timeout.strip(), connection_limit
                )
        return _grant(
            engine_or_conn, name, kind, password, statement_timeout.strip(), connection_limit
        )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42501":
            raise PermissionError(
                f"not allowed to create or alter roles as this user: {exc.orig}"
            ) from exc
        raise


def grant_reader(
    engine_or_conn: Engine | Connection,
    name: str,
    password: str | None = None,
    *,
    statement_timeout: str = READER_STATEMENT_TIMEOUT,
    connection_limit: int | None = None,
) -> GrantResult:
    """:func:`grant_role` with ``kind='reader'``: SELECT only, read-only, statement timeout."""
    return grant_role(
        engine_or_conn,
        name,
        "reader",
        password,
        statement_timeout=statement_timeout,
        connection_limit=connection_limit,
    )


def grant_writer(
    engine_or_conn: Engine | Connection, name: str, password: str | None = None
) -> GrantResult:
    """:func:`grant_role` with ``kind='writer'``: read and write data, no DDL."""
    return grant_role(engine_or_conn, name, "writer", password)


@dataclass(frozen=True)
class CancelledQuery:
    """A reader's statement cancelled by :func:`cancel_long_reader_queries`."""

    pid: int
    role: str
    seconds: float
    query: str


def cancel_long_reader_queries(
    engine_or_conn: Engine | Connection, max_seconds: float
) -> list[CancelledQuery]:
    """Cancel every statement of a reader login role running longer than ``max_seconds``.

    This is the server-side statement limit PostgreSQL itself does not give (a reader can
    ``SET statement_timeout = 0``): run it as the owner every minute (cron, a systemd timer,
    pg_cron). Uses ``pg_cancel_backend``, so the caller must be a superuser or a member of
    ``pg_signal_backend``; the statement fails with SQLSTATE 57014, the session survives.
    """
    if not (max_seconds > 0):
        raise ValueError(f"max_seconds must be positive, not {max_seconds!r}")
    if engine_or_conn.dialect.name != "postgresql":
        raise RolesNotSupportedError(SQLITE_HAS_NO_ROLES)
    sql = (
        "SELECT a.pid, a.usename, extract(epoch FROM now() - a.query_start), a.query, "
        "pg_cancel_backend(a.pid) "
        "FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid "
        "WHERE a.state = 'active' AND a.pid <> pg_backend_pid() "
        "AND now() - a.query_start > make_interval(secs => %(secs)s) "
        "AND pg_has_role(r.oid, %(group)s, 'MEMBER') AND NOT r.rolsuper"
    )
    params = {"secs": float(max_seconds), "group": READER_GROUP}

    def run(conn: Connection) -> list[CancelledQuery]:
        rows = conn.exec_driver_sql(sql, params).all()
        return [CancelledQuery(int(p), str(u), float(s), str(q)) for p, u, s, q, ok in rows if ok]

    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.begin() as conn:
            return run(conn)
    return run(engine_or_conn)
