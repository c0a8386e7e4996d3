"""The catalogue row of each source, written once when its release completes (issue 13).

``cluster_catalogue`` is the product for SQL users: one row per source with its total
magnitude in each band, the concentration indices and the default SED fit. Computed live it
joins five photometry rows per source out of ~40 (five filters × seven apertures and the
total), which at 10⁶ sources costs seconds per galaxy. A complete release never changes
(:mod:`clustercat.schema.immutability`), so its catalogue rows are written once, in the same
transaction that completes it, into ``catalogue_entry``; the views read that table directly
(``schema/views.py`` version 4, revision 0010).

What stays live: the SED columns. A complete release may get a new default SED method
(``process sed --set-default``), so the views join ``sed_fit`` on the release's current
default.

**One band rule.** A field observed in two filters of one band (e.g. F555W and F606W, both
"V") gives each source one magnitude per band: the filter earliest in
:data:`BAND_FILTER_PREFERENCE` (the LEGUS UBVI standard first, Adamo et al. 2017 §3), then a
measured magnitude before a missing one (the same filter name on two cameras), then the
lowest filter id. Every reader of "the V magnitude" (the views, the cone search, the
dashboard, the cross-match pairs) takes it from this table, so none can disagree.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, Double, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK

#: Band label -> filter names in order of preference for the band's catalogue magnitude.
#: Names not listed rank after the listed ones (by filter id).
BAND_FILTER_PREFERENCE: dict[str, tuple[str, ...]] = {
    "NUV": ("F275W",),
    "U": ("F336W",),
    "B": ("F435W", "F438W"),
    "V": ("F555W", "F606W"),
    "I": ("F814W",),
}

#: Band label -> the column stem in ``catalogue_entry`` and ``cluster_catalogue``.
BAND_COLUMNS: dict[str, str] = {"NUV": "nuv", "U": "u", "B": "b", "V": "v", "I": "i"}


class CatalogueEntry(Base):
    """One source of a complete release as ``cluster_catalogue`` shows it (frozen copy)."""

    __tablename__ = "catalogue_entry"
    __table_args__ = (
        Index("ix_catalogue_entry_release_field", "release_id", "field_id"),
        {
            "comment": "the catalogue row of each source of a complete release (one magnitude "
            "per band, CI and MCI), written once when the release completes; "
            "cluster_catalogue reads it"
        },
    )

    source_id: Mapped[int] = mapped_column(
        BigIntPK,
        ForeignKey("source.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
        comment="the source (key: source.id)",
    )
    release_id: Mapped[int] = mapped_column(
        ForeignKey("catalogue_release.id", ondelete="CASCADE"),
        comment="release of the source (key: catalogue_release.id)",
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("field.id"), comment="field of the source (key: field.id)"
    )
    id_in_release: Mapped[int] = mapped_column(
        BigInteger, comment="source id as published in the release's catalogue (id)"
    )
    ra: Mapped[float] = mapped_column(Double, comment="right ascension, ICRS J2000 (deg)")
    dec: Mapped[float] = mapped_column(Double, comment="declination, ICRS J2000 (deg)")
    x: Mapped[float | None] = mapped_column(
        Double, comment="x on the field's reference frame, 1-based (pix)"
    )
    y: Mapped[float | None] = mapped_column(
        Double, comment="y on the field's reference frame, 1-based (pix)"
    )
    mag_nuv: Mapped[float | None] = mapped_column(Double, comment="total NUV magnitude, Vega (mag)")
    mag_nuv_err: Mapped[float | None] = mapped_column(Double, comment="error of mag_nuv (mag)")
    mag_u: Mapped[float | None] = mapped_column(Double, comment="total U magnitude, Vega (mag)")
    mag_u_err: Mapped[float | None] = mapped_column(Double, comment="error of mag_u (mag)")
    mag_b: Mapped[float | None] = mapped_column(Double, comment="total B magnitude, Vega (mag)")
    mag_b_err: Mapped[float | None] = mapped_column(Double, comment="error of mag_b (mag)")
    mag_v: Mapped[float | None] = mapped_column(Double, comment="total V magnitude, Vega (mag)")
    mag_v_err: Mapped[float | None] = mapped_column(Double, comment="error of mag_v (mag)")
    mag_i: Mapped[float | None] = mapped_column(Double, comment="total I magnitude, Vega (mag)")
    mag_i_err: Mapped[float | None] = mapped_column(Double, comment="error of mag_i (mag)")
    filter_nuv_id: Mapped[int | None] = mapped_column(
        ForeignKey("filter.id"), comment="filter of mag_nuv (key: filter.id)"
    )
    filter_u_id: Mapped[int | None] = mapped_column(
        ForeignKey("filter.id"), comment="filter of mag_u (key: filter.id)"
    )
    filter_b_id: Mapped[int | None] = mapped_column(
        ForeignKey("filter.id"), comment="filter of mag_b (key: filter.id)"
    )
    filter_v_id: Mapped[int | None] = mapped_column(
        ForeignKey("filter.id"), comment="filter of mag_v (key: filter.id)"
    )
    filter_i_id: Mapped[int | None] = mapped_column(
        ForeignKey("filter.id"), comment="filter of mag_i (key: filter.id)"
    )
    ci: Mapped[float | None] = mapped_column(
        Double, comment="concentration index m(1 px) - m(3 px) in V (mag)"
    )
    mci_in: Mapped[float | None] = mapped_column(
        Double, comment="multiple concentration index, inner (dimensionless)"
    )
    mci_out: Mapped[float | None] = mapped_column(
        Double, comment="multiple concentration index, outer (dimensionless)"
    )


def _preference_rank(alias: str) -> str:
    """SQL CASE giving a filter name's rank within its band (unlisted names rank last)."""
    whens = " ".join(
        f"WHEN '{name}' THEN {rank}"
        for names in BAND_FILTER_PREFERENCE.values()
        for rank, name in enumerate(names)
    )
    return f"CASE {alias}.name {whens} ELSE 99 END"


def _band_pivot() -> str:
    columns = []
    for band, stem in BAND_COLUMNS.items():
        for column, expr in (
            (f"mag_{stem}", "mag_vega"),
            (f"mag_{stem}_err", "mag_err"),
            (f"filter_{stem}_id", "filter_id"),
        ):
            columns.append(f"MAX(CASE WHEN band = '{band}' THEN {expr} END) AS {column}")
    return ",\n        ".join(columns)


_ENTRY_COLUMNS = (
    "source_id, release_id, field_id, id_in_release, ra, dec, x, y, "
    + ", ".join(f"mag_{s}, mag_{s}_err" for s in BAND_COLUMNS.values())
    + ", "
    + ", ".join(f"filter_{s}_id" for s in BAND_COLUMNS.values())
    + ", ci, mci_in, mci_out"
)

#: Version 1 of the statement filling ``catalogue_entry`` for release ``:release_id`` (its
#: sources not there yet). Revision 0010 back-fills with it; the loader runs the current one.
WRITE_ENTRIES_V1 = f"""
INSERT INTO catalogue_entry ({_ENTRY_COLUMNS})
WITH ranked AS (
    SELECT p.source_id, fl.band, p.filter_id, p.mag_vega, p.mag_err,
        ROW_NUMBER() OVER (
            PARTITION BY p.source_id, fl.band
            ORDER BY {_preference_rank("fl")},
                CASE WHEN p.mag_vega IS NULL THEN 1 ELSE 0 END, p.filter_id
        ) AS rank_in_band
    FROM photometry p
    JOIN source s ON s.id = p.source_id
    JOIN filter fl ON fl.id = p.filter_id
    WHERE s.release_id = :release_id AND p.kind = 'total'
        AND fl.band IN ({", ".join(f"'{b}'" for b in BAND_COLUMNS)})
),
bands AS (
    SELECT source_id,
        {_band_pivot()}
    FROM ranked
    WHERE rank_in_band = 1
    GROUP BY source_id
)
SELECT s.id, s.release_id, s.field_id, s.id_in_release, s.ra, s.dec, s.x, s.y,
    {", ".join(f"b.mag_{s}, b.mag_{s}_err" for s in BAND_COLUMNS.values())},
    {", ".join(f"b.filter_{s}_id" for s in BAND_COLUMNS.values())},
    m.ci, m.mci_in, m.mci_out
FROM source s
JOIN catalogue_release r ON r.id = s.release_id
LEFT JOIN bands b ON b.source_id = s.id
LEFT JOIN morphology m ON m.source_id = s.id AND m.constants_version = r.morphology_version
WHERE s.release_id = :release_id
    AND NOT EXISTS (SELECT 1 FROM catalogue_entry e WHERE e.source_id = s.id)
"""


#: The same rows, per source: PostgreSQL's loader statement. A new release is not yet in the
#: planner's statistics, so :data:`WRITE_ENTRIES_V1` is estimated at one source and planned as
#: a nested loop that recomputes the whole release's band ranking for every source (127 s
#: instead of 0.1 s for 5,000 sources; ``bench/_synthetic.py``). Ranking each source's own
#: rows in a ``LATERAL`` subquery is linear whatever the estimate. SQLite has no ``LATERAL``
#: and materialises the CTE, so it keeps version 1. ``tests/test_catalogue_entry.py`` checks
#: both against the version-3 view body.
WRITE_ENTRIES_LATERAL_V1 = f"""
INSERT INTO catalogue_entry ({_ENTRY_COLUMNS})
SELECT s.id, s.release_id, s.field_id, s.id_in_release, s.ra, s.dec, s.x, s.y,
    {", ".join(f"b.mag_{s}, b.mag_{s}_err" for s in BAND_COLUMNS.values())},
    {", ".join(f"b.filter_{s}_id" for s in BAND_COLUMNS.values())},
    m.ci, m.mci_in, m.mci_out
FROM source s
JOIN catalogue_release r ON r.id = s.release_id
LEFT JOIN LATERAL (
    SELECT {_band_pivot()}
    FROM (
        SELECT fl.band, p.filter_id, p.mag_vega, p.mag_err,
            ROW_NUMBER() OVER (
                PARTITION BY fl.band
                ORDER BY {_preference_rank("fl")},
                    CASE WHEN p.mag_vega IS NULL THEN 1 ELSE 0 END, p.filter_id
            ) AS rank_in_band
        FROM photometry p
        JOIN filter fl ON fl.id = p.filter_id
        WHERE p.source_id = s.id AND p.kind = 'total'
            AND fl.band IN ({", ".join(f"'{b}'" for b in BAND_COLUMNS)})
    ) ranked
    WHERE rank_in_band = 1
) b ON TRUE
LEFT JOIN morphology m ON m.source_id = s.id AND m.constants_version = r.morphology_version
WHERE s.release_id = :release_id
    AND NOT EXISTS (SELECT 1 FROM catalogue_entry e WHERE e.source_id = s.id)
"""


def write_catalogue_entries(conn: Connection, release_id: int) -> int:
    """Write the ``catalogue_entry`` rows of release ``release_id``'s sources that have none.

    Called by the loader in the transaction that completes (or extends) a release, after
    its photometry and morphology are written; one INSERT ... SELECT, so the work happens in
    the database (:data:`WRITE_ENTRIES_LATERAL_V1` on PostgreSQL, :data:`WRITE_ENTRIES_V1`
    on SQLite). Returns the number of rows written.
    """
    statement = WRITE_ENTRIES_LATERAL_V1 if conn.dialect.name == "postgresql" else WRITE_ENTRIES_V1
    return conn.execute(text(statement), {"release_id": release_id}).rowcount
