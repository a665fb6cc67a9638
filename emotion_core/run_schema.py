"""Checks for the JSON and `.npz` files of a run directory, applied on every read.

A run directory is shared by every visitor, so one bad file (hand-edited, from
another version, damaged) must not break pages for anyone: each check returns
the usable part and a list of problems in plain words; readers show the
problems next to the run and carry on with the other runs.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import numpy as np

from emotion_core.labels import EMOTIONS

class RunState(StrEnum):
    """The `state` of status.json (plain strings in the file)."""

    CREATED = "created"  # directory and config written, training not started
    RUNNING = "running"
    COMPLETED = "completed"  # trained, evaluated and exported
    STOPPED = "stopped"  # stopped on request; resumable
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # never written: a running state whose process is gone
    UNKNOWN = "unknown"  # never written: status.json missing or damaged


STATES = tuple(RunState)
RESUMABLE = (RunState.STOPPED, RunState.INTERRUPTED, RunState.FAILED)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_config(raw: Any) -> tuple[dict, list[str]]:
    """config.json: a table; the fields pages use have the right types (others are kept as they are)."""
    if not isinstance(raw, dict):
        return {}, [f"config.json is not a table (found {type(raw).__name__})"]
    config, problems = dict(raw), []
    expected = {"variant": str, "data_root": str, "image_size": int, "epochs": int, "serving": dict, "labels": list}
    for key, kind in expected.items():
        if key in config and config[key] is not None and not (
                _is_int(config[key]) if kind is int else isinstance(config[key], kind)):
            problems.append(f"config.json: {key} should be {kind.__name__}, found {config[key]!r:.40}")
            del config[key]
    if "labels" in config and not all(isinstance(x, str) for x in config["labels"]):
        problems.append("config.json: labels should be a list of class names")
        del config["labels"]
    return config, problems


def check_status(raw: Any) -> tuple[dict | None, list[str]]:
    """status.json: state a known word, pid and epoch integers, message text."""
    if not isinstance(raw, dict):
        return None, [f"status.json is not a table (found {type(raw).__name__})"]
    status, problems = dict(raw), []
    if status.get("state") not in STATES:
        problems.append(f"status.json: unknown state {status.get('state')!r:.40}")
        status["state"] = RunState.UNKNOWN
    for key in ("pid", "epoch"):
        if key in status and status[key] is not None and not _is_int(status[key]):
            problems.append(f"status.json: {key} should be an integer, found {status[key]!r:.40}")
            del status[key]
    if not isinstance(status.get("message", ""), str):
        problems.append("status.json: message should be text")
        status["message"] = str(status["message"])
    return status, problems


def check_progress(raw: Any) -> dict | None:
    """progress.json: epoch, epochs, batch, batches as integers with batches > 0; None otherwise."""
    keys = ("epoch", "epochs", "batch", "batches")
    if not isinstance(raw, dict) or not all(_is_int(raw.get(k)) for k in keys) or raw["batches"] <= 0:
        return None
    return {k: raw[k] for k in keys}


def _check_scores(scores: Any, where: str, problems: list[str]) -> bool:
    if not isinstance(scores, dict):
        problems.append(f"test_metrics.json: {where} should be a table")
        return False
    for key in ("precision", "recall", "f1"):
        if not _is_number(scores.get(key)):
            problems.append(f"test_metrics.json: {where}.{key} is not a number ({scores.get(key)!r:.40})")
            return False
    return True


def check_test_metrics(raw: Any) -> tuple[dict | None, list[str]]:
    """test_metrics.json: accuracy in [0, 1]; macro, weighted and per-class scores numbers."""
    if raw is None:
        return None, []
    if not isinstance(raw, dict):
        return None, [f"test_metrics.json is not a table (found {type(raw).__name__})"]
    problems: list[str] = []
    accuracy = raw.get("accuracy")
    if not _is_number(accuracy) or not 0.0 <= accuracy <= 1.0:
        problems.append(f"test_metrics.json: accuracy is not a number between 0 and 1 ({accuracy!r:.40})")
    for key in ("macro", "weighted"):
        if key in raw:
            _check_scores(raw[key], key, problems)
    per_class = raw.get("per_class", {})
    if not isinstance(per_class, dict):
        problems.append("test_metrics.json: per_class should be a table")
    else:
        for name, scores in per_class.items():
            _check_scores(scores, f"per_class.{name}", problems)
    return (None if problems else raw), problems


def check_confusion_matrix(raw: Any) -> tuple[dict | None, list[str]]:
    """confusion_matrix.json: {"labels": [k names], "matrix": k x k non-negative integers}."""
    if not isinstance(raw, dict) or "matrix" not in raw:
        return None, ["confusion_matrix.json is missing, unreadable or has no matrix"]
    labels = raw.get("labels", list(EMOTIONS))
    try:
        matrix = np.asarray(raw["matrix"], dtype=np.float64)
    except (TypeError, ValueError):
        return None, ["confusion_matrix.json: the matrix holds values that are not numbers"]
    k = len(labels) if isinstance(labels, list) else -1
    if matrix.ndim != 2 or matrix.shape != (k, k) or not all(isinstance(x, str) for x in labels):
        return None, [f"confusion_matrix.json: expected a {len(EMOTIONS)}x{len(EMOTIONS)} matrix with one label "
                      f"per row, found shape {matrix.shape} and {k} labels"]
    if not np.isfinite(matrix).all() or (matrix < 0).any() or (matrix != np.round(matrix)).any():
        return None, ["confusion_matrix.json: counts must be non-negative integers"]
    return {"labels": labels, "matrix": matrix.astype(np.int64).tolist()}, []


def check_predictions(arrays: dict[str, np.ndarray], num_classes: int = len(EMOTIONS)) -> list[str]:
    """test_predictions.npz: paths (N,), labels (N,) in [0, k), probs (N, k) finite."""
    paths, labels, probs = arrays["paths"], arrays["labels"], arrays["probs"]
    n = len(paths)
    if paths.ndim != 1 or labels.shape != (n,) or probs.shape != (n, num_classes):
        return [f"test_predictions.npz: shapes {paths.shape}, {labels.shape}, {probs.shape} do not fit "
                f"(expected (N,), (N,), (N, {num_classes}))"]
    if labels.dtype.kind not in "iu" or (n and (labels.min() < 0 or labels.max() >= num_classes)):
        return ["test_predictions.npz: labels must be class indices"]
    if probs.dtype.kind != "f" or not np.isfinite(probs).all():
        return ["test_predictions.npz: probabilities must be finite numbers"]
    if paths.dtype.kind not in "US":
        return ["test_predictions.npz: paths must be text"]
    return []
