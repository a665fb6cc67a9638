"""Evaluation: confusion matrix, per-class metrics, misclassified examples, two runs side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import settings
from dashboard.charts import confusion_heatmap, per_class_bars
from emotion_core.data import decode_gray
from emotion_core.labels import EMOTIONS
from emotion_core.runs import PROJECT_ROOT, RunInfo, default_runs_dir, list_runs, load_run, read_json
from emotion_core.train import load_predictions

st.title("Evaluation")


def evaluated_runs() -> list[RunInfo]:
    found = []
    default = load_run(settings.model_dir())
    if (default.path / "confusion_matrix.json").is_file():
        default.run_id = "default model"
        found.append(default)
    found += [r for r in list_runs(default_runs_dir()) if (r.path / "confusion_matrix.json").is_file()]
    return found


candidates = evaluated_runs()
if not candidates:
    st.info("No evaluated run yet: a run is evaluated on the test split when its training finishes.")
    st.stop()

names = [r.run_id for r in candidates]
chosen = st.selectbox("Run", range(len(candidates)), format_func=lambda i: names[i])
run = candidates[chosen]
normalized = st.toggle("Row-normalised (recall per true class)", value=False)


def show_run(r: RunInfo, key: str) -> dict | None:
    cm = read_json(r.path / "confusion_matrix.json", {}) or {}
    metrics = r.test_metrics or {}
    if "matrix" not in cm:
        st.error(f"{r.path / 'confusion_matrix.json'} is unreadable.")
        return None
    if metrics:
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
predictions = load_predictions(run.path / "test_predictions.npz")
data_root = Path(str(run.config.get("data_root", "")))
if not data_root.is_absolute():  # packaged models store it relative to the project
    data_root = PROJECT_ROOT / data_root
if predictions is None:
    st.caption("This run has no per-image predictions (test_predictions.npz).")
else:
    c1, c2 = st.columns(2)
    true_filter = c1.selectbox("True class", ["any", *EMOTIONS])
    pred_filter = c2.selectbox("Predicted class", ["any", *EMOTIONS])
    predicted = predictions["probs"].argmax(axis=1)
    wrong = predicted != predictions["labels"]
    if true_filter != "any":
        wrong &= predictions["labels"] == EMOTIONS.index(true_filter)
    if pred_filter != "any":
        wrong &= predicted == EMOTIONS.index(pred_filter)
    idx = np.flatnonzero(wrong)
    st.caption(f"{len(idx):,} misclassified test images match; showing up to 24.")
    shown, captions = [], []
    for i in idx[:24]:
        path = data_root / str(predictions["paths"][i])
        image = decode_gray(path.read_bytes(), 96) if path.is_file() else None
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
