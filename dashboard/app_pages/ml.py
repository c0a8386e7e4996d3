"""Machine learning: the registered models (``ml_model``) with their stored metrics, a
classifier's confusion matrix and per-class precision / recall, an age model's scatter, null
scatter and predictive power and its occlusion curve (Whitmore et al. 2021 §3, §10; Thilker
et al. 2022 §5; Viana et al. §IV). The page only reads the registry: training, metrics and
occlusion curves come from :mod:`clustercat.processing.ml_db` and ``clustercat ml ...``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from clustercat.dashboard import cache, data, plots, state, ui
from clustercat.processing import readers_models

TASKS = {"classification": "classifier", "age_regression": "age CNN",
         "completeness": "completeness network"}  # fmt: skip
#: (label, key in the metrics JSON, format) of an age model's headline numbers.
AGE_METRICS = (
    ("Scatter (dex)", "scatter_dex", "{:.3f}"),
    ("Null scatter (dex)", "null_scatter_dex", "{:.3f}"),
    ("Predictive power (%)", "predictive_power_pct", "{:.1f}"),
)


@st.cache_data(max_entries=8, show_spinner="Reading the model registry…")
def _models(url: str, token: tuple):  # noqa: ANN202
    return readers_models.read_ml_models(cache.engine(url))


sel = state.current()
st.title("Machine-learning models")
token = (sel.token, readers_models.models_fingerprint(cache.engine(sel.url)))
models = _models(sel.url, token)
if models.empty:
    st.info(
        "No model is registered in this database. Train a CNN classifier on a release whose "
        "fields have registered images with `clustercat ml train classifier --release R "
        '--method "LEGUS human mode" --arch resnet18` (or an age CNN with `clustercat ml '
        "train age --release R`); `clustercat ml predict --model ID --release R` then writes "
        "its per-source predictions."
    )
    st.stop()

table = pd.DataFrame(
    {
        "id": models["id"].astype(int),
        "name": models["name"],
        "version": models["version"],
        "task": models["task"],
        "architecture": models["architecture"],
        "created": models["created_at"].astype(str).str[:19],
        "training sha256": models["training_query_sha256"].fillna("").astype(str).str[:12],
    }
)
key_metrics = pd.DataFrame(
    [data.ml_key_metrics(t, m) for t, m in zip(models["task"], models["metrics"], strict=True)],
    index=table.index,
)
table = pd.concat([table, key_metrics], axis=1)
st.subheader(f"{len(table):,} registered model(s)")
st.dataframe(table, hide_index=True)
st.caption(
    "From `ml_model` (as `clustercat ml list`): metrics are those stored at training "
    "(classifiers on the training set, rows = the training method; age models on the "
    "training and validation sets). Training sha256: the hash of the training rows as used."
)

labels = {
    f"{r.id} · {r.name} v{r.version} ({TASKS.get(r.task, r.task)})": int(r.id)
    for r in models.itertuples()
}
default = next(
    (lbl for lbl, i in labels.items() if models.set_index("id").loc[i, "task"] != "completeness"),
    next(iter(labels)),
)
label = state.selectbox(st, "Model", list(labels), default, "ml_model")
row = models.set_index("id").loc[labels[label]]
model_id, task, metrics = int(labels[label]), str(row["task"]), row["metrics"]
st.subheader(f"Model {model_id}: {row['name']} v{row['version']}")
st.caption(f"{row['architecture']} · weights sha256 {str(row['weights_sha256'] or '')[:16]}…")

if task == "classification":
    train = metrics.get("training_set") or {}
    matrix, classes = train.get("confusion_matrix"), train.get("confusion_classes")
    if matrix:
        classes = classes or list(range(1, len(matrix) + 1))
        c1, c2 = st.columns([3, 2])
        with c1:
            ui.chart(
                plots.ml_confusion_figure(
                    matrix, classes, f"Confusion matrix, training set (N = {train.get('n')})"
                ),
                key="ml_confusion",
            )
        per_class = data.ml_per_class(metrics)
        c2.dataframe(
            per_class, hide_index=True,
            column_config={
                "precision": st.column_config.NumberColumn(format="%.3f"),
                "recall": st.column_config.NumberColumn(format="%.3f"),
            },
        )  # fmt: skip
        accuracy = train.get("accuracy")
        c2.caption(
            f"Accuracy {accuracy:.3f} on {train.get('n')} training sources"
            if accuracy is not None
            else "No accuracy stored."
        )
        agreement = train.get("agreement") or {}
        if agreement:
            c2.caption(
                "W21 agreement fractions: "
                + ", ".join(
                    f"{k} {v:.3f}" if v is not None else f"{k} –" for k, v in agreement.items()
                )
            )
    else:
        st.info("This classifier's metrics hold no confusion matrix.")
    members = metrics.get("members") or []
    if members:
        with st.expander(f"Members' validation metrics ({len(members)})"):
            st.dataframe(
                pd.DataFrame(
                    [{"member": k, "seed": m.get("seed"), "best epoch": m.get("best_epoch"),
                      "epochs run": m.get("epochs_run"),
                      "validation accuracy": (m.get("validation") or {}).get("accuracy"),
                      "validation n": (m.get("validation") or {}).get("n")}
                     for k, m in enumerate(members)]
                ),
                hide_index=True,
            )  # fmt: skip
elif task == "age_regression":
    parts = {"training set": metrics.get("training_set") or {},
             "validation set": metrics.get("validation") or {}}  # fmt: skip
    cols = st.columns(len(parts))
    for col, (name, part) in zip(cols, parts.items(), strict=True):
        col.markdown(f"**{name}** (N = {part.get('n', '–')})")
        for lbl, k, fmt in AGE_METRICS:
            v = part.get(k)
            col.metric(f"{lbl}, {name}", "–" if v is None else fmt.format(v))
    st.caption(
        "Scatter 1.49 × median |Δ log age| against the SED ages; null = the constant "
        "training-mean predictor; predictive power 100 (σ_null² − σ²) / σ_null² (Viana et al.)."
    )
    curve = data.ml_occlusion_curve(metrics)
    st.subheader("Occlusion curve")
    if curve is None:
        st.info(
            "No occlusion curve is stored with this model. Compute one with "
            f"`clustercat ml occlusion --model {model_id}` (scatter per central mask "
            "diameter, Viana et al. §IV)."
        )
    else:
        ui.chart(
            plots.ml_occlusion_figure(curve, f"Model {model_id}: scatter per central mask"),
            key="ml_occlusion",
        )
        st.dataframe(curve, hide_index=True)
else:
    st.caption(
        "A completeness network (issue 11): its curves are on the Completeness and Mass & age "
        "functions pages."
    )

with st.expander("Hyper-parameters and stored metrics (JSON)"):
    st.json({"hyperparameters": row["hyperparameters"], "metrics": metrics}, expanded=False)
