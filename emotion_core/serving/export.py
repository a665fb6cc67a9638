"""Saving, exporting and safely loading models: `.keras`, SavedModel, TFLite.

Every write goes to a temporary name beside the target and is renamed into
place, so a crash never leaves half a model where a reader expects a whole one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from emotion_core import atomic


def save_keras(model, path: str | os.PathLike) -> Path:
    """Save `model` as a `.keras` file atomically (optimizer state included when compiled)."""
    with atomic.replacing(path) as tmp:
        model.save(tmp)
    return Path(path)


def _replace_dir(tmp_dir: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp_dir, target)
    shutil.rmtree(old, ignore_errors=True)


def export_saved_model(model, directory: str | os.PathLike) -> Path:
    """Write a TF SavedModel (inference signature `serve`) via `model.export`."""
    directory = Path(directory)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
        _replace_dir(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def export_tflite(model, path: str | os.PathLike) -> Path:
    """Write a TFLite flatbuffer via `model.export(format="litert")` (no extra package)."""
    with atomic.replacing(path) as tmp:
        model.export(str(tmp), format="litert", verbose=False)
    return Path(path)


def saved_model_to_tflite(saved_model: str | os.PathLike, path: str | os.PathLike, int8_weights: bool = False) -> Path:
    """Convert an exported SavedModel to TFLite with the converter settings `model.export(format="litert")`
    uses; it writes and converts a SavedModel of its own, so from one already written this takes half the time.
    int8_weights: dynamic-range quantization (weights stored as int8, computed in float32): about a quarter of
    the size; check the accuracy on validation data before serving it."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter.experimental_enable_resource_variables = True
    if int8_weights:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: weights only
    atomic.write_bytes(path, converter.convert())
    return Path(path)


def float32_copy(model):
    """`model` itself when it computes in float32; else (mixed precision) a float32 copy with the same weights,
    so exports and the served model never depend on a GPU number format."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def as_float32(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=as_float32)
    copy.set_weights(model.get_weights())
    return copy


def export_all(model, directory: str | os.PathLike, int8_weights: bool = False) -> dict[str, Path]:
    """model.keras, saved_model/ and model.tflite in `directory`, all float32 (the TFLite file's weights int8
    with `int8_weights`); on a backend other than TensorFlow only model.keras (export the others later on
    TensorFlow: `python -m emotion_core export`)."""
    import keras

    from emotion_core.runs import RunDir

    files = RunDir(directory)
    model = float32_copy(model)
    paths = {"keras": save_keras(model, files.keras_model)}
    if keras.backend.backend() == "tensorflow":
        paths["saved_model"] = export_saved_model(model, files.saved_model)
        paths["tflite"] = saved_model_to_tflite(paths["saved_model"], files.tflite_model, int8_weights)
    return paths


def tflite_weights(path: str | os.PathLike) -> str:
    """"int8" when the TFLite file's convolution and dense weights are stored as int8 (dynamic-range
    quantization), else "float32"."""
    from emotion_core.serving.model_files import make_interpreter

    interpreter = make_interpreter(Path(path), num_threads=1)
    kinds = {detail["dtype"].__name__ for detail in interpreter.get_tensor_details()}
    return "int8" if "int8" in kinds else "float32"


