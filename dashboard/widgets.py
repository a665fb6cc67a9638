"""Small widgets shared by pages."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import settings
from emotion_core.options import Declared
from emotion_core.runs import RunInfo, default_runs_dir, list_runs, load_run


def data_root_input(key: str = "data_root") -> Path | None:
    """A text input for the data root, limited to the configured data roots; None (with a message) if refused."""
    default = settings.default_data_root()
    raw = st.text_input("Data root (holds train/ and test/)", value=str(default) if default else "", key=key,
                        help="Only folders inside the configured data roots may be used: "
                             + ", ".join(str(r) for r in settings.data_roots()))
    try:
        return settings.resolve_data_root(raw)
    except ValueError as exc:
        st.error(str(exc))
        return None


def servable_runs() -> list[RunInfo]:
    """The default model (when present) and every run with a servable model."""
    found = []
    default = load_run(settings.model_dir())
    if default.servable:
        default.run_id = f"default ({settings.model_dir().name})"
        found.append(default)
    found += [r for r in list_runs(default_runs_dir()) if r.servable]
    return found


def model_selector(key: str) -> RunInfo | None:
    """Choose the model to serve; None (with a message) when there is none."""
    choices = servable_runs()
    if not choices:
        st.warning("No trained model yet: train one on the Training page "
                   "(or restore models/default from the repository).")
        return None
    labels = [f"{r.run_id}  ({r.test_accuracy:.2%} test)" if r.test_accuracy is not None else r.run_id for r in choices]
    index = st.selectbox("Model", range(len(choices)), format_func=lambda i: labels[i], key=key)
    return choices[index]


def detector_selector(key: str) -> str:
    """Choose the face detector; the configured one comes first."""
    from emotion_core.serving.detect import DETECTORS

    kinds = list(DETECTORS)
    return st.selectbox("Face detector", kinds, index=kinds.index(settings.detector_kind()), key=key,
                        format_func=lambda k: f"{k}: {DETECTORS[k]}")


def served_pipeline(key: str):
    """Model and detector selectors plus the shared pipeline for them; stops the page with a message when
    none can be served."""
    from dashboard.resources import get_pipeline
    from emotion_core.serving.model_files import ModelLoadError  # BlazeFaceUnavailable is one too

    left, right = st.columns(2)
    with left:
        run = model_selector(key)
    if run is None:
        st.stop()
    with right:
        detector = detector_selector(f"{key}_detector")
    try:
        return run, get_pipeline(run.path, detector, settings.align_faces())
    except ModelLoadError as exc:
        st.error(f"This model cannot be served: {exc}")
        st.stop()


def option_input(container, declared: Declared) -> Any:
    """The input for one declared training option: its label, default, limits and help from the declaration."""
    o, default = declared.option, declared.default
    if declared.kind is bool:
        return container.checkbox(o.label, default, help=o.help)
    if o.choices:
        return container.selectbox(o.label, o.choices, index=o.choices.index(default), help=o.help,
                                   format_func=str.upper if declared.name == "variant" else str)
    if declared.kind is int:
        return int(container.number_input(o.label, int(o.minimum), int(o.maximum), int(default), help=o.help))
    step = 10 ** math.floor(math.log10(default)) if default > 0 else 0.01
    return float(container.number_input(o.label, float(o.minimum), float(o.maximum), float(default),
                                        min(step, 0.01), format="%.5f" if step < 0.01 else "%.2f", help=o.help))


FEW_FACES = 0.6  # below this share of frames with a face, the Video and Live pages suggest the thorough detector


def few_faces_notice(share: float, frames: str, detector: str) -> str | None:
    """What to tell a user whose faces `detector` found in only `share` of `frames` ("the analysed frames"), or
    None when that is no sign of a struggling detector (no face at all, or in most frames)."""
    from emotion_core.serving.detect import DETECTORS, THOROUGH_DETECTOR

    if not 0 < share < FEW_FACES:
        return None
    advice = ("more light on the faces, or a camera closer to them, helps" if detector == THOROUGH_DETECTOR else
              f"choose the face detector {THOROUGH_DETECTOR} above ({DETECTORS[THOROUGH_DETECTOR]}); more light "
              "on the faces helps too")
    return f"A face was found in only {share:.0%} of {frames}. If people are in view longer than that, {advice}."
