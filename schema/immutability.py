"""Immutability of complete releases, enforced by the database (DESIGN.md §4, §6; issue 13).

At head, triggers on PostgreSQL and SQLite refuse UPDATE and DELETE of

* a ``complete`` or ``superseded`` row of ``catalogue_release``, except the two changes a
  complete release may get: status ``complete`` -> ``superseded`` (a newer version was
  ingested) and a new ``default_sed_method_id`` (``process sed --set-default``);
* EVERY row that belongs to such a release: its files, sources, photometry, morphology,
  SED fits and candidate selections, whichever run wrote them and whenever (also a later
  SED refit: :data:`PROTECTED_TABLES_V2`, revision 0011), its classifications (of the
  release that delivered them, else of the source's release), its complete processing
  runs (:data:`PROTECTED_TABLES`, revision 0007) and its ``catalogue_entry`` rows
  (revision 0010).

INSERTs are never refused: new SED fits, classifications, morphology and processing runs
may be added to a complete release, and once added they are frozen with it. A refit
therefore never replaces earlier fits: it is a new SED method beside them (``process sed
--label``), and ``--set-default`` chooses the one ``cluster_catalogue`` shows.

History: revisions 0007 and 0008 froze photometry, morphology, SED fits and selections
only when they were part of the release (:data:`PART_OF_RELEASE`: no ``run_id``, or a run
started before the release was completed), so a later run's outputs could be deleted (the
former ``process sed --replace``). Revision 0011 dropped that condition; its downgrade
restores it. The constants those revisions import stay as they were, so that they replay
exactly.

The one way out is ``clustercat db drop-release``: inside its transaction it lists the
release in ``release_drop_guard``; the triggers let changes of a listed release through,
and on PostgreSQL only when ``current_user`` is (a member of) the owner of
``catalogue_release``. Writers cannot write ``release_drop_guard`` and are not the owner,
so they cannot drop or alter a complete release; neither can the owner by plain SQL
without the guard row.

A table added later joins with :func:`protect_table` in its migration, given the SQL that
leads from a row (``OLD``) to its release id, e.g.::

    protect_table(op.get_bind(), ProtectedTable("catalogue_entry", ("OLD.release_id",)))

SQLite recreates a table in ``batch_alter_table`` when it must; its triggers vanish with
it, so such a migration calls :func:`protect_table` again afterwards (with the table's
current spec, e.g. from :data:`PROTECTED_TABLES_V2`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, inspect, text

#: Release statuses whose rows are frozen.
FROZEN_STATUSES = ("complete", "superseded")
_FROZEN = "('complete', 'superseded')"

#: SQLSTATE of a refused change on PostgreSQL (a ClusterCat-specific code).
IMMUTABLE_SQLSTATE = "CC001"

#: The columns of a complete ``catalogue_release`` row that may change.
MUTABLE_RELEASE_COLUMNS = ("status", "default_sed_method_id")

#: SQL from a row with a ``source_id`` to its release id.
SOURCE_RELEASE = "(SELECT s.release_id FROM source s WHERE s.id = OLD.source_id)"

#: Condition of revisions 0007 and 0008 (undone by 0011; kept for their replay and for
#: 0011's downgrade) for a row with a ``run_id`` to be part of its release: it came with the
#: catalogue (no run), or from a run that started before the release was completed (e.g.
#: the image pipeline's run, written in the release's own ingest). Rows of runs started
#: later (an SED refit) were left unprotected. Writers set both ``started_at`` and
#: ``completed_at`` from the same clock at microsecond precision (the database default,
#: CURRENT_TIMESTAMP, has whole seconds on SQLite).
PART_OF_RELEASE = (
    "(OLD.run_id IS NULL OR NOT EXISTS (SELECT 1 FROM processing_run pr "
    "JOIN catalogue_release rr ON rr.id = pr.release_id WHERE pr.id = OLD.run_id "
    "AND rr.completed_at IS NOT NULL AND pr.started_at > rr.completed_at))"
)


def _create_pg_trigger(bind: Connection, name: str, table: str) -> None:
    """The row trigger ``name`` running the function ``name()`` before UPDATE or DELETE."""
    bind.execute(
        text(
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
    )


@dataclass(frozen=True)
class ProtectedTable:
    """A table whose rows are frozen while the release they belong to is complete.

    ``release_ids``: SQL expressions over ``OLD`` giving the release id(s) of a row (NULL
    allowed); ``only_if``: an optional SQL condition over ``OLD`` limiting the protection.
    """

    table: str
    release_ids: tuple[str, ...]
    only_if: str | None = None


#: The tables protected by revision 0007 (revision 0011 re-protects photometry, morphology and
#: sed_fit without the condition: :data:`PROTECTED_TABLES_V2`).
PROTECTED_TABLES: tuple[ProtectedTable, ...] = (
    ProtectedTable("release_file", ("OLD.release_id",)),
    ProtectedTable("source", ("OLD.release_id",)),
    ProtectedTable("photometry", (SOURCE_RELEASE,), PART_OF_RELEASE),
    ProtectedTable("morphology", (SOURCE_RELEASE,), PART_OF_RELEASE),
    ProtectedTable("sed_fit", (SOURCE_RELEASE,), PART_OF_RELEASE),
    # a class belongs to the release that delivered it (StarcNet), else the source's release
    ProtectedTable("classification", (f"COALESCE(OLD.release_id, {SOURCE_RELEASE})",)),
    ProtectedTable("processing_run", ("OLD.release_id",), "OLD.status = 'complete'"),
)

#: The tables revision 0011 re-protects without :data:`PART_OF_RELEASE`: every row of a
#: complete release is frozen, whichever run wrote it and whenever (never lose data).
PROTECTED_TABLES_V2: tuple[ProtectedTable, ...] = (
    ProtectedTable("photometry", (SOURCE_RELEASE,)),
    ProtectedTable("morphology", (SOURCE_RELEASE,)),
    ProtectedTable("sed_fit", (SOURCE_RELEASE,)),
    ProtectedTable("source_selection", (SOURCE_RELEASE,)),
)

#: What 0011's downgrade restores for those tables: 0007's and 0008's protection, with
#: :data:`PART_OF_RELEASE`.
PROTECTED_TABLES_V1_PARTIAL: tuple[ProtectedTable, ...] = (
    ProtectedTable("photometry", (SOURCE_RELEASE,), PART_OF_RELEASE),
    ProtectedTable("morphology", (SOURCE_RELEASE,), PART_OF_RELEASE),
    ProtectedTable("sed_fit", (SOURCE_RELEASE,), PART_OF_RELEASE),
    ProtectedTable("source_selection", (SOURCE_RELEASE,), PART_OF_RELEASE),
)


def _message(table: str) -> str:
    return (
        f"{table}: UPDATE and DELETE of rows of a complete release are refused (complete "
        "releases are immutable; only the owner can remove one, with clustercat db drop-release)"
    )


def _guard_function_sql() -> str:
    return f"""
CREATE OR REPLACE FUNCTION clustercat_release_frozen(bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM catalogue_release r WHERE r.id = $1 AND r.status IN {_FROZEN}
    ) AND NOT (
        EXISTS (SELECT 1 FROM release_drop_guard g WHERE g.release_id = $1)
        AND pg_has_role(
            current_user,
            (SELECT c.relowner FROM pg_class c WHERE c.oid = 'catalogue_release'::regclass),
            'USAGE'
        )
    )
$$"""


def _frozen_sqlite(expr: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM catalogue_release r WHERE r.id = {expr} "
        f"AND r.status IN {_FROZEN} AND NOT EXISTS "
        "(SELECT 1 FROM release_drop_guard g WHERE g.release_id = r.id))"
    )


def _trigger_names(table: str) -> tuple[str, str]:
    return f"clustercat_immutable_{table}", f"clustercat_immutable_{table}_delete"


def install_release_guard(bind: Connection) -> None:
    """The shared guard function (PostgreSQL) and the trigger on ``catalogue_release``."""
    name, delete_name = _trigger_names("catalogue_release")
    message = _message("catalogue_release").replace("'", "''")
    if bind.dialect.name == "postgresql":
        bind.execute(text(_guard_function_sql()))
        mutable = " - ".join(f"'{c}'" for c in MUTABLE_RELEASE_COLUMNS)
        bind.execute(
            text(f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN {_FROZEN} AND clustercat_release_frozen(OLD.id) THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION '{message} (release id %)', OLD.id
                USING ERRCODE = '{IMMUTABLE_SQLSTATE}';
        END IF;
        IF (to_jsonb(NEW) - {mutable}) IS DISTINCT FROM (to_jsonb(OLD) - {mutable})
           OR NOT (NEW.status = OLD.status
                   OR (OLD.status = 'complete' AND NEW.status = 'superseded')) THEN
            RAISE EXCEPTION '{message} (release id %: only complete -> superseded and '
                'default_sed_method_id may change)', OLD.id
                USING ERRCODE = '{IMMUTABLE_SQLSTATE}';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$""")
        )
        _create_pg_trigger(bind, name, "catalogue_release")
        return
    columns = [
        c["name"]
        for c in inspect(bind).get_columns("catalogue_release")
        if c["name"] not in MUTABLE_RELEASE_COLUMNS
    ]
    changed = " OR ".join(f'NEW."{c}" IS NOT OLD."{c}"' for c in columns)
    frozen = f"OLD.status IN {_FROZEN} AND {_frozen_sqlite('OLD.id')}"
    bind.execute(
        text(f"""
CREATE TRIGGER {name} BEFORE UPDATE ON catalogue_release FOR EACH ROW
WHEN {frozen} AND ({changed} OR NOT (NEW.status = OLD.status
    OR (OLD.status = 'complete' AND NEW.status = 'superseded')))
BEGIN SELECT RAISE(ABORT, '{message}'); END""")
    )
    bind.execute(
        text(f"""
CREATE TRIGGER {delete_name} BEFORE DELETE ON catalogue_release FOR EACH ROW
WHEN {frozen}
BEGIN SELECT RAISE(ABORT, '{message}'); END""")
    )


def remove_release_guard(bind: Connection) -> None:
    """Undo :func:`install_release_guard`."""
    name, delete_name = _trigger_names("catalogue_release")
    if bind.dialect.name == "postgresql":
        bind.execute(text(f"DROP TRIGGER IF EXISTS {name} ON catalogue_release"))
        bind.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))
        bind.execute(text("DROP FUNCTION IF EXISTS clustercat_release_frozen(bigint)"))
    else:
        bind.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        bind.execute(text(f"DROP TRIGGER IF EXISTS {delete_name}"))


def protect_table(bind: Connection, spec: ProtectedTable) -> None:
    """Create (or re-create) the triggers refusing UPDATE/DELETE of ``spec.table``'s rows of
    complete releases. Needs :func:`install_release_guard` first (revision 0007)."""
    unprotect_table(bind, spec.table)
    name, delete_name = _trigger_names(spec.table)
    message = _message(spec.table).replace("'", "''")
    condition = spec.only_if or "TRUE"
    if bind.dialect.name == "postgresql":
        ids = ", ".join(f"({e})::bigint" for e in spec.release_ids)
        bind.execute(
            text(f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
BEGIN
    IF {condition} THEN
        FOREACH rid IN ARRAY ARRAY[{ids}] LOOP
            IF clustercat_release_frozen(rid) THEN
                RAISE EXCEPTION '{message} (% of id %, release id %)', TG_OP, OLD.id, rid
                    USING ERRCODE = '{IMMUTABLE_SQLSTATE}';
            END IF;
        END LOOP;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$""")
        )
        _create_pg_trigger(bind, name, spec.table)
        return
    frozen = " OR ".join(_frozen_sqlite(e) for e in spec.release_ids)
    sqlite_condition = spec.only_if or "1"
    for trigger, event in ((name, "UPDATE"), (delete_name, "DELETE")):
        bind.execute(
            text(f"""
CREATE TRIGGER {trigger} BEFORE {event} ON {spec.table} FOR EACH ROW
WHEN ({sqlite_condition}) AND ({frozen})
BEGIN SELECT RAISE(ABORT, '{message}'); END""")
        )


def unprotect_table(bind: Connection, table: str) -> None:
    """Drop the immutability triggers of ``table`` (if any)."""
    name, delete_name = _trigger_names(table)
    if bind.dialect.name == "postgresql":
        bind.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        bind.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))
    else:
        bind.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        bind.execute(text(f"DROP TRIGGER IF EXISTS {delete_name}"))


def protected_tables(bind: Connection) -> set[str]:
    """Tables that carry an immutability trigger in this database."""
    if bind.dialect.name == "postgresql":
        rows = bind.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c "
                "ON c.oid = t.tgrelid WHERE t.tgname LIKE 'clustercat_immutable_%'"
            )
        )
    else:
        rows = bind.execute(
            text(
                "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'clustercat_immutable_%'"
            )
        )
    return set(rows.scalars())


def install(bind: Connection, tables: Sequence[ProtectedTable] = PROTECTED_TABLES) -> None:
    """The guard and every table's triggers (revision 0007)."""
    install_release_guard(bind)
    for spec in tables:
        protect_table(bind, spec)


def uninstall(bind: Connection, tables: Sequence[ProtectedTable] = PROTECTED_TABLES) -> None:
    """Drop what :func:`install` created."""
    for spec in tables:
        unprotect_table(bind, spec.table)
    remove_release_guard(bind)


# --- the way out: dropping a release (owner only) --------------------------------------------


class ReleaseInUseError(RuntimeError):
    """Other releases' rows depend on the release to drop."""


@dataclass
class DroppedRelease:
    """What :func:`drop_release` removed."""

    name: str
    version: int
    status: str
    rows: dict[str, int]
    promoted_version: int | None = None


def _is_owner(conn: Connection) -> bool:
    return bool(
        conn.execute(
            text(
                "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
                "WHERE c.oid = 'catalogue_release'::regclass"
            )
        ).scalar()
    )


def drop_release(conn: Connection, name: str, version: int) -> DroppedRelease:
    """Delete release ``name`` version ``version`` with every row that belongs to it.

    Runs in the caller's transaction (``clustercat db drop-release`` commits it). The
    release and the releases it must touch (a later version's ``supersedes_id``, the
    version promoted back to ``complete`` when the newest one goes) are listed in
    ``release_drop_guard`` for the duration, which is what lets the triggers through; on
    PostgreSQL only the owner of ``catalogue_release`` may do that (else
    :class:`PermissionError`). Refused with :class:`ReleaseInUseError` while another
    release's classifications sit on its sources.
    """
    release = conn.execute(
        text(
            "SELECT id, status, supersedes_id FROM catalogue_release "
            "WHERE name = :name AND version = :version"
        ),
        {"name": name, "version": version},
    ).first()
    if release is None:
        raise LookupError(f"no release {name!r} version {version}")
    if conn.dialect.name == "postgresql" and not _is_owner(conn):
        user = conn.execute(text("SELECT current_user")).scalar()
        raise PermissionError(
            f"only the owner of the database tables can drop a release; {user} is not"
        )
    rid = release.id
    users = conn.execute(
        text(
            "SELECT DISTINCT r.name, r.version FROM classification c "
            "JOIN source s ON s.id = c.source_id JOIN catalogue_release r ON r.id = c.release_id "
            "WHERE s.release_id = :id AND c.release_id <> :id ORDER BY 1, 2"
        ),
        {"id": rid},
    ).all()
    if users:
        listed = ", ".join(f"{n} v{v}" for n, v in users)
        raise ReleaseInUseError(
            f"release {name} v{version} carries classifications of {listed}: drop those first"
        )
    later = conn.execute(
        text("SELECT id FROM catalogue_release WHERE supersedes_id = :id"), {"id": rid}
    ).scalars()
    promote = None
    if release.status == "complete":
        promote = conn.execute(
            text(
                "SELECT id, version FROM catalogue_release WHERE name = :name "
                "AND status = 'superseded' ORDER BY version DESC LIMIT 1"
            ),
            {"name": name},
        ).first()
    guarded = {rid, *later, *([promote.id] if promote else [])}
    conn.execute(
        text("INSERT INTO release_drop_guard (release_id) VALUES (:id)"),
        [{"id": i} for i in sorted(guarded)],
    )
    rows = {
        table: int(conn.execute(text(sql), {"id": rid}).scalar())
        for table, sql in (
            ("source", "SELECT count(*) FROM source WHERE release_id = :id"),
            (
                "photometry",
                "SELECT count(*) FROM photometry p JOIN source s ON s.id = p.source_id "
                "WHERE s.release_id = :id",
            ),
            ("release_file", "SELECT count(*) FROM release_file WHERE release_id = :id"),
            ("processing_run", "SELECT count(*) FROM processing_run WHERE release_id = :id"),
        )
    }
    for sql in (
        "UPDATE catalogue_release SET supersedes_id = :prev WHERE supersedes_id = :id",
        "DELETE FROM crossmatch_run WHERE release_a_id = :id OR release_b_id = :id",
        "DELETE FROM injection_run WHERE release_id = :id",
        "DELETE FROM source WHERE release_id = :id",
        "DELETE FROM processing_run WHERE release_id = :id",
        "DELETE FROM catalogue_release WHERE id = :id",
    ):
        conn.execute(text(sql), {"id": rid, "prev": release.supersedes_id})
    if promote is not None:
        conn.execute(
            text("UPDATE catalogue_release SET status = 'complete' WHERE id = :id"),
            {"id": promote.id},
        )
    conn.execute(
        text("DELETE FROM release_drop_guard WHERE release_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": sorted(guarded)},
    )
    return DroppedRelease(
        name, version, release.status, rows, promote.version if promote is not None else None
    )
