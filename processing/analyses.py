"""Catalogue science over the database: colour boxes, agreement, mass and age functions.

Each function takes an ``Engine`` or ``Connection`` and plain parameters and returns tidy
:class:`pandas.DataFrame` objects (one row per observation, one column per variable), for
the dashboard and the ``clustercat analyse`` command. The rows come from the collaborator
views through :mod:`.catalogue_io` (a few single-view statements per call, joined in
pandas); the numbers from the pure, separately tested functions of :mod:`.colour_boxes`,
:mod:`.agreement` and :mod:`.mass_functions`. Loops run over galaxies, fields, methods or
bins, never over sources. Typical cost on the 28 LEGUS catalogues (36,197 sources): 0.1-0.5
s per galaxy, 1-2 s for a whole release, on SQLite and on (ANALYZEd) PostgreSQL.

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
    read_classified_catalogue,
    read_local_background,
    read_methods,
    read_sources,
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
    "COVARIATES",
    "Y_COLOURS",
    "CovariateUnavailableError",
    "FunctionTables",
    "age_function",
    "agreement",
    "agreement_by_covariate",
    "cluster_sample",
    "colour_box_counts",
    "colour_box_figure_of_merit",
    "colour_box_quality",
    "colour_colour_points",
    "confusion",
    "confusion_by_covariate",
    "crowding",
    "mass_function",
    "ml_count_uncertainty_table",
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
    names = sorted({str(v) for v in values.dropna()})
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
    y_blue, y_red = Y_COLOURS[y_colour]
    with connect(bind) as conn:
        rel = _release(conn, release)
        meths = _methods(conn, rel, methods, galaxies)
        frame = read_classified_catalogue(conn, rel, meths, galaxies, fields)
    abs_mag = absolute_magnitude(frame["mag_v"].to_numpy(), frame["distance_mpc"].to_numpy())
    keep = np.ones(len(frame), dtype=bool) if abs_mag_limit is None else abs_mag < abs_mag_limit
    ycol = y_colour.lower().replace("-", "_minus_")
    out = frame.loc[
        keep, ["source_pk", "galaxy", "field", "source_id", "method", "class", "filter_b"]
    ].copy()
    out["filter_v"] = frame.loc[keep, "filter_v"]
    out["v_minus_i"] = (frame[X_COLOUR[0]] - frame[X_COLOUR[1]])[keep]
    out[ycol] = (frame[y_blue] - frame[y_red])[keep]
    out["abs_mag_v"] = abs_mag[keep]
    if boxes is None and y_colour == "U-B":
        boxes = WHITMORE2021_BOXES
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
    y_pair = Y_COLOURS[y_colour]
    with connect(bind) as conn:
        rel = _release(conn, release)
        meths = _methods(conn, rel, methods, galaxies)
        frame = read_classified_catalogue(conn, rel, meths, galaxies, fields)
        band_filters = read_band_filters(conn, rel, galaxies)
    columns = ["galaxy", "filter_b", "filter_v", "x_colour", "y_colour", "class_set", "box"]
    blue_band = "NUV" if y_colour == "NUV-B" else "U"
    pieces = []
    for galaxy, group in frame.groupby("galaxy", sort=True):  # a loop over galaxies
        present = list(pd.unique(group["method"]))
        counts = box_counts(
            group,
            x_colour=X_COLOUR,
            y_colour=y_pair,
            mag_column="mag_v",
            distance=group["distance_mpc"].to_numpy(),
            abs_mag_limit=abs_mag_limit,
            methods=present,
            class_sets=class_sets,
            boxes=boxes,
            include_outside=include_outside,
        )
        long = counts.stack().rename("n").reset_index()
        used = band_filters[band_filters["galaxy"] == galaxy]

        def name(band: str, used: pd.DataFrame = used) -> str:
            return _filter_label(used.loc[used["band"] == band, "filter"])

        fb, fv = _filter_label(group["filter_b"]), _filter_label(group["filter_v"])
        long.insert(0, "galaxy", galaxy)
        long.insert(1, "filter_b", fb)
        long.insert(2, "filter_v", fv)
        long.insert(3, "x_colour", f"{fv}-{name('I')}")
        long.insert(4, "y_colour", f"{name(blue_band)}-{fb}")
        pieces.append(long)
    if not pieces:
        return pd.DataFrame(columns=[*columns, "method", "n"])
    out = pd.concat(pieces, ignore_index=True)
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
) -> pd.DataFrame:
    """Quality Ratio per galaxy, class set and box (W21 §5.5, Table 2 note c).

    ``counts`` is the frame of :func:`colour_box_counts` (no database access here).
    QR = std(ddof=1) / sqrt(mean) of the methods' counts, defined only when every method
    (``methods``, default all in ``counts``) classified the galaxy and has at least
    ``min_count`` objects in the box; ``qr_good`` is QR <= 1.0 as printed (one decimal).
    Columns: ``galaxy, class_set, box``, one count column per method, ``qr, qr_good``.
    """
    wide = _wide(counts, methods)
    values = wide.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        qr = quality_ratio(np.where(np.isnan(values), -1.0, values), min_count)
    out = wide.copy()
    out.columns = [str(c) for c in out.columns]
    out["qr"] = np.asarray(qr, dtype=float)
    out["qr_good"] = quality_ratio_is_good(out["qr"].to_numpy())
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
        table = agreement_fraction(group["class_a"], group["class_b"], class_sets).reset_index()
        singles = table[table["class_set"].isin(["1", "2", "3", "4"])]
        if len(singles) == 4:
            mean = pd.DataFrame({"class_set": ["mean"], "agreement": [singles["agreement"].mean()]})
            table = pd.concat([table, mean], ignore_index=True)
        table.insert(0, "galaxy", label)
        pieces.append(table)
    cols = ["galaxy", "class_set", "n_a", "n_b", "n_both", "frac_a", "frac_b", "agreement"]
    if not pieces:
        return pd.DataFrame(columns=cols)
    out = pd.concat(pieces, ignore_index=True)[cols]
    return out.astype({"n_a": "Int64", "n_b": "Int64", "n_both": "Int64"})


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
        if np.ndim(bins) == 0:
            # equal-number edges (W21 §4.2); on a discrete covariate such as a neighbour
            # count several quantiles coincide: merge them rather than leave empty bins
            finite = cov[np.isfinite(cov)]
            edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, int(bins) + 1)))
            if edges.size < 2:
                edges = np.array([finite.min(), finite.max()])
        else:
            edges = np.asarray(bins, dtype=float)
        index, edges = covariate_bins(cov, edges)
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
        cov = group["covariate"].to_numpy(dtype=float)
        for k in range(len(edges) - 1):  # a loop over a handful of bins
            sel = group["bin_index"].to_numpy() == k
            table = agreement_fraction(
                group["class_a"].to_numpy()[sel], group["class_b"].to_numpy()[sel], class_sets
            ).reset_index()
            table.insert(0, "n_pairs", int(sel.sum()))
            table.insert(0, "median", float(np.median(cov[sel])) if sel.any() else np.nan)
            table.insert(0, "hi", edges[k + 1])
            table.insert(0, "lo", edges[k])
            table.insert(0, "bin", k + 1)
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
                f"sum({in_classes}) AS n FROM source_classes k {where} "
                f"GROUP BY k.{by}, k.method, k.method_version"
            )
            tallies = pd.DataFrame(
                conn.execute(text(sql), params).all(),
                columns=["grp", "method", "method_version", "n_classified", "n"],
            )
        else:  # one row per source, cut on m_V (cluster_catalogue) and counted in pandas
            sql = (
                f"SELECT k.{by} AS grp, k.method, k.method_version, k.source_pk, "
                f"{in_classes} AS n FROM source_classes k {where}"
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
) -> pd.DataFrame:
    """Sources of the chosen classes under one method, with the release's default SED fit.

    Columns: ``source_pk, galaxy, field, source_id, class, ra, dec, mag_v, log_age``
    (log yr), ``log_mass`` (log Msun); ages and masses are ``cluster_catalogue.log_age /
    log_mass`` (the release's default SED method), NaN where not fitted. When fields
    overlap (NGC 628-c and -e), ``deduplicate_radius`` drops the later field's sources that
    match an earlier field's one-to-one within that radius.
    """
    with connect(bind) as conn:
        rel = _release(conn, release)
        meth = resolve_method(conn, class_method)
        frame = read_classified_catalogue(conn, rel, [meth], galaxies, fields)
    frame = frame[frame["class"].isin(list(classes))]
    cols = ["source_pk", "galaxy", "field", "source_id", "class", "ra", "dec", "mag_v",
            "log_age", "log_mass"]  # fmt: skip
    sample = frame[cols].reset_index(drop=True)
    if deduplicate_radius is not None and sample["field"].nunique() > 1:
        sample = _deduplicate(sample, u.Quantity(deduplicate_radius))
    return sample


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
            }
            for name, f in fits  # a handful of fits
        ]
    )
    return binned.to_frame(), fit_frame


RangeLike = tuple[u.Quantity | float | None, u.Quantity | float | None]


def _demographic(
    sample: pd.DataFrame,
    *,
    variable: str,
    unit: u.UnitBase,
    value_range: RangeLike,
    cut_variable: str,
    cut_unit: u.UnitBase,
    cut_range: RangeLike,
    n_bins: int,
    equal_number: bool,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None,
    fit_log_range: tuple[float, float] | None,
    kind: str,
) -> FunctionTables:
    c_lo, c_hi = _log_bound(cut_range[0], cut_unit), _log_bound(cut_range[1], cut_unit)
    v_lo, v_hi = _log_bound(value_range[0], unit), _log_bound(value_range[1], unit)
    logv = sample[variable].to_numpy(dtype=float)
    in_fit = _in_range(sample[cut_variable].to_numpy(dtype=float), c_lo, c_hi)
    in_fit &= _in_range(logv, v_lo, v_hi)
    sample = sample.assign(in_fit=in_fit)
    used = sample[in_fit]
    p = _completeness(used, completeness)
    bins, fits = _function(logv[in_fit], unit, v_lo, v_hi, n_bins, equal_number, p, fit_log_range)
    return FunctionTables(bins.assign(unit=unit.to_string()), fits.assign(kind=kind), sample)


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
    n_bins: int = 8,
    equal_number: bool = False,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None = None,
    deduplicate_radius: u.Quantity | None = None,
) -> FunctionTables:
    """dN/dM in log bins with Poisson errors and the slope beta of dN/dM ∝ M^beta (W21 §7).

    Sample: classes ``classes`` under ``class_method`` (e.g. 'LEGUS human mode', (1, 2)),
    with ``age_range[0] <= age < age_range[1]`` (yr or Quantity; None = open) from the
    release's default SED fit, and ``mass_range[0] <= M < mass_range[1]`` (Msun or
    Quantity): the lower end is x_min of the fits (None = the smallest mass), an upper end
    makes the MLE a truncated power law. Ranges are half-open because SED ages sit on a grid
    (in LEGUS NGC 628, 115 class 1+2 clusters have exactly 200 Myr): "younger than 200 Myr"
    is ``age_range=(None, 200 * u.Myr)``. Bins: ``n_bins`` of equal width in log M or, with
    ``equal_number``, of equal numbers (W21 §7). Fits: ``mle`` (maximum likelihood),
    ``binned`` (unweighted least squares on the log bin mid-points, W21's "best linear
    fit") and ``binned_weighted`` (Poisson weights). ``completeness`` (0-1 per source: a
    Series indexed by ``source_pk`` or a callable on the sample) adds C-4 Eq. 17-18
    corrected counts and the fits ``mle_completeness`` (weights 1/p) and
    ``binned_completeness``. ``sample`` holds every source of the classes, with ``in_fit``.
    """
    sample = cluster_sample(
        bind, release, class_method, classes=classes, galaxies=galaxies, fields=fields,
        deduplicate_radius=deduplicate_radius,
    )  # fmt: skip
    return _demographic(
        sample, variable="log_mass", unit=u.Msun, value_range=mass_range,
        cut_variable="log_age", cut_unit=u.yr, cut_range=age_range, n_bins=n_bins,
        equal_number=equal_number, completeness=completeness, fit_log_range=None, kind="mass",
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
    age_range: RangeLike = (1e6, 1e9),
    fit_age_range: tuple[u.Quantity | float, u.Quantity | float] | None = None,
    n_bins: int = 6,
    equal_number: bool = False,
    completeness: pd.Series | Callable[[pd.DataFrame], ArrayLike] | None = None,
    deduplicate_radius: u.Quantity | None = None,
) -> FunctionTables:
    """dN/dtau in log bins and the slope gamma of dN/dtau ∝ tau^gamma (W21 §7, Table 5).

    Sample as in :func:`mass_function`, cut in mass (``mass_range``, Msun, half-open) and
    binned in age over ``age_range`` (yr, half-open; W21 uses log tau 6-9). ``fit_age_range``
    restricts the binned fits to bins whose centre lies inside it (W21 leaves out the
    youngest bin: (10**6.5, 10**9) yr); the MLE uses the whole ``age_range``. Columns as in
    :func:`mass_function`.
    """
    sample = cluster_sample(
        bind, release, class_method, classes=classes, galaxies=galaxies, fields=fields,
        deduplicate_radius=deduplicate_radius,
    )  # fmt: skip
    fit_range = None
    if fit_age_range is not None:
        fit_range = (_log_bound(fit_age_range[0], u.yr), _log_bound(fit_age_range[1], u.yr))
    return _demographic(
        sample, variable="log_age", unit=u.yr, value_range=age_range,
        cut_variable="log_mass", cut_unit=u.Msun, cut_range=mass_range, n_bins=n_bins,
        equal_number=equal_number, completeness=completeness, fit_log_range=fit_range,
        kind="age",
    )  # fmt: skip
