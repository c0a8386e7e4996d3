"""More collaborator views: source_photometry (long), source_photometry_wide, sed_results,
crossmatch_pairs and release_summary, with column comments and reader/writer grants.

The view bodies are the version-2 constants of :mod:`clustercat.schema.views`; the design
of the two photometry views is explained there and in docs/sql.md. On PostgreSQL every view
and view column gets a ``COMMENT ON`` with its unit (as in revision 0003), and the views are
granted explicitly to ``clustercat_reader`` / ``clustercat_writer`` (SELECT) when those roles
exist, in case this revision runs as another role than the one whose default privileges
revision 0004 set.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op
from clustercat.schema.views import VIEW_COMMENTS_V2, VIEWS_V2

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("clustercat_reader", "clustercat_writer")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    for name, body in VIEWS_V2.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name, (view_comment, columns) in VIEW_COMMENTS_V2.items():
        op.execute(f"COMMENT ON VIEW {name} IS {_quote(view_comment)}")
        for column, comment in columns.items():
            op.execute(f'COMMENT ON COLUMN {name}."{column}" IS {_quote(comment)}')
    existing = set(
        bind.exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('clustercat_reader', "
            "'clustercat_writer')"
        ).scalars()
    )
    for role in ROLES:
        if role in existing:
            for name in VIEWS_V2:
                op.execute(f"GRANT SELECT ON {name} TO {role}")


def downgrade() -> None:
    for name in reversed(list(VIEWS_V2)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
