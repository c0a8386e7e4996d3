"""Collaborator views cluster_catalogue and source_classes, with column comments.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

from clustercat.schema.views import VIEW_COMMENTS_V1, VIEWS_V1

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    for name, body in VIEWS_V1.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    if op.get_bind().dialect.name == "postgresql":
        for name, (view_comment, columns) in VIEW_COMMENTS_V1.items():
            op.execute(f"COMMENT ON VIEW {name} IS {_quote(view_comment)}")
            for column, comment in columns.items():
                op.execute(f'COMMENT ON COLUMN {name}."{column}" IS {_quote(comment)}')


def downgrade() -> None:
    for name in reversed(list(VIEWS_V1)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
