"""Confusion matrices and per-class precision / recall / F1 from predictions (pure numpy)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from emotion_core.labels import EMOTIONS


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


def evaluate_predictions(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str] = EMOTIONS) -> dict:
    """Report plus the confusion matrix (as nested lists) for labels and probabilities."""
    y_pred = np.argmax(probs, axis=1)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    report = classification_report(cm, labels)
    report["confusion_matrix"] = cm.tolist()
    return report
