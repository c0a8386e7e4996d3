"""Colour–colour diagrams per method: U−B and NUV−B vs V−I (Whitmore et al. 2021 Figs. 9–14)."""

from __future__ import annotations

import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui

sel = state.current()
st.title("Colour–colour diagrams")
ui.require_releases(sel)
ui.require_methods(sel)
st.caption(ui.scope_caption(sel))
boxes = state.selectbox(
    st, "Age boxes", list(data.BOX_SETS), data.DEFAULT_BOXES, "cc_boxes",
    help="Whitmore et al. 2021 define Box 3 from V−I = 0.2 in §5 and from 0.1 in the Table 2 "
    "notes; the text is the default.",
)  # fmt: skip
cd = cache.colour_colour(sel.url, sel.token, sel.scope, boxes)
tracks, track_notes = cache.colour_tracks(sel.url, sel.token, cd.filter_b, cd.filter_v)
ui.notices(cd.notices)
for note in track_notes:
    st.caption(note)
x_label = f"V − I ({cd.filter_v} − F814W) [mag]"
track_list = [(t.name, t.frame) for t in tracks]

st.subheader(f"U − B vs V − I, Class {sel.scope.class_set}")
st.caption(
    "As Whitmore et al. 2021 Figs. 9–14: one panel per method, the four age boxes with the "
    "number of sources in each (Box 1 old > 1 Gyr, 2: 0.1–1 Gyr, 3: 10–100 Myr, 4: < 10 Myr), "
    "and solar-metallicity SSP tracks from 1 Myr (upper left) to 10 Gyr; no reddening."
)
ui.chart(
    plots.colour_colour_figure(
        cd.points, cd.keys, y="u_minus_b", x_label=x_label,
        y_label=f"U − B (F336W − {cd.filter_b}) [mag]", boxes=cd.boxes, counts=cd.counts,
        tracks=track_list,
    ),
    key="ub",
)  # fmt: skip
st.dataframe(plots.box_counts_table(cd.counts, cd.boxes))
for t in tracks:
    st.caption(f"{t.name} track: {t.source}.")

st.subheader(f"NUV − B vs V − I, Class {sel.scope.class_set}")
st.caption(
    "As Whitmore et al. 2021 Fig. 10 (F275W for U). The paper gives no box limits in this "
    "plane (not even for its old-globular-cluster box), so none are drawn."
)
ui.chart(
    plots.colour_colour_figure(
        cd.points, cd.keys, y="nuv_minus_b", x_label=x_label,
        y_label=f"NUV − B (F275W − {cd.filter_b}) [mag]", tracks=track_list,
    ),
    key="nuvb",
)  # fmt: skip
