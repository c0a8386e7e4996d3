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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from clustercat.processing import analyses as an
from clustercat.processing import catalogue_io as cio
from clustercat.processing import figure_queries as fq
from clustercat.processing import readers_injection as ri
from clustercat.processing import readers_releases as rr
from clustercat.processing import readers_sed as rs
from clustercat.processing.colour_boxes import (
    CLASS_SETS,
    QR_CLASS_SETS,
    QR_MIN_COUNT,
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
    sed: pd.DataFrame  # readers_sed.read_sed_coverage: SED methods per release and galaxy

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

    def default_methods(
        self, release_ids: Sequence[int], galaxy: str | None, limit: int = 4
    ) -> list[str]:
        """The methods selected by default: those covering the most (release, galaxy) pairs of
        the selection (a method that classified sources in every galaxy first), then the most
        sources; at most ``limit`` (W21 compares four)."""
        m = self.methods[self.methods["release_id"].isin(release_ids)]
        if galaxy is not None:
            m = m[m["galaxy"] == galaxy]
        if m.empty:
            return []
        pairs = m.drop_duplicates(["method", "release_id", "galaxy"]).groupby("method").size()
        cover = pd.DataFrame({"pairs": pairs, "n": m.groupby("method")["n"].sum()})
        cover = cover.sort_values(["pairs", "n"], ascending=False, kind="stable")
        return cover.index.tolist()[:limit]

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
        sed = rs.read_sed_coverage(conn, ids)
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
    return Context(releases=releases, fields=fields, methods=methods, summary=summary, sed=sed)


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
    class_counts: pd.DataFrame  # release, galaxy, method, class, n (long) + the view's keys
    runs: pd.DataFrame
    crossmatch_runs: pd.DataFrame

    def totals(
        self, galaxy: str | None = None, release_ids: Sequence[int] | None = None
    ) -> dict[str, int]:
        """The Overview tiles for the selected releases (or ``release_ids`` of them, and
        ``galaxy``): releases, sources, galaxies, classifications (source x method rows of
        ``source_classes``)."""
        g, c = self.galaxies, self.class_counts
        if release_ids is not None:
            g = g[g["release_id"].isin(release_ids)]
            c = c[c["release_id"].isin(release_ids)]
        if galaxy is not None:
            g, c = g[g["galaxy"] == galaxy], c[c["galaxy"] == galaxy]
        return {
            "releases": int(g["release_id"].nunique()),
            "sources": int(g["n_sources"].fillna(0).sum()),
            "galaxies": int(g["galaxy"].nunique()),
            "classifications": int(c["n"].sum()),
        }


#: Columns of the Overview chart's rows (the ``release_summary`` view's names).
CLASS_COUNT_COLUMNS = ("release", "release_version", "galaxy", "method", "method_version",
                       "class", "n_sources")  # fmt: skip


def overview(engine: Engine, ctx: Context, release_ids: Sequence[int]) -> OverviewData:
    """Everything the Overview page shows (counts from ``release_summary_all``)."""
    ids = list(release_ids)
    summary = ctx.summary[ctx.summary["release_id"].isin(ids)]
    names = ctx.methods.drop_duplicates("method_id").set_index("method_id")["method"]
    counts = summary.dropna(subset=["method_pk", "class"])
    rel = ctx.releases.set_index("release_id")
    counts = pd.DataFrame(
        {
            "release": counts["release_id"].map(ctx.labels),
            "galaxy": counts["galaxy"],
            "method": counts["method_pk"].astype(np.int64).map(names),
            "class": counts["class"].astype(np.int64),
            "n": counts["n_sources"].astype(np.int64),
            "release_id": counts["release_id"].astype(np.int64),
            "release_name": counts["release_id"].map(rel["release"]),
            "release_version": counts["release_id"].map(rel["version"]).astype(np.int64),
            "method_name": counts["method"],
            "method_version": counts["method_version"].astype(str),
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


@dataclass
class FigureRows:
    """The rows a figure draws (view column names), their units, and the SQL over the views
    returning the same rows (:mod:`clustercat.processing.figure_queries`)."""

    rows: pd.DataFrame
    view: str | None
    units: dict[str, str]
    sql: str | None
    params: dict[str, object]


def class_count_rows(
    ov: OverviewData, method: str, release_ids: Sequence[int], galaxy: str | None
) -> FigureRows:
    """The Overview chart's numbers: per release, galaxy and class, the sources ``method``
    (display name) put there, as ``release_summary_all`` rows, and the SQL giving them."""
    c = ov.class_counts[ov.class_counts["method"] == method]
    if galaxy is not None:
        c = c[c["galaxy"] == galaxy]
    c = c.sort_values(["galaxy", "release_name", "release_version", "class"], kind="stable")
    rows = pd.DataFrame(
        {
            "release": c["release_name"].to_numpy(),
            "release_version": c["release_version"].to_numpy(),
            "galaxy": c["galaxy"].to_numpy(),
            "method": c["method_name"].to_numpy(),
            "method_version": c["method_version"].to_numpy(),
            "class": c["class"].to_numpy(),
            "n_sources": c["n"].to_numpy(),
        }
    )
    spec = (str(c["method_name"].iloc[0]), str(c["method_version"].iloc[0])) if len(c) else None
    sql, params = (None, {}) if spec is None else fq.class_counts_query(
        release_ids, spec, galaxy=galaxy
    )  # fmt: skip
    return FigureRows(rows, "release_summary_all", {}, sql, params)


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
    panel_filters: pd.DataFrame | None = None  # analyses.panel_filters of the points
    queries: dict[str, tuple[str, dict]] = field(default_factory=dict)  # y -> (sql, params)

    def rows(self, y: str = "u_minus_b") -> FigureRows:
        """The rows the ``y`` vs V-I figure draws (both colours measured), view column names,
        and the SQL over the views returning them
        (:func:`~clustercat.processing.figure_queries.colour_points_query`)."""
        p = self.points
        drawn = p[np.isfinite(p["v_minus_i"].to_numpy(dtype=float))
                  & np.isfinite(p[y].to_numpy(dtype=float))]  # fmt: skip
        columns = list(fq.colour_points_columns(y))
        sql, params = self.queries.get(y, (None, {}))
        return FigureRows(_sorted_rows(drawn).reindex(columns=columns).reset_index(drop=True),
                          "cluster_catalogue_all", colour_units(y), sql, params)  # fmt: skip


def _sorted_rows(points: pd.DataFrame) -> pd.DataFrame:
    """A figure's source rows in the order of its SQL: by source, then method."""
    order = [c for c in ("source_pk", "method", "method_version") if c in points.columns]
    return points.sort_values(order, kind="stable") if order else points


#: Catalogue columns the colour-colour points carry besides :data:`COLOUR_COLUMNS`: the
#: hover (source id, age, mass) and the typical error cross (magnitude errors).
COLOUR_POINT_COLUMNS = (*COLOUR_COLUMNS, "source_id", "log_age", "log_mass", "mag_nuv_err",
                        "mag_u_err", "mag_b_err", "mag_v_err", "mag_i_err")  # fmt: skip
#: The colours of the W21 planes: column -> (name, blue filter or None for B's own).
COLOUR_NAMES = {"v_minus_i": "V − I", "u_minus_b": "U − B", "nuv_minus_b": "NUV − B"}


def colour_units(y: str) -> dict[str, str]:
    """Units and meanings of the derived columns of a colour figure's rows."""
    from clustercat.schema.views import CURRENT_VIEW_COMMENTS

    classes = dict(CURRENT_VIEW_COMMENTS["source_classes_all"][1])
    units = {c: classes[c] for c in ("method", "method_version", "class")}
    for colour in ("v_minus_i", y):
        units[colour] = f"colour {COLOUR_NAMES[colour].replace('−', '-')} (mag)"
    return units


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
        abs_mag_limit=scope.mv_limit, columns=COLOUR_POINT_COLUMNS,
    )  # fmt: skip
    key_list = keys["key"].tolist()
    panels = an.colour_panels(
        sample, key_list, class_set=scope.class_set, abs_mag_limit=scope.mv_limit, boxes=box_set
    )
    points = panels.points
    rel = ctx.releases.set_index("release_id")
    if "release_id" in points.columns:
        points = points.assign(
            release=points["release_id"].map(rel["release"]),
            release_version=points["release_id"].map(rel["version"]),
        )
    if sample.empty:
        notices.append("No classified source with these settings.")
    else:
        for colour, bands in (("v_minus_i", "V and I"), ("u_minus_b", "U and B")):
            if not np.isfinite(points[colour].to_numpy(dtype=float)).any():
                notices.append(
                    f"No source here has both {bands} magnitudes: the release lacks the "
                    "photometry this diagram needs."
                )
    specs = [(int(r.release_id), str(r.name), str(r.version)) for r in keys.itertuples()]
    queries = {
        y: fq.colour_points_query(specs, y, classes=CLASS_SETS[scope.class_set],
                                  galaxy=scope.galaxy, mv_limit=scope.mv_limit)
        for y in ("u_minus_b", "nuv_minus_b")
    }  # fmt: skip
    return ColourData(
        keys=key_list,
        points=points,
        counts=panels.counts,
        boxes=box_set,
        filter_b=_common_filter(fields, "filter_b", "F438W"),
        filter_v=_common_filter(fields, "filter_v", "F555W"),
        notices=notices,
        panel_filters=an.panel_filters(points) if len(points) else None,
        queries=queries,
    )


def colour_tracks(
    engine: Engine,
    filter_b: str = "F438W",
    filter_v: str = "F555W",
    models: Sequence[str] = ("bc03", "yggdrasil"),
    metallicity: float = an.TRACK_METALLICITY,
) -> tuple[list[an.ColourTrack], list[str]]:
    """The SSP tracks of the colour-colour diagrams in one pair of B and V filters
    (:func:`analyses.colour_tracks`)."""
    return an.colour_tracks(engine, filter_b, filter_v, models=tuple(models),
                            metallicity=metallicity)  # fmt: skip


@dataclass
class ColourPlane:
    """What one colour-colour figure draws beside the points, per panel: axis titles in the
    filters of its sources, a note when it pools filters, SSP tracks computed in its own
    filters, the A_V = 1 reddening vector and the typical error cross (W21 §5)."""

    panel_labels: dict[str, tuple[str, str]]
    panel_notes: dict[str, str]
    panel_tracks: dict[str, list[tuple[str, pd.DataFrame]]]
    reddening: dict[str, tuple[float, float]]
    errors: dict[str, tuple[float, float]]
    sources: list[str]  # where each track comes from
    notes: list[str]  # tracks that could not be drawn, and why
    law: str


def colour_plane(
    cd: ColourData,
    y: str,
    tracks_for: Callable[[str, str], tuple[list[an.ColourTrack], list[str]]],
    a_v: float = 1.0,
) -> ColourPlane:
    """Per-panel labels, tracks, reddening vector and error cross of the ``y`` vs V-I figure.

    ``tracks_for(filter_b, filter_v)`` gives the tracks in a pair of filters (cached by the
    caller). A panel's filters are those of most of its sources
    (:func:`analyses.panel_filters`); a panel pooling two B (or V) filters says so, and its
    tracks and vector use the majority filter."""
    blue = "F336W" if y == "u_minus_b" else "F275W"
    filters = cd.panel_filters
    by_key = {} if filters is None else filters.set_index("key").to_dict("index")
    labels, notes_by_key, panel_tracks, reddening, errors = {}, {}, {}, {}, {}
    sources: list[str] = []
    notes: list[str] = []
    law = ""
    points = cd.points
    groups = dict(tuple(points.groupby("key", sort=False))) if len(points) else {}
    for key in cd.keys:  # a loop over the few panels
        f = by_key.get(key) or {}
        fb, fv = f.get("filter_b") or cd.filter_b, f.get("filter_v") or cd.filter_v
        all_b, all_v = f.get("filters_b") or fb, f.get("filters_v") or fv
        labels[key] = (f"V − I ({all_v} − F814W) [mag]",
                       f"{COLOUR_NAMES[y]} ({blue} − {all_b}) [mag]")  # fmt: skip
        pooled = [f"{band} {names}" for band, names in (("B", all_b), ("V", all_v))
                  if "/" in names]  # fmt: skip
        if pooled:
            notes_by_key[key] = (f"pools {', '.join(pooled)}<br>tracks, vector: "
                                 f"{fb}, {fv} (most sources)")  # fmt: skip
        tracks, missing = tracks_for(fb, fv)
        panel_tracks[key] = [(t.name, t.frame) for t in tracks]
        for t in tracks:
            sources.append(f"{t.name} in {fb}/{fv}: {t.source}")
        notes += missing
        vector = an.reddening_vector(fb, fv, a_v)
        reddening[key] = (vector.v_minus_i, getattr(vector, y))
        law = law or vector.law
        sub = groups.get(key)
        if sub is not None:
            drawn = sub[np.isfinite(sub["v_minus_i"].to_numpy(dtype=float))
                        & np.isfinite(sub[y].to_numpy(dtype=float))]  # fmt: skip
            errors[key] = an.typical_colour_errors(drawn, y)
    return ColourPlane(labels, notes_by_key, panel_tracks, reddening, errors,
                       list(dict.fromkeys(sources)), list(dict.fromkeys(notes)), law)  # fmt: skip


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
    merit_problem: str | None = None  # why no figure of merit can be computed, in words
    rows: FigureRows | None = None  # the source rows the counts come from, and their SQL


def _merit_problem(
    counts: pd.DataFrame, keys: Sequence[str], merit: pd.DataFrame | None
) -> str | None:
    """Why W21's figure of merit cannot be computed here (None when it can): it needs two
    methods and (galaxy, class set, box) rows where every method has >= 12 objects."""
    if len(keys) < 2:
        return ("the figure of merit compares at least two methods (or one method in two "
                "releases): choose more in the sidebar")  # fmt: skip
    if merit is not None and len(merit) and (merit["n_rows"] > 0).all() \
            and np.isfinite(merit["mean"].to_numpy(dtype=float)).all():  # fmt: skip
        return None
    rated = counts[counts["class_set"].isin(list(QR_CLASS_SETS))]
    present = rated[rated["n"] > 0].groupby("galaxy")["method"].agg(lambda m: set(m))
    shared = [g for g, found in present.items() if set(keys) <= found]
    if present.empty:
        return ("no classified source of these methods with U − B and V − I measured lies in "
                "a colour box with these settings")  # fmt: skip
    if not shared:
        where = "; ".join(
            f"{k}: {', '.join(sorted(g for g, found in present.items() if k in found)) or 'none'}"
            for k in keys
        )
        several = any(" · " in k for k in keys)  # keys name their release when several
        return ("no galaxy has sources in the colour boxes under every chosen method "
                f"(galaxies per method: {where})"
                + ("; methods of different releases can only be compared in a galaxy both "
                   "releases cover" if several else ""))  # fmt: skip
    wide = (
        rated[rated["galaxy"].isin(shared)]
        .pivot_table(
            index=["galaxy", "class_set", "box"], columns="method", values="n", aggfunc="sum"
        )
        .reindex(columns=list(keys))
        .fillna(0)
    )
    best = int(wide.min(axis=1).max()) if len(wide) else 0
    return (f"no box row (galaxy, class set, box) has at least {QR_MIN_COUNT} objects under "
            f"every method: the best row reaches {best} under its weakest method (in "
            f"{', '.join(shared)}); relax the M_V limit or choose other methods")  # fmt: skip


def quality(engine: Engine, ctx: Context, scope: Scope, boxes: str = DEFAULT_BOXES) -> QualityData:
    """Counts per box, panel and class set under M_V < limit; QR and figure of merit
    (:func:`analyses.quality_tables`), the reason when there is none, and the source rows
    the counts come from (U-B and V-I measured, every class) with their SQL."""
    keys = ctx.keys(scope)
    key_list = keys["key"].tolist()
    notices = _no_distance_notice(ctx.scope_fields(scope), scope.mv_limit)
    sample = an.panel_sample(
        engine, ctx.panels(scope, keys), _galaxies(scope), abs_mag_limit=scope.mv_limit,
        columns=(*COLOUR_COLUMNS, "source_id"),
    )  # fmt: skip
    box_set = BOX_SETS[boxes]
    t = an.quality_tables(sample, key_list, abs_mag_limit=scope.mv_limit, boxes=box_set)
    problem = _merit_problem(t.counts, key_list, t.merit)
    notes = [n for n in t.notes if not n.startswith(("QR and the figure", "No figure of merit"))]
    points = an.colour_points(sample, abs_mag_limit=scope.mv_limit, boxes=box_set)
    rel = ctx.releases.set_index("release_id")
    points["release"] = points["release_id"].map(rel["release"]) if len(points) else []
    points["release_version"] = points["release_id"].map(rel["version"]) if len(points) else []
    drawn = points[np.isfinite(points["v_minus_i"].to_numpy(dtype=float))
                   & np.isfinite(points["u_minus_b"].to_numpy(dtype=float))]  # fmt: skip
    drawn = _sorted_rows(drawn)
    columns = [*fq.colour_points_columns("u_minus_b", errors=False), "box"]
    specs = [(int(r.release_id), str(r.name), str(r.version)) for r in keys.itertuples()]
    sql, params = fq.colour_points_query(specs, "u_minus_b", galaxy=scope.galaxy,
                                         mv_limit=scope.mv_limit, errors=False)  # fmt: skip
    units = colour_units("u_minus_b") | {"box": "W21 §5 age box (1-4; 0 in none) (code)"}
    rows = FigureRows(drawn.reindex(columns=columns).reset_index(drop=True),
                      "cluster_catalogue_all", units, sql, params)  # fmt: skip
    return QualityData(key_list, t.counts, t.quality, t.merit if problem is None else None,
                       t.n_eligible, t.n_good, notices + notes, problem, rows)  # fmt: skip


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
    rows: pd.DataFrame | None = None  # the pairs compared (view column names)
    same_class: pd.DataFrame | None = None  # n, k, fraction, fraction_lo, fraction_hi
    sql: str | None = None  # the pairs from the views (figure_queries), None when not stored
    params: dict = field(default_factory=dict)


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
        engine, listed, _galaxies(scope), abs_mag_limit=scope.mv_limit,
        columns=("galaxy", "field", "source_id"),
    )  # fmt: skip
    sql, params = None, {}
    method_a = (pa.method.name, pa.method.version)
    method_b = (pb.method.name, pb.method.version)
    if pa.release.id == pb.release.id:
        pairs = an.panel_class_pairs(sample, key_a, key_b)
        via = f"the same {pa.release.label} sources"
        rows = pairs[["galaxy", "field", "source_id", "source_pk", "class_a", "class_b",
                      "mag_v"]]  # fmt: skip
        sql, params = fq.class_pairs_query(
            pa.release.id, method_a, method_b, galaxy=scope.galaxy, mv_limit=scope.mv_limit
        )
    else:
        runs = cio.read_crossmatch_runs(engine, [pa.release.id, pb.release.id])
        run_id = stored_run(ctx, runs, pa.release.id, pb.release.id, scope.galaxy)
        match = an.crossmatch_comparison(
            engine, pa.release, pb.release, galaxy=scope.galaxy, method_a=pa.method,
            method_b=pb.method, radius_arcsec=radius_arcsec, run_id=run_id,
        )  # fmt: skip
        pairs = match.matched[an.brighter_than(match.matched, scope.mv_limit)]
        rows = pairs.rename(columns={"source_a_pk": "source_pk_a", "source_b_pk": "source_pk_b"})[
            ["galaxy", "source_pk_a", "source_pk_b", "source_id_a", "source_id_b", "class_a",
             "class_b", "mag_v"]
        ]  # fmt: skip
        if run_id is not None:
            via = f"the one-to-one pairs of stored cross-match run #{run_id}"
            stored_a = int(runs.set_index("run_id").loc[run_id, "release_a_id"])
            sql, params = fq.crossmatch_class_pairs_query(
                run_id, method_a, method_b, swapped=stored_a != pa.release.id,
                galaxy=scope.galaxy, mv_limit=scope.mv_limit,
            )  # fmt: skip
        else:
            via = f"a one-to-one cross-match ({match.source})"
            notices += match.notes
    rows = rows[rows["class_a"].notna() & rows["class_b"].notna()].reset_index(drop=True)
    for column in ("class_a", "class_b"):
        rows[column] = rows[column].astype(np.int64)
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
        rows=rows,
        same_class=tables.same_class,
        sql=sql,
        params=params,
    )


# --- mass and age functions (W21 §7, Tables 4-5, Figs. 22-25) ----------------------------------


@dataclass
class FunctionsData:
    """Binned mass and age functions per method (and release) with power-law fits."""

    keys: list[str]
    sample: pd.DataFrame  # key, class, galaxy, source_pk, log_age, log_mass, field, ...
    mass_bins: pd.DataFrame
    mass_fits: pd.DataFrame
    age_bins: pd.DataFrame
    age_fits: pd.DataFrame
    notices: list[str] = field(default_factory=list)
    sql: str | None = None  # the sample from the views (figure_queries.function_sample_query)
    params: dict = field(default_factory=dict)

    @property
    def rows(self) -> pd.DataFrame:
        """The sample as the download holds it (view column names)."""
        columns = [c for c in FUNCTION_ROW_COLUMNS if c in self.sample.columns]
        return self.sample[columns].reset_index(drop=True)


#: Columns of the functions' sample download (``source_classes`` / ``sed_results`` names).
FUNCTION_ROW_COLUMNS = ("galaxy", "field", "source_id", "source_pk", "log_age", "log_mass",
                        "class", "method")  # fmt: skip


def sed_methods(ctx: Context, release_ids: Sequence[int], galaxy: str | None) -> pd.DataFrame:
    """SED methods with fits of the releases (in the galaxy), each release's default first
    (:func:`readers_sed.sed_methods_of` the context's coverage, read once per database
    state), one row per method name: ``method``, ``is_default`` (for some release), ``n``
    (fits with age and mass), ``releases``."""
    coverage = ctx.sed[ctx.sed["release_id"].isin(list(release_ids))]
    found = rs.sed_methods_of(coverage, galaxy)
    if found.empty:
        return pd.DataFrame(columns=["method", "is_default", "n", "releases"])
    per = found.groupby("method", as_index=False, sort=False).agg(
        is_default=("is_default", "any"), n=("n", "sum"), releases=("release_id", "nunique")
    )
    return per.sort_values(["is_default", "n"], ascending=[False, False],
                           kind="stable").reset_index(drop=True)  # fmt: skip


@dataclass
class CompletenessLimits:
    """Where completeness falls to 50 and 90 % in a stored injection run of a galaxy."""

    run_id: int | None
    field: str | None
    limits: pd.DataFrame  # quantity, level, limit (log Msun or Vega mag)
    reason: str | None = None  # why none is given


#: Completeness levels marked on the mass functions.
COMPLETENESS_LEVELS = (0.5, 0.9)


def function_completeness(engine: Engine, galaxy: str | None) -> CompletenessLimits:
    """The newest complete injection run of the galaxy's fields and its 50 / 90 % limits in
    log mass and in V (:func:`analyses.completeness_limit` of ``injection_completeness``)."""
    from clustercat.processing.injection_db import completeness_table

    empty = pd.DataFrame(columns=["quantity", "level", "limit"])
    if galaxy is None:
        return CompletenessLimits(None, None, empty, "choose a galaxy to mark its completeness "
                                  "limit (injection runs are per field)")  # fmt: skip
    runs = ri.read_injection_runs(engine, galaxy)
    if runs.empty:
        reason = (f"no injection run is stored for {galaxy} (`clustercat inject run --field F "
                  "--n N` makes one)")  # fmt: skip
        return CompletenessLimits(None, None, empty, reason)
    run = runs.iloc[0]
    rows = []
    with engine.connect() as conn:
        for quantity in ("log_mass", "mag_v"):  # the two axes of the view
            curve = completeness_table(conn, int(run["run_id"]), quantity)
            for col in ("bin_low", "bin_high", "completeness"):
                curve[col] = pd.to_numeric(curve[col], errors="coerce").astype(float)
            if quantity == "mag_v":  # fainter is less complete: fit in -V
                curve = curve.assign(bin_low=-curve["bin_high"], bin_high=-curve["bin_low"])
            for level in COMPLETENESS_LEVELS:
                limit = an.completeness_limit(curve, level)
                rows.append({"quantity": quantity, "level": level,
                             "limit": -limit if quantity == "mag_v" else limit})  # fmt: skip
    return CompletenessLimits(int(run["run_id"]), str(run["field"]), pd.DataFrame(rows))


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
    sed_method: str | None = None,
) -> FunctionsData:
    """dN/dM per age range and dN/dtau per mass range for every panel
    (:func:`analyses.function_panels`; defaults W21 §7), with the ages and masses of SED
    method ``sed_method`` (None: each release's default)."""
    keys = ctx.keys(scope)
    notices = _no_distance_notice(ctx.scope_fields(scope), scope.mv_limit)
    panels = ctx.panels(scope, keys)
    classes = CLASS_SETS[scope.class_set]
    sample = an.function_sample(
        engine, panels, _galaxies(scope), classes=classes, abs_mag_limit=scope.mv_limit,
        sed_method=sed_method,
    )  # fmt: skip
    sql, params = fq.function_sample_query(
        sorted({p.release.id for p in panels}),
        list(dict.fromkeys((p.method.name, p.method.version) for p in panels)), classes,
        galaxy=scope.galaxy, sed_method=sed_method, mv_limit=scope.mv_limit,
    )  # fmt: skip
    fp = an.function_panels(
        sample, age_ranges=age_ranges, mass_ranges=mass_ranges, log_mass_min=log_mass_min,
        mass_bins=mass_bins, equal_number=equal_number, age_bins=age_bins,
        fit_log_age_range=age_fit_range,
    )  # fmt: skip
    if fp.sample.empty:
        by = "" if sed_method is None else f" by {sed_method}"
        notices.append(f"No source with an SED age and mass{by} for these settings.")
    if fp.skipped:
        notices.append(
            "Too few sources (or non-empty bins) to bin and fit: " + "; ".join(fp.skipped) + "."
        )
    return FunctionsData(keys["key"].tolist(), fp.sample, fp.mass_bins, fp.mass_fits,
                         fp.age_bins, fp.age_fits, notices, sql, params)  # fmt: skip


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


@dataclass
class CrossmatchDiagnosticsData:
    """T22 §6.4 diagnostics of a cross-match in one galaxy, with the SQL of their rows."""

    galaxy: str
    diagnostics: an.CrossmatchDiagnostics | None
    pairs_sql: tuple[str, dict] | None  # the one-to-one pairs (stored runs only)
    rows_sql: tuple[str, dict] | None  # every row with classes (when they are the run's own)
    problem: str | None = None


def crossmatch_galaxies(match: an.CrossmatchComparison) -> list[str]:
    """Galaxies of a cross-match, most one-to-one pairs first."""
    counts = match.pairs.groupby("galaxy")["is_best"].sum().sort_values(ascending=False)
    return [str(g) for g in counts.index]


def crossmatch_diagnostics(
    match: an.CrossmatchComparison,
    galaxy: str,
    run_id: int | None,
    swapped: bool,
    run_classes: bool,
) -> CrossmatchDiagnosticsData:
    """Scope, footprint overlap, fractions inside it, offsets and separations of ``match`` in
    ``galaxy`` (:func:`analyses.crossmatch_diagnostics`). For a stored run (``run_id``;
    ``swapped`` when it stored A as its side b) the SQL over ``crossmatch_pairs_all`` of the
    pairs, and of every row when the classes shown are the run's own (``run_classes``)."""
    rows = an.crossmatch_run_rows(match)
    try:
        diag = an.crossmatch_diagnostics(rows, galaxy, match.radius_arcsec)
    except ValueError as exc:
        return CrossmatchDiagnosticsData(galaxy, None, None, None, str(exc))
    pairs_sql = rows_sql = None
    if run_id is not None:
        pairs_sql = fq.crossmatch_pairs_query(run_id, swapped=swapped, galaxy=galaxy)
        if run_classes:
            rows_sql = fq.crossmatch_pairs_query(
                run_id, swapped=swapped, galaxy=galaxy, best_only=False, classes=True
            )
    return CrossmatchDiagnosticsData(galaxy, diag, pairs_sql, rows_sql)


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
    engine: Engine, release_ids: Sequence[int], galaxy: str | None, methods: Sequence[str]
) -> pd.Series:
    """source_pk -> class under the first of ``methods`` (display names) that classified a
    source of the releases (in ``galaxy``)."""
    if not len(release_ids) or not len(methods):
        return pd.Series(dtype="Int64")
    found = cio.read_release_classes(engine, list(release_ids), galaxy)
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


# --- the source page (issue 14) ----------------------------------------------------------------


@dataclass
class SourcePage:
    """One source (:func:`clustercat.processing.readers_source.read_source`), each SED fit
    drawn as model magnitudes (``readers_source.sed_models``) and the registered models'
    predictions for it (``readers_models.read_ml_predictions``)."""

    record: object  # readers_source.SourceRecord
    models: list  # readers_source.SedModel, one per SED method
    predictions: pd.DataFrame


def source_page(engine: Engine, source_pk: int) -> SourcePage | None:
    """Everything the source page shows of ``source_pk``; None for an unknown source."""
    from clustercat.processing import readers_source as rs
    from clustercat.processing.readers_models import read_ml_predictions

    with engine.connect() as conn:
        record = rs.read_source(conn, source_pk)
        if record is None:
            return None
        models = rs.sed_models(conn, record)
        predictions = read_ml_predictions(conn, int(source_pk))
    return SourcePage(record=record, models=models, predictions=predictions)


#: Columns of the points of a population drawn beside a source (hover: plots.SOURCE_HOVER).
POPULATION_COLUMNS = ("galaxy", "field", "source_id", "mag_v", "log_age", "log_mass")
#: Bands of the colour-colour population (U-B vs V-I).
POPULATION_BANDS = ("mag_u", "mag_b", "mag_v", "mag_i")
#: At most this many sources (the brightest in V) are drawn behind a source: each point
#: carries its hover, and 10^5 of them weigh ~9 MB and 2 s per rerun.
POPULATION_LIMIT = 10_000


def colour_population(engine: Engine, release_id: int, galaxy: str) -> pd.DataFrame:
    """The :data:`POPULATION_LIMIT` brightest sources in V of the release in the galaxy with
    U, B, V and I (``cluster_catalogue_all``), with ``u_minus_b`` and ``v_minus_i`` (mag):
    the grey population of the source page's colour-colour diagram (W21 §5)."""
    from clustercat.processing import readers_source as rs

    bands = POPULATION_BANDS
    frame = rs.read_population(
        engine, [release_id], [*POPULATION_COLUMNS, *bands], galaxy=galaxy, not_null=bands,
        brightest=POPULATION_LIMIT,
    )  # fmt: skip
    blue, red = an.Y_COLOURS["U-B"]
    frame["u_minus_b"] = frame[blue] - frame[red]
    frame["v_minus_i"] = frame[an.X_COLOUR[0]] - frame[an.X_COLOUR[1]]
    return frame


def mci_points(
    engine: Engine, release_ids: Sequence[int], galaxy: str | None, methods: Sequence[str]
) -> pd.DataFrame:
    """The MCI plane of the releases (:func:`catalogue_io.read_mci_plane`: MCI_in, MCI_out,
    the image pipeline's selection flags) with what a point's hover shows (source id, m_V,
    log age, log mass: ``cluster_catalogue_all``) and ``class`` under the first of
    ``methods`` that classified the source (NA when none did)."""
    from clustercat.processing import readers_source as rs

    points = cio.read_mci_plane(engine, list(release_ids), galaxy)
    hover = rs.read_population(
        engine, list(release_ids), ["source_id", "mag_v", "log_age", "log_mass"],
        galaxy=galaxy, not_null=("mci_in", "mci_out"),
    )  # fmt: skip
    points = points.astype({"source_pk": np.int64}).merge(
        hover.astype({"source_pk": np.int64}), on="source_pk", how="left"
    )
    classes = first_method_classes(engine, list(release_ids), galaxy, list(methods))
    points["class"] = points["source_pk"].map(classes).astype("Int64")
    return points
