"""Classifier test-time augmentation: which views are classified and how they are averaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emotion_core.export import ModelLoadError
from emotion_core.inference import Classifier, center_zoom, serving_options


def recording_classifier(size: int = 8, **tta) -> tuple[Classifier, list[np.ndarray]]:
    """A classifier whose 'model' scores each image by its mean brightness, recording every batch."""
    seen: list[np.ndarray] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        brightness = batch.reshape(len(batch), -1).mean(axis=1) / 255  # (B,)
        probs = np.zeros((len(batch), 7), np.float32)
        probs[:, 0], probs[:, 1] = brightness, 1 - brightness
        return probs

    return Classifier(predict, size, "fake", **tta), seen


def test_center_zoom_keeps_the_middle():
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[0, 2:6, 2:6, 0] = 255  # a bright 4x4 centre
    zoomed = center_zoom(image, 0.5)
    assert zoomed.shape == image.shape
    assert zoomed.min() == 255  # the central half is all bright, resized back to 8x8


def test_views_per_option():
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32) * 255
    for tta, views in [({}, 1), ({"flip_tta": True}, 2), ({"zoom_tta": 0.75}, 2),
                       ({"flip_tta": True, "zoom_tta": 0.75}, 4)]:
        classifier, seen = recording_classifier(**tta)
        probs = classifier.predict(x)
        assert len(seen) == 1 and len(seen[0]) == 3 * views  # all views in one batch
        assert probs.shape == (3, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-6)


def test_flip_and_zoom_average_the_four_views():
    x = np.random.default_rng(1).random((2, 8, 8, 1)).astype(np.float32) * 255
    plain, _ = recording_classifier()
    zoomed = center_zoom(x, 0.75)
    expected = np.mean([plain.predict(v) for v in (x, zoomed, x[:, :, ::-1], zoomed[:, :, ::-1])], axis=0)
    tta, seen = recording_classifier(flip_tta=True, zoom_tta=0.75)
    assert np.allclose(tta.predict(x), expected, atol=1e-6)
    assert np.array_equal(seen[0][4:6], x[:, :, ::-1])  # views: plain, zoom, plain mirrored, zoom mirrored


def test_serving_options_from_config():
    assert serving_options({}) == (False, 0.0)
    assert serving_options({"serving": {"flip_tta": True}}) == (True, 0.0)
    assert serving_options({"serving": {"flip_tta": True, "zoom_tta": 0.9}}) == (True, 0.9)
    for bad in (1.5, -0.2, 1.0):
        with pytest.raises(ModelLoadError, match="zoom_tta"):
            serving_options({"serving": {"zoom_tta": bad}})


def test_run_directory_turns_zoom_tta_on(trained_run, tmp_path):
    served = tmp_path / "served"
    shutil.copytree(trained_run, served)
    config = json.loads((served / "config.json").read_text())
    (served / "config.json").write_text(json.dumps({**config, "serving": {"flip_tta": True, "zoom_tta": 0.9}}))
    plain, tta = Classifier.from_run(trained_run), Classifier.from_run(served)
    assert (tta.flip_tta, tta.zoom_tta) == (True, 0.9)
    x = np.random.default_rng(2).random((3, 48, 48, 1)).astype(np.float32) * 255
    zoomed = center_zoom(x, 0.9)
    expected = np.mean([plain.predict(v) for v in (x, zoomed, x[:, :, ::-1], zoomed[:, :, ::-1])], axis=0)
    assert np.allclose(tta.predict(x), expected, atol=1e-5)


def _tiny_model(shape: tuple[int, int, int], classes: int):
    import keras

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

    from emotion_core.export import ModelLoadError, export_tflite
    from emotion_core.labels import EMOTIONS

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

    from emotion_core.export import export_tflite
    from emotion_core.labels import EMOTIONS

    export_tflite(_tiny_model((48, 48, 1), 7), tmp_path / "model.tflite")
    (tmp_path / "config.json").write_text(json.dumps({"labels": list(EMOTIONS), "image_size": 48}))
    classifier = Classifier.from_run(tmp_path)
    assert classifier.predict(np.zeros((2, 48, 48, 1), np.float32)).shape == (2, 7)
