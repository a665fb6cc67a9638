"""Training: start MobileViT training in the background, watch live charts, stop and resume."""

from __future__ import annotations

import time

import streamlit as st

from dashboard import auth
from dashboard.charts import METRIC_NAMES, metric_chart
from dashboard.training import fine_tuning, keras_file, launch_training, log_tail, resume_training, running_training
from dashboard.widgets import data_root_input, option_input, servable_runs
from emotion_core import runs
from emotion_core.model.variants import plan_strides
from emotion_core.options import declared, nest
from emotion_core.training.train import TrainConfig

SIZES = [48, 64, 96, 128]

st.title("Training")
if not auth.training_visible():
    st.warning("Training is limited to admins on this server.")
    st.stop()

runs_dir = runs.default_runs_dir()
holder = running_training()

OPTIONS = {d.path: d for d in declared(TrainConfig)}
FORM_ROWS = (  # the page's options, row by row; the input size is offered as a list of sizes
    ("variant", "image_size", "epochs", "batch_size"),
    ("learning_rate", "schedule", "label_smoothing", "patience"),
    ("weight_decay", "mixup", "cutmix", "focal_gamma"),
    ("class_weights", "ema", "distill_weight"),
    ("augment.horizontal_flip", "augment.vertical_flip", "augment.rotation", "augment.zoom", "augment.translation",
     "augment.erasing"),
)
NEW_MODEL = "New MobileViT (random weights)"
starts = {NEW_MODEL: None, **{r.run_id: r for r in servable_runs() if keras_file(r)}}

with st.form("train_form"):
    st.subheader("New run")
    st.caption("Recipes (weight decay, mixup, cutmix, focal loss, averaged weights, erasing, distillation) are "
               "off by default; compare runs on their validation accuracy before keeping one.")
    root = data_root_input("train_data_root")
    start_from = st.selectbox(
        "Start from", list(starts), key="train_start_from",
        help="Fine-tune: start from a trained model's weights (the served default or one of your runs) on your "
             "data; its variant and input size are kept. A learning rate of about 0.0003 suits fine-tuning.")
    teachers = st.multiselect(
        "Distil from", [name for name, run in starts.items() if run is not None], key="train_teachers",
        help="Distillation: these models (runs with other seeds, a larger variant) label every training image "
             "as they are served; the new model learns from their averaged probabilities mixed with the true "
             "labels (the distillation weight below). Empty: off.")
    values = {}
    for row in FORM_ROWS:
        for column, path in zip(st.columns(len(row)) if len(row) > 1 else [st], row):
            if path == "image_size":
                values[path] = column.selectbox(
                    OPTIONS[path].option.label, SIZES, index=SIZES.index(OPTIONS[path].default),
                    help="Stride plans (stem, layer2..5), chosen so every MobileViT block gets an even map: "
                         + "; ".join(f"{s}px {plan_strides(s)}" for s in SIZES))
            else:
                values[path] = option_input(column, OPTIONS[path])
    start = st.form_submit_button("Start training", type="primary", disabled=holder is not None)



@st.fragment(run_every=2.0)
def training_notice() -> None:
    """Who trains now; when a training starts or ends, the whole page reruns (the form's button changes)."""
    now = running_training()
    if (now is None) != (holder is None):
        st.rerun(scope="app")
    if now is not None:
        st.info(f"A training is running (run {now.get('run_id')}): only one at a time on this machine.")


training_notice()

if start:
    if root is None:
        st.stop()
    try:
        if starts[start_from] is not None:
            values = fine_tuning(values, starts[start_from])
        if teachers:
            values["teacher"] = ",".join(str(starts[name].path) for name in teachers)
        config = TrainConfig.from_dict(nest({"data_root": str(root), **values}))
        run_dir = launch_training(config, runs_dir)
    except (runs.RunError, ValueError) as exc:
        st.error(str(exc))
    else:
        st.session_state["watched_run"] = run_dir.name
        st.success(f"Started run {run_dir.name} in the background.")
        time.sleep(1.0)
        st.rerun()

all_runs = runs.list_runs(runs_dir)
if not all_runs:
    st.info("No runs yet.")
    st.stop()

ids = [r.run_id for r in all_runs]
preferred = (holder or {}).get("run_id") or st.session_state.get("watched_run") or ids[0]
watched_id = st.selectbox("Run", ids, index=ids.index(preferred) if preferred in ids else 0)
watched_dir = runs_dir / watched_id


@st.fragment(run_every=2.0)
def live_view() -> None:
    """Refreshes every 2 s: status, progress inside the epoch, metric charts."""
    status = runs.read_status(watched_dir)
    state = status.get("state", runs.RunState.UNKNOWN)
    rows = runs.read_metrics(watched_dir)
    progress = runs.read_progress(watched_dir)
    st.markdown(f"**State:** {state} — {status.get('message', '')}")
    for problem in status.get("problems", []):
        st.warning(problem)
    if state == runs.RunState.RUNNING and progress:
        st.progress(min(1.0, progress["batch"] / progress["batches"]),
                    text=f"epoch {progress['epoch']}/{progress['epochs']}, batch {progress['batch']}/{progress['batches']}")
    col_stop, col_resume = st.columns(2)
    if state in (runs.RunState.RUNNING, runs.RunState.CREATED) and col_stop.button("Stop", key="stop"):
        runs.request_stop(watched_dir)
        st.toast("Stop requested: the run saves and stops after the current batch.")
    if state in runs.RESUMABLE and col_resume.button("Resume", key="resume"):
        try:
            resume_training(watched_dir)
            st.toast("Resumed.")
        except runs.RunError as exc:
            st.error(str(exc))
    if state == runs.RunState.INTERRUPTED:
        st.warning("The training process ended without finishing (killed or crashed). "
                   "Metrics and the last finished epoch are kept; Resume continues from there.")
    if rows:
        chart_cols = st.columns(2)
        for i, metric in enumerate(METRIC_NAMES):
            chart_cols[i % 2].plotly_chart(metric_chart(rows, metric), width="stretch", key=f"chart_{metric}")
    else:
        st.caption("Charts appear after the first epoch.")
    tail = log_tail(watched_dir)
    if tail:
        with st.expander("Log"):
            st.code(tail)


live_view()

st.subheader("Past runs")
st.dataframe(
    [{"run": r.run_id, "state": r.state, "variant": str(r.config.get("variant", "")).upper(),
      "input": r.config.get("image_size"), "epochs": r.config.get("epochs"),
      "test accuracy": None if r.test_accuracy is None else round(r.test_accuracy, 4),
      "problems": "; ".join(r.problems)} for r in all_runs],
    hide_index=True,
)
