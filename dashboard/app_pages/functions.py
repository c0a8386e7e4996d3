"""Mass and age functions per method or release, with power-law slopes (W21 §7, Figs. 22–25)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui
from clustercat.processing import analyses, readers_injection, readers_models
from clustercat.processing.mass_functions import function_columns


@st.cache_data(max_entries=8, show_spinner=False)
def _models(url: str, token: tuple):  # noqa: ANN202
    models = readers_models.read_completeness_models(cache.engine(url))
    return models[models["kind"] == "physical"].reset_index(drop=True)


@st.cache_data(max_entries=cache.MAX_ENTRIES, show_spinner="Correcting for completeness…")
def _corrected(url: str, token: tuple, scope: data.Scope, *args: object):  # noqa: ANN202
    return data.corrected_functions(cache.engine(url), cache.context(url, token), scope, *args)


def _ranges(text: str, default: tuple) -> tuple[tuple[float, float | None], ...] | None:
    """``"6-7, 7-8, 8-8.6"`` -> ((6, 7), (7, 8), (8, 8.6)); ``"4.8-"`` -> ((4.8, None),)."""
    out = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            out.append((float(lo), float(hi) if hi.strip() else None))
    except ValueError:
        return None
    return tuple(out) or default


def _fmt(ranges: tuple) -> str:
    return ", ".join(f"{lo:g}-{'' if hi is None else f'{hi:g}'}" for lo, hi in ranges)


#: Units of the sample download's columns that no single view describes.
SAMPLE_UNITS = {
    "class": "class by the classification method: 1, 2, 3, 4 (code)",
    "method": "classification method name (text)",
}
EACH_DEFAULT = "each release's default"

sel = state.current()
st.title("Mass and age functions")
ui.require_releases(sel)
ui.require_methods(sel)
sed_table = cache.sed_methods(sel.url, sel.token, sel.scope.release_ids, sel.scope.galaxy)
if sed_table.empty:
    where = sel.scope.galaxy or "these releases"
    st.info(
        f"No source of {where} has an SED age and mass: fit them with `clustercat process sed "
        "--release NAME --model bc03` (after `clustercat ssp build bc03`)."
    )
    st.stop()
defaults = sed_table.loc[sed_table["is_default"], "method"].tolist()
# label -> SED method name; None: each release's default (cluster_catalogue's), offered first
sed_options: dict[str, str | None] = {
    f"{defaults[0]} (default)" if len(defaults) == 1 else
    f"{EACH_DEFAULT} ({'; '.join(defaults)})": None
} if defaults else {}  # fmt: skip
sed_options.update({m: m for m in sed_table["method"] if len(defaults) > 1 or m not in defaults})
sed_label = state.selectbox(
    st, "SED method (ages and masses)", list(sed_options), next(iter(sed_options)), "fn_sed",
    help="The SED fits the ages and masses come from (view sed_results): the release's "
    "default first (the one cluster_catalogue shows), then other methods, e.g. a refit with "
    "`clustercat process sed --label`. Counts: " + "; ".join(
        f"{m} {n:,}" for m, n in zip(sed_table["method"], sed_table["n"], strict=True)),
)  # fmt: skip
sed_method = sed_options[sed_label]
st.caption(ui.scope_caption(sel) + f" · ages and masses from {sed_label}")
AGE_LO, AGE_HI = analyses.AGE_FUNCTION_LOG_RANGE
with st.expander("Ranges, bins and fits", expanded=False):
    c1, c2, c3 = st.columns(3)
    age_text = c1.text_input(
        "Age ranges of the mass functions (log τ/yr)", _fmt(analyses.W21_AGE_RANGES),
        key="fn_ages", bind="query-params",
    )  # fmt: skip
    mass_text = c2.text_input(
        "Mass ranges of the age functions (log M/M☉)", _fmt(analyses.W21_MASS_RANGES),
        key="fn_masses", bind="query-params",
    )  # fmt: skip
    log_mass_min = c3.number_input(
        "Lowest mass fitted (log M/M☉)", 0.0, 8.0, analyses.LOG_MASS_MIN, 0.1, key="fn_mmin",
        bind="query-params",
        help="W21 §5: stochastic sampling of the IMF matters below log M ≈ 3.5.",
    )  # fmt: skip
    c4, c5, c6 = st.columns(3)
    mass_bins = c4.number_input(
        "Mass bins", 3, 20, analyses.MASS_FUNCTION_BINS, key="fn_mbins", bind="query-params"
    )
    equal_number = c4.checkbox(
        "Equal numbers per mass bin (W21)", analyses.MASS_FUNCTION_EQUAL_NUMBER, key="fn_eq",
        bind="query-params",
    )  # fmt: skip
    age_bins = c5.number_input(
        f"Age bins over log τ {AGE_LO:g}–{AGE_HI:g}", 3, 20, analyses.AGE_FUNCTION_BINS,
        key="fn_abins", bind="query-params",
    )  # fmt: skip
    fit_lo = c6.number_input(
        "Age fit from log τ", AGE_LO, AGE_HI, analyses.AGE_FUNCTION_FIT_LOG_RANGE[0], 0.1,
        key="fn_fit", bind="query-params",
        help="W21 leave out the youngest bin (fit over log τ 6.5–9).",
    )  # fmt: skip
age_ranges = _ranges(age_text, analyses.W21_AGE_RANGES)
mass_ranges = _ranges(mass_text, analyses.W21_MASS_RANGES)
if age_ranges is None or mass_ranges is None or any(hi is None for _, hi in age_ranges):
    st.warning("Ranges are written like `6-7, 7-8, 8-8.6` (an open end only for masses: `4.8-`).")
    st.stop()
fit_range = (float(fit_lo), analyses.AGE_FUNCTION_FIT_LOG_RANGE[1])
settings = (age_ranges, mass_ranges, float(log_mass_min), int(mass_bins), bool(equal_number),
            int(age_bins), fit_range)  # fmt: skip
fd = cache.functions_with(sel.url, sel.token, sel.scope, settings, sed_method)
ui.notices(fd.notices)
injections = readers_injection.injection_fingerprint(cache.engine(sel.url))
limits = cache.function_completeness(sel.url, sel.token, injections, sel.scope.galaxy)
marks = tuple(
    (10.0 ** r.limit, f"{r.level:.0%} complete (injection run #{limits.run_id})")
    for r in limits.limits.itertuples()
    if r.quantity == "log_mass" and math.isfinite(r.limit)
)  # fmt: skip
mass_fig, age_fig, mass_age_fig = cache.functions_figures(
    sel.url, sel.token, sel.scope, settings, sed_method, marks
)
rows = fd.rows
sample_name = f"function-sample-{sel.scope.galaxy or 'all'}".replace(" ", "")


def _sample_downloads(key: str) -> None:
    ui.downloads(rows, sample_name, view="sed_results", units=SAMPLE_UNITS, key=key,
                 sql=fd.sql, params=fd.params)  # fmt: skip


st.subheader("Mass functions (W21 Fig. 23, Table 4)")
if limits.reason:
    st.caption(f"Completeness limit: none marked, {limits.reason}.")
else:
    table = limits.limits.pivot(index="quantity", columns="level", values="limit")

    def _at(quantity: str, level: float, unit: str) -> str:
        value = table.loc[quantity, level]
        return f"{value:.2f}{unit}" if math.isfinite(value) else "never reached"

    text = "; ".join(
        f"{lvl:.0%}: log M = {_at('log_mass', lvl, '')}, V = {_at('mag_v', lvl, ' mag')}"
        for lvl in table.columns
    )
    st.caption(
        f"Completeness of injection run #{limits.run_id} (field {limits.field}, over all "
        f"injected ages): {text}. Dotted lines mark the mass limits on the mass functions."
    )
if mass_fig is not None:
    ui.chart(mass_fig, key="mf")
    _sample_downloads("mf")
    st.dataframe(plots.slope_table(fd.mass_fits, "β", fd.keys))
    ui.downloads(pd.concat([fd.mass_bins, fd.mass_fits], keys=["bin", "fit"],
                           names=["row"]).reset_index(level=0), "mass-function-bins-and-fits",
                 key="mf-bins", units=function_columns("solMass"))  # fmt: skip
    with st.expander("Every fit (binned least squares and maximum likelihood)"):
        st.dataframe(fd.mass_fits, hide_index=True)
st.subheader("Age functions (W21 Figs. 24–25, Table 5)")
if age_fig is not None:
    ui.chart(age_fig, key="af")
    _sample_downloads("af")
    st.dataframe(plots.slope_table(fd.age_fits, "γ", fd.keys))
    ui.downloads(pd.concat([fd.age_bins, fd.age_fits], keys=["bin", "fit"],
                           names=["row"]).reset_index(level=0), "age-function-bins-and-fits",
                 key="af-bins", units=function_columns("yr"))  # fmt: skip
    with st.expander("Every fit (binned least squares and maximum likelihood)"):
        st.dataframe(fd.age_fits, hide_index=True)
st.subheader("Mass–age diagram (W21 Fig. 22)")
ui.source_chart(mass_age_fig, key="ma")
_sample_downloads("ma")
st.caption(
    "No completeness correction is applied above. Binned fits: unweighted least squares in "
    "log dN/dx vs log x at the bin mid-points (W21's 'best linear fit'); maximum likelihood: "
    "the slope of p(x) ∝ x^β over the range of the sources (mass functions: from the lowest "
    "mass fitted, no upper end; age functions: log τ 6–9), drawn normalised to the same "
    "sources (processing.mass_functions.fit_power_law_mle)."
)

st.subheader("Completeness-corrected functions (C-4 §4.4)")
models = _models(
    sel.url, (sel.token, readers_injection.injection_fingerprint(cache.engine(sel.url)))
)
if models.empty or not fd.keys:
    st.caption(
        "No physical completeness model is registered, so no corrected function is drawn: make "
        "one with `clustercat inject run --field F --n N` then `clustercat completeness train "
        "--run RUN --kind physical`."
    )
    st.stop()
model_labels = {f"{r.name} v{r.version} (run {r.run_id})": int(r.model_id)
                for r in models.itertuples()}  # fmt: skip
k1, k2, k3, k4 = st.columns(4)
model_label = state.selectbox(k1, "Completeness model", list(model_labels),
                              next(iter(model_labels)), "fn_model")  # fmt: skip
key = state.selectbox(k2, "Panel", fd.keys, fd.keys[0], "fn_ckey")
age_label = state.selectbox(k3, "Mass function in log τ", [_fmt((r,)) for r in age_ranges],
                            _fmt(age_ranges[:1]), "fn_cage")  # fmt: skip
mass_label = state.selectbox(k4, "Age function in log M", [_fmt((r,)) for r in mass_ranges],
                             _fmt(mass_ranges[:1]), "fn_cmass")  # fmt: skip
cf = _corrected(
    sel.url, sel.token, sel.scope, key, model_labels[model_label], _ranges(age_label, ())[0],
    _ranges(mass_label, ())[0], float(log_mass_min), int(mass_bins), bool(equal_number),
    int(age_bins), fit_range,
)  # fmt: skip
ui.notices(cf.notices)
for what, tables, sym, x_title, y_title in (
    ("mass", cf.mass, "β", "mass M [M☉]", "dN/dM [M☉⁻¹]"),
    ("age", cf.age, "γ", "age τ [yr]", "dN/dτ [yr⁻¹]"),
):  # the two functions
    if tables is None:
        continue
    rng = age_label if what == "mass" else mass_label
    ui.chart(plots.corrected_function_figure(
        tables.bins, x_title, y_title,
        f"{key}: {what} function, {'log τ' if what == 'mass' else 'log M'} {rng}"),
        key=f"cf_{what}")  # fmt: skip
    fits = tables.fits.set_index("fit")
    raw, cor = fits.loc["mle"], fits.loc["mle_completeness"]
    st.caption(
        f"Maximum-likelihood {sym} = {raw['slope']:.3f} ± {raw['slope_err']:.3f} uncorrected, "
        f"{sym} = {cor['slope']:.3f} ± {cor['slope_err']:.3f} corrected with {cf.model} "
        f"(weights 1/p; N = {int(raw['n'])}); same bins, all sources of Class "
        f"{sel.scope.class_set} (no M_V cut)."
    )
