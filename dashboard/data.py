"""What each page shows, as frames: :mod:`.queries` rows run through :mod:`clustercat.processing`.

No Streamlit and no formulas here: the numbers come from the pure, separately tested
functions of ``processing`` (box counts, QR and figure of merit, agreement fractions and
confusion matrices, binned mass/age functions and power-law fits, one-to-one cross-matching
with outcome codes, SSP colour tracks); this module only selects rows, calls them and
arranges their results for :mod:`.plots` and the pages. Every function takes an engine and
plain, hashable parameters, so :mod:`.cache` can key the results and ``bench/dashboard.py``
can time them without a browser. Loops run over galaxies, methods, ranges or method pairs,
never over sources.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
import pandas as pd
from clustercat.processing import agreement as agr
from clustercat.processing import colour_boxes as cb
from clustercat.processing import mass_functions as mf
from sqlalchemy import Engine

from . import queries

#: Colour-box definitions offered (Whitmore et al. 2021 §5 text, and its Table 2 notes).
BOX_SETS: dict[str, tuple[cb.ColourBox, ...]] = {
    "W21 §5 text (box 3 from V-I = 0.2)": cb.WHITMORE2021_BOXES,
    "W21 Table 2 notes (box 3 from V-I = 0.1)": cb.WHITMORE2021_BOXES_TABLE2_NOTES,
}
DEFAULT_BOXES = next(iter(BOX_SETS))

#: Mass-function age ranges and age-function mass ranges of Whitmore et al. 2021 §7
#: (log yr and log Msun; None = open end).
W21_AGE_RANGES: tuple[tuple[float, float], ...] = ((6.0, 7.0), (7.0, 8.0), (8.0, 8.6))
W21_MASS_RANGES: tuple[tuple[float, float | None], ...] = ((4.0, 4.8), (4.8, None))


# --- context: releases, fields, methods -------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The sidebar selection, as plain values (hashable: it is part of every cache key).

    ``methods`` are method names as listed by :func:`queries.methods`; ``galaxy`` None means
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

    releases: pd.DataFrame
    fields: pd.DataFrame
    methods: pd.DataFrame

    @property
    def shown(self) -> pd.DataFrame:
        """Visible releases with sources of their own (the ones a page can show)."""
        r = self.releases
        return r[r["visible"] & (r["n_sources"] > 0)]

    @property
    def labels(self) -> pd.Series:
        """Release id -> ``name vN`` (map a column of ids with it)."""
        return self.releases.set_index("release_id")["label"]

    def label(self, release_id: int) -> str:
        return str(self.labels.get(int(release_id), f"release {release_id}"))

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
        k = m.groupby(["release_id", "method_id", "method", "kind"], as_index=False)["n"].sum()
        order = {name: i for i, name in enumerate(scope.methods)}
        k["order"] = k["method"].map(order)
        k = k.sort_values(["order", "release_id"]).drop(columns="order").reset_index(drop=True)
        k["release"] = k["release_id"].map(self.labels)
        several = k["release_id"].nunique() > 1
        k["key"] = np.where(several, k["method"] + " · " + k["release"], k["method"])
        return k


def load_context(engine: Engine) -> Context:
    """Releases (all), and the fields and methods of the visible releases with sources."""
    rel = queries.releases(engine)
    shown = rel.loc[rel["visible"] & (rel["n_sources"] > 0), "release_id"].tolist()
    fields = queries.fields(engine, shown)
    methods = queries.methods(engine, shown)
    galaxy_names = fields.drop_duplicates("galaxy_id").set_index("galaxy_id")["galaxy"]
    methods["galaxy"] = methods["galaxy_id"].map(galaxy_names)
    return Context(releases=rel, fields=fields, methods=methods)


def _v_limits(fields: pd.DataFrame, mv_limit: float | None) -> dict[int, float] | None:
    """Field id -> apparent V limit equivalent to M_V < ``mv_limit`` (W21 §5, no extinction)."""
    if mv_limit is None:
        return None
    known = fields[np.isfinite(fields["distance_mpc"].to_numpy(dtype=float))]
    lims = cb.apparent_magnitude_limit(float(mv_limit), known["distance_mpc"].to_numpy(dtype=float))
    return dict(zip(known["field_id"].astype(int), np.atleast_1d(lims).astype(float), strict=True))


def _with_fields(frame: pd.DataFrame, fields: pd.DataFrame) -> pd.DataFrame:
    """Add ``galaxy`` and ``distance_mpc`` by field id (vectorised)."""
    by_field = fields.drop_duplicates("field_id").set_index("field_id")
    out = frame.copy()
    out["galaxy"] = out["field_id"].map(by_field["galaxy"])
    out["distance_mpc"] = out["field_id"].map(by_field["distance_mpc"]).astype(float)
    return out


def _bright(frame: pd.DataFrame, mv_limit: float | None) -> np.ndarray:
    """M_V < limit (strict; processing's absolute magnitude), all True without a limit."""
    if mv_limit is None:
        return np.ones(len(frame), dtype=bool)
    mags = cb.absolute_magnitude(frame["mag_v"].to_numpy(dtype=float), frame["distance_mpc"])
    return np.asarray(mags < mv_limit)


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
    galaxies: pd.DataFrame  # galaxy, release, distance, n_sources, n_sed
    class_counts: pd.DataFrame  # release, galaxy, method, class, n (long)
    runs: pd.DataFrame
    crossmatch_runs: pd.DataFrame


def overview(engine: Engine, ctx: Context, release_ids: Sequence[int]) -> OverviewData:
    """Everything the Overview page shows (counts aggregated in SQL)."""
    ids = list(release_ids)
    counts = queries.class_counts(engine, ids)
    methods = ctx.methods.drop_duplicates("method_id").set_index("method_id")["method"]
    gal = ctx.fields.drop_duplicates("galaxy_id").set_index("galaxy_id")
    counts["method"] = counts["method_id"].map(methods)
    counts["galaxy"] = counts["galaxy_id"].map(gal["galaxy"])
    counts["release"] = counts["release_id"].map(ctx.labels)
    f = ctx.fields[ctx.fields["release_id"].isin(ids)]
    galaxies = f.groupby(["release_id", "galaxy_id", "galaxy"], as_index=False).agg(
        distance_mpc=("distance_mpc", "first"),
        fields=("field", lambda s: ", ".join(sorted(s))),
        n_sources=("n_sources", "sum"),
    )
    sed = queries.sed_counts(engine, ids)
    galaxies = galaxies.merge(sed, on=["release_id", "galaxy_id"], how="left")
    galaxies["n_sed"] = galaxies["n_sed"].fillna(0).astype(np.int64)
    galaxies["release"] = galaxies["release_id"].map(ctx.labels)
    return OverviewData(
        releases=ctx.releases,
        files=queries.release_files(engine),
        galaxies=galaxies.sort_values(["galaxy", "release"]).reset_index(drop=True),
        class_counts=counts[["release", "galaxy", "method", "class", "n"]],
        runs=queries.processing_runs(engine),
        crossmatch_runs=queries.crossmatch_runs(engine, ctx.releases["release_id"].tolist()),
    )


# --- colour-colour diagrams (W21 §5, Figs. 9-14) ------------------------------------------------


@dataclass
class ColourData:
    """Points, box counts and tracks of the colour-colour page."""

    keys: list[str]
    points: pd.DataFrame  # key, class, galaxy, source_pk, v_minus_i, u_minus_b, nuv_minus_b, box
    counts: pd.DataFrame  # rows box 0..4 (0 = in no box), columns keys
    boxes: tuple[cb.ColourBox, ...]
    filter_b: str
    filter_v: str
    notices: list[str] = field(default_factory=list)


def _common_filter(fields: pd.DataFrame, column: str, default: str) -> str:
    names = fields[column].dropna().unique()
    return str(names[0]) if len(names) == 1 else default


def _ubvi_box_counts(
    frame: pd.DataFrame,
    scope: Scope,
    box_set,
    methods: list[str],
    **options,  # noqa: ANN001
) -> pd.DataFrame:
    """W21 §5 box counts in U-B vs V-I per method ``key`` under the scope's M_V limit."""
    return cb.box_counts(
        frame,
        x_colour=("mag_v", "mag_i"),
        y_colour=("mag_u", "mag_b"),
        mag_column="mag_v",
        distance=frame["distance_mpc"].to_numpy(dtype=float),
        abs_mag_limit=np.inf if scope.mv_limit is None else scope.mv_limit,
        method_column="key",
        methods=methods,
        boxes=box_set,
        **options,
    )


def colour_colour(
    engine: Engine, ctx: Context, scope: Scope, boxes: str = DEFAULT_BOXES
) -> ColourData:
    """U-B and NUV-B vs V-I per method, with W21 box counts (``box_counts``) per method."""
    box_set = BOX_SETS[boxes]
    keys = ctx.keys(scope)
    fields = ctx.scope_fields(scope)
    notices = _no_distance_notice(fields, scope.mv_limit)
    classes = cb.CLASS_SETS[scope.class_set]
    frame = queries.classified_sources(
        engine,
        scope.release_ids,
        fields["field_id"].tolist(),
        keys["method_id"].tolist(),
        classes,
        v_limits=_v_limits(fields, scope.mv_limit),
    )
    frame = _with_fields(frame, fields)
    frame = frame.merge(keys[["release_id", "method_id", "key"]], on=["release_id", "method_id"])
    key_list = keys["key"].tolist()
    counts = _ubvi_box_counts(
        frame, scope, box_set, key_list,
        class_sets={scope.class_set: classes}, include_outside=True,
    ).droplevel("class_set")  # fmt: skip
    pts = frame[_bright(frame, scope.mv_limit)]
    # colours are magnitude differences of the same source, for plotting
    points = pd.DataFrame(
        {
            "key": pts["key"].to_numpy(),
            "class": pts["class"].to_numpy(dtype=np.int64),
            "galaxy": pts["galaxy"].to_numpy(),
            "source_pk": pts["source_pk"].to_numpy(dtype=np.int64),
            "mag_v": pts["mag_v"].to_numpy(dtype=float),
            "v_minus_i": (pts["mag_v"] - pts["mag_i"]).to_numpy(dtype=float),
            "u_minus_b": (pts["mag_u"] - pts["mag_b"]).to_numpy(dtype=float),
            "nuv_minus_b": (pts["mag_nuv"] - pts["mag_b"]).to_numpy(dtype=float),
        }
    )
    points["box"] = cb.assign_box(points["v_minus_i"], points["u_minus_b"], box_set)
    if frame.empty:
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
        counts=counts,
        boxes=box_set,
        filter_b=_common_filter(fields, "filter_b", "F438W"),
        filter_v=_common_filter(fields, "filter_v", "F555W"),
        notices=notices,
    )


@dataclass
class Track:
    """An SSP colour track (Vega): V-I, U-B and NUV-B against log age."""

    name: str
    frame: pd.DataFrame  # log_age, v_minus_i, u_minus_b, nuv_minus_b
    source: str


def colour_tracks(
    engine: Engine, filter_b: str = "F438W", filter_v: str = "F555W"
) -> tuple[list[Track], list[str]]:
    """BC03 (and Yggdrasil) solar tracks for the W21 planes, with notes on what is missing.

    From a grid stored in the database (``clustercat ssp build``) when there is one, so the
    tracks and the SED fits read the same numbers; else synthesised by
    :mod:`clustercat.processing.ssp`; else none (and a note says why).
    """
    tracks: list[Track] = []
    notes: list[str] = []
    x = (filter_v, "F814W")
    planes = {"u_minus_b": ("F336W", filter_b), "nuv_minus_b": ("F275W", filter_b)}
    for model, label in (("bc03", "BC03"), ("yggdrasil", "Yggdrasil")):
        try:
            frame, source = _track(engine, model, x, planes)
        except Exception as exc:  # noqa: BLE001 - a missing model is a note, not a failure
            notes.append(f"No {label} track: {type(exc).__name__}: {str(exc)[:160]}")
            continue
        tracks.append(Track(f"{label} Z=0.02", frame, source))
    return tracks, notes


def _track(
    engine: Engine, model: str, x: tuple[str, str], planes: dict[str, tuple[str, str]]
) -> tuple[pd.DataFrame, str]:
    from clustercat.processing import ssp_db

    try:
        with engine.connect() as conn:
            columns = {}
            for name, y in planes.items():
                t = ssp_db.colour_track_db(conn, (model, 0.02), x, y)
                columns["log_age"], columns["v_minus_i"], columns[name] = t.log_age, t.x, t.y
        return pd.DataFrame(columns), "grid stored in the database"
    except (ssp_db.SspGridNotFoundError, KeyError):  # not stored (with these filters)
        pass  # synthesise it below
    from clustercat.processing import ssp

    if model == "bc03":
        grid = ssp.bc03_grid()
    else:
        grid = ssp.yggdrasil_grid(
            ("F275W", "F336W", "F435W", "F555W", "F814W"), f435w_for_f438w=False
        )
        x = ("F555W", "F814W")
        planes = {k: (v[0], "F435W") for k, v in planes.items()}
    columns = {}
    for name, y in planes.items():
        t = ssp.colour_track(grid, x=x, y=y)
        columns["log_age"], columns["v_minus_i"], columns[name] = t.log_age, t.x, t.y
    return pd.DataFrame(columns), f"synthesised by clustercat.processing.ssp ({t.y_label})"


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
    """Counts per box, method and class under M_V < limit; QR and figure of merit."""
    from clustercat.processing.analyses import colour_box_figure_of_merit, colour_box_quality

    box_set = BOX_SETS[boxes]
    keys = ctx.keys(scope)
    key_list = keys["key"].tolist()
    fields = ctx.scope_fields(scope)
    notices = _no_distance_notice(fields, scope.mv_limit)
    frame = queries.classified_sources(
        engine,
        scope.release_ids,
        fields["field_id"].tolist(),
        keys["method_id"].tolist(),
        (1, 2, 3, 4),
        bands=("U", "B", "V", "I"),
        v_limits=_v_limits(fields, scope.mv_limit),
    )
    frame = _with_fields(frame, fields).merge(
        keys[["release_id", "method_id", "key"]], on=["release_id", "method_id"]
    )
    pieces = []
    for galaxy, group in frame.groupby("galaxy", sort=True):  # a loop over galaxies
        found = set(group["key"].unique())
        present = [k for k in key_list if k in found]
        counts = _ubvi_box_counts(group, scope, box_set, present)
        long = counts.stack().rename("n").reset_index()
        long.insert(0, "galaxy", galaxy)
        pieces.append(long)
    columns = ["galaxy", "class_set", "box", "method", "n"]
    tidy = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)
    if tidy.empty:
        notices.append("No classified source with these settings.")
        empty = pd.DataFrame(columns=["galaxy", "class_set", "box", *key_list, "qr", "qr_good"])
        return QualityData(key_list, tidy, empty, None, 0, 0, notices)
    with warnings.catch_warnings():  # one method: std of a single count is NaN, no QR
        warnings.simplefilter("ignore", RuntimeWarning)
        qual = colour_box_quality(tidy, methods=key_list)
    # W21 §5.5: Class 4 takes no QR (the ML candidate regions are larger by design)
    excluded = ~qual["class_set"].isin(cb.QR_CLASS_SETS)
    qual.loc[excluded, "qr"] = np.nan
    qual.loc[excluded, "qr_good"] = False
    eligible = np.isfinite(qual["qr"].to_numpy(dtype=float))
    merit = None
    if len(key_list) < 2:
        notices.append("QR and the figure of merit compare at least two methods: choose more.")
    else:
        try:
            merit = colour_box_figure_of_merit(tidy, methods=key_list)
        except ValueError as exc:
            notices.append(f"No figure of merit: {exc}")
    return QualityData(
        keys=key_list,
        counts=tidy,
        quality=qual,
        merit=merit,
        n_eligible=int(eligible.sum()),
        n_good=int((qual["qr_good"].to_numpy(dtype=bool) & eligible).sum()),
        notices=notices,
    )


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


def _fractions(class_a: np.ndarray, class_b: np.ndarray) -> pd.DataFrame:
    """W21 Table 1 row: f_k per class set and the plain mean of f_1..f_4."""
    table = agr.agreement_fraction(class_a, class_b).reset_index()
    singles = table.loc[table["class_set"].isin(["1", "2", "3", "4"]), "agreement"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = agr.mean_with_uncertainty(singles.to_numpy(dtype=float), "std")[0]
    row = pd.DataFrame({"class_set": ["mean (1-4)"], "agreement": [mean]})
    return pd.concat([table, row], ignore_index=True)


def _same_source_classes(
    engine: Engine, ctx: Context, scope: Scope, keys: pd.DataFrame
) -> pd.DataFrame:
    """Wide classes of several methods of ONE release on the same sources, M_V-cut."""
    fields = ctx.scope_fields(scope)
    fields = fields[fields["release_id"].isin(keys["release_id"])]
    wide = queries.method_classes(
        engine,
        keys["release_id"].unique().tolist(),
        fields["field_id"].tolist(),
        keys["method_id"].tolist(),
        v_limits=_v_limits(fields, scope.mv_limit),
    )
    wide = _with_fields(wide, fields)
    return wide[_bright(wide, scope.mv_limit)].reset_index(drop=True)


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
    """Agreement fractions, confusion matrices and agreement vs m_V of two methods.

    Methods of the same release are compared on the sources both classified (W21's
    "intersection"); methods of two releases on their one-to-one cross-match
    (:func:`crossmatch`, stored run or computed within ``radius_arcsec``).
    """
    keys = ctx.keys(scope)
    by_key = keys.set_index("key")
    notices = _no_distance_notice(ctx.scope_fields(scope), scope.mv_limit)
    ka, kb = by_key.loc[key_a], by_key.loc[key_b]
    if int(ka["release_id"]) == int(kb["release_id"]):
        wide = _same_source_classes(engine, ctx, scope, keys.loc[keys["key"].isin([key_a, key_b])])
        ca = wide[f"m{int(ka['method_id'])}"].to_numpy(dtype=float)
        cbb = wide[f"m{int(kb['method_id'])}"].to_numpy(dtype=float)
        both = np.isfinite(ca) & np.isfinite(cbb)
        class_a, class_b = ca[both], cbb[both]
        mag_v = wide["mag_v"].to_numpy(dtype=float)[both]
        via = f"the same {ctx.label(int(ka['release_id']))} sources"
    else:
        rel_a, rel_b = int(ka["release_id"]), int(kb["release_id"])
        ma, mb = int(ka["method_id"]), int(kb["method_id"])
        run_id = stored_run(engine, ctx, rel_a, rel_b, scope.galaxy)
        fields_a = ctx.scope_fields(scope)
        fields_a = fields_a[fields_a["release_id"] == rel_a]
        if run_id is not None:  # the pairs and their classes straight from the stored run
            runs = queries.crossmatch_runs(engine, [rel_a, rel_b]).set_index("run_id")
            swap = int(runs.loc[run_id, "release_a_id"]) != rel_a
            best = queries.matched_classes(
                engine, run_id, ma, mb, fields_a["field_id"].tolist(), swap=swap
            )
            best = _with_fields(best, fields_a)
            via = f"the one-to-one pairs of stored cross-match run #{run_id}"
        else:
            match = crossmatch(engine, ctx, rel_a, rel_b, scope.galaxy, ma, mb, radius_arcsec, None)
            best = match.matched
            via = f"a one-to-one cross-match ({match.source})"
            notices += match.notices
        best = best[_bright(best, scope.mv_limit)]
        both = best["class_a"].notna() & best["class_b"].notna()
        class_a = best.loc[both, "class_a"].to_numpy(dtype=float)
        class_b = best.loc[both, "class_b"].to_numpy(dtype=float)
        mag_v = best.loc[both, "mag_v"].to_numpy(dtype=float)
    confusion = agr.confusion_matrix(class_a, class_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetric = agr.symmetric_confusion_matrix(confusion)
    if np.isfinite(mag_v).sum() >= n_bins:
        binned = agr.binned_agreement(class_a, class_b, mag_v, bins=n_bins)
    else:
        binned = pd.DataFrame(columns=["bin", "lo", "hi", "median", "class_set", "agreement"])
        notices.append("Too few sources with a V magnitude for agreement vs magnitude.")
    if class_a.size == 0:
        notices.append(f"No source classified by both {key_a} and {key_b} with these settings.")
    return AgreementData(
        key_a=key_a,
        key_b=key_b,
        via=via,
        n_pairs=int(class_a.size),
        fractions=_fractions(class_a, class_b),
        confusion=confusion,
        symmetric=symmetric,
        binned=binned,
        all_pairs=_all_pairs(engine, ctx, scope, keys),
        notices=notices,
    )


def _all_pairs(engine: Engine, ctx: Context, scope: Scope, keys: pd.DataFrame) -> pd.DataFrame:
    """W21 Table 1: agreement per class set for every pair of methods of the same release."""
    rows = []
    for _, group in keys.groupby("release_id", sort=False):  # a loop over releases
        if len(group) < 2:
            continue
        wide = _same_source_classes(engine, ctx, scope, group)
        for (_, a), (_, b) in itertools.combinations(group.iterrows(), 2):  # method pairs
            ca = wide[f"m{int(a['method_id'])}"].to_numpy(dtype=float)
            cbb = wide[f"m{int(b['method_id'])}"].to_numpy(dtype=float)
            both = np.isfinite(ca) & np.isfinite(cbb)
            if not both.any():
                continue
            table = _fractions(ca[both], cbb[both]).set_index("class_set")["agreement"]
            rows.append({"method A": a["key"], "method B": b["key"], "n": int(both.sum()), **table})
    return pd.DataFrame(rows)


# --- mass and age functions (W21 §7, Tables 4-5, Figs. 22-25) ----------------------------------


@dataclass
class FunctionsData:
    """Binned mass and age functions per method (and release) with power-law fits."""

    keys: list[str]
    sample: pd.DataFrame  # key, class, galaxy, log_age, log_mass
    mass_bins: pd.DataFrame
    mass_fits: pd.DataFrame
    age_bins: pd.DataFrame
    age_fits: pd.DataFrame
    notices: list[str] = field(default_factory=list)


def _range_label(lo: float | None, hi: float | None, what: str) -> str:
    if hi is None:
        return f"{what} ≥ {lo:g}"
    return f"{lo:g} ≤ {what} < {hi:g}"


def _fit_rows(
    binned: mf.BinnedFunction,
    values: np.ndarray,
    x_min: float,
    x_max: float | None,
    fit_log_range: tuple[float, float] | None,
) -> list[dict]:
    """The W21 binned least-squares slope and the maximum-likelihood slope, as rows."""
    rows = []
    fit = mf.fit_power_law_binned(binned, log_range=fit_log_range)
    rows.append(
        {
            "fit": "binned least squares (W21)",
            "slope": fit.slope,
            "slope_err": fit.slope_err,
            "n": fit.n,
            "intercept": fit.intercept,
            "x_min": fit.x_min,
            "x_max": fit.x_max,
        }
    )
    mle = mf.fit_power_law_mle(values, x_min, x_max)
    rows.append(
        {
            "fit": "maximum likelihood",
            "slope": mle.slope,
            "slope_err": mle.slope_err,
            "n": mle.n,
            "intercept": np.nan,
            "x_min": mle.x_min,
            "x_max": mle.x_max,
        }
    )
    return rows


def functions(
    engine: Engine,
    ctx: Context,
    scope: Scope,
    *,
    age_ranges: Sequence[tuple[float, float]] = W21_AGE_RANGES,
    mass_ranges: Sequence[tuple[float, float | None]] = W21_MASS_RANGES,
    log_mass_min: float = 3.5,
    mass_bins: int = 5,
    equal_number: bool = True,
    age_edges: tuple[float, float] = (6.0, 9.0),
    age_bins: int = 6,
    age_fit_range: tuple[float, float] = (6.5, 9.0),
) -> FunctionsData:
    """dN/dM per age range and dN/dtau per mass range for every (release, method) panel.

    Mass functions: masses >= 10^``log_mass_min`` Msun in ``mass_bins`` bins (equal numbers
    by default, W21 §7); age functions: ``age_bins`` equal-width bins in log tau over
    ``age_edges``, fitted over bins centred in ``age_fit_range`` (W21 leaves out the
    youngest bin). Ranges are half-open in log yr / log Msun.
    """
    keys = ctx.keys(scope)
    fields = ctx.scope_fields(scope)
    notices = _no_distance_notice(fields, scope.mv_limit)
    frame = queries.classified_sources(
        engine,
        scope.release_ids,
        fields["field_id"].tolist(),
        keys["method_id"].tolist(),
        cb.CLASS_SETS[scope.class_set],
        bands=("V",),
        v_limits=_v_limits(fields, scope.mv_limit),
        with_sed=True,
    )
    frame = _with_fields(frame, fields).merge(
        keys[["release_id", "method_id", "key"]], on=["release_id", "method_id"]
    )
    frame = frame[_bright(frame, scope.mv_limit)]
    sample = frame[["key", "class", "galaxy", "source_pk", "log_age", "log_mass"]].dropna(
        subset=["log_age", "log_mass"]
    )
    if sample.empty:
        notices.append("No source with an SED age and mass for these settings.")
    mass_rows, mass_fit_rows, age_rows, age_fit_rows = [], [], [], []
    skipped: list[str] = []
    for key, group in sample.groupby("key", sort=False):  # a loop over panels
        log_age = group["log_age"].to_numpy(dtype=float)
        log_mass = group["log_mass"].to_numpy(dtype=float)
        for lo, hi in age_ranges:  # mass functions in age ranges
            label = _range_label(lo, hi, "log τ")
            sel = (log_age >= lo) & (log_age < hi) & (log_mass >= log_mass_min)
            try:
                # the binning takes linear masses (Msun)
                masses = np.power(10.0, log_mass[sel])
                binned = mf.log_binned_function(
                    masses * u.Msun,
                    n_bins=mass_bins,
                    log_range=(log_mass_min, float(log_mass[sel].max())) if sel.any() else None,
                    equal_number=equal_number,
                )
                fits = _fit_rows(binned, masses, 10.0**log_mass_min, None, None)
            except (ValueError, TypeError):
                skipped.append(f"{key}, {label} ({int(sel.sum())} sources)")
                continue
            mass_rows.append(binned.to_frame().assign(key=key, range=label))
            mass_fit_rows += [dict(r, key=key, range=label) for r in fits]
        for lo, hi in mass_ranges:  # age functions in mass ranges
            label = _range_label(lo, hi, "log M")
            sel = (log_mass >= lo) & (log_age >= age_edges[0]) & (log_age < age_edges[1])
            if hi is not None:
                sel &= log_mass < hi
            try:
                ages = np.power(10.0, log_age[sel])  # the binning takes linear ages (yr)
                binned = mf.log_binned_function(ages * u.yr, n_bins=age_bins, log_range=age_edges)
                fits = _fit_rows(
                    binned, ages, 10.0 ** age_edges[0], 10.0 ** age_edges[1], age_fit_range
                )
            except (ValueError, TypeError):
                skipped.append(f"{key}, {label} ({int(sel.sum())} sources)")
                continue
            age_rows.append(binned.to_frame().assign(key=key, range=label))
            age_fit_rows += [dict(r, key=key, range=label) for r in fits]
    if skipped:
        notices.append(
            "Too few sources (or non-empty bins) to bin and fit: " + "; ".join(skipped) + "."
        )

    def _cat(rows: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    return FunctionsData(
        keys=keys["key"].tolist(),
        sample=sample.reset_index(drop=True),
        mass_bins=_cat(mass_rows),
        mass_fits=pd.DataFrame(mass_fit_rows),
        age_bins=_cat(age_rows),
        age_fits=pd.DataFrame(age_fit_rows),
        notices=notices,
    )


# --- cross-match (W21 §4, §6; T22 §6.4) ---------------------------------------------------------


@dataclass
class CrossmatchData:
    """A one-to-one cross-match of two releases, with outcome codes and classes."""

    release_a: str
    release_b: str
    source: str  # "stored run #12 (...)" or "computed now (...)"
    radius_arcsec: float
    sources_a: pd.DataFrame  # source_pk, source_id, field_id, galaxy, ra, dec, mag_v, class
    sources_b: pd.DataFrame
    pairs: pd.DataFrame  # source_a_pk, source_b_pk, separation_arcsec, is_best, outcome, galaxy
    matched: pd.DataFrame  # one-to-one pairs with both sides' ra, dec, mag_v, class
    per_galaxy: pd.DataFrame  # galaxy, n_a, n_b, n_matched, frac_a, frac_b, outcome counts
    confusion: pd.DataFrame
    symmetric: pd.DataFrame
    notices: list[str] = field(default_factory=list)


def _side(ctx: Context, release_id: int, field_row: pd.Series | None):  # noqa: ANN202
    from clustercat.processing.catalogue_io import FieldRef, ReleaseRef, Side

    rel = ctx.releases.set_index("release_id").loc[release_id]
    ref = ReleaseRef(int(release_id), str(rel["release"]), int(rel["version"]))
    if field_row is None:
        return Side(ref)
    scale = field_row["pixel_scale_arcsec"]
    return Side(
        ref,
        FieldRef(
            int(field_row["field_id"]),
            str(field_row["field"]),
            None if pd.isna(scale) else float(scale),
        ),
    )


def stored_run(
    engine: Engine, ctx: Context, release_a: int, release_b: int, galaxy: str | None
) -> int | None:
    """The newest stored cross-match run between the two releases (either way round) that
    covers the galaxy (a whole-release run, or one on a field of that galaxy), or None."""
    runs = queries.crossmatch_runs(engine, [release_a, release_b])
    runs = runs[
        ((runs["release_a_id"] == release_a) & (runs["release_b_id"] == release_b))
        | ((runs["release_a_id"] == release_b) & (runs["release_b_id"] == release_a))
    ]
    if galaxy is not None and len(runs):
        fields = set(ctx.fields.loc[ctx.fields["galaxy"] == galaxy, "field_id"].astype(float))
        covers = [
            (pd.isna(fa) or float(fa) in fields) and (pd.isna(fb) or float(fb) in fields)
            for fa, fb in zip(runs["field_a_id"], runs["field_b_id"], strict=True)
        ]
        runs = runs[covers]
    return int(runs["run_id"].iloc[0]) if len(runs) else None


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
) -> CrossmatchData:
    """Cross-match of two releases: a stored run (``run_id``), or one computed now.

    Computed matches use :func:`clustercat.processing.crossmatch_db.match_sides` (greedy
    one-to-one within the radius, outcome codes with footprints), on the galaxy's field when
    each release has exactly one there, else on the whole releases; nothing is written.
    Classes (for class flips) are those of ``method_a`` on A and ``method_b`` on B.
    """
    from clustercat.processing import crossmatch_db

    notices: list[str] = []
    fa = ctx.fields[ctx.fields["release_id"] == release_a]
    fb = ctx.fields[ctx.fields["release_id"] == release_b]
    if galaxy is not None:
        fa, fb = fa[fa["galaxy"] == galaxy], fb[fb["galaxy"] == galaxy]
    pos_a = _with_fields(
        queries.positions(engine, release_a, fa["field_id"].tolist(), method_a), fa
    )
    pos_b = _with_fields(
        queries.positions(engine, release_b, fb["field_id"].tolist(), method_b), fb
    )
    label_a, label_b = ctx.label(release_a), ctx.label(release_b)
    if run_id is not None:
        runs = queries.crossmatch_runs(engine, [release_a, release_b]).set_index("run_id")
        run = runs.loc[run_id]
        pairs = queries.crossmatch_pairs(engine, run_id)
        if int(run["release_a_id"]) != release_a:  # stored the other way round
            pairs = pairs.rename(
                columns={"source_pk_a": "source_pk_b", "source_pk_b": "source_pk_a"}
            )
        pairs = pairs.rename(columns={"source_pk_a": "source_a_pk", "source_pk_b": "source_b_pk"})
        radius = float(run["radius_arcsec"])
        source = (
            f"stored run #{run_id}: radius {radius:.3f}″, {run['method']}, "
            f"classes {run['method_a'] or '—'} / {run['method_b'] or '—'}, "
            f"created {str(run['created_at'])[:19]}"
        )
    else:
        one_field = len(fa) == 1 and len(fb) == 1
        side_a = _side(ctx, release_a, fa.iloc[0] if one_field else None)
        side_b = _side(ctx, release_b, fb.iloc[0] if one_field else None)
        names = ctx.methods.drop_duplicates("method_id").set_index("method_id")["method"]
        with engine.connect() as conn:
            match = crossmatch_db.match_sides(
                conn,
                side_a,
                side_b,
                radius_arcsec * u.arcsec,
                class_method_a=_method_ref(conn, method_a, names),
                class_method_b=_method_ref(conn, method_b, names),
            )
        pairs = match.pairs.copy()
        radius = float(radius_arcsec)
        source = (
            f"computed now (not stored): radius {radius:.3f}″, greedy one-to-one, "
            f"{side_a.label} vs {side_b.label}"
        )
    pairs["source_a_pk"] = pd.to_numeric(pairs["source_a_pk"], errors="coerce").astype(float)
    pairs["source_b_pk"] = pd.to_numeric(pairs["source_b_pk"], errors="coerce").astype(float)
    # keep the rows whose subject lies in the galaxy (the subject is A, else B)
    in_a = pairs["source_a_pk"].isin(pos_a["source_pk"])
    in_b = pairs["source_b_pk"].isin(pos_b["source_pk"])
    galaxy_a = pairs["source_a_pk"].map(pos_a.set_index("source_pk")["galaxy"])
    galaxy_b = pairs["source_b_pk"].map(pos_b.set_index("source_pk")["galaxy"])
    # the subject of a row is A, except in the rows of B's unmatched sources (crossmatch_db):
    # those name no A source, or (doubles) an A source that has its own one-to-one pair
    best_a = pairs.loc[pairs["is_best"], "source_a_pk"]
    subject_is_a = pairs["is_best"] | (
        pairs["source_a_pk"].notna() & ~pairs["source_a_pk"].isin(best_a)
    )
    pairs["galaxy"] = np.where(subject_is_a, galaxy_a, galaxy_b)
    pairs = pairs[(subject_is_a & in_a) | (~subject_is_a & in_b)].reset_index(drop=True)

    best = pairs[pairs["is_best"]]
    a = pos_a.set_index("source_pk")
    b = pos_b.set_index("source_pk")
    matched = pd.DataFrame(
        {
            "galaxy": best["galaxy"].to_numpy(),
            "source_a_pk": best["source_a_pk"].to_numpy(),
            "source_b_pk": best["source_b_pk"].to_numpy(),
            "separation_arcsec": best["separation_arcsec"].to_numpy(dtype=float),
            "outcome": best["outcome"].to_numpy(),
        }
    )
    for side, pos, col in (("a", a, "source_a_pk"), ("b", b, "source_b_pk")):
        for c in ("source_id", "ra", "dec", "mag_v", "class", "distance_mpc"):
            matched[f"{c}_{side}"] = matched[col].map(pos[c]).to_numpy()
    matched["mag_v"] = matched["mag_v_a"]
    matched["distance_mpc"] = matched["distance_mpc_a"]

    n_a = pos_a.groupby("galaxy").size().rename("n_a")
    n_b = pos_b.groupby("galaxy").size().rename("n_b")
    n_m = best.groupby("galaxy").size().rename("n_matched")
    outcomes = pairs.pivot_table(
        index="galaxy", columns="outcome", values="is_best", aggfunc="size", fill_value=0
    )
    per = pd.concat([n_a, n_b, n_m], axis=1).fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per["frac_a"] = per["n_matched"] / per["n_a"].replace(0, np.nan)
        per["frac_b"] = per["n_matched"] / per["n_b"].replace(0, np.nan)
    per = per.join(outcomes, how="left").fillna(0)
    per.index.name = "galaxy"
    both = matched["class_a"].notna() & matched["class_b"].notna()
    confusion = agr.confusion_matrix(
        matched.loc[both, "class_a"].to_numpy(dtype=float),
        matched.loc[both, "class_b"].to_numpy(dtype=float),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetric = agr.symmetric_confusion_matrix(confusion)
    if pos_a.empty or pos_b.empty:
        empty = label_a if pos_a.empty else label_b
        notices.append(f"{empty} has no source" + (f" in {galaxy}." if galaxy else "."))
    return CrossmatchData(
        release_a=label_a,
        release_b=label_b,
        source=source,
        radius_arcsec=radius,
        sources_a=pos_a,
        sources_b=pos_b,
        pairs=pairs,
        matched=matched,
        per_galaxy=per.reset_index(),
        confusion=confusion,
        symmetric=symmetric,
        notices=notices,
    )


def _method_ref(conn, method_id: int | None, names: pd.Series):  # noqa: ANN001, ANN202
    if method_id is None or method_id not in names.index:
        return None
    from clustercat.processing.catalogue_io import resolve_method

    try:
        return resolve_method(conn, str(names.loc[method_id]))
    except LookupError:
        return None


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
    fields = ctx.scope_fields(scope)
    keys = ctx.keys(scope)
    rows = queries.explorer_sources(
        engine,
        scope.release_ids,
        fields["field_id"].tolist(),
        v_range=v_range,
        source_pks=source_pks,
        classified_by=keys["method_id"].tolist() if classified_only else None,
        classes=cb.CLASS_SETS[scope.class_set] if classified_only else None,
        limit=limit + 1,
    )
    truncated = len(rows) > limit
    rows = _with_fields(rows.head(limit), fields if source_pks is None else ctx.fields)
    rows["release"] = rows["release_id"].map(ctx.labels)
    rows["field"] = rows["field_id"].map(
        ctx.fields.drop_duplicates("field_id").set_index("field_id")["field"]
    )
    classes = queries.classes_of(engine, rows["source_pk"].tolist())
    names = ctx.methods.drop_duplicates("method_id").set_index("method_id")["method"]
    classes["method"] = classes["method_id"].map(names)
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


def twins(match: CrossmatchData, source_pks: Sequence[int]) -> pd.DataFrame:
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


# --- injection completeness and completeness-corrected functions (issue 11) ---------------------

#: Quantities of the completeness curves: label -> (trial column, bin width, view quantity).
COMPLETENESS_AXES: dict[str, tuple[str, float, str]] = {
    "V magnitude (injected, Vega mag)": ("mag_in_v", 0.25, "mag_v"),
    "log mass (log M/M☉)": ("log_mass", 0.25, "log_mass"),
}


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

    column, width, quantity = COMPLETENESS_AXES[axis]
    curves = queries.completeness_by_age(engine, run_id, column, width, age_width)
    with engine.connect() as conn:
        overall = completeness_table(conn, run_id, quantity)
        try:
            regions, problem = model_regions_from_run(conn, run_id), None
        except (InjectionError, ValueError) as exc:
            regions, problem = None, str(exc)
    for col in ("bin_low", "bin_high", "completeness", "completeness_err"):
        overall[col] = pd.to_numeric(overall[col], errors="coerce").astype(float)
    return CompletenessRunData(curves, overall, queries.recovered_mci(engine, run_id), regions,
                               problem)  # fmt: skip


@dataclass
class CorrectedFunctionsData:
    """The mass function in one age range and the age function in one mass range of one
    (release, method) panel, without and with a completeness correction
    (:func:`clustercat.processing.analyses.mass_function` / ``age_function``)."""

    mass: object | None  # analyses.FunctionTables
    age: object | None
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
    from clustercat.processing import analyses
    from clustercat.processing.catalogue_io import resolve_release
    from clustercat.processing.completeness_db import load_registered, source_completeness

    keys = ctx.keys(scope)
    row = keys[keys["key"] == key].iloc[0]
    rel = ctx.releases[ctx.releases["release_id"] == row["release_id"]].iloc[0]
    with engine.connect() as conn:
        model = load_registered(conn, int(model_id))
        release = resolve_release(conn, rel["release"], int(rel["version"]))
    p = source_completeness(model)
    common = {
        "classes": cb.CLASS_SETS[scope.class_set],
        "galaxies": None if scope.galaxy is None else [scope.galaxy],
        "completeness": p,
    }
    notices: list[str] = []
    out: dict[str, object | None] = {"mass": None, "age": None}
    m_hi = None if mass_range[1] is None else 10.0 ** mass_range[1]
    calls = {
        "mass": lambda: analyses.mass_function(
            engine, release, row["method"], age_range=(10.0 ** age_range[0], 10.0 ** age_range[1]),
            mass_range=(10.0**log_mass_min, None), n_bins=mass_bins, equal_number=equal_number,
            **common,
        ),
        "age": lambda: analyses.age_function(
            engine, release, row["method"], mass_range=(10.0 ** mass_range[0], m_hi),
            age_range=(1e6, 1e9), fit_age_range=tuple(10.0**a for a in age_fit_range),
            n_bins=age_bins, **common,
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
