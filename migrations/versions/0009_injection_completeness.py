"""Injection-recovery trials and the injection_completeness view (issue 11).

``injection_run`` gains its state (``status`` running | complete, so that a killed run is
resumable and invisible), the sampling ``grid``, ``batch_size``, ``n_frame_sets``, the
``identity_sha256`` that finds a run to resume, and ``completed_at``.
``injection_trial`` gains ``frame_set`` (the batch a trial was injected with; the unit of
resumption), ``in_selection_region`` and ``match_distance_px``. The view
``injection_completeness`` (:data:`clustercat.schema.injection.INJECTION_COMPLETENESS_VIEW`)
bins the trials of complete runs; on PostgreSQL it and its columns get ``COMMENT ON``.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from clustercat.schema.injection import (
    INJECTION_COMPLETENESS_COMMENTS,
    INJECTION_COMPLETENESS_VIEW,
)

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEW = "injection_completeness"
ROLES = ("clustercat_reader", "clustercat_writer")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    with op.batch_alter_table("injection_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sa.String(length=16),
                server_default="running",
                nullable=False,
                comment="running | complete; trials of running runs are hidden from the views "
                "(text)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "grid",
                sa.String(length=16),
                nullable=True,
                comment="parameter sampling: thilker | c4 (text)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "batch_size",
                sa.Integer(),
                nullable=True,
                comment="clusters injected per frame set (count)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "n_frame_sets", sa.Integer(), nullable=True, comment="frame sets in the run (count)"
            )
        )
        batch_op.add_column(
            sa.Column(
                "identity_sha256",
                sa.String(length=64),
                nullable=True,
                comment="SHA-256 of field, images, settings, seed and size: a resumed run's key "
                "(hex)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "completed_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="time the last frame set was written (UTC)",
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_injection_run_identity_sha256"), ["identity_sha256"]
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_injection_run_status_known"), "status IN ('running', 'complete')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_injection_run_grid_known"), "grid IN ('thilker', 'c4')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_injection_run_batch_size_positive"), "batch_size > 0"
        )
    with op.batch_alter_table("injection_trial", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "frame_set",
                sa.Integer(),
                nullable=False,
                comment="frame set (batch) the cluster was injected with, 0-based (index)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "in_selection_region",
                sa.Boolean(),
                nullable=True,
                comment="measured MCI inside the selection region used (boolean)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "match_distance_px",
                sa.Double(),
                nullable=True,
                comment="distance of the matched detection from the injection (pix)",
            )
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_injection_trial_frame_set_nonnegative"), "frame_set >= 0"
        )
        batch_op.create_index("ix_injection_trial_run_id_frame_set", ["run_id", "frame_set"],
                              unique=False)  # fmt: skip

    op.execute(f"CREATE VIEW {VIEW} AS {INJECTION_COMPLETENESS_VIEW}")
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    view_comment, columns = INJECTION_COMPLETENESS_COMMENTS
    op.execute(f"COMMENT ON VIEW {VIEW} IS {_quote(view_comment)}")
    for column, comment in columns.items():
        op.execute(f'COMMENT ON COLUMN {VIEW}."{column}" IS {_quote(comment)}')
    existing = set(bind.exec_driver_sql(
        "SELECT rolname FROM pg_roles WHERE rolname IN ('clustercat_reader', "
        "'clustercat_writer')").scalars())  # fmt: skip
    for role in ROLES:
        if role in existing:
            op.execute(f"GRANT SELECT ON {VIEW} TO {role}")


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    with op.batch_alter_table("injection_trial", schema=None) as batch_op:
        batch_op.drop_index("ix_injection_trial_run_id_frame_set")
        batch_op.drop_constraint(
            batch_op.f("ck_injection_trial_frame_set_nonnegative"), type_="check"
        )
        batch_op.drop_column("match_distance_px")
        batch_op.drop_column("in_selection_region")
        batch_op.drop_column("frame_set")
    with op.batch_alter_table("injection_run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_injection_run_batch_size_positive"),
                                 type_="check")  # fmt: skip
        batch_op.drop_constraint(batch_op.f("ck_injection_run_grid_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_injection_run_status_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_injection_run_identity_sha256"), type_="unique")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("identity_sha256")
        batch_op.drop_column("n_frame_sets")
        batch_op.drop_column("batch_size")
        batch_op.drop_column("grid")
        batch_op.drop_column("status")
