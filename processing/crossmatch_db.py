"""Cross-match two releases (or two fields) in the database, and store the result.

The thin layer between the database and :mod:`clustercat.processing.crossmatch`: read the
positions of side A and side B (:mod:`.catalogue_io`), find every candidate pair within the
radius, resolve them one-to-one with :func:`~clustercat.processing.crossmatch.one_to_one`,
give every source an outcome code and store one ``crossmatch_run`` with its
``crossmatch_pair`` rows (COPY on PostgreSQL, executemany on SQLite).

Only database I/O and the outcome codes live here. The pure parts are elsewhere: candidate
searches, exact cut and one-to-one in :mod:`clustercat.processing.crossmatch`
(:func:`~clustercat.processing.crossmatch.match_vectors`), the footprint in
:mod:`clustercat.processing.footprint`, and the radius, pixel-scale and offset parsing and
the separation formula in :mod:`clustercat.schema.sky` (shared with the cone search).

Two ways to find the candidate pairs, with IDENTICAL results by construction:

``kdtree``
    an in-memory search on 3-D unit vectors (any backend): a sorted cell grid in numpy
    (:func:`~clustercat.processing.crossmatch.grid_pairs`, about twice as fast as a
    ``cKDTree`` query and giving the same pairs; the name is the one the schema's check
    constraint on ``crossmatch_run.method`` knows; the run's ``config`` says
    ``candidate_search``).
``q3c``
    ``q3c_join`` on PostgreSQL, using the q3c index on ``q3c_ang2ipix(ra, dec)`` of
    ``source`` (``q3c_dist`` is fetched too and kept as a cross-check, see below).

Both searches are run with the radius widened by a relative 1e-6 (plus the length of the
astrometric offset for q3c, which joins the stored positions); then, for both, the exact
separation of every candidate is computed by ONE numpy formula from the same doubles
(:func:`~clustercat.processing.crossmatch.pair_separation`, atan2(|a x b|, a . b) of the
unit vectors after the offset: :func:`clustercat.schema.sky.separation_rad`),
pairs farther than the radius are dropped and the same ``one_to_one`` rule resolves the rest.
The two paths therefore hand ``one_to_one`` the same (a, b, separation) triples, bit for
bit, and get the same pairs: no tie between equal separations can be broken differently by
two distance formulae (LEGUS positions are quantised to 1e-5 deg, so equal separations are
common). ``q3c_dist`` agrees with ``pair_separation`` to ~1e-11 arcsec; the largest
difference is recorded in the run's ``config`` (``q3c_max_abs_diff_arcsec``).

Outcome codes (``crossmatch_pair.outcome``; Whitmore et al. 2021 §4 and §6, Thilker et al.
2022 §6.4 and Fig. 14): every source of A and of B taking part appears in exactly one row
as its *subject*:

``same_class`` / ``other_class``
    a one-to-one pair (``is_best`` true) where both sources have a class under the chosen
    methods, equal or different (W21 "Equal"/"Unequal"; the intersection of W21 §4).
``matched``
    a one-to-one pair with no class to compare (no method chosen, or a side unclassified).
``double``
    an unmatched source whose counterpart within the radius was taken, one-to-one, by a
    closer source (T22 "Dbl"): ``is_best`` false, and the row also names that counterpart
    (its own pair row has ``is_best`` true, so the subject is the side with no best row)
    and their separation.
``unmatched_outside_footprint``
    the source lies outside the footprint of the other side. The footprint is approximated
    by the convex hull of ALL the other side's source positions (gnomonic projection about
    the mean position of both sides), grown by the match radius. A convex hull overestimates
    a footprint with chip gaps or an L-shaped WFC3 x ACS overlap, so some sources in such
    holes are reported as ``unmatched`` rather than outside.
``unmatched_not_candidate``
    only with ``classified_only``: inside the footprint, and the other side HAS a source
    within the radius, but it has no class under the chosen method (not a classified
    candidate; T22 "No ID"/"*"). Single-sided row; ``separation_arcsec`` is the distance to
    that source.
``unmatched_not_detected``
    only when the caller asserts that the other side lists every detection
    (``detection_lists=True``, e.g. a DOLPHOT all-source list): inside the footprint and no
    source of the other side within the radius. ClusterCat releases so far are cut
    catalogues (LEGUS keeps CI > 1.4 and >= 4-band sources), so the default is ``unmatched``.
``unmatched``
    inside the footprint, no counterpart, reason unknown.

With ``classified_only`` the match is made between classified sources only (W21 §4 matches
classified catalogues); otherwise all sources of both sides take part.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import astropy.units as u
import numpy as np
import pandas as pd
from clustercat.schema import CrossmatchRun, is_postgresql
from clustercat.schema.crossmatch import OUTCOMES
from clustercat.schema.sky import parse_offset, parse_pixel_scale, parse_radius, read_quantity
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, insert, text

from .catalogue_io import (
    MethodRef,
    Side,
    connect,
    primary_method,
    read_classes,
    read_sources,
    resolve_method,
    resolve_side,
)
from .crossmatch import (
    CANDIDATE_MARGIN,
    CrossMatchResult,
    grid_candidates,
    match_vectors,
    offset_positions,
    pair_separation,
    unit_vectors,
)
from .footprint import footprint_contains, tangent_plane

__all__ = [
    "MATCH_METHODS",
    "OUTCOMES",
    "PRIMARY",
    "DatabaseMatch",
    "Q3cUnavailableError",
    "match_sides",
    "outcome_counts",
    "q3c_available",
    "q3c_candidates",
    "q3c_table_candidates",
    "run_crossmatch",
    "store_match",
]

MATCH_METHODS = ("kdtree", "q3c")
#: Sentinel for "the class column the side's input files name as primary" (release_file).
PRIMARY = "primary"

MatchMethod = Literal["kdtree", "q3c"]


class Q3cUnavailableError(RuntimeError):
    """The q3c method needs PostgreSQL with the q3c extension."""


# --- q3c on PostgreSQL --------------------------------------------------------------------


def q3c_available(conn: Connection) -> bool:
    """True on PostgreSQL with the q3c extension installed in the database."""
    if not is_postgresql(conn):
        return False
    return bool(
        conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'q3c'")).scalar()
    )


def _copy_out(conn: Connection, sql: str, names: Sequence[str]) -> pd.DataFrame:
    """Rows of a SELECT through ``COPY ... TO STDOUT`` (CSV), fast for millions of rows.

    ``sql`` must be literal (COPY takes no bind parameters): callers only format numbers.
    """
    cursor = conn.connection.driver_connection.cursor()
    buffer = io.BytesIO()
    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        return pd.DataFrame({n: np.empty(0) for n in names})
    return pd.read_csv(buffer, header=None, names=list(names), engine="c")


#: Side A is walked in q3c cell order, so that consecutive probes of B's index touch the same
#: pages: about twice as fast at 10^6 x 10^6 (the KD-tree path sorts its queries likewise).
_BY_CELL = "ORDER BY q3c_ang2ipix(ra, dec)"


def _jit_off(conn: Connection) -> None:
    # q3c joins have huge cost estimates; PostgreSQL's JIT then spends ~0.25 s compiling
    conn.execute(text("SELECT set_config('jit', 'off', true)"))


def q3c_candidates(
    conn: Connection, side_a: Side, side_b: Side, radius: u.Quantity
) -> pd.DataFrame:
    """Candidate pairs of two sides by ``q3c_join`` on ``source`` (index on side B).

    Returns ``a_pk, b_pk, q3c_sep_arcsec`` (``q3c_dist``) for every pair within ``radius``
    widened by :data:`CANDIDATE_MARGIN`. The join runs in a materialised CTE with only side
    A's filters inside, so that the planner probes the q3c index of ``source`` for each A
    source (in q3c cell order) instead of scanning the (small) B field for every A source;
    B's release and field are filtered afterwards.
    """
    if not q3c_available(conn):
        raise Q3cUnavailableError("method 'q3c' needs PostgreSQL with the q3c extension")
    r_deg = float(radius.to_value(u.deg)) * (1.0 + CANDIDATE_MARGIN)
    where_a = f"release_id = {int(side_a.release.id)}"
    if side_a.field is not None:
        where_a += f" AND field_id = {int(side_a.field.id)}"
    where_b = f"b_release = {int(side_b.release.id)}"
    if side_b.field is not None:
        where_b += f" AND b_field = {int(side_b.field.id)}"
    sql = (
        "WITH cand AS MATERIALIZED (SELECT a.id AS a_pk, b.id AS b_pk, "
        "b.release_id AS b_release, b.field_id AS b_field, "
        "q3c_dist(a.ra, a.dec, b.ra, b.dec) * 3600.0 AS sep "
        f"FROM (SELECT id, ra, dec FROM source WHERE {where_a} {_BY_CELL}) a "
        f"JOIN source b ON q3c_join(a.ra, a.dec, b.ra, b.dec, {r_deg!r})) "
        f"SELECT a_pk, b_pk, sep FROM cand WHERE {where_b}"
    )
    _jit_off(conn)
    frame = _copy_out(conn, sql, ("a_pk", "b_pk", "q3c_sep_arcsec"))
    return frame.astype({"a_pk": np.int64, "b_pk": np.int64, "q3c_sep_arcsec": float})


def q3c_table_candidates(
    conn: Connection, table_a: str, table_b: str, radius: u.Quantity, key: str = "idx"
) -> pd.DataFrame:
    """Candidate pairs of two tables (``key``, ``ra``, ``dec`` columns) by ``q3c_join``.

    For tables other than ``source`` (e.g. the benchmark's throwaway tables); ``table_b``
    should carry an index on ``q3c_ang2ipix(ra, dec)``. Returns ``a, b, q3c_sep_arcsec``.
    Table and column names are the caller's identifiers, never user input.
    """
    if not q3c_available(conn):
        raise Q3cUnavailableError("q3c needs PostgreSQL with the q3c extension")
    r_deg = float(radius.to_value(u.deg)) * (1.0 + CANDIDATE_MARGIN)
    sql = (
        f"SELECT a.{key}, b.{key}, q3c_dist(a.ra, a.dec, b.ra, b.dec) * 3600.0 "
        f"FROM (SELECT {key}, ra, dec FROM {table_a} {_BY_CELL}) a "
        f"JOIN {table_b} b ON q3c_join(a.ra, a.dec, b.ra, b.dec, {r_deg!r})"
    )
    _jit_off(conn)
    frame = _copy_out(conn, sql, ("a", "b", "q3c_sep_arcsec"))
    return frame.astype({"a": np.int64, "b": np.int64, "q3c_sep_arcsec": float})


# --- the match ---------------------------------------------------------------------------


@dataclass
class DatabaseMatch:
    """A cross-match of side A with side B: parameters, one-to-one result and pair rows.

    ``pairs`` has one row per future ``crossmatch_pair`` row: ``source_a_pk``,
    ``source_b_pk`` (nullable Int64), ``separation_arcsec`` (NaN when none), ``is_best``,
    ``outcome``; see the module docstring for the codes. ``result`` is the
    :class:`~clustercat.processing.crossmatch.CrossMatchResult` (indices into
    ``sources_a``/``sources_b``, the frames of :func:`~.catalogue_io.read_sources`).
    """

    side_a: Side
    side_b: Side
    radius: u.Quantity
    method: str
    offset: tuple[u.Quantity, u.Quantity]
    class_method_a: MethodRef | None
    class_method_b: MethodRef | None
    result: CrossMatchResult
    sources_a: pd.DataFrame
    sources_b: pd.DataFrame
    pairs: pd.DataFrame
    config: dict = field(default_factory=dict)
    run_id: int | None = None

    @property
    def n_pairs(self) -> int:
        """Number of one-to-one pairs."""
        return len(self.result)

    @property
    def counts(self) -> pd.Series:
        """Rows per outcome code, in the order of ``OUTCOMES`` (zeros included)."""
        return outcome_counts(self.pairs)

    def matched_pairs(self) -> pd.DataFrame:
        """The one-to-one pairs only: ``source_a_pk, source_b_pk, separation_arcsec, outcome``."""
        best = self.pairs[self.pairs["is_best"]]
        cols = ["source_a_pk", "source_b_pk", "separation_arcsec", "outcome"]
        return best[cols].reset_index(drop=True)


def outcome_counts(pairs: pd.DataFrame) -> pd.Series:
    """Count of rows per outcome code (every row has one subject), in ``OUTCOMES`` order."""
    counts = pairs["outcome"].value_counts()
    return counts.reindex(list(OUTCOMES), fill_value=0).astype(np.int64).rename("n")


def _class_array(
    conn: Connection, side: Side, method: MethodRef | None, pks: pd.Series
) -> NDArray[np.float64]:
    out = np.full(len(pks), np.nan)
    if method is None:
        return out
    classes = read_classes(conn, side, method)
    pos = pd.Index(pks.to_numpy()).get_indexer(classes["source_pk"].to_numpy())
    ok = pos >= 0
    out[pos[ok]] = classes["class"].to_numpy(dtype=float)[ok]
    return out


def _choose_method(conn: Connection, side: Side, spec: str | MethodRef | None) -> MethodRef | None:
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return None
    if isinstance(spec, str) and spec.strip().lower() == PRIMARY:
        return primary_method(conn, side)
    return resolve_method(conn, spec)


def _nearest_per_subject(
    subject: NDArray[np.int64], other: NDArray[np.int64], sep: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """For candidate pairs (subject, other, sep): the nearest ``other`` of each subject."""
    if subject.size == 0:
        return subject, other, sep
    order = np.lexsort((other, sep, subject))
    s, o, d = subject[order], other[order], sep[order]
    first = np.unique(s, return_index=True)[1]
    return s[first], o[first], d[first]


def _subject_outcomes(
    n: int,
    eligible: NDArray[np.bool_],
    matched: NDArray[np.bool_],
    cand_self: NDArray[np.int64],
    cand_other: NDArray[np.int64],
    cand_sep: NDArray[np.float64],
    other_eligible: NDArray[np.bool_],
    other_matched: NDArray[np.bool_],
    inside: NDArray[np.bool_] | None,
    detection_lists: bool,
) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.float64]]:
    """Outcome, linked counterpart (-1 none) and separation of each unmatched subject."""
    outcome = np.full(n, "", dtype=object)
    partner = np.full(n, -1, dtype=np.int64)
    sep = np.full(n, np.nan)
    unmatched = eligible & ~matched

    # double: a counterpart within the radius, taken one-to-one by a closer source
    lost = other_eligible[cand_other] & other_matched[cand_other] & unmatched[cand_self]
    s, o, d = _nearest_per_subject(cand_self[lost], cand_other[lost], cand_sep[lost])
    outcome[s], partner[s], sep[s] = "double", o, d

    todo = unmatched & (outcome == "")
    if inside is not None:
        outside = todo & ~inside
        outcome[outside] = "unmatched_outside_footprint"
        todo &= inside

    # not a candidate: the other side has a source there, without a class
    excluded = ~other_eligible[cand_other] & todo[cand_self]
    s, _, d = _nearest_per_subject(cand_self[excluded], cand_other[excluded], cand_sep[excluded])
    outcome[s], sep[s] = "unmatched_not_candidate", d

    todo &= outcome == ""
    outcome[todo] = "unmatched_not_detected" if detection_lists else "unmatched"
    return outcome, partner, sep


def match_sides(
    conn: Connection,
    side_a: str | Side,
    side_b: str | Side,
    radius: u.Quantity | str,
    *,
    pixel_scale: u.Quantity | str | float | None = None,
    offset: tuple[u.Quantity, u.Quantity] | str | None = None,
    method: MatchMethod = "kdtree",
    class_method_a: str | MethodRef | None = None,
    class_method_b: str | MethodRef | None = None,
    classified_only: bool = False,
    rule: Literal["greedy", "mutual"] = "greedy",
    detection_lists: bool = False,
) -> DatabaseMatch:
    """Match side A to side B one-to-one within ``radius`` (nothing is written).

    ``side_a``/``side_b``: ``RELEASE`` or ``RELEASE:FIELD`` (or :class:`Side`). ``radius``:
    an angle, or pixels with ``pixel_scale`` (default: the two fields' common pixel scale
    when the database knows it). ``offset = (dRA cos Dec, dDec)`` is added to A before
    matching (A + offset lands on B; same convention as
    :func:`~clustercat.processing.crossmatch.crossmatch_sky`). ``method``: ``kdtree`` or
    ``q3c`` (PostgreSQL), identical results. ``class_method_a/b``: method names (or
    ``"primary"``, the class column the side's files name as primary) whose classes decide
    same_class/other_class. ``classified_only`` matches classified sources only. ``rule``:
    the ``one_to_one`` rule (greedy by default). See the module docstring for outcomes.
    """
    if method not in MATCH_METHODS:
        raise ValueError(f"method must be one of {MATCH_METHODS}, not {method!r}")
    side_a = resolve_side(conn, side_a)
    side_b = resolve_side(conn, side_b)
    scale = None if pixel_scale is None else parse_pixel_scale(pixel_scale)
    if scale is None and read_quantity(radius).unit.is_equivalent(u.pix):
        scales = {s.field.pixel_scale_arcsec for s in (side_a, side_b) if s.field is not None}
        if len(scales) == 1 and None not in scales and side_a.field and side_b.field:
            scale = scales.pop() * u.arcsec / u.pix
        else:
            raise ValueError(
                "a radius in pixels needs --pixel-scale: the database knows no common pixel "
                f"scale for {side_a.label} and {side_b.label}"
            )
    r = parse_radius(radius, scale)
    if r.value <= 0:
        raise ValueError("the match radius must be positive")
    d_ra, d_dec = offset if isinstance(offset, tuple) else parse_offset(offset)
    d_ra, d_dec = u.Quantity(d_ra).to(u.arcsec), u.Quantity(d_dec).to(u.arcsec)
    has_offset = bool(d_ra.value or d_dec.value)

    meth_a = _choose_method(conn, side_a, class_method_a)
    meth_b = _choose_method(conn, side_b, class_method_b)
    if classified_only and (meth_a is None or meth_b is None):
        raise ValueError("classified_only needs a classification method on both sides")

    src_a = read_sources(conn, side_a)
    src_b = read_sources(conn, side_b)
    n_a, n_b = len(src_a), len(src_b)
    cls_a = _class_array(conn, side_a, meth_a, src_a["source_pk"])
    cls_b = _class_array(conn, side_b, meth_b, src_b["source_pk"])
    elig_a = np.isfinite(cls_a) if classified_only else np.ones(n_a, dtype=bool)
    elig_b = np.isfinite(cls_b) if classified_only else np.ones(n_b, dtype=bool)

    ra_a, dec_a = src_a["ra"].to_numpy(), src_a["dec"].to_numpy()
    vec_a = offset_positions(ra_a, dec_a, d_ra, d_dec) if has_offset else unit_vectors(ra_a, dec_a)
    vec_b = unit_vectors(src_b["ra"].to_numpy(), src_b["dec"].to_numpy())

    config: dict = {
        "radius_input": str(radius),
        "pixel_scale_arcsec_per_pix": None if scale is None else float(scale.value),
        "rule": rule,
        "classified_only": classified_only,
        "detection_lists": detection_lists,
        "footprint": "convex hull of the other side's sources (gnomonic), grown by the radius",
        "separation": "atan2(|a x b|, a.b) of unit vectors after the offset (both methods)",
        "candidate_margin": CANDIDATE_MARGIN,
        "n_a": n_a,
        "n_b": n_b,
    }
    if method == "kdtree":
        cand_a, cand_b = grid_candidates(vec_a, vec_b, r)
        config["candidate_search"] = "numpy cell grid (processing.crossmatch.grid_pairs)"
    else:
        # q3c joins the stored positions: widen by the offset's length, cut exactly below
        theta_off = math.degrees(
            math.acos(min(1.0, math.cos(d_ra.to_value(u.rad)) * math.cos(d_dec.to_value(u.rad))))
        )
        search = r + (theta_off * 3600.0 * (1.0 + CANDIDATE_MARGIN)) * u.arcsec
        found = q3c_candidates(conn, side_a, side_b, search)
        cand_a = pd.Index(src_a["source_pk"]).get_indexer(found["a_pk"].to_numpy())
        cand_b = pd.Index(src_b["source_pk"]).get_indexer(found["b_pk"].to_numpy())
        if (cand_a < 0).any() or (cand_b < 0).any():
            raise RuntimeError("q3c returned sources outside the two sides (concurrent write?)")
        if not has_offset and len(found):
            exact = pair_separation(vec_a[cand_a], vec_b[cand_b])
            diff = np.abs(exact - found["q3c_sep_arcsec"].to_numpy())
            config["q3c_max_abs_diff_arcsec"] = float(diff.max())
    result, ia, ib, sep = match_vectors(
        vec_a, vec_b, r, rule=rule, eligible_a=elig_a, eligible_b=elig_b,
        candidates=(np.asarray(cand_a, np.int64), np.asarray(cand_b, np.int64)),
    )  # fmt: skip
    config["n_candidates"] = int(ia.size)

    # outcomes of the one-to-one pairs
    ca, cb = cls_a[result.idx_a], cls_b[result.idx_b]
    both = np.isfinite(ca) & np.isfinite(cb)
    pair_outcome = np.where(both, np.where(ca == cb, "same_class", "other_class"), "matched")

    # outcomes of the unmatched sources of each side
    matched_a = np.zeros(n_a, dtype=bool)
    matched_a[result.idx_a] = True
    matched_b = np.zeros(n_b, dtype=bool)
    matched_b[result.idx_b] = True
    centre = np.concatenate([vec_a, vec_b]).sum(axis=0)
    plane_a = tangent_plane(vec_a, centre)
    plane_b = tangent_plane(vec_b, centre)
    r_arcsec = float(r.to_value(u.arcsec))
    inside_b = footprint_contains(plane_b, plane_a, r_arcsec)  # A sources in B's footprint
    inside_a = footprint_contains(plane_a, plane_b, r_arcsec)
    config["footprint_known"] = {"a": inside_a is not None, "b": inside_b is not None}
    out_a, partner_a, sep_a = _subject_outcomes(
        n_a, elig_a, matched_a, ia, ib, sep, elig_b, matched_b, inside_b, detection_lists
    )
    out_b, partner_b, sep_b = _subject_outcomes(
        n_b, elig_b, matched_b, ib, ia, sep, elig_a, matched_a, inside_a, detection_lists
    )

    pk_a = src_a["source_pk"].to_numpy(dtype=np.int64)
    pk_b = src_b["source_pk"].to_numpy(dtype=np.int64)
    sub_a = np.flatnonzero(out_a != "")
    sub_b = np.flatnonzero(out_b != "")

    def _pk(pks: NDArray[np.int64], idx: NDArray[np.int64]) -> pd.arrays.IntegerArray:
        ok = idx >= 0
        values = np.zeros(idx.size, dtype=np.int64)
        values[ok] = pks[idx[ok]]
        return pd.arrays.IntegerArray(values, ~ok)

    pairs = pd.concat(
        [
            pd.DataFrame(
                {
                    "source_a_pk": pd.array(pk_a[result.idx_a], dtype="Int64"),
                    "source_b_pk": pd.array(pk_b[result.idx_b], dtype="Int64"),
                    "separation_arcsec": result.separation.to_value(u.arcsec),
                    "is_best": True,
                    "outcome": pair_outcome.astype(object),
                }
            ),
            pd.DataFrame(
                {
                    "source_a_pk": pd.array(pk_a[sub_a], dtype="Int64"),
                    "source_b_pk": _pk(pk_b, partner_a[sub_a]),
                    "separation_arcsec": sep_a[sub_a],
                    "is_best": False,
                    "outcome": out_a[sub_a],
                }
            ),
            pd.DataFrame(
                {
                    "source_a_pk": _pk(pk_a, partner_b[sub_b]),
                    "source_b_pk": pd.array(pk_b[sub_b], dtype="Int64"),
                    "separation_arcsec": sep_b[sub_b],
                    "is_best": False,
                    "outcome": out_b[sub_b],
                }
            ),
        ],
        ignore_index=True,
    )
    pairs["is_best"] = pairs["is_best"].astype(bool)
    pairs["separation_arcsec"] = pairs["separation_arcsec"].astype(float)
    config["outcome_counts"] = {k: int(v) for k, v in outcome_counts(pairs).items()}
    return DatabaseMatch(
        side_a=side_a,
        side_b=side_b,
        radius=r,
        method=method,
        offset=(d_ra, d_dec),
        class_method_a=meth_a,
        class_method_b=meth_b,
        result=result,
        sources_a=src_a,
        sources_b=src_b,
        pairs=pairs,
        config=config,
    )


# --- storing -----------------------------------------------------------------------------

_PAIR_COLUMNS = ("run_id", "source_a_id", "source_b_id", "separation_arcsec", "is_best", "outcome")


def _pair_rows(run_id: int, pairs: pd.DataFrame) -> list[tuple]:
    """Rows of ``pairs`` as plain tuples (vectorised conversion, ``None`` for missing)."""
    a = pairs["source_a_pk"].astype(object).where(pairs["source_a_pk"].notna(), None)
    b = pairs["source_b_pk"].astype(object).where(pairs["source_b_pk"].notna(), None)
    sep = pairs["separation_arcsec"].astype(object).where(pairs["separation_arcsec"].notna(), None)
    columns = [
        [run_id] * len(pairs),
        [None if v is None else int(v) for v in a.tolist()],
        [None if v is None else int(v) for v in b.tolist()],
        [None if v is None else float(v) for v in sep.tolist()],
        pairs["is_best"].astype(bool).tolist(),
        pairs["outcome"].astype(str).tolist(),
    ]
    return list(zip(*columns, strict=True))


def store_match(conn: Connection, match: DatabaseMatch) -> int:
    """Write the run and its pair rows (in the caller's transaction); returns the run id.

    Pairs are bulk-loaded: ``COPY`` on PostgreSQL, one ``executemany`` on SQLite.
    """
    from clustercat.ingest.releases import code_version

    values = {
        "release_a_id": match.side_a.release.id,
        "release_b_id": match.side_b.release.id,
        "field_a_id": match.side_a.field.id if match.side_a.field else None,
        "field_b_id": match.side_b.field.id if match.side_b.field else None,
        "radius_arcsec": float(match.radius.to_value(u.arcsec)),
        "method": match.method,
        "offset_ra_arcsec": float(match.offset[0].to_value(u.arcsec)),
        "offset_dec_arcsec": float(match.offset[1].to_value(u.arcsec)),
        "classification_method_a_id": match.class_method_a.id if match.class_method_a else None,
        "classification_method_b_id": match.class_method_b.id if match.class_method_b else None,
        "n_pairs": match.n_pairs,
        "config": match.config,
        "code_version": code_version()[:64],
    }
    run_id = int(
        conn.execute(insert(CrossmatchRun).values(**values).returning(CrossmatchRun.id)).scalar()
    )
    rows = _pair_rows(run_id, match.pairs)
    if rows:
        cursor = conn.connection.driver_connection.cursor()
        cols = ", ".join(_PAIR_COLUMNS)
        if is_postgresql(conn):
            with cursor.copy(f"COPY crossmatch_pair ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in _PAIR_COLUMNS)
            cursor.executemany(f"INSERT INTO crossmatch_pair ({cols}) VALUES ({marks})", rows)
    match.run_id = run_id
    return run_id


def run_crossmatch(
    bind: Engine | Connection,
    side_a: str | Side,
    side_b: str | Side,
    radius: u.Quantity | str,
    *,
    store: bool = True,
    **options,
) -> DatabaseMatch:
    """:func:`match_sides`, then :func:`store_match` unless ``store`` is false.

    With an engine the match and the writes happen in one write transaction (committed at
    the end); with a connection, inside the caller's transaction. ``options`` are those of
    :func:`match_sides`.
    """
    if isinstance(bind, Engine) and store:
        from clustercat.schema import write_transaction

        with write_transaction(bind) as conn:
            match = match_sides(conn, side_a, side_b, radius, **options)
            store_match(conn, match)
        return match
    with connect(bind) as conn:
        match = match_sides(conn, side_a, side_b, radius, **options)
        if store:
            store_match(conn, match)
    return match
