"""Reference data: the HST filters and the surveys (PHANGS-HST, LEGUS).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clustercat.schema.seed import FILTERS_V1, SURVEYS_V1

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_filter = sa.table(
    "filter",
    sa.column("name", sa.String),
    sa.column("instrument", sa.String),
    sa.column("band", sa.String),
    sa.column("pivot_wavelength_aa", sa.Double),
    sa.column("pyphot_name", sa.String),
)
_survey = sa.table(
    "survey",
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("reference", sa.String),
    sa.column("url", sa.String),
)


def upgrade() -> None:
    op.bulk_insert(
        _filter,
        [
            dict(zip(("name", "instrument", "band", "pivot_wavelength_aa", "pyphot_name"), row))
            for row in FILTERS_V1
        ],
    )
    op.bulk_insert(
        _survey,
        [dict(zip(("name", "description", "reference", "url"), row)) for row in SURVEYS_V1],
    )


def downgrade() -> None:
    # Only the seeded rows, and only if nothing refers to them any more.
    for name, instrument, *_ in FILTERS_V1:
        op.execute(
            _filter.delete().where(_filter.c.name == name, _filter.c.instrument == instrument)
        )
    for name, *_ in SURVEYS_V1:
        op.execute(_survey.delete().where(_survey.c.name == name))
