"""Every Streamlit cache of the dashboard: one pipeline per model for the whole server, data set loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from emotion_core.runs import find_model_file


def model_signature(model_dir: Path) -> str:
    """Path plus mtime of the model file: a retrained model gets a fresh cache entry."""
    model_file = find_model_file(model_dir)
    return f"{model_file}:{model_file.stat().st_mtime_ns}" if model_file else ""


SERVER_INFERENCE_THREADS = 1  # per TFLite interpreter: a second thread costs far more CPU than it saves time
                              # (README, "Live capacity"), and the server's cores go to its sessions


@st.cache_resource(show_spinner="Loading the model...", max_entries=3)
def _classifier(model_dir: str, signature: str):
    from emotion_core.serving.inference import Classifier

    return Classifier.from_run(Path(model_dir), num_threads=SERVER_INFERENCE_THREADS)


@st.cache_resource(show_spinner="Loading the face detector...", max_entries=6)
def _pipeline(model_dir: str, signature: str, detector: str, align: bool):
    from emotion_core.serving.detect import make_detector
    from emotion_core.serving.pipeline import EmotionPipeline

    return EmotionPipeline(_classifier(model_dir, signature), make_detector(detector), align=align)


def get_pipeline(model_dir: Path, detector: str, align: bool):
    """The shared EmotionPipeline for `model_dir` and a detector; each model is loaded once per server, whatever
    the detectors beside it. ModelLoadError or BlazeFaceUnavailable if unusable."""
    return _pipeline(str(model_dir), model_signature(model_dir), detector, align)


@st.cache_resource(max_entries=4, show_spinner="Loading the cache...")
def _decoded_split(root: str, split: str, image_size: int, files_key: str):
    from emotion_core.data.dataset import load_split

    return load_split(root, split, image_size)


def decoded_split(root: Path, split: str, image_size: int):
    """A decoded split, shared by every session; a changed folder (file list, sizes, mtimes) loads again."""
    from emotion_core.data.dataset import cache_key, scan_split

    return _decoded_split(str(root), split, image_size, cache_key(scan_split(root, split), image_size))


@st.cache_data(show_spinner=False, max_entries=8, ttl=30)
def quick_counts(root: str) -> dict[str, dict[str, int]]:
    from emotion_core.data.dataset import quick_summary

    return quick_summary(root)


@st.cache_data(show_spinner=False, max_entries=4)
def sample_indices(labels: np.ndarray, per_class: int, seed: int) -> dict[int, list[int]]:
    rng = np.random.default_rng(seed)
    out = {}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        out[int(c)] = sorted(rng.choice(idx, size=min(per_class, len(idx)), replace=False).tolist())
    return out
