"""Batch classification of gray face crops: TFLite interpreter first, tf.function fallback.

Never `model.predict` per frame (its per-call overhead dwarfs the model); a
TFLite interpreter or a traced `tf.function` runs a batch directly.
The interpreter comes from LiteRT (`ai_edge_litert`) when installed, so serving
a model never imports TensorFlow (load time and memory: README);
`tf.lite.Interpreter` is the fallback.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from emotion_core.labels import EMOTIONS
from emotion_core.paths import default_model_dir
from emotion_core.runs import RunDir, RunError
from emotion_core.serving.model_files import ModelLoadError, check_tflite_file, load_keras_model, make_interpreter

class Classifier:
    """Maps float32 (B, S, S, 1) pixel batches in [0, 255] to probabilities (B, 7). Thread-safe.

    Test-time augmentation (TTA) averages the probabilities of several views of each
    face, classified in one batch:
    - flip_tta: the face and its mirror image (2 views);
    - zoom_tta: also the central `zoom_tta` part of the crop (e.g. 0.9) resized back,
      with its mirror when flipping too (4 views).
    Each view costs one more pass. A model directory sets them in config.json:
    `"serving": {"flip_tta": true, "zoom_tta": 0.9}`. `predict(..., max_views=n)` uses only the first n
    views in the order face, mirror, zoomed, zoomed mirror (a busy live server asks for fewer).
    """

    loaded_from_runs = 0  # models this process loaded with `from_run` (a server should load each once)

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], input_size: int, backend: str,
                 source: Path | None = None, labels: tuple[str, ...] = EMOTIONS, flip_tta: bool = False,
                 zoom_tta: float = 0.0, input_shape: tuple = (), num_outputs: int | None = None):
        self._predict = predict
        self.input_shape = tuple(input_shape)  # as the model declares it, batch dimension first
        self.num_outputs = num_outputs
        self.input_size = input_size
        self.backend = backend
        self.source = source
        self.labels = labels
        self.flip_tta = flip_tta
        self.zoom_tta = zoom_tta
        self.num_threads: int | None = None  # the TFLite interpreter's threads (None: not TFLite)

    @property
    def views(self) -> int:
        """Views per face that the serving options ask for (1, 2 or 4)."""
        return (1 + bool(self.zoom_tta)) * (1 + bool(self.flip_tta))

    def predict(self, batch: np.ndarray, max_views: int | None = None) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[..., None]  # (B, S, S) -> (B, S, S, 1)
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        expected = (self.input_size, self.input_size, 1)
        if batch.shape[1:] != expected:
            raise ValueError(f"Expected batches of shape (B, {expected[0]}, {expected[1]}, 1), got {batch.shape}.")
        views = [batch]
        if self.flip_tta:
            views.append(batch[:, :, ::-1])
        if self.zoom_tta:
            zoomed = center_zoom(batch, self.zoom_tta)
            views += [zoomed, zoomed[:, :, ::-1]] if self.flip_tta else [zoomed]
        views = views[:max(1, max_views)] if max_views is not None else views
        if len(views) == 1:
            return np.asarray(self._predict(batch), dtype=np.float32)
        probs = np.asarray(self._predict(np.concatenate(views)), dtype=np.float32)  # (V*B, 7)
        return probs.reshape(len(views), len(batch), -1).mean(axis=0)  # (V, B, 7) -> (B, 7)

    @classmethod
    def from_keras(cls, model, source: Path | None = None) -> "Classifier":
        """Wrap a Keras model: a traced tf.function on the TensorFlow backend (one trace per batch size bucket);
        `model.predict` in batches on the others (bulk work such as a teacher labelling a data set)."""
        import keras

        size = int(model.input_shape[1] or 0)
        shape, outputs = tuple(model.input_shape), model.output_shape[-1]
        if keras.backend.backend() != "tensorflow":
            return cls(lambda b: np.asarray(model.predict(b, batch_size=256, verbose=0)), size,
                       keras.backend.backend(), source, input_shape=shape, num_outputs=outputs)
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return cls(lambda b: fn(tf.constant(b)).numpy(), size, "tf.function", source, input_shape=shape,
                   num_outputs=outputs)

    @classmethod
    def from_tflite(cls, path: Path, num_threads: int = 2) -> "Classifier":
        """A TFLite interpreter; resized to each batch size, guarded by a lock (interpreters are not thread-safe)."""
        check_tflite_file(path)
        interpreter = make_interpreter(path, num_threads)
        interpreter.allocate_tensors()
        detail, out_detail = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        shape = tuple(int(d) for d in detail["shape"])
        size = int(shape[1]) if len(shape) > 1 else 0
        index, out_index = detail["index"], out_detail["index"]
        lock = threading.Lock()
        current = {"batch": int(detail["shape"][0])}

        def predict(batch: np.ndarray) -> np.ndarray:
            with lock:
                if len(batch) != current["batch"]:
                    interpreter.resize_tensor_input(index, list(batch.shape), strict=False)
                    interpreter.allocate_tensors()
                    current["batch"] = len(batch)
                interpreter.set_tensor(index, batch)
                interpreter.invoke()
                return interpreter.get_tensor(out_index).copy()

        classifier = cls(predict, size, "tflite", Path(path), input_shape=shape,
                         num_outputs=int(out_detail["shape"][-1]) if len(out_detail["shape"]) else None)
        classifier.num_threads = num_threads
        return classifier

    @classmethod
    def from_run(cls, run_dir: Path | None = None, prefer: str = "tflite", num_threads: int = 2) -> "Classifier":
        """Load a run directory's model (model.tflite, else model.keras / best.keras); num_threads: the TFLite
        interpreter's threads (a server classifying one face at a time for many sessions does best with 1)."""
        run_dir = Path(run_dir) if run_dir else default_model_dir()
        if not run_dir.is_dir():
            raise ModelLoadError(f"Model directory {run_dir} does not exist.")
        config = read_model_config(run_dir)
        flip_tta, zoom_tta = serving_options(config)
        classifier = cls._load(run_dir, prefer, num_threads)
        Classifier.loaded_from_runs += 1
        classifier.flip_tta, classifier.zoom_tta = flip_tta, zoom_tta
        check_model_fits(classifier, config, run_dir)
        return classifier

    @classmethod
    def _load(cls, run_dir: Path, prefer: str, num_threads: int) -> "Classifier":
        tflite, *keras_files = RunDir(run_dir).model_files
        errors = []
        if prefer == "tflite" and tflite.is_file():
            try:
                return cls.from_tflite(tflite, num_threads)
            except (ModelLoadError, ValueError, RuntimeError) as exc:
                errors.append(str(exc))
        for path in keras_files:
            if path.is_file():
                try:
                    return cls.from_keras(load_keras_model(path), path)
                except ModelLoadError as exc:
                    errors.append(str(exc))
        detail = "; ".join(e.rstrip(".") for e in errors) if errors else "no model.tflite, model.keras or best.keras"
        raise ModelLoadError(f"No usable model in {run_dir}: {detail}.")


def center_zoom(batch: np.ndarray, factor: float) -> np.ndarray:
    """The central `factor` (0 < factor < 1) of each (S, S, 1) image, resized back to S x S."""
    size = batch.shape[1]
    crop = max(1, int(round(size * factor)))
    start = (size - crop) // 2
    return np.stack([cv2.resize(image[start:start + crop, start:start + crop, 0], (size, size),
                                interpolation=cv2.INTER_LINEAR)[..., None] for image in batch])


def check_model_fits(classifier: "Classifier", config: dict, run_dir: Path) -> None:
    """ModelLoadError unless the model takes (B, S, S, 1) gray faces and gives one probability per label."""
    shape, labels = classifier.input_shape, config.get("labels", list(EMOTIONS))
    if len(shape) != 4 or shape[3] != 1 or shape[1] != shape[2] or not shape[1]:
        raise ModelLoadError(f"The model in {run_dir} takes inputs of shape {shape}; "
                             "a square gray face (batch, size, size, 1) is expected.")
    if config.get("image_size") not in (None, shape[1]):
        raise ModelLoadError(f"The model in {run_dir} takes {shape[1]}x{shape[1]} faces but its config.json "
                             f"says image_size {config['image_size']}.")
    if classifier.num_outputs != len(labels) or tuple(labels) != tuple(EMOTIONS):
        raise ModelLoadError(f"The model in {run_dir} gives {classifier.num_outputs} outputs for "
                             f"{len(labels)} labels; this dashboard serves the 7 classes {', '.join(EMOTIONS)}.")


def serving_options(config: dict) -> tuple[bool, float]:
    """(flip_tta, zoom_tta) from a model config's "serving" section; ModelLoadError when malformed."""
    serving = config.get("serving") or {}
    if not isinstance(serving, dict):
        raise ModelLoadError(f'config.json "serving" must be a table like {{"flip_tta": true}}, got {serving!r:.40}.')
    flip, zoom = serving.get("flip_tta", False), serving.get("zoom_tta") or 0.0
    if not isinstance(flip, bool):
        raise ModelLoadError(f"serving.flip_tta must be true or false, got {flip!r:.40}.")
    if isinstance(zoom, bool) or not isinstance(zoom, (int, float)) or (zoom and not 0.0 < zoom < 1.0):
        raise ModelLoadError(f"serving.zoom_tta must lie between 0 and 1 (the part of the face kept), got {zoom!r:.40}.")
    return flip, float(zoom)


def read_model_config(run_dir: Path) -> dict:
    """A model directory's config.json ({} when absent); ModelLoadError when it is not a JSON table."""
    try:
        return RunDir(run_dir).read_config(missing_ok=True)
    except RunError as exc:
        raise ModelLoadError(str(exc)) from None
