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
if qd.n_eligible == 0 and qd.merit_problem is not None:
    st.info(f"No Quality Ratio can be computed: {qd.merit_problem}.")

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
fig = cache.quality_figure(sel.url, sel.token, sel.scope, boxes)
if fig is not None and qd.merit is not None:
    st.caption("Each method's count in a box row divided by the mean of all methods there; "
               "mean ± standard deviation over the rows where every method has at least "
               f"{QR_MIN_COUNT} objects (Class 4 left out, as in W21).")  # fmt: skip
    ui.chart(fig, key="merit")
    st.dataframe(qd.merit, hide_index=True)
    ui.downloads(qd.merit, "figure_of_merit", key="merit_numbers",
                 units={"mean": "mean of count / row mean (dimensionless)",
                        "std": "standard deviation of count / row mean (dimensionless)",
                        "n_rows": "box rows used (count)"})  # fmt: skip
elif qd.n_eligible == 0 and qd.merit_problem is not None:
    st.info("No figure of merit either: it is taken over the same box rows (see above).")
else:
    st.info(f"No figure of merit: {qd.merit_problem or 'nothing to compare'}.")
if qd.rows is not None and len(qd.rows.rows):
    st.caption(
        "The source rows these counts come from: every classified source of the panels with "
        "U − B and V − I measured (and M_V under the limit), with the box it falls in "
        "(0: in none); the SQL returns the same rows from the views."
    )
    r = qd.rows
    ui.downloads(r.rows, "quality_sources", view=r.view, units=r.units, key="quality_rows",
                 sql=r.sql, params=r.params)  # fmt: skip
