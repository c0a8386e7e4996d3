"""Release versions and database-enforced immutability of complete releases (issue 13).

- Older complete versions of a release name become ``superseded``; a partial unique index
  keeps at most one ``complete`` version per name from now on.
- The collaborator views are re-created (version 3 of :mod:`clustercat.schema.views`): the
  plain views show the newest complete version of each release name; each gets a twin
  ``<view>_all`` with every complete and superseded version and ``release_status``.
- Triggers refuse UPDATE and DELETE of complete releases' rows (and of their complete
  processing runs) on both backends (:mod:`clustercat.schema.immutability`), with
  ``release_drop_guard`` as the owner's way out (``clustercat db drop-release``).
- ``ingest_lock``: rows whose row locks serialise writers (readers cannot take them).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from clustercat.schema import immutability
from clustercat.schema.views import (
    VIEW_COMMENTS_V1,
    VIEW_COMMENTS_V2,
    VIEW_COMMENTS_V3,
    VIEWS_V1,
    VIEWS_V2,
    VIEWS_V3,
)

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "clustercat_reader"
WRITER = "clustercat_writer"
LOCK_NAMES = ("ingest", "sync", "sed", "ssp")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _roles() -> set[str]:
    bind = op.get_bind()
    return set(
        bind.exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('clustercat_reader', "
            "'clustercat_writer')"
        ).scalars()
    )


def _create_views(views: dict[str, str], comments: dict[str, tuple[str, dict[str, str]]]) -> None:
    for name, body in views.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in views:
        view_comment, columns = comments[name]
        op.execute(f"COMMENT ON VIEW {name} IS {_quote(view_comment)}")
        for column, comment in columns.items():
            op.execute(f'COMMENT ON COLUMN {name}."{column}" IS {_quote(comment)}')
    for role in _roles():
        for name in views:
            op.execute(f"GRANT SELECT ON {name} TO {role}")


def _drop_views(names: Sequence[str]) -> None:
    for name in reversed(list(names)):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "release_drop_guard",
        sa.Column(
            "release_id",
            sa.BigInteger(),
            autoincrement=False,
            nullable=False,
            comment="catalogue_release.id being dropped (key)",
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_release_drop_guard")),
        comment="releases being dropped by 'clustercat db drop-release' in the current "
        "transaction (the owner's only way past immutability); empty otherwise",
    )
    lock = op.create_table(
        "ingest_lock",
        sa.Column(
            "name",
            sa.String(length=16),
            nullable=False,
            comment="lock name: ingest | sync | sed | ssp (text)",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ingest_lock")),
        comment="one row per writer lock (ingest, sync, sed, ssp): writers lock the row",
    )
    op.bulk_insert(lock, [{"name": n} for n in LOCK_NAMES])

    # Before this revision every version stayed 'complete': keep the newest one.
    op.execute(
        "UPDATE catalogue_release SET status = 'superseded' WHERE status = 'complete' "
        "AND EXISTS (SELECT 1 FROM catalogue_release newer WHERE newer.name = "
        "catalogue_release.name AND newer.status = 'complete' "
        "AND newer.version > catalogue_release.version)"
    )
    op.create_index(
        "uq_catalogue_release_complete_name",
        "catalogue_release",
        ["name"],
        unique=True,
        postgresql_where=sa.text("status = 'complete'"),
        sqlite_where=sa.text("status = 'complete'"),
    )

    _drop_views([*VIEWS_V1, *VIEWS_V2])
    _create_views(VIEWS_V3, VIEW_COMMENTS_V3)
    immutability.install(bind)

    if bind.dialect.name == "postgresql":
        roles = _roles()
        if WRITER in roles:
            op.execute(f"REVOKE INSERT, UPDATE, DELETE ON release_drop_guard FROM {WRITER}")
            op.execute(f"GRANT SELECT, UPDATE ON ingest_lock TO {WRITER}")
            op.execute(f"REVOKE INSERT, DELETE ON ingest_lock FROM {WRITER}")
        if READER in roles:
            op.execute(f"GRANT SELECT ON release_drop_guard, ingest_lock TO {READER}")


def downgrade() -> None:
    immutability.uninstall(op.get_bind())
    _drop_views(list(VIEWS_V3))
    _create_views(VIEWS_V1, VIEW_COMMENTS_V1)
    _create_views(VIEWS_V2, VIEW_COMMENTS_V2)
    op.drop_index("uq_catalogue_release_complete_name", table_name="catalogue_release")
    op.drop_table("ingest_lock")
    op.drop_table("release_drop_guard")
