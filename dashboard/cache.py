"""Caching of the dashboard: one engine per database URL, page results keyed by their inputs.

Every cached result is keyed by the database URL, the
:func:`~clustercat.processing.readers_releases.database_fingerprint` of the database
(release ids, names, versions, statuses, completion times, runs: it changes when a release
is ingested or changes status, or a run is added) and the page's parameters, which always
include the release ids. One release's numbers are therefore never served for
another, and a new ingest is visible within :data:`TOKEN_TTL` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from clustercat.processing import analyses
from clustercat.processing import catalogue_io as cio
from clustercat.processing import readers_releases as rr
from clustercat.schema import make_engine
from sqlalchemy import Engine

from . import data

#: How often (s) the database fingerprint is re-read.
TOKEN_TTL = 10
#: Page results kept per function (least recently used are dropped).
MAX_ENTRIES = 32


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One pooled engine per database URL for the whole server."""
    return make_engine(url, pool_pre_ping=True)


@st.cache_data(ttl=TOKEN_TTL, show_spinner=False)
def problem(url: str) -> str | None:
    """Why the database cannot be shown (see :func:`readers_releases.schema_problem`)."""
    return rr.schema_problem(engine(url))


@st.cache_data(ttl=TOKEN_TTL, show_spinner=False)
def token(url: str) -> tuple:
    return rr.database_fingerprint(engine(url))


@st.cache_data(max_entries=8, show_spinner="Reading the releases…")
def context(url: str, token: tuple) -> data.Context:
    return data.load_context(engine(url))


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Counting…")
def overview(url: str, token: tuple, release_ids: tuple[int, ...]) -> data.OverviewData:
    return data.overview(engine(url), context(url, token), release_ids)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Reading colours…")
def colour_colour(url: str, token: tuple, scope: data.Scope, boxes: str) -> data.ColourData:
    return data.colour_colour(engine(url), context(url, token), scope, boxes)


@st.cache_resource(show_spinner="Computing SSP tracks…")
def colour_tracks(
    url: str,
    token: tuple,
    filter_b: str,
    filter_v: str,
    models: tuple[str, ...] = ("bc03", "yggdrasil"),
    metallicity: float = analyses.TRACK_METALLICITY,
) -> tuple[list[analyses.ColourTrack], list[str]]:
    return data.colour_tracks(engine(url), filter_b, filter_v, models, metallicity)


@st.cache_data(max_entries=8, show_spinner=False)
def track_models(url: str, token: tuple) -> pd.DataFrame:
    """SSP models and metallicities the tracks can use (:func:`analyses.track_models`)."""
    return analyses.track_models(engine(url))


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Drawing…")
def colour_figure(
    url: str,
    token: tuple,
    scope: data.Scope,
    boxes: str,
    y: str,
    models: tuple[str, ...],
    metallicity: float,
) -> tuple[dict, data.FigureRows, data.ColourPlane]:
    """The ``y`` vs V-I figure of the colour page (plotly dict), its rows and SQL, and its
    per-panel extras (:func:`data.colour_plane`): cached like the data, so a rerun with the
    same selection only sends it."""
    from . import plots

    cd = colour_colour(url, token, scope, boxes)
    plane = data.colour_plane(
        cd, y, lambda fb, fv: colour_tracks(url, token, fb, fv, models, metallicity)
    )
    fig = plots.colour_colour_figure(
        cd.points, cd.keys, y=y, boxes=cd.boxes if y == "u_minus_b" else (),
        counts=cd.counts if y == "u_minus_b" else None, panel_labels=plane.panel_labels,
        panel_notes=plane.panel_notes, panel_tracks=plane.panel_tracks,
        reddening=plane.reddening, errors=plane.errors,
    )  # fmt: skip
    plane.panel_tracks = {}  # drawn; not kept twice in the cache
    return fig.to_dict(), cd.rows(y), plane


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Counting boxes…")
def quality(url: str, token: tuple, scope: data.Scope, boxes: str) -> data.QualityData:
    return data.quality(engine(url), context(url, token), scope, boxes)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def quality_figure(url: str, token: tuple, scope: data.Scope, boxes: str) -> dict | None:
    """The figure of merit (W21 Fig. 18) as a plotly dict, None when there is none."""
    from . import plots

    qd = quality(url, token, scope, boxes)
    if qd.merit_problem is not None:
        return None
    return plots.figure_of_merit_figure(qd.merit).to_dict()


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def overview_figure(
    url: str, token: tuple, release_ids: tuple[int, ...], method: str, galaxy: str | None
) -> tuple[dict, data.FigureRows]:
    """The Overview chart (one bar per galaxy and release) and its rows and SQL."""
    from . import plots

    ov = overview(url, token, release_ids)
    rows = data.class_count_rows(ov, method, release_ids, galaxy)
    counts = ov.class_counts[ov.class_counts["method"] == method]
    if galaxy is not None:
        counts = counts[counts["galaxy"] == galaxy]
    return plots.class_counts_figure(counts, method).to_dict(), rows


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Comparing classifications…")
def agreement(
    url: str, token: tuple, scope: data.Scope, key_a: str, key_b: str, n_bins: int, radius: float
) -> data.AgreementData:
    return data.agreement(
        engine(url), context(url, token), scope, key_a, key_b, n_bins=n_bins, radius_arcsec=radius
    )


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Binning and fitting…")
def functions(
    url: str,
    token: tuple,
    scope: data.Scope,
    age_ranges: tuple[tuple[float, float], ...],
    mass_ranges: tuple[tuple[float, float | None], ...],
    log_mass_min: float,
    mass_bins: int,
    equal_number: bool,
    age_bins: int,
    age_fit_range: tuple[float, float],
) -> data.FunctionsData:
    return data.functions(
        engine(url),
        context(url, token),
        scope,
        age_ranges=age_ranges,
        mass_ranges=mass_ranges,
        log_mass_min=log_mass_min,
        mass_bins=mass_bins,
        equal_number=equal_number,
        age_bins=age_bins,
        age_fit_range=age_fit_range,
    )


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Cross-matching…")
def crossmatch(
    url: str,
    token: tuple,
    release_a: int,
    release_b: int,
    galaxy: str | None,
    method_a: int | None,
    method_b: int | None,
    radius: float,
    run_id: int | None,
) -> analyses.CrossmatchComparison:
    return data.crossmatch(
        engine(url),
        context(url, token),
        release_a,
        release_b,
        galaxy,
        method_a,
        method_b,
        radius,
        run_id,
    )


@st.cache_data(max_entries=8, show_spinner=False)
def crossmatch_runs(url: str, token: tuple, release_ids: Sequence[int]) -> pd.DataFrame:
    return cio.read_crossmatch_runs(engine(url), list(release_ids))


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Selecting sources…")
def explorer(
    url: str,
    token: tuple,
    scope: data.Scope,
    v_range: tuple[float, float] | None,
    classified_only: bool,
    source_pks: tuple[int, ...] | None,
    limit: int,
) -> data.ExplorerData:
    return data.explorer(
        engine(url),
        context(url, token),
        scope,
        v_range=v_range,
        classified_only=classified_only,
        source_pks=source_pks,
        limit=limit,
    )


def clear() -> None:
    """Forget every cached result (the Refresh button)."""
    st.cache_data.clear()


# --- the source page (issue 14) ----------------------------------------------------------------


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Reading the source…")
def source(url: str, token: tuple, source_pk: int) -> data.SourcePage | None:
    """One source (:func:`data.source_page`): one reader call, cached per source."""
    return data.source_page(engine(url), int(source_pk))


@st.cache_data(max_entries=8, show_spinner="Reading the galaxy's colours…")
def colour_population(url: str, token: tuple, release_id: int, galaxy: str) -> pd.DataFrame:
    return data.colour_population(engine(url), int(release_id), galaxy)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Reading MCI…")
def mci_points(
    url: str,
    token: tuple,
    release_ids: tuple[int, ...],
    galaxy: str | None,
    methods: tuple[str, ...],
) -> pd.DataFrame:
    return data.mci_points(engine(url), release_ids, galaxy, methods)


@st.cache_resource(max_entries=10, show_spinner="Reading images…")
def field_image(path: str, sha256: str, _record: object) -> object:
    """A registered image's pixels (``images_db.open_image``: checked against its sha256),
    kept for the next source of the field; keyed by path and sha256."""
    from clustercat.processing.images_db import open_image

    return open_image(_record)


# --- mass and age functions, agreement, cross-match: data and figures (issue 14) ---------------


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def sed_methods(
    url: str, token: tuple, release_ids: tuple[int, ...], galaxy: str | None
) -> pd.DataFrame:
    return data.sed_methods(context(url, token), release_ids, galaxy)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def function_completeness(
    url: str, token: tuple, injections: tuple, galaxy: str | None
) -> data.CompletenessLimits:
    """Completeness limits of the galaxy's newest injection run (``injections``: the
    :func:`~clustercat.processing.readers_injection.injection_fingerprint`)."""
    return data.function_completeness(engine(url), galaxy)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Binning and fitting…")
def functions_with(
    url: str, token: tuple, scope: data.Scope, settings: tuple, sed_method: str | None
) -> data.FunctionsData:
    """:func:`data.functions` with an SED method; ``settings`` the positional bins and
    ranges of :func:`functions`."""
    (age_ranges, mass_ranges, log_mass_min, mass_bins, equal_number, age_bins,
     age_fit_range) = settings  # fmt: skip
    return data.functions(
        engine(url), context(url, token), scope, age_ranges=age_ranges,
        mass_ranges=mass_ranges, log_mass_min=log_mass_min, mass_bins=mass_bins,
        equal_number=equal_number, age_bins=age_bins, age_fit_range=age_fit_range,
        sed_method=sed_method,
    )  # fmt: skip


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def functions_figures(
    url: str,
    token: tuple,
    scope: data.Scope,
    settings: tuple,
    sed_method: str | None,
    marks: tuple[tuple[float, str], ...],
) -> tuple:
    """The mass-function, age-function and mass-age figures of :func:`functions_with`."""
    from . import plots

    fd = functions_with(url, token, scope, settings, sed_method)
    age_ranges, mass_ranges, fit_range = settings[0], settings[1], settings[6]
    return (
        plots.mass_function_figure(fd.mass_bins, fd.mass_fits, fd.keys, marks)
        if len(fd.mass_bins) else None,
        plots.age_function_figure(fd.age_bins, fd.age_fits, fd.keys, fit_range)
        if len(fd.age_bins) else None,
        plots.mass_age_figure(fd.sample, fd.keys, age_ranges, mass_ranges),
    )  # fmt: skip


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def agreement_figures(
    url: str, token: tuple, scope: data.Scope, key_a: str, key_b: str, n_bins: int, radius: float
) -> tuple:
    """The bars, confusion and vs-magnitude figures of :func:`agreement`."""
    from . import plots

    ad = agreement(url, token, scope, key_a, key_b, n_bins, radius)
    return (
        plots.agreement_bars(ad.fractions, f"A: {key_a}<br>B: {key_b}"),
        plots.confusion_figure(ad.confusion, ad.symmetric, key_a, key_b),
        plots.agreement_vs_magnitude(ad.binned) if len(ad.binned) else None,
    )


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Footprints and offsets…")
def crossmatch_diagnostics(
    url: str,
    token: tuple,
    match_args: tuple,
    galaxy: str,
    swapped: bool,
    run_classes: bool,
    labels: tuple[str, str, str, str],
    centre: tuple[float, float],
) -> tuple[data.CrossmatchDiagnosticsData, dict]:
    """:func:`data.crossmatch_diagnostics` of the cross-match :func:`crossmatch` ``(url,
    token, *match_args)`` in ``galaxy``, and every figure of the cross-match page
    (``labels``: release A, release B, the class methods of A and B; ``centre``: the run's
    own offset, arcsec). One cache entry: at 10^5 pairs, storing the diagnostics and reading
    them back for the figures would cost a tenth of a second."""
    from clustercat.schema.crossmatch import OUTCOMES

    from . import plots

    match = crossmatch(url, token, *match_args)
    xd = data.crossmatch_diagnostics(match, galaxy, match_args[-1], swapped, run_classes)
    label_a, label_b, method_a, method_b = labels
    figures: dict = {"outcomes": plots.outcome_bars(match.per_galaxy, OUTCOMES)}
    if int(match.confusion.to_numpy().sum()):
        figures["flips"] = plots.confusion_figure(
            match.confusion, match.symmetric, f"{method_a} (A)", f"{method_b} (B)"
        )
    d = xd.diagnostics
    if d is not None:
        figures["footprints"] = plots.footprint_figure(
            d.polygons, d.areas, label_a, label_b, f"{galaxy}: footprints and their overlap"
        )
        figures["by_mag"] = plots.fractions_vs_magnitude_figure(
            d.matched_by_mag, d.flips_by_mag, label_a, label_b
        )
        figures["offsets"] = plots.offsets_figure(
            d.offsets, d.offset_summary, match.radius_arcsec, centre
        )
        figures["separations"] = plots.separation_figure(d.separations, match.radius_arcsec)
        pa, pb, m = match.sources_a, match.sources_b, match.matched
        m = m[m["galaxy"] == galaxy]
        only_a = pa[(pa["galaxy"] == galaxy) & ~pa["source_pk"].isin(m["source_a_pk"])]
        only_b = pb[(pb["galaxy"] == galaxy) & ~pb["source_pk"].isin(m["source_b_pk"])]
        figures["sky"] = plots.sky_figure(
            m, only_a, only_b, label_a, label_b, f"{galaxy}: matched and unmatched sources"
        )
    return xd, figures
