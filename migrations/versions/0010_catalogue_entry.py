"""``catalogue_entry``: each complete release's catalogue rows, written once (issue 13).

Creates ``catalogue_entry`` (:class:`clustercat.schema.catalogue_entry.CatalogueEntry`):
one row per source of a complete release with one total magnitude per band (by the one band
rule of :data:`~clustercat.schema.catalogue_entry.BAND_FILTER_PREFERENCE`: F555W before
F606W, F435W before F438W), the filter of each, and CI / MCI. Existing complete and
superseded releases are back-filled with version 1 of the writing statement; from now on the
loader writes a release's rows in the transaction that completes it. The rows are frozen
with their release (:func:`clustercat.schema.immutability.protect_table`).

The collaborator views that used to pick V by joining photometry are re-created at
version 4 of :mod:`clustercat.schema.views`: ``cluster_catalogue`` (and ``_all``) read the
new table (plus the live default SED fit) and gain ``filter_nuv``, ``filter_u``,
``filter_i``; ``crossmatch_pairs`` takes ``mag_v_a``/``mag_v_b`` from it, and
``source_photometry_wide`` its V apertures in the source's V filter.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from clustercat.schema.catalogue_entry import WRITE_ENTRIES_V1
from clustercat.schema.immutability import ProtectedTable, protect_table, unprotect_table
from clustercat.schema.views import (
    VIEW_COMMENTS_V3,
    VIEW_COMMENTS_V4,
    VIEWS_V3,
    VIEWS_V4_CHANGED,
)

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
PROTECTED = ProtectedTable("catalogue_entry", ("OLD.release_id",))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _replace_views(views: dict[str, str], comments: dict[str, tuple[str, dict[str, str]]]) -> None:
    for name in reversed(list(views)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for name, body in views.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name in views:
        view_comment, columns = comments[name]
        op.execute(f"COMMENT ON VIEW {name} IS {_quote(view_comment)}")
        for column, comment in columns.items():
            op.execute(f'COMMENT ON COLUMN {name}."{column}" IS {_quote(comment)}')
    roles = bind.exec_driver_sql(
        "SELECT rolname FROM pg_roles WHERE rolname IN ('clustercat_reader', 'clustercat_writer')"
    ).scalars()
    for role in roles:
        for name in views:
            op.execute(f"GRANT SELECT ON {name} TO {role}")


def _filter_column(band: str) -> sa.Column:
    return sa.Column(f"filter_{band}_id", _PK, nullable=True,
                     comment=f"filter of mag_{band} (key: filter.id)")  # fmt: skip


def _filter_fk(band: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([f"filter_{band}_id"], ["filter.id"],
                                   name=op.f(f"fk_catalogue_entry_filter_{band}_id_filter"))  # fmt: skip


def upgrade() -> None:
    bands = ("nuv", "u", "b", "v", "i")
    magnitudes = []
    for band in bands:
        magnitudes += [
            sa.Column(f"mag_{band}", sa.Double(), nullable=True,
                      comment=f"total {band.upper()} magnitude, Vega (mag)"),
            sa.Column(f"mag_{band}_err", sa.Double(), nullable=True,
                      comment=f"error of mag_{band} (mag)"),
        ]  # fmt: skip
    op.create_table(
        "catalogue_entry",
        sa.Column("source_id", _PK, autoincrement=False, nullable=False,
                  comment="the source (key: source.id)"),
        sa.Column("release_id", _PK, nullable=False,
                  comment="release of the source (key: catalogue_release.id)"),
        sa.Column("field_id", _PK, nullable=False, comment="field of the source (key: field.id)"),
        sa.Column("id_in_release", sa.BigInteger(), nullable=False,
                  comment="source id as published in the release's catalogue (id)"),
        sa.Column("ra", sa.Double(), nullable=False, comment="right ascension, ICRS J2000 (deg)"),
        sa.Column("dec", sa.Double(), nullable=False, comment="declination, ICRS J2000 (deg)"),
        sa.Column("x", sa.Double(), nullable=True,
                  comment="x on the field's reference frame, 1-based (pix)"),
        sa.Column("y", sa.Double(), nullable=True,
                  comment="y on the field's reference frame, 1-based (pix)"),
        *magnitudes,
        *(_filter_column(band) for band in bands),
        sa.Column("ci", sa.Double(), nullable=True,
                  comment="concentration index m(1 px) - m(3 px) in V (mag)"),
        sa.Column("mci_in", sa.Double(), nullable=True,
                  comment="multiple concentration index, inner (dimensionless)"),
        sa.Column("mci_out", sa.Double(), nullable=True,
                  comment="multiple concentration index, outer (dimensionless)"),
        sa.ForeignKeyConstraint(["field_id"], ["field.id"],
                                name=op.f("fk_catalogue_entry_field_id_field")),
        *(_filter_fk(band) for band in bands),
        sa.ForeignKeyConstraint(["release_id"], ["catalogue_release.id"], ondelete="CASCADE",
                                name=op.f("fk_catalogue_entry_release_id_catalogue_release")),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], ondelete="CASCADE",
                                name=op.f("fk_catalogue_entry_source_id_source")),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_catalogue_entry")),
        comment="the catalogue row of each source of a complete release (one magnitude per "
        "band, CI and MCI), written once when the release completes; cluster_catalogue reads it",
    )  # fmt: skip
    op.create_index(
        "ix_catalogue_entry_release_field", "catalogue_entry", ["release_id", "field_id"]
    )
    bind = op.get_bind()
    releases = bind.exec_driver_sql(
        "SELECT id FROM catalogue_release WHERE status IN ('complete', 'superseded') ORDER BY id"
    ).scalars()
    for release_id in list(releases):
        bind.execute(sa.text(WRITE_ENTRIES_V1), {"release_id": release_id})
    protect_table(bind, PROTECTED)
    _replace_views(VIEWS_V4_CHANGED, VIEW_COMMENTS_V4)
    if bind.dialect.name == "postgresql":
        op.execute("ANALYZE catalogue_entry")


def downgrade() -> None:
    _replace_views({name: VIEWS_V3[name] for name in VIEWS_V4_CHANGED}, VIEW_COMMENTS_V3)
    unprotect_table(op.get_bind(), PROTECTED.table)
    op.drop_index("ix_catalogue_entry_release_field", table_name="catalogue_entry")
    op.drop_table("catalogue_entry")
