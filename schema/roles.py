"""Login roles for collaborators on PostgreSQL: ``clustercat db grant-reader / grant-writer``.

Revision 0004 creates two group roles without login: ``clustercat_reader`` (SELECT on every
table and view, now and later, through default privileges) and ``clustercat_writer`` (read
and write data, no DDL). A person or service gets a *login* role that is a member of one of
them. Two things are not inherited through membership in PostgreSQL and are therefore set on
the login role itself:

* role settings (``ALTER ROLE ... SET``): a reader gets ``statement_timeout`` (60 s by
  default) and ``default_transaction_read_only = on``;
* nothing else: privileges *are* inherited (roles are created ``INHERIT``), so grants made by
  later migrations to the group roles reach every member without re-running these commands.

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
    "RolesNotSupportedError",
    "grant_reader",
    "grant_role",
    "grant_writer",
    "role_settings",
]

READER_GROUP = "clustercat_reader"
WRITER_GROUP = "clustercat_writer"
#: The reader's statement timeout (as revision 0004 sets on ``clustercat_reader``).
READER_STATEMENT_TIMEOUT = "60s"

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
    if created:
        conn.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN INHERIT{pw}")
    else:
        conn.exec_driver_sql(f"ALTER ROLE {quoted} LOGIN INHERIT{pw}")
    conn.exec_driver_sql(f"GRANT {group} TO {quoted}")
    result = GrantResult(name, group, created, password is not None)
    if kind == "reader":
        settings = {
            "statement_timeout": statement_timeout,
            "default_transaction_read_only": "on",
        }
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
) -> GrantResult:
    """Create login role ``name`` if missing and make it a ClusterCat reader or writer.

    Idempotent: an existing role keeps its password unless ``password`` is given, gets
    ``LOGIN`` and the group membership again, and (reader) its settings reset to the values
    here. ``statement_timeout`` (reader only) is a PostgreSQL duration such as ``'60s'``.
    Needs a connection with CREATEROLE (or superuser) on a database migrated to head.
    """
    _check_name(name)
    if kind not in ("reader", "writer"):
        raise ValueError(f"kind must be 'reader' or 'writer', not {kind!r}")
    if not _TIMEOUT.match(statement_timeout.strip()):
        raise ValueError(f"statement_timeout {statement_timeout!r} is not a duration like '60s'")
    if engine_or_conn.dialect.name != "postgresql":
        raise RolesNotSupportedError(SQLITE_HAS_NO_ROLES)
    try:
        if isinstance(engine_or_conn, Engine):
            with engine_or_conn.begin() as conn:
                return _grant(conn, name, kind, password, statement_timeout.strip())
        return _grant(engine_or_conn, name, kind, password, statement_timeout.strip())
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
) -> GrantResult:
    """:func:`grant_role` with ``kind='reader'``: SELECT only, read-only, statement timeout."""
    return grant_role(engine_or_conn, name, "reader", password, statement_timeout=statement_timeout)


def grant_writer(
    engine_or_conn: Engine | Connection, name: str, password: str | None = None
) -> GrantResult:
    """:func:`grant_role` with ``kind='writer'``: read and write data, no DDL."""
    return grant_role(engine_or_conn, name, "writer", password)
