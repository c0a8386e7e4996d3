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


def _dependent_rows() -> dict[str, int]:
    """Rows of other tables that refer to a filter or survey ("table.column" -> count)."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    out = {}
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            if fk["referred_table"] not in ("filter", "survey") or table in ("filter", "survey"):
                continue
            for column in fk["constrained_columns"]:
                n = bind.exec_driver_sql(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}" IS NOT NULL'
                ).scalar()
                if n:
                    out[f"{table}.{column}"] = int(n)
    return out


def downgrade() -> None:
    # Only the seeded rows, and only if nothing refers to them any more: on SQLite (foreign
    # keys are off while migrating) the rows would be left pointing at nothing, on
    # PostgreSQL the foreign keys would fail with a raw error. On the way to base the rows
    # go with their tables.
    if op.get_context().opts.get("destination_rev") == "base":
        return  # 0001 drops every table next: nothing is left pointing anywhere
    dependent = _dependent_rows()
    if dependent:
        listed = ", ".join(f"{n} in {where}" for where, n in sorted(dependent.items()))
        raise RuntimeError(
            "cannot downgrade 0002 -> 0001: rows still refer to the filters and surveys it "
            f"seeded ({listed}); drop the releases first (clustercat db drop-release) or "
            "downgrade to base with --yes"
        )
    for name, instrument, *_ in FILTERS_V1:
        op.execute(
            _filter.delete().where(_filter.c.name == name, _filter.c.instrument == instrument)
        )
    for name, *_ in SURVEYS_V1:
        op.execute(_survey.delete().where(_survey.c.name == name))
