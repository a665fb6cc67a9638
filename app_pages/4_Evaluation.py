"""Evaluation: confusion matrix, per-class metrics, misclassified examples, two runs side by side."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import settings
from dashboard.charts import confusion_heatmap, per_class_bars
from emotion_core.data.dataset import read_gray_inside
from emotion_core.evaluation.metrics import misclassified
from emotion_core.labels import EMOTIONS
from emotion_core.runs import (PROJECT_ROOT, RunDir, RunInfo, default_runs_dir, list_runs, load_run, read_confusion_matrix,
                               read_predictions)

st.title("Evaluation")


def evaluated_runs() -> tuple[list[RunInfo], list[tuple[str, list[str]]]]:
    """Runs with a usable confusion matrix, and (run id, problems) of those whose reports are damaged."""
    default = load_run(settings.model_dir())
    default.run_id = "default model"
    found, damaged = [], []
    for r in [default, *list_runs(default_runs_dir())]:
        if not RunDir(r.path).confusion_matrix.is_file():
            continue
        cm, problems = read_confusion_matrix(r.path)
        if cm is None or r.problems:
            damaged.append((r.run_id, problems + r.problems))
        if cm is not None:
            found.append(r)
    return found, damaged


candidates, damaged_runs = evaluated_runs()
for run_id, problems in damaged_runs:
    st.warning(f"Run {run_id} has damaged files: " + "; ".join(problems))
if not candidates:
    st.info("No evaluated run yet: a run is evaluated on the test split when its training finishes.")
    st.stop()

names = [r.run_id for r in candidates]
chosen = st.selectbox("Run", range(len(candidates)), format_func=lambda i: names[i])
run = candidates[chosen]
normalized = st.toggle("Row-normalised (recall per true class)", value=False)


def show_run(r: RunInfo, key: str) -> dict | None:
    cm, _ = read_confusion_matrix(r.path)
    metrics = r.test_metrics or {}
    if cm is None:
        return None
    if metrics and "macro" in metrics and "weighted" in metrics:
        c1, c2, c3 = st.columns(3)
        c1.metric("Accuracy", f"{metrics['accuracy']:.2%}")
        c2.metric("Macro F1", f"{metrics['macro']['f1']:.3f}")
        c3.metric("Weighted F1", f"{metrics['weighted']['f1']:.3f}")
    st.plotly_chart(confusion_heatmap(cm["matrix"], cm.get("labels", EMOTIONS), normalized, title=r.run_id),
                    width="stretch", key=f"cm_{key}")
    return metrics


metrics = show_run(run, "main")
if metrics and "per_class" in metrics:
    st.subheader("Per-class precision, recall and F1")
    st.dataframe([{"emotion": e, **{k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}}
                  for e, m in metrics["per_class"].items()], hide_index=True)
    st.plotly_chart(per_class_bars(metrics["per_class"]), width="stretch")

st.subheader("Misclassified examples")
predictions, prediction_problems = read_predictions(run.path)
data_root = Path(str(run.config.get("data_root", "")))
if not data_root.is_absolute():  # packaged models store it relative to the project
    data_root = PROJECT_ROOT / data_root
try:  # a run's recorded folder is shown only when it lies inside the configured data roots
    data_root = settings.resolve_data_root(str(data_root))
except ValueError:
    data_root = None
if prediction_problems:
    st.warning("; ".join(prediction_problems))
elif predictions is None:
    st.caption("This run has no per-image predictions (test_predictions.npz).")
elif data_root is None:
    st.caption(f"The run's images ({run.config.get('data_root')}) are outside the configured data roots, "
               "so they are not shown.")
else:
    c1, c2 = st.columns(2)
    true_filter = c1.selectbox("True class", ["any", *EMOTIONS])
    pred_filter = c2.selectbox("Predicted class", ["any", *EMOTIONS])
    predicted = predictions["probs"].argmax(axis=1)
    idx = misclassified(predictions["labels"], predictions["probs"], None if true_filter == "any" else true_filter,
                        None if pred_filter == "any" else pred_filter)
    st.caption(f"{len(idx):,} misclassified test images match; showing up to 24.")
    shown, captions = [], []
    for i in idx[:24]:
        image = read_gray_inside(data_root, str(predictions["paths"][i]), 96)
        if image is None:
            continue
        shown.append(image)
        p = predictions["probs"][i].astype(float)
        captions.append(f"true {EMOTIONS[predictions['labels'][i]]} / pred {EMOTIONS[predicted[i]]} {p.max():.0%}")
    if shown:
        st.image(shown, width=110, caption=captions)
    elif len(idx):
        st.caption(f"The images are not available under {data_root}.")

st.subheader("Compare two runs")
others = [i for i in range(len(candidates)) if i != chosen]
if not others:
    st.caption("Only one evaluated run so far.")
else:
    other = st.selectbox("Compare with", others, format_func=lambda i: names[i])
    left, right = st.columns(2)
    with left:
        show_run(run, "left")
    with right:
        show_run(candidates[other], "right")
