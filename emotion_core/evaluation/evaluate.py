"""Evaluation: confusion matrix and per-class precision / recall / F1 (pure numpy).

Keras' Precision()/Recall() on one-hot labels are micro-averaged at threshold
0.5; these per-class numbers come from the confusion matrix instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from emotion_core.evaluation.metrics import evaluate_predictions
from emotion_core.labels import EMOTIONS

if TYPE_CHECKING:
    from emotion_core.data.dataset import SplitData


def predict_in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                       batch_size: int = 256) -> np.ndarray:
    """Probabilities (N, classes) for uint8 images (N, S, S) through `predict` on float batches."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)[..., None]  # (B, S, S) -> (B, S, S, 1)
        outputs.append(np.asarray(predict(batch)))
    return np.concatenate(outputs) if outputs else np.zeros((0, len(EMOTIONS)), np.float32)


@dataclass
class Evaluation:
    """One split classified: the report (with its confusion matrix), the split and the probabilities."""

    report: dict
    data: SplitData
    probs: np.ndarray  # (N, classes), aligned with data.labels


VALIDATION = "validation"  # the hold-out of train that training validates on (`train.hold_out`)


def load_evaluation_split(data_root, split: str, image_size: int, cache_dir=None, progress=None,
                          val_fraction: float = 0.1) -> SplitData:
    """"train", "test", or "validation": the training hold-out (`val_fraction` of train, the fixed seed), the
    only split on which candidates may be compared without spending the test split."""
    import dataclasses

    from emotion_core.data.dataset import load_split

    if split != VALIDATION:
        return load_split(data_root, split, image_size, cache_dir, progress=progress)
    from emotion_core.data.splits import hold_out

    train = load_split(data_root, "train", image_size, cache_dir, progress=progress)
    _, rows = hold_out(train.labels, val_fraction)
    return dataclasses.replace(train, split=VALIDATION, images=train.images[rows], labels=train.labels[rows],
                               paths=[train.paths[i] for i in rows])


def evaluate_split(predict: Callable[[np.ndarray], np.ndarray], data_root, split: str, image_size: int,
                   cache_dir=None, batch_size: int = 256, progress=None, val_fraction: float = 0.1) -> Evaluation:
    """Classify every image of a split ("train", "test" or "validation") through `predict`; the report."""
    data = load_evaluation_split(data_root, split, image_size, cache_dir, progress, val_fraction)
    probs = predict_in_batches(predict, data.images, batch_size=batch_size)
    return Evaluation(evaluate_predictions(data.labels, probs), data, probs)


def evaluate_model_dir(model_dir, data_root, split: str = "test", cache_dir=None, batch_size: int = 256,
                       progress=None) -> Evaluation:
    """Evaluate a run directory's served model (TFLite first, with its serving options) on a split; the
    validation split is the run's own hold-out (its val_fraction)."""
    from emotion_core.runs import RunDir
    from emotion_core.serving.inference import Classifier

    classifier = Classifier.from_run(model_dir)
    val_fraction = float(RunDir(model_dir).read_config(missing_ok=True).get("val_fraction", 0.1))
    return evaluate_split(classifier.predict, data_root, split, classifier.input_size, cache_dir, batch_size,
                          progress, val_fraction)


def write_reports(run_dir: Path, evaluation: Evaluation) -> None:
    """test_metrics.json, confusion_matrix.json and test_predictions.npz of a run (or served model) directory."""
    from emotion_core import runs

    report = evaluation.report
    runs.atomic_write_json(runs.RunDir(run_dir).confusion_matrix,
                           {"labels": report["labels"], "matrix": report["confusion_matrix"]})
    runs.atomic_write_json(runs.RunDir(run_dir).test_metrics, {k: v for k, v in report.items() if k != "confusion_matrix"})
    runs.write_predictions(run_dir, evaluation.data.paths, evaluation.data.labels, evaluation.probs)
