"""Distillation: trained models of your own (teachers) label the training images with their probabilities,
and a new model learns from a mix of those soft targets and the true labels.

The teachers answer once, before training, on the training images as loaded (not on each augmented copy):
each as it is served (its run's test-time augmentation), on any Keras backend. Several teachers, e.g. runs
with other seeds or sizes, are averaged: an ensemble distilled into one model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from emotion_core.labels import NUM_CLASSES

PREDICT_BATCH = 256  # images a teacher is given at once


def teacher_paths(teachers: str) -> list[Path]:
    """The comma-separated run directories or .keras files of `--teacher`; ValueError naming a missing one."""
    paths = [Path(part.strip()) for part in teachers.split(",") if part.strip()]
    if not paths:
        raise ValueError("--teacher names no model.")
    for path in paths:
        if not path.exists():
            raise ValueError(f"Teacher {path} does not exist (a run directory or a .keras file).")
    return paths


def load_teacher(path: Path):
    """A Classifier for one teacher: a run directory as it is served (its TTA), or a bare .keras file (one view).
    Run directories use TFLite on the TensorFlow backend and their .keras file on the others (no TFLite there)."""
    import keras

    from emotion_core.serving.inference import Classifier
    from emotion_core.serving.model_files import load_keras_model

    if not path.is_dir():
        return Classifier.from_keras(load_keras_model(path), path)
    return Classifier.from_run(path, prefer="tflite" if keras.backend.backend() == "tensorflow" else "keras")


def teacher_probabilities(teachers: str, images: np.ndarray, labels: np.ndarray,
                          log: Callable[[str], None] = print) -> np.ndarray:
    """(N, 7) float32: the teachers' mean probabilities for uint8 images (N, S, S), each teacher fed the images
    resized to its own input size; logs how many of the images each teacher gets right."""
    from emotion_core.data.dataset import resize_square

    total = np.zeros((len(images), NUM_CLASSES), np.float32)
    paths = teacher_paths(teachers)
    for path in paths:
        classifier = load_teacher(path)
        size = classifier.input_size
        probabilities = np.zeros_like(total)
        for start in range(0, len(images), PREDICT_BATCH):
            chunk = images[start:start + PREDICT_BATCH]
            if chunk.shape[1:] != (size, size):
                chunk = np.stack([resize_square(image, size) for image in chunk])
            probabilities[start:start + len(chunk)] = classifier.predict(chunk.astype(np.float32)[..., None])
        right = float(np.mean(probabilities.argmax(1) == labels)) if len(labels) else 0.0
        log(f"teacher {path}: {classifier.views} view(s) per image at {size}x{size}, "
            f"{right:.1%} of the training images right")
        total += probabilities
    return total / len(paths)


def soft_targets(labels: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """(N, 7) training targets: (1 - weight) * one-hot(labels) + weight * the teachers' probabilities."""
    one_hot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    return ((1.0 - weight) * one_hot + weight * teacher).astype(np.float32)
