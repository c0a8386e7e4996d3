"""What each page shows, as frames: the shared readers and analyses, arranged for the plots.

Presentation glue only. The rows come from the readers the command line uses
(:mod:`clustercat.processing.catalogue_io`, :mod:`~clustercat.processing.readers_releases`,
:mod:`~clustercat.processing.readers_injection`, :mod:`~clustercat.processing.readers_models`:
the collaborator views, and tables only for metadata no view holds); the numbers from
:mod:`clustercat.processing.analyses` (box counts, QR and figure of merit, agreement and
confusion, mass and age functions, cross-match comparison, SSP tracks), the very functions
``clustercat analyse`` calls. This module turns the sidebar selection into the releases and
methods those functions take, and their results into what :mod:`.plots` draws. Every function
takes an engine and plain, hashable parameters, so :mod:`.cache` can key the results and
``bench/dashboard.py`` can time them without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from clustercat.processing import analyses as an
from clustercat.processing import catalogue_io as cio
from clustercat.processing import readers_injection as ri
from clustercat.processing import readers_releases as rr
from clustercat.processing.colour_boxes import (
    CLASS_SETS,
    WHITMORE2021_BOXES,
    WHITMORE2021_BOXES_TABLE2_NOTES,
    ColourBox,
)
from clustercat.schema.injection import COMPLETENESS_BINS
from sqlalchemy import Engine

#: Colour-box definitions offered (Whitmore et al. 2021 §5 text, and its Table 2 notes).
BOX_SETS: dict[str, tuple[ColourBox, ...]] = {
    "W21 §5 text (box 3 from V-I = 0.2)": WHITMORE2021_BOXES,
    "W21 Table 2 notes (box 3 from V-I = 0.1)": WHITMORE2021_BOXES_TABLE2_NOTES,
}
DEFAULT_BOXES = next(iter(BOX_SETS))

#: Catalogue columns the colour-colour and quality pages read.
COLOUR_COLUMNS = ("field", "mag_nuv", "mag_u", "mag_b", "mag_v", "mag_i", "filter_b", "filter_v")


# --- context: releases, fields, methods -------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The sidebar selection, as plain values (hashable: it is part of every cache key).

    ``methods`` are method names as listed by :attr:`Context.methods`; ``galaxy`` None means
    every galaxy; ``mv_limit`` None means no absolute-magnitude cut.
    """

    release_ids: tuple[int, ...]
    galaxy: str | None
    methods: tuple[str, ...]
    class_set: str = "1+2"
    mv_limit: float | None = -7.8


@dataclass
class Context:
    """Releases, fields and methods of the database: what the sidebar offers."""

    releases: pd.DataFrame  # readers_releases.read_releases
    fields: pd.DataFrame  # readers_releases.read_catalogue_coverage of the visible releases
    methods: pd.DataFrame  # per release, galaxy and method: method_id, method, kind, n, ...
    summary: pd.DataFrame  # readers_releases.read_release_summary of the visible releases

    @property
    def visible(self) -> pd.DataFrame:
        """Releases the ``_all`` views show (complete or superseded) with sources, by release
        name in the order the names were first ingested, newest version first."""
        r = self.releases
        first = r.groupby("release")["release_id"].transform("min")
        order = r.assign(_first=first).sort_values(["_first", "version"], ascending=[True, False])
        order = order.drop(columns="_first")
        return order[order["visible"] & (order["n_sources"] > 0)]

    @property
    def shown(self) -> pd.DataFrame:
        """The newest complete version of each release name with sources: offered by default."""
        v = self.visible
        return v[v["newest"]]

    def offered(self, superseded: bool = False) -> pd.DataFrame:
        """Releases the picker offers: the newest complete versions, and with ``superseded``
        the older versions too."""
        return self.visible if superseded else self.shown

    @property
    def labels(self) -> pd.Series:
        """Release id -> ``name vN`` (map a column of ids with it)."""
        return self.releases.set_index("release_id")["label"]

    def label(self, release_id: int) -> str:
        return str(self.labels.get(int(release_id), f"release {release_id}"))

    def release_ref(self, release_id: int) -> cio.ReleaseRef:
        row = self.releases.set_index("release_id").loc[int(release_id)]
        return cio.ReleaseRef(int(release_id), str(row["release"]), int(row["version"]))

    def galaxies(self, release_ids: Sequence[int]) -> list[str]:
        f = self.fields[self.fields["release_id"].isin(release_ids)]
        return sorted(f["galaxy"].unique())

    def scope_fields(self, scope: Scope) -> pd.DataFrame:
        f = self.fields[self.fields["release_id"].isin(scope.release_ids)]
        if scope.galaxy is not None:
            f = f[f["galaxy"] == scope.galaxy]
        return f

    def method_table(self, release_ids: Sequence[int], galaxy: str | None) -> pd.DataFrame:
        """Methods with their classified-source counts over the releases (and galaxy)."""
        m = self.methods[self.methods["release_id"].isin(release_ids)]
        if galaxy is not None:
            m = m[m["galaxy"] == galaxy]
        return (
            m.groupby(["method", "kind"], as_index=False)["n"]
            .sum()
            .sort_values("n", ascending=False, kind="stable")
        )

    def method_ref(self, method_id: int | None) -> cio.MethodRef | None:
        if method_id is None:
            return None
        m = self.methods.drop_duplicates("method_id").set_index("method_id")
        if int(method_id) not in m.index:
            return None
        row = m.loc[int(method_id)]
        return cio.MethodRef(int(method_id), str(row["name"]), str(row["version"]),
                             str(row["kind"]))  # fmt: skip

    def keys(self, scope: Scope) -> pd.DataFrame:
        """The (release, method) panels of a selection, with a display ``key`` each.

        The key is the method name, or ``method · release`` when several releases are shown.
        Ordered as the methods were chosen, then by release.
        """
        m = self.methods[
            self.methods["release_id"].isin(scope.release_ids)
            & self.methods["method"].isin(scope.methods)
        ]
        if scope.galaxy is not None:
            m = m[m["galaxy"] == scope.galaxy]
        cols = ["release_id", "method_id", "method", "name", "version", "kind"]
        k = m.groupby(cols, as_index=False)["n"].sum()
        order = {name: i for i, name in enumerate(scope.methods)}
        k["order"] = k["method"].map(order)
        k = k.sort_values(["order", "release_id"]).drop(columns="order").reset_index(drop=True)
        k["release"] = k["release_id"].map(self.labels)
        several = k["release_id"].nunique() > 1
        k["key"] = np.where(several, k["method"] + " · " + k["release"], k["method"])
        return k

    def panels(self, scope: Scope, keys: pd.DataFrame | None = None) -> list[an.Panel]:
        """The panels of a selection as :class:`~clustercat.processing.analyses.Panel`."""
        keys = self.keys(scope) if keys is None else keys
        return [
            an.Panel(r.key, self.release_ref(r.release_id),
                     cio.MethodRef(int(r.method_id), r.name, str(r.version), r.kind))
            for r in keys.itertuples()
        ]  # fmt: skip


def load_context(engine: Engine) -> Context:
    """Releases (all), and the fields and methods of the visible releases with sources."""
    releases = rr.read_releases(engine)
    ids = releases.loc[releases["visible"] & (releases["n_sources"] > 0), "release_id"].tolist()
    with engine.connect() as conn:
        fields = rr.read_catalogue_coverage(conn, ids)
        summary = rr.read_release_summary(conn, ids)
    classified = summary.dropna(subset=["method_pk"])
    cols = ["release_id", "galaxy", "method_pk", "method", "method_version", "method_kind",
            "delivered_by"]  # fmt: skip
    methods = classified.groupby(cols, as_index=False)["n_sources"].sum()
    methods = methods.rename(
        columns={
            "method_pk": "method_id",
            "method": "name",
            "method_version": "version",
            "method_kind": "kind",
            "n_sources": "n",
        }  # fmt: skip
    )
    methods["method_id"] = methods["method_id"].astype(np.int64)
    methods["version"] = methods["version"].astype(str)
    methods["method"] = np.where(
        methods["version"] == "1", methods["name"], methods["name"] + " v" + methods["version"]
    )
    return Context(releases=releases, fields=fields, methods=methods, summary=summary)


def _galaxies(scope: Scope) -> list[str] | None:
    return None if scope.galaxy is None else [scope.galaxy]


def _no_distance_notice(fields: pd.DataFrame, mv_limit: float | None) -> list[str]:
    missing = fields.loc[~np.isfinite(fields["distance_mpc"].to_numpy(dtype=float)), "galaxy"]
    if mv_limit is None or missing.empty:
        return []
    return ["No distance for " + ", ".join(sorted(set(missing))) + ": left out of the M_V cut."]


# --- overview ---------------------------------------------------------------------------------


@dataclass
class OverviewData:
    """Releases, their inputs, per-galaxy class counts per method, history."""

    releases: pd.DataFrame
    files: pd.DataFrame
    galaxies: pd.DataFrame  # galaxy, release, distance, fields, n_sources, n_sed
    class_counts: pd.DataFrame  # release, galaxy, method, class, n (long)
    runs: pd.DataFrame
    crossmatch_runs: pd.DataFrame


def overview(engine: Engine, ctx: Context, release_ids: Sequence[int]) -> OverviewData:
    """Everything the Overview page shows (counts from ``release_summary_all``)."""
    ids = list(release_ids)
    summary = ctx.summary[ctx.summary["release_id"].isin(ids)]
    names = ctx.methods.drop_duplicates("method_id").set_index("method_id")["method"]
    counts = summary.dropna(subset=["method_pk", "class"])
    counts = pd.DataFrame(
        {
            "release": counts["release_id"].map(ctx.labels),
            "galaxy": counts["galaxy"],
            "method": counts["method_pk"].astype(np.int64).map(names),
            "class": counts["class"].astype(np.int64),
            "n": counts["n_sources"],
        }
    ).reset_index(drop=True)
    f = ctx.fields[ctx.fields["release_id"].isin(ids)]
    coverage = f.groupby(["release_id", "galaxy"], as_index=False).agg(
        distance_mpc=("distance_mpc", "first"),
        fields=("field", lambda s: ", ".join(sorted(s))),
    )
    per_galaxy = summary.drop_duplicates(["release_id", "galaxy"])[
        ["release_id", "galaxy", "n_galaxy_sources", "n_galaxy_sed_fitted"]
    ].rename(columns={"n_galaxy_sources": "n_sources", "n_galaxy_sed_fitted": "n_sed"})
    galaxies = coverage.merge(per_galaxy, on=["release_id", "galaxy"], how="left")
    galaxies["release"] = galaxies["release_id"].map(ctx.labels)
    with engine.connect() as conn:
        files = rr.read_release_files(conn)
        runs = rr.read_processing_runs(conn)
        xruns = cio.read_crossmatch_runs(conn, ctx.releases["release_id"].tolist())
    return OverviewData(
        releases=ctx.releases,
        files=files,
        galaxies=galaxies.sort_values(["galaxy", "release"]).reset_index(drop=True),
        class_counts=counts,
        runs=runs,
        crossmatch_runs=xruns,
    )


# --- colour-colour diagrams (W21 §5, Figs. 9-14) ------------------------------------------------


@dataclass
class ColourData:
    """Points, box counts and tracks of the colour-colour page."""

    keys: list[str]
    points: pd.DataFrame  # key, class, galaxy, source_pk, v_minus_i, u_minus_b, nuv_minus_b, box
    counts: pd.DataFrame  # rows box 0..4 (0 = in no box), columns keys
    boxes: tuple[ColourBox, ...]
    filter_b: str
    filter_v: str
    notices: list[str] = field(default_factory=list)


def _common_filter(fields: pd.DataFrame, column: str, default: str) -> str:
    names = fields[column].dropna().unique()
    return str(names[0]) if len(names) == 1 else default


def colour_colour(
    engine: Engine, ctx: Context, scope: Scope, boxes: str = DEFAULT_BOXES
) -> ColourData:
    """U-B and NUV-B vs V-I per panel, with the W21 box counts (:func:`analyses.colour_panels`)."""
    box_set = BOX_SETS[boxes]
    keys = ctx.keys(scope)
    fields = ctx.scope_fields(scope)
    notices = _no_distance_notice(fields, scope.mv_limit)
    sample = an.panel_sample(
        engine, ctx.panels(scope, keys), _galaxies(scope), classes=CLASS_SETS[scope.class_set],
        abs_mag_limit=scope.mv_limit, columns=COLOUR_COLUMNS,
    )  # fmt: skip
    key_list = keys["key"].tolist()
    panels = an.colour_panels(
        sample, key_list, class_set=scope.class_set, abs_mag_limit=scope.mv_limit, boxes=box_set
    )
    points = panels.points
    if sample.empty:
        notices.append("No classified source with these settings.")
    else:
        for colour, bands in (("v_minus_i", "V and I"), ("u_minus_b", "U and B")):
            if not np.isfinite(points[colour].to_numpy(dtype=float)).any():
                notices.append(
                    f"No source here has both {bands} magnitudes: the release lacks the "
                    "photometry this diagram needs."
                )
    return ColourData(
        keys=key_list,
        points=points,
        counts=panels.counts,
        boxes=box_set,
        filter_b=_common_filter(fields, "filter_b", "F438W"),
        filter_v=_common_filter(fields, "filter_v", "F555W"),
        notices=notices,
    )


def colour_tracks(
    engine: Engine, filter_b: str = "F438W", filter_v: str = "F555W"
) -> tuple[list[an.ColourTrack], list[str]]:
    """The SSP tracks of the colour-colour diagrams (:func:`analyses.colour_tracks`)."""
    return an.colour_tracks(engine, filter_b, filter_v)


# --- quality ratios (W21 §5.5, Table 2, Fig. 18) ------------------------------------------------


@dataclass
class QualityData:
    """Table 2 counts and QR per galaxy, class set and box; Fig. 18 figure of merit."""

    keys: list[str]
    counts: pd.DataFrame  # tidy: galaxy, class_set, box, method, n
    quality: pd.DataFrame  # galaxy, class_set, box, one column per key, qr, qr_good
    merit: pd.DataFrame | None  # method, mean, std, n_rows
    n_eligible: int
    n_good: int
    notices: list[str] = field(default_factory=list)


def quality(engine: Engine, ctx: Context, scope: Scope, boxes: str = DEFAULT_BOXES) -> QualityData:
    """Counts per box, panel and class set under M_V < limit; QR and figure of merit
    (:func:`analyses.quality_tables`)."""
    keys = ctx.keys(scope)
    key_list = keys["key"].tolist()
    notices = _no_distance_notice(ctx.scope_fields(scope), scope.mv_limit)
    sample = an.panel_sample(
        engine, ctx.panels(scope, keys), _galaxies(scope), abs_mag_limit=scope.mv_limit,
        columns=COLOUR_COLUMNS,
    )  # fmt: skip
    t = an.quality_tables(sample, key_list, abs_mag_limit=scope.mv_limit, boxes=BOX_SETS[boxes])
    return QualityData(key_list, t.counts, t.quality, t.merit, t.n_eligible, t.n_good,
                       notices + t.notes)  # fmt: skip


# --- agreement (W21 §4, Table 1, Figs. 5-6, 21) ------------------------------------------------


@dataclass
class AgreementData:
    """Two methods compared on the sources both classified."""

    key_a: str
    key_b: str
    via: str
    n_pairs: int
    fractions: pd.DataFrame  # class_set, n_a, n_b, n_both, frac_a, frac_b, agreement (+ mean)
    confusion: pd.DataFrame  # counts, rows class of A, columns class of B
    symmetric: pd.DataFrame  # W21 Fig. 21 normalisation
    binned: pd.DataFrame  # agreement per class set in equal-number m_V bins
    all_pairs: pd.DataFrame  # Table 1: one row per pair of methods on the same sources
    notices: list[str] = field(default_factory=list)


def agreement(
    engine: Engine,
    ctx: Context,
    scope: Scope,
    key_a: str,
    key_b: str,
    *,
    n_bins: int = 4,
    radius_arcsec: float = 0.08,
) -> AgreementData:
    """Agreement fractions, confusion matrices and agreement vs m_V of two panels
    (:func:`analyses.compare_classes`).

    Methods of the same release are compared on the sources both classified (W21's
    "intersection"); methods of two releases on their one-to-one cross-match
    (:func:`analyses.crossmatch_comparison`, stored run or computed within
    ``radius_arcsec``).
    """
    listed = ctx.panels(scope)
    panels = {p.key: p for p in listed}
    notices = _no_distance_notice(ctx.scope_fields(scope), scope.mv_limit)
    pa, pb = panels[key_a], panels[key_b]
    sample = an.panel_sample(
        engine, listed, _galaxies(scope), abs_mag_limit=scope.mv_limit, columns=("galaxy",)
    )
    if pa.release.id == pb.release.id:
        pairs = an.panel_class_pairs(sample, key_a, key_b)
        via = f"the same {pa.release.label} sources"
    else:
        runs = cio.read_crossmatch_runs(engine, [pa.release.id, pb.release.id])
        run_id = stored_run(ctx, runs, pa.release.id, pb.release.id, scope.galaxy)
        match = an.crossmatch_comparison(
            engine, pa.release, pb.release, galaxy=scope.galaxy, method_a=pa.method,
            method_b=pb.method, radius_arcsec=radius_arcsec, run_id=run_id,
        )  # fmt: skip
        pairs = match.matched[an.brighter_than(match.matched, scope.mv_limit)]
        if run_id is not None:
            via = f"the one-to-one pairs of stored cross-match run #{run_id}"
        else:
            via = f"a one-to-one cross-match ({match.source})"
            notices += match.notes
    tables = an.compare_classes(pairs["class_a"], pairs["class_b"], pairs["mag_v"], n_bins)
    if len(tables.binned) == 0:
        notices.append("Too few sources with a V magnitude for agreement vs magnitude.")
    if tables.n_pairs == 0:
        notices.append(f"No source classified by both {key_a} and {key_b} with these settings.")
    return AgreementData(
        key_a=key_a,
        key_b=key_b,
        via=via,
        n_pairs=tables.n_pairs,
        fractions=tables.fractions,
        confusion=tables.confusion,
        symmetric=tables.symmetric,
        binned=tables.binned,
        all_pairs=an.agreement_all_pairs(sample, listed),
        notices=notices,
    )


# --- mass and age functions (W21 §7, Tables 4-5, Figs. 22-25) ----------------------------------


@dataclass
class FunctionsData:
    """Binned mass and age functions per method (and release) with power-law fits."""

    keys: list[str]
    sample: pd.DataFrame  # key, class, galaxy, source_pk, log_age, log_mass
    mass_bins: pd.DataFrame
    mass_fits: pd.DataFrame
    age_bins: pd.DataFrame
    age_fits: pd.DataFrame
    notices: list[str] = field(default_factory=list)


def functions(
    engine: Engine,
    ctx: Context,
    scope: Scope,
    *,
    age_ranges: Sequence[tuple[float, float]] = an.W21_AGE_RANGES,
    mass_ranges: Sequence[tuple[float, float | None]] = an.W21_MASS_RANGES,
    log_mass_min: float = an.LOG_MASS_MIN,
    mass_bins: int = an.MASS_FUNCTION_BINS,
    equal_number: bool = an.MASS_FUNCTION_EQUAL_NUMBER,
    age_bins: int = an.AGE_FUNCTION_BINS,
    age_fit_range: tuple[float, float] = an.AGE_FUNCTION_FIT_LOG_RANGE,
) -> FunctionsData:
    """dN/dM per age range and dN/dtau per mass range for every panel
    (:func:`analyses.function_panels`; defaults W21 §7)."""
    keys = ctx.keys(scope)
    notices = _no_distance_notice(ctx.scope_fields(scope), scope.mv_limit)
    sample = an.panel_sample(
        engine, ctx.panels(scope, keys), _galaxies(scope), classes=CLASS_SETS[scope.class_set],
        abs_mag_limit=scope.mv_limit, columns=("log_age", "log_mass"),
    )  # fmt: skip
    fp = an.function_panels(
        sample, age_ranges=age_ranges, mass_ranges=mass_ranges, log_mass_min=log_mass_min,
        mass_bins=mass_bins, equal_number=equal_number, age_bins=age_bins,
        fit_log_age_range=age_fit_range,
    )  # fmt: skip
    if fp.sample.empty:
        notices.append("No source with an SED age and mass for these settings.")
    if fp.skipped:
        notices.append(
            "Too few sources (or non-empty bins) to bin and fit: " + "; ".join(fp.skipped) + "."
        )
    return FunctionsData(keys["key"].tolist(), fp.sample, fp.mass_bins, fp.mass_fits,
                         fp.age_bins, fp.age_fits, notices)  # fmt: skip


# --- cross-match (W21 §4, §6; T22 §6.4) ---------------------------------------------------------


def stored_run(
    ctx: Context, runs: pd.DataFrame, release_a: int, release_b: int, galaxy: str | None
) -> int | None:
    """The newest stored run of ``runs`` between the two releases covering the galaxy."""
    fields = None
    if galaxy is not None:
        fields = ctx.fields.loc[ctx.fields["galaxy"] == galaxy, "field"].tolist()
    return an.newest_stored_run(runs, release_a, release_b, fields)


def crossmatch(
    engine: Engine,
    ctx: Context,
    release_a: int,
    release_b: int,
    galaxy: str | None,
    method_a: int | None,
    method_b: int | None,
    radius_arcsec: float = 0.08,
    run_id: int | None = None,
) -> an.CrossmatchComparison:
    """Cross-match of two releases (:func:`analyses.crossmatch_comparison`): a stored run
    (``run_id``), or one computed now (nothing is written)."""
    return an.crossmatch_comparison(
        engine, ctx.release_ref(release_a), ctx.release_ref(release_b), galaxy=galaxy,
        method_a=ctx.method_ref(method_a), method_b=ctx.method_ref(method_b),
        radius_arcsec=radius_arcsec, run_id=run_id,
    )  # fmt: skip


# --- source explorer --------------------------------------------------------------------------


@dataclass
class ExplorerData:
    """Filtered sources with every method's class, and twins in another release."""

    rows: pd.DataFrame
    truncated: bool
    methods: list[str]
    notices: list[str] = field(default_factory=list)


def explorer(
    engine: Engine,
    ctx: Context,
    scope: Scope,
    *,
    v_range: tuple[float, float] | None = None,
    classified_only: bool = True,
    source_pks: Sequence[int] | None = None,
    limit: int = 5000,
) -> ExplorerData:
    """Sources of the selection, brightest first: catalogue values and a class per method.

    ``classified_only`` keeps sources that one of the chosen methods puts in the class set.
    """
    panels = ctx.panels(scope)
    with engine.connect() as conn:
        rows = cio.read_catalogue_page(
            conn, scope.release_ids, _galaxies(scope), mag_v_range=v_range,
            source_pks=source_pks,
            classified_by=[p.method for p in panels] if classified_only else None,
            classes=CLASS_SETS[scope.class_set] if classified_only else None, limit=limit + 1,
        )  # fmt: skip
        truncated = len(rows) > limit
        rows = rows.head(limit).copy()
        classes = cio.read_source_classes(conn, rows["source_pk"].tolist())
    rows["release"] = rows["release_id"].map(ctx.labels)
    classes["method"] = np.where(
        classes["method_version"].astype(str) == "1",
        classes["method"],
        classes["method"] + " v" + classes["method_version"].astype(str),
    )
    wide = classes.pivot_table(index="source_pk", columns="method", values="class", aggfunc="first")
    methods = [m for m in scope.methods if m in wide.columns]
    methods += sorted(c for c in wide.columns if c not in methods)
    rows = rows.merge(
        wide.reindex(columns=methods).add_prefix("class: "),
        left_on="source_pk",
        right_index=True,
        how="left",
    )
    notices = []
    if rows.empty:
        notices.append("No source matches these filters.")
    return ExplorerData(rows=rows, truncated=truncated, methods=methods, notices=notices)


def twins(match: an.CrossmatchComparison, source_pks: Sequence[int]) -> pd.DataFrame:
    """Cross-match twin of each source (either side): its key, release id and separation."""
    m = match.matched
    ab = m.set_index("source_a_pk")[["source_b_pk", "source_id_b", "separation_arcsec"]]
    ab.columns = ["twin_pk", "twin_source_id", "separation_arcsec"]
    ba = m.set_index("source_b_pk")[["source_a_pk", "source_id_a", "separation_arcsec"]]
    ba.columns = ["twin_pk", "twin_source_id", "separation_arcsec"]
    both = pd.concat(
        [ab.assign(twin_release=match.release_b), ba.assign(twin_release=match.release_a)]
    )
    both = both[~both.index.duplicated()]
    return both.reindex(pd.Index(list(source_pks), dtype=float))


def first_method_classes(
    engine: Engine, source_pks: Sequence[int], methods: Sequence[str]
) -> pd.Series:
    """source_pk -> class under the first of ``methods`` (display names) that classified it."""
    if not len(source_pks) or not len(methods):
        return pd.Series(dtype="Int64")
    found = cio.read_source_classes(engine, list(source_pks))
    found["name"] = np.where(
        found["method_version"].astype(str) == "1",
        found["method"],
        found["method"] + " v" + found["method_version"].astype(str),
    )
    found = found[found["name"].isin(methods)].copy()
    found["order"] = found["name"].map({m: i for i, m in enumerate(methods)})
    found = found.sort_values("order").drop_duplicates("source_pk")
    return found.set_index("source_pk")["class"].astype("Int64")


# --- injection completeness and completeness-corrected functions (issue 11) ---------------------

#: Quantities of the completeness curves: label -> quantity of ``injection_completeness``
#: (bin widths: :data:`clustercat.schema.injection.COMPLETENESS_BINS`).
COMPLETENESS_AXES: dict[str, str] = {
    "V magnitude (injected, Vega mag)": "mag_v",
    "log mass (log M/M☉)": "log_mass",
}


def completeness_width(axis: str) -> float:
    """Bin width of a completeness axis, as the view bins it."""
    return float(COMPLETENESS_BINS[COMPLETENESS_AXES[axis]][1])


@dataclass
class CompletenessRunData:
    """One complete injection run: completeness per age bin and overall, the recovered
    trials' MCIs and the nested model regions (None with the reason when there are none)."""

    curves: pd.DataFrame  # age_low, bin_low, n_injected, n_recovered, completeness(_err)
    overall: pd.DataFrame  # rows of injection_completeness for the quantity
    hits: pd.DataFrame  # mci_in, mci_out of the recovered trials
    regions: object | None
    regions_problem: str | None


def completeness_run(
    engine: Engine, run_id: int, axis: str, age_width: float = 1.0
) -> CompletenessRunData:
    """The completeness page of one run (``axis`` a key of :data:`COMPLETENESS_AXES`)."""
    from clustercat.processing.injection_db import (
        InjectionError,
        completeness_table,
        model_regions_from_run,
    )

    quantity = COMPLETENESS_AXES[axis]
    with engine.connect() as conn:
        curves = ri.completeness_by_age(conn, run_id, quantity, age_width)
        overall = completeness_table(conn, run_id, quantity)
        hits = ri.recovered_mci(conn, run_id)
        try:
            regions, problem = model_regions_from_run(conn, run_id), None
        except (InjectionError, ValueError) as exc:
            regions, problem = None, str(exc)
    for col in ("bin_low", "bin_high", "completeness", "completeness_err"):
        overall[col] = pd.to_numeric(overall[col], errors="coerce").astype(float)
    return CompletenessRunData(curves, overall, hits, regions, problem)


@dataclass
class CorrectedFunctionsData:
    """The mass function in one age range and the age function in one mass range of one
    (release, method) panel, without and with a completeness correction
    (:func:`clustercat.processing.analyses.mass_function` / ``age_function``)."""

    mass: an.FunctionTables | None
    age: an.FunctionTables | None
    model: str
    notices: list[str] = field(default_factory=list)


def corrected_functions(
    engine: Engine,
    ctx: Context,
    scope: Scope,
    key: str,
    model_id: int,
    age_range: tuple[float, float],
    mass_range: tuple[float, float | None],
    log_mass_min: float,
    mass_bins: int,
    equal_number: bool,
    age_bins: int,
    age_fit_range: tuple[float, float],
) -> CorrectedFunctionsData:
    """Mass function (log τ in ``age_range``, M >= 10^``log_mass_min``) and age function
    (log M in ``mass_range``, log τ 6-9) of the panel ``key``, with the registered physical
    completeness network ``model_id`` (weights 1/p, C-4 §4.4). Ranges in log yr / log Msun."""
    from clustercat.processing.completeness_db import load_registered, source_completeness

    panel = next(p for p in ctx.panels(scope) if p.key == key)
    with engine.connect() as conn:
        model = load_registered(conn, int(model_id))
    common = {
        "classes": CLASS_SETS[scope.class_set],
        "galaxies": _galaxies(scope),
        "completeness": source_completeness(model),
    }
    notices: list[str] = []
    out: dict[str, an.FunctionTables | None] = {"mass": None, "age": None}
    m_hi = None if mass_range[1] is None else 10.0 ** mass_range[1]
    calls = {
        "mass": lambda: an.mass_function(
            engine, panel.release, panel.method,
            age_range=(10.0 ** age_range[0], 10.0 ** age_range[1]),
            mass_range=(10.0**log_mass_min, None), n_bins=mass_bins, equal_number=equal_number,
            **common,
        ),
        "age": lambda: an.age_function(
            engine, panel.release, panel.method, mass_range=(10.0 ** mass_range[0], m_hi),
            age_range=tuple(10.0**a for a in an.AGE_FUNCTION_LOG_RANGE),
            fit_age_range=tuple(10.0**a for a in age_fit_range), n_bins=age_bins, **common,
        ),
    }  # fmt: skip
    for what, call in calls.items():  # two functions
        try:
            out[what] = call()
        except (ValueError, LookupError) as exc:
            notices.append(f"No corrected {what} function: {exc}.")
    return CorrectedFunctionsData(out["mass"], out["age"], f"{model.name} v{model.version}",
                                  notices)  # fmt: skip


# --- the ML page: key metrics of a registered model (issue 12) ---------------------------------


def ml_key_metrics(task: str, metrics: dict) -> dict[str, float | int | None]:
    """The headline numbers of a model's stored metrics JSON (read, never recomputed):
    classifiers: n, accuracy and mean vote fraction on the training set; age models: n,
    scatter, null scatter and predictive power on the training and validation sets."""
    out: dict[str, float | int | None] = {}
    train = metrics.get("training_set") or {}
    if task == "classification":
        out["n"] = train.get("n")
        out["accuracy"] = train.get("accuracy")
        out["mean vote fraction"] = metrics.get("mean_vote_fraction")
    elif task == "age_regression":
        for label, part in (("train", train), ("validation", metrics.get("validation") or {})):
            out[f"n ({label})"] = part.get("n")
            out[f"scatter dex ({label})"] = part.get("scatter_dex")
            out[f"null scatter dex ({label})"] = part.get("null_scatter_dex")
            out[f"predictive power % ({label})"] = part.get("predictive_power_pct")
    return out


def ml_per_class(metrics: dict) -> pd.DataFrame:
    """Per-class precision, recall and counts of a classifier's training-set metrics."""
    per_class = (metrics.get("training_set") or {}).get("per_class") or {}
    rows = [
        {"class": int(c), "precision": v.get("precision"), "recall": v.get("recall"),
         "n_true": v.get("n_true"), "n_predicted": v.get("n_predicted")}
        for c, v in sorted(per_class.items(), key=lambda kv: int(kv[0]))
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["class", "precision", "recall", "n_true", "n_predicted"])
    return frame.astype({"precision": float, "recall": float})


def ml_occlusion_curve(metrics: dict) -> pd.DataFrame | None:
    """The occlusion curve stored in an age model's metrics (``occlusion``: records or
    columns with diameter_px and scatter_dex), else None."""
    found = metrics.get("occlusion") or metrics.get("occlusion_curve")
    if isinstance(found, dict) and "curve" in found:
        found = found["curve"]
    if not found:
        return None
    try:
        frame = pd.DataFrame(found)
    except (TypeError, ValueError):
        return None
    if not {"diameter_px", "scatter_dex"} <= set(frame.columns):
        return None
    return frame.sort_values("diameter_px").reset_index(drop=True)
