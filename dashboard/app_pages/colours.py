"""Colour–colour diagrams per method: U−B and NUV−B vs V−I (Whitmore et al. 2021 Figs. 9–14).

Each panel is labelled with the filters its sources were really measured in (B is F435W or
F438W, V F555W or F606W, per field), and its SSP tracks and A_V = 1 reddening vector are
computed in those filters; a panel pooling galaxies observed in different filters says so.
Points open their source page when clicked; every figure offers its rows and the SQL that
returns them. Figures are cached with the data, so a rerun only sends them again.
"""

from __future__ import annotations

import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui
from clustercat.processing.analyses import TRACK_METALLICITY, TRACK_MODELS

sel = state.current()
st.title("Colour–colour diagrams")
ui.require_releases(sel)
ui.require_methods(sel)
st.caption(ui.scope_caption(sel))
left, middle, right = st.columns(3)
boxes = state.selectbox(
    left, "Age boxes", list(data.BOX_SETS), data.DEFAULT_BOXES, "cc_boxes",
    help="Whitmore et al. 2021 define Box 3 from V−I = 0.2 in §5 and from 0.1 in the Table 2 "
    "notes; the text is the default.",
)  # fmt: skip
available = cache.track_models(sel.url, sel.token)
model_names = [TRACK_MODELS[m] for m in TRACK_MODELS if m in set(available["model"])]
both = " and ".join(model_names)
choices = ([both] if len(model_names) > 1 else []) + model_names + ["no tracks"]
stored = available[available["stored"] != ""]
chosen = state.selectbox(
    middle, "SSP model of the tracks", choices, choices[0], "cc_model",
    help="BC03 (Bruzual & Charlot 2003) or Yggdrasil (Zackrisson et al. 2011) simple stellar "
    "populations. A grid stored in the database (`clustercat ssp build`, the one the SED fits "
    "read) is used when it holds the panel's filters"
    + (f" (stored: {', '.join(stored['stored'])})" if len(stored) else " (none stored here)")
    + "; else the track is synthesised from the model.",
)  # fmt: skip
models = tuple(k for k, v in TRACK_MODELS.items() if v in (chosen or "").split(" and "))
metallicities = sorted(available.loc[available["model"].isin(models), "metallicity"].unique())
z = state.selectbox(
    right, "Track metallicity Z", [f"{m:g}" for m in metallicities] or [f"{TRACK_METALLICITY:g}"],
    f"{TRACK_METALLICITY:g}", "cc_z",
    help="Metal mass fraction of the SSP tracks (0.02 solar, as W21 Figs. 9–14). Yggdrasil is "
    "tabulated here at Z = 0.02 only.",
)  # fmt: skip
metallicity = float(z or TRACK_METALLICITY)

cd = cache.colour_colour(sel.url, sel.token, sel.scope, boxes)
ui.notices(cd.notices)


def plane(y: str, subheader: str, caption: str, name: str) -> data.ColourPlane:
    """One colour–colour figure (cached), its downloads and SQL; returns its extras."""
    st.subheader(subheader)
    st.caption(caption)
    fig, drawn, extras = cache.colour_figure(
        sel.url, sel.token, sel.scope, boxes, y, models, metallicity
    )
    ui.figure(fig, drawn.rows, name, view=drawn.view, units=drawn.units, key=name,
              sql=drawn.sql, params=drawn.params, clickable=True)  # fmt: skip
    return extras


ub = plane(
    "u_minus_b",
    f"U − B vs V − I, Class {sel.scope.class_set}",
    "As Whitmore et al. 2021 Figs. 9–14: one panel per method, the four age boxes with the "
    "number of sources in each (Box 1 old > 1 Gyr, 2: 0.1–1 Gyr, 3: 10–100 Myr, 4: < 10 Myr), "
    f"and SSP tracks (Z = {metallicity:g}) from 1 Myr (upper left) to 10 Gyr, without "
    "reddening. Arrow: the shift of a cluster by A_V = 1 mag; cross (lower left): the median "
    "1σ colour errors of the points drawn. Click a point to open its source.",
    "colour_colour_u_minus_b",
)
st.dataframe(plots.box_counts_table(cd.counts, cd.boxes))
nuv = plane(
    "nuv_minus_b",
    f"NUV − B vs V − I, Class {sel.scope.class_set}",
    "As Whitmore et al. 2021 Fig. 10 (F275W for U). The paper gives no box limits in this "
    "plane (not even for its old-globular-cluster box), so none are drawn.",
    "colour_colour_nuv_minus_b",
)
with st.expander("Tracks, reddening vector and errors: where they come from"):
    st.markdown(
        f"**Reddening vector**: A_V = 1 mag with the {ub.law or 'CCM89 law'}; each panel uses "
        "the B and V filters of most of its sources (`processing.extinction`)."
    )
    for line in dict.fromkeys([*ub.sources, *nuv.sources]):
        st.caption(f"Track {line}.")
    for note in dict.fromkeys([*ub.notes, *nuv.notes]):
        st.caption(note)
    if not models:
        st.caption("No tracks drawn (chosen above).")
