"""Evaluation: confusion matrix and per-class precision / recall / F1 (pure numpy).

Keras' Precision()/Recall() on one-hot labels are micro-averaged at threshold
0.5; these per-class numbers come from the confusion matrix instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from emotion_core.labels import EMOTIONS

if TYPE_CHECKING:
    from emotion_core.data import SplitData


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = len(EMOTIONS)) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: rows are true classes, columns predictions."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape.")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)


def classification_report(cm: np.ndarray, labels: Sequence[str] = EMOTIONS) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = cm.sum()
    weights = support / total if total else np.zeros_like(support)
    per_class = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]),
                "f1": float(f1[i]), "support": int(support[i])}
        for i, label in enumerate(labels)
    }
    present = support > 0  # macro over classes that occur in the split
    def macro(v: np.ndarray) -> float:
        return float(v[present].mean()) if present.any() else 0.0
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "per_class": per_class,
        "macro": {"precision": macro(precision), "recall": macro(recall), "f1": macro(f1)},
        "weighted": {"precision": float((precision * weights).sum()), "recall": float((recall * weights).sum()),
                     "f1": float((f1 * weights).sum())},
        "support": int(total),
        "labels": list(labels),
    }


def row_normalize(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (recall view); empty rows stay zero."""
    cm = np.asarray(cm, dtype=np.float64)
    return _safe_div(cm, cm.sum(axis=1, keepdims=True))


def misclassified(labels: np.ndarray, probs: np.ndarray, true_class: str | None = None,
                  predicted_class: str | None = None, classes: Sequence[str] = EMOTIONS) -> np.ndarray:
    """Indices of wrong predictions, optionally only those of one true and/or one predicted class."""
    predicted = probs.argmax(axis=1)
    wrong = predicted != labels
    if true_class is not None:
        wrong &= labels == list(classes).index(true_class)
    if predicted_class is not None:
        wrong &= predicted == list(classes).index(predicted_class)
    return np.flatnonzero(wrong)


def predict_in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                       batch_size: int = 256) -> np.ndarray:
    """Probabilities (N, classes) for uint8 images (N, S, S) through `predict` on float batches."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)[..., None]  # (B, S, S) -> (B, S, S, 1)
        outputs.append(np.asarray(predict(batch)))
    return np.concatenate(outputs) if outputs else np.zeros((0, len(EMOTIONS)), np.float32)


def evaluate_predictions(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str] = EMOTIONS) -> dict:
    """Report plus the confusion matrix (as nested lists) for labels and probabilities."""
    y_pred = np.argmax(probs, axis=1)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    report = classification_report(cm, labels)
    report["confusion_matrix"] = cm.tolist()
    return report


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

    from emotion_core.data import load_split

    if split != VALIDATION:
        return load_split(data_root, split, image_size, cache_dir, progress=progress)
    from emotion_core.train import hold_out

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
    from emotion_core.inference import Classifier
    from emotion_core.runs import RunDir

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
