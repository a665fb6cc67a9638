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

PREDICT_BATCH = 256


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
    """A Classifier for one teacher: a run directory with its serving options, or a bare .keras file (one view).
    TFLite on the TensorFlow backend; the .keras file through `model.predict` on the others (JAX: no TFLite)."""
    import keras

    from emotion_core.export import load_keras_model
    from emotion_core.inference import Classifier, check_model_fits, read_model_config, serving_options
    from emotion_core.runs import RunDir

    config = read_model_config(path) if path.is_dir() else {}
    if path.is_dir() and keras.backend.backend() == "tensorflow":
        return Classifier.from_run(path)
    source = next((p for p in RunDir(path).model_files[1:] if p.is_file()), None) if path.is_dir() else path
    if source is None:
        raise ValueError(f"Teacher {path} holds no model.keras or best.keras.")
    model = load_keras_model(source)
    classifier = Classifier(lambda b: np.asarray(model.predict(b, batch_size=PREDICT_BATCH, verbose=0)),
                            int(model.input_shape[1] or 0), keras.backend.backend(), source,
                            input_shape=tuple(model.input_shape), num_outputs=model.output_shape[-1])
    classifier.flip_tta, classifier.zoom_tta = serving_options(config)
    check_model_fits(classifier, config, path)
    return classifier


def teacher_probabilities(teachers: str, images: np.ndarray, labels: np.ndarray,
                          log: Callable[[str], None] = print) -> np.ndarray:
    """(N, 7) float32: the teachers' mean probabilities for uint8 images (N, S, S), each teacher fed the images
    resized to its own input size; logs how many of the images each teacher gets right."""
    from emotion_core.data import resize_square

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
