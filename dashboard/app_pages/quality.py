"""Quality ratios: Table 2 of Whitmore et al. 2021 (box counts per method, QR) and Fig. 18."""

from __future__ import annotations

import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui
from clustercat.processing.colour_boxes import QR_MIN_COUNT

sel = state.current()
st.title("Quality ratios")
ui.require_releases(sel)
ui.require_methods(sel)
st.caption(ui.scope_caption(sel).replace(f"Class {sel.scope.class_set} · ", "all class sets · "))
boxes = state.selectbox(st, "Age boxes", list(data.BOX_SETS), data.DEFAULT_BOXES, "qr_boxes")
qd = cache.quality(sel.url, sel.token, sel.scope, boxes)
ui.notices(qd.notices)

c1, c2, c3 = st.columns(3)
c1.metric("Box rows with a QR", f"{qd.n_eligible:,}", help=f"every method ≥ {QR_MIN_COUNT}")
c2.metric("QR ≤ 1.0 (good)", f"{qd.n_good:,}")
c3.metric("QR > 1.0 (poor)", f"{qd.n_eligible - qd.n_good:,}")

st.subheader("Counts per box, method and class (W21 Table 2)")
st.caption(
    "Cells: " + " / ".join(qd.keys) + ", then [QR] where every method has at least "
    f"{QR_MIN_COUNT} objects. QR = std(counts) / √mean(counts) over the methods; blue ≤ 1.0 "
    "(scatter as small as Poisson), red > 1.0 (W21 §5.5). Class 4 takes no QR."
)
text, qr = plots.table2(qd.quality, qd.keys)
if not text.empty:
    st.dataframe(text.style.apply(lambda _: plots.qr_colours(qr), axis=None), height=600)
with st.expander("Numbers (one row per galaxy, class set and box)"):
    st.dataframe(qd.quality, hide_index=True)

st.subheader("Figure of merit (W21 Fig. 18)")
if qd.merit is not None and len(qd.merit):
    ui.chart(plots.figure_of_merit_figure(qd.merit))
    st.dataframe(qd.merit, hide_index=True)
else:
    st.info("No figure of merit: it needs at least two methods and box rows where each has "
            f"at least {QR_MIN_COUNT} objects.")  # fmt: skip
