"""Image pipeline outputs: candidate-selection flags and morphology provenance (issue 10).

Creates ``source_selection`` (:class:`clustercat.schema.selection.SourceSelection`): one row
per source and MCI constants version with the Thilker et al. (2022) §4 selection flags, the
V-band S/N and M_V they used, and the ``processing_run`` that applied them. Photometry and
morphology already carry ``run_id``, sky, aperture-correction and MCI error columns
(revision 0001), so they need no change. On PostgreSQL the column comments become
``COMMENT ON`` (create_table does it) and revision 0004's default privileges make the new
table readable by ``clustercat_reader``. Like the other tables of a release, its rows are
frozen once the release is complete (:func:`clustercat.schema.immutability.protect_table`,
revision 0007's triggers).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from clustercat.schema.immutability import (
    PART_OF_RELEASE,
    SOURCE_RELEASE,
    ProtectedTable,
    protect_table,
    unprotect_table,
)

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")

#: Rows of a complete release's own pipeline run are frozen with the release.
PROTECTED = ProtectedTable("source_selection", (SOURCE_RELEASE,), PART_OF_RELEASE)


def upgrade() -> None:
    op.create_table(
        "source_selection",
        sa.Column("id", _PK, nullable=False, comment="surrogate key (key)"),
        sa.Column("source_id", _PK, nullable=False,
                  comment="source selected or rejected (key: source.id)"),
        sa.Column("run_id", _PK, nullable=True,
                  comment="processing run that applied the cuts (key: processing_run.id)"),
        sa.Column("constants_version", sa.String(length=32), nullable=False,
                  comment="version of the fiducial MCI constants the morphology cuts used (text)"),
        sa.Column("distance_mpc", sa.Double(), nullable=True,
                  comment="distance adopted for M_V and the semi-empirical region (Mpc)"),
        sa.Column("passes_general", sa.Boolean(), nullable=False,
                  comment="general criteria: V S/N and error cuts, detected in >= 3 bands "
                  "incl. V (boolean)"),
        sa.Column("passes_morph_quality", sa.Boolean(), nullable=False,
                  comment="MCI_in/MCI_out defined with small enough errors (boolean)"),
        sa.Column("in_semi_empirical", sa.Boolean(), nullable=False,
                  comment="inside the distance-cropped semi-empirical MCI region (boolean)"),
        sa.Column("super_hd", sa.Boolean(), nullable=False,
                  comment="'super H-D' luminosity pathway, M_V <= -10 (boolean)"),
        sa.Column("is_double", sa.Boolean(), nullable=False,
                  comment="removed as the fainter member of a close pair (doubles cut) "
                  "(boolean)"),
        sa.Column("candidate", sa.Boolean(), nullable=False,
                  comment="final cluster candidate of the human-classification sample "
                  "(boolean)"),
        sa.Column("v_snr", sa.Double(), nullable=True,
                  comment="signal-to-noise ratio in V used by the cuts (dimensionless)"),
        sa.Column("abs_mag_v", sa.Double(), nullable=True,
                  comment="absolute V magnitude, total, Vega, at distance_mpc (mag)"),
        sa.CheckConstraint("distance_mpc > 0",
                           name=op.f("ck_source_selection_distance_positive")),
        sa.CheckConstraint("v_snr >= 0", name=op.f("ck_source_selection_v_snr_nonnegative")),
        sa.ForeignKeyConstraint(["run_id"], ["processing_run.id"],
                                name=op.f("fk_source_selection_run_id_processing_run")),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], ondelete="CASCADE",
                                name=op.f("fk_source_selection_source_id_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_selection")),
        sa.UniqueConstraint("source_id", "constants_version",
                            name=op.f("uq_source_selection_source_id_constants_version")),
        comment="cluster-candidate selection flags per source (Thilker et al. 2022 §4)",
    )  # fmt: skip
    with op.batch_alter_table("source_selection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_selection_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_source_selection_source_id"), ["source_id"], unique=False
        )
    protect_table(op.get_bind(), PROTECTED)


def downgrade() -> None:
    unprotect_table(op.get_bind(), PROTECTED.table)
    with op.batch_alter_table("source_selection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_selection_source_id"))
        batch_op.drop_index(batch_op.f("ix_source_selection_run_id"))
    op.drop_table("source_selection")
