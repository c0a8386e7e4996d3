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
    url: str, token: tuple, filter_b: str, filter_v: str
) -> tuple[list[analyses.ColourTrack], list[str]]:
    return data.colour_tracks(engine(url), filter_b, filter_v)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner="Counting boxes…")
def quality(url: str, token: tuple, scope: data.Scope, boxes: str) -> data.QualityData:
    return data.quality(engine(url), context(url, token), scope, boxes)


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
