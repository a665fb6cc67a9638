"""Reading model files safely: `.keras` in safe mode, TFLite checks, the LiteRT interpreter."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path


class ModelLoadError(RuntimeError):
    """A model file is missing, corrupt or not a Keras model; the message names the path."""


def load_keras_model(path: str | os.PathLike, compile: bool = False):
    """Load a `.keras` file with safe_mode=True (no lambda/pickle code); ModelLoadError on bad files."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist.")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"Model file {path} is empty (0 bytes).")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path} is not a Keras model file (a .keras file is a zip archive).")
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # keras raises many types for corrupt archives
        raise ModelLoadError(f"Cannot load model {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{path} holds a {type(model).__name__}, not a Keras model.")
    return model


def check_tflite_file(path: str | os.PathLike) -> None:
    """Raise ModelLoadError unless `path` looks like a TFLite flatbuffer (identifier TFL3)."""
    path = Path(path)
    try:
        head = path.open("rb").read(8)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read model file {path}: {exc.strerror}") from exc
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelLoadError(f"{path} is not a TFLite model file.")


def make_interpreter(path: Path, num_threads: int):
    """A TFLite interpreter from LiteRT (TensorFlow's as the fallback); ModelLoadError when the file does not load."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    try:
        with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT is its successor
            warnings.simplefilter("ignore")
            return Interpreter(model_path=str(path), num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"Cannot load TFLite model {path}: {exc}") from exc
