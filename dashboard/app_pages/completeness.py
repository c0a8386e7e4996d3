"""Injection completeness: recovered / injected against V magnitude or log mass per log-age
bin, and the recovered trials on the MCI plane with the nested model regions (Thilker et al.
2022 §4.2; Tang et al. 2026). Numbers come from the ``injection_completeness`` view, its
binning per age bin, and :func:`clustercat.processing.injection_db.model_regions_from_run`.
"""

from __future__ import annotations

import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui
from clustercat.processing import readers_injection


@st.cache_data(max_entries=8, show_spinner=False)
def _runs(url: str, token: tuple, galaxy: str | None):  # noqa: ANN202
    return readers_injection.read_injection_runs(cache.engine(url), galaxy)


@st.cache_data(max_entries=cache.MAX_ENTRIES, show_spinner="Reading the injection run…")
def _run(url: str, token: tuple, run_id: int, axis: str, age_width: float):  # noqa: ANN202
    return data.completeness_run(cache.engine(url), run_id, axis, age_width)


sel = state.current()
st.title("Injection completeness")
token = (sel.token, readers_injection.injection_fingerprint(cache.engine(sel.url)))
runs = _runs(sel.url, token, sel.scope.galaxy)
if runs.empty:
    where = f" of {sel.scope.galaxy}" if sel.scope.galaxy else ""
    st.info(
        f"No complete injection run{where} in this database. Inject synthetic clusters into a "
        "field with registered images with `clustercat inject run --field F --n N` (for "
        "example `--n 5000`); the run appears here when every frame set is in."
    )
    st.stop()

labels = {
    f"run {r.run_id} · {r.field} ({r.galaxy}) · {r.grid} · {r.n_trials:,} trials": r.run_id
    for r in runs.itertuples()
}
c1, c2, c3 = st.columns([2, 1, 1])
label = state.selectbox(c1, "Injection run (complete runs only)", list(labels),
                        next(iter(labels)), "cp_run")  # fmt: skip
run_id = int(labels[label])
axis = state.selectbox(c2, "Against", list(data.COMPLETENESS_AXES),
                       next(iter(data.COMPLETENESS_AXES)), "cp_axis")  # fmt: skip
age_width = c3.number_input("Log-age bin width (dex)", 0.25, 4.0, 1.0, 0.25, key="cp_age",
                            bind="query-params")  # fmt: skip
run = runs[runs["run_id"] == run_id].iloc[0]
cd = _run(sel.url, token, run_id, axis, float(age_width))

n_inj = int(cd.overall["n_injected"].sum())
n_rec = int(cd.overall["n_recovered"].sum())
n_det = int(cd.overall["n_detected"].sum())
st.subheader("Completeness per age")
ui.chart(
    plots.completeness_curves_figure(
        cd.curves, cd.overall, axis, f"Run {run_id}, {run['field']}: recovered / injected",
        float(age_width),
    ),
    key="cp_curves",
)  # fmt: skip
st.caption(
    f"Run {run_id} ({run['field']}, {run['grid']} grid, {int(run['n_frame_sets'])} frame sets): "
    f"{n_rec:,} of {n_inj:,} injected clusters recovered (overall completeness "
    f"{n_rec / n_inj if n_inj else float('nan'):.4f}), {n_det:,} detected. Bins of "
    f"{data.completeness_width(axis):g} as in the `injection_completeness` view; error bars "
    "binomial, sqrt(p (1 − p) / N)."
)
with st.expander("Completeness table (all ages, from `injection_completeness`)"):
    st.dataframe(cd.overall, hide_index=True)

st.subheader("Recovered trials on the MCI plane")
ui.chart(
    plots.hit_map_figure(cd.hits, cd.regions,
                         f"Run {run_id}: {len(cd.hits):,} recovered trials"),
    key="cp_hits",
)  # fmt: skip
if cd.regions is None:
    st.caption(f"No nested model regions: {cd.regions_problem}.")
elif not any(la.mask.any() for la in cd.regions.layers):
    st.caption(
        "The nested model regions of this run are empty: no MCI bin holds the 9 clusters "
        "(after opening) that Thilker et al. 2022 §4.2.2 ask for; inject more clusters."
    )
else:
    areas = ", ".join(f"{la.bin_size:g}: {la.area:.3f}" for la in cd.regions.layers)
    st.caption(
        "Outlines: the nested model regions of Thilker et al. 2022 §4.2.2 from this run's "
        f"detected trials that exist and are detectable (bin size: area, MCI²: {areas})."
    )
