"""Every row of a complete release is frozen, also a later run's (issue 13: never lose data).

Revisions 0007 and 0008 protected photometry, morphology, ``sed_fit`` and
``source_selection`` rows of a complete release only when they were part of it
(:data:`clustercat.schema.immutability.PART_OF_RELEASE`: no run, or a run started before
the release completed), so the rows of a later SED refit could be deleted by the next run
(``process sed --replace``). This revision re-creates the triggers of those four tables
without that condition (:data:`~clustercat.schema.immutability.PROTECTED_TABLES_V2`):
UPDATE and DELETE of any of their rows of a complete or superseded release are refused,
for the writer role and the owner alike; ``clustercat db drop-release`` stays the owner's
way out. A refit is now a new SED method beside the old one (``process sed --label``).

The downgrade restores the 0007/0008 protection
(:data:`~clustercat.schema.immutability.PROTECTED_TABLES_V1_PARTIAL`); no table or row
changes either way.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op
from clustercat.schema.immutability import (
    PROTECTED_TABLES_V1_PARTIAL,
    PROTECTED_TABLES_V2,
    protect_table,
)

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    for spec in PROTECTED_TABLES_V2:
        protect_table(bind, spec)  # drops the table's old triggers first


def downgrade() -> None:
    bind = op.get_bind()
    for spec in PROTECTED_TABLES_V1_PARTIAL:
        protect_table(bind, spec)
