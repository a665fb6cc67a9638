"""Classifier test-time augmentation: which views are classified and how they are averaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emotion_core.paths import default_model_dir
from emotion_core.serving.inference import Classifier, center_zoom

DEFAULT = default_model_dir()


def _served_copy(folder, serving: dict):
    """The served model's TFLite file with its config.json, serving options replaced."""
    folder.mkdir()
    shutil.copy2(DEFAULT / "model.tflite", folder / "model.tflite")
    config = json.loads((DEFAULT / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "serving": serving}))
    return folder


def test_run_directory_turns_zoom_tta_on(tmp_path):
    plain = Classifier.from_run(_served_copy(tmp_path / "plain", {}))
    tta = Classifier.from_run(_served_copy(tmp_path / "served", {"flip_tta": True, "zoom_tta": 0.9}))
    assert (bool(plain.flip_tta), bool(plain.zoom_tta), tta.flip_tta, tta.zoom_tta) == (False, False, True, 0.9)
    size = tta.input_size
    x = np.random.default_rng(2).random((3, size, size, 1)).astype(np.float32) * 255
    zoomed = center_zoom(x, 0.9)
    expected = np.mean([plain.predict(v) for v in (x, zoomed, x[:, :, ::-1], zoomed[:, :, ::-1])], axis=0)
    assert np.allclose(tta.predict(x), expected, atol=1e-5)


def test_a_busy_server_asks_for_fewer_views_face_and_mirror_first(tmp_path):
    plain = Classifier.from_run(_served_copy(tmp_path / "plain", {}))
    tta = Classifier.from_run(_served_copy(tmp_path / "served", {"flip_tta": True, "zoom_tta": 0.95}))
    assert (plain.views, tta.views) == (1, 4)
    size = tta.input_size
    x = np.random.default_rng(3).random((2, size, size, 1)).astype(np.float32) * 255
    zoomed = center_zoom(x, 0.95)
    one, mirror, zoom, zoom_mirror = (plain.predict(v) for v in (x, x[:, :, ::-1], zoomed, zoomed[:, :, ::-1]))
    assert np.allclose(tta.predict(x, max_views=1), one, atol=1e-5)
    assert np.allclose(tta.predict(x, max_views=2), (one + mirror) / 2, atol=1e-5)
    assert np.allclose(tta.predict(x, max_views=4), (one + mirror + zoom + zoom_mirror) / 4, atol=1e-5)
    assert np.allclose(tta.predict(x, max_views=8), tta.predict(x), atol=1e-6)  # no more than it serves
    assert np.allclose(plain.predict(x, max_views=4), one, atol=1e-6)


def test_one_interpreter_thread_gives_the_same_probabilities(tmp_path):
    served = _served_copy(tmp_path / "served", {"flip_tta": True, "zoom_tta": 0.95})
    one, two = Classifier.from_run(served, num_threads=1), Classifier.from_run(served)
    assert (one.num_threads, two.num_threads) == (1, 2)
    x = np.random.default_rng(4).random((3, one.input_size, one.input_size, 1)).astype(np.float32) * 255
    assert np.allclose(one.predict(x), two.predict(x), atol=1e-5)


def _tiny_model(shape: tuple[int, int, int], classes: int):
    import keras  # here, not at the top: a mutation run forks per mutant, and TensorFlow does not survive a fork

    inputs = keras.Input(shape)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


@pytest.mark.parametrize("shape, classes, fragment", [
    ((48, 48, 3), 7, "square gray face"),
    ((48, 48, 1), 5, "5 outputs for 7 labels"),
    ((48, 48, 1), 10, "10 outputs for 7 labels"),
    ((48, 32, 1), 7, "square gray face"),
    ((64, 64, 1), 7, "image_size 48"),
])
@pytest.mark.parametrize("fmt", ["tflite", "keras"])
def test_models_that_do_not_fit_the_labels_are_refused_on_load(tmp_path, shape, classes, fragment, fmt):
    import json

    from emotion_core.labels import EMOTIONS
    from emotion_core.serving.export import export_tflite
    from emotion_core.serving.model_files import ModelLoadError

    model = _tiny_model(shape, classes)
    if fmt == "tflite":
        export_tflite(model, tmp_path / "model.tflite")
    else:
        model.save(tmp_path / "model.keras")
    (tmp_path / "config.json").write_text(json.dumps({"labels": list(EMOTIONS), "image_size": 48}))
    with pytest.raises(ModelLoadError, match=fragment):
        Classifier.from_run(tmp_path, prefer=fmt)


def test_a_fitting_model_loads(tmp_path):
    import json

    from emotion_core.labels import EMOTIONS
    from emotion_core.serving.export import export_tflite

    export_tflite(_tiny_model((48, 48, 1), 7), tmp_path / "model.tflite")
    (tmp_path / "config.json").write_text(json.dumps({"labels": list(EMOTIONS), "image_size": 48}))
    classifier = Classifier.from_run(tmp_path)
    assert classifier.predict(np.zeros((2, 48, 48, 1), np.float32)).shape == (2, 7)


def test_keras_files_are_the_fallback_in_order(tmp_path):
    """model.tflite broken -> model.keras; no model.keras -> best.keras; every failure named in the error."""
    from emotion_core.serving.model_files import ModelLoadError

    model = _tiny_model((48, 48, 1), 7)
    (tmp_path / "model.tflite").write_bytes(b"\0\0\0\0TFL3 broken")
    model.save(tmp_path / "best.keras")
    classifier = Classifier.from_run(tmp_path)
    assert (classifier.backend, classifier.source, classifier.input_size) == ("tf.function", tmp_path / "best.keras", 48)
    assert classifier.input_shape == (None, 48, 48, 1) and classifier.num_outputs == 7
    x = np.random.default_rng(6).random((2, 48, 48, 1)).astype(np.float32) * 255
    assert np.allclose(classifier.predict(x), model(x).numpy(), atol=1e-5)
    model.save(tmp_path / "model.keras")
    assert Classifier.from_run(tmp_path).source == tmp_path / "model.keras"
    assert Classifier.from_run(tmp_path, prefer="keras").source == tmp_path / "model.keras"
    (tmp_path / "model.keras").write_bytes(b"not a zip")
    (tmp_path / "best.keras").write_bytes(b"")
    with pytest.raises(ModelLoadError) as error:
        Classifier.from_run(tmp_path)
    message = str(error.value)
    assert message.startswith(f"No usable model in {tmp_path}: Cannot load TFLite model {tmp_path / 'model.tflite'}")
    assert message.endswith(f"; {tmp_path / 'model.keras'} is not a Keras model file (a .keras file is a zip "
                            f"archive); Model file {tmp_path / 'best.keras'} is empty (0 bytes).")
