"""The Classifier without TensorFlow: batch shapes, test-time augmentation views, loading and checking models.

A fake model (scores by brightness) shows which views are classified; the shipped
`models/default/model.tflite` runs through LiteRT for the loading paths.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.serving.model_files import ModelLoadError
from emotion_core.serving.inference import (
    Classifier,
    center_zoom,
    check_model_fits,
    read_model_config,
    serving_options,
)
from emotion_core.labels import EMOTIONS
from emotion_core.paths import default_model_dir

DEFAULT = default_model_dir()
needs_default = pytest.mark.skipif(not (DEFAULT / "model.tflite").is_file(), reason="no models/default/model.tflite")


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
    assert np.array_equal(seen[0][2:4], x[:, :, ::-1])  # views: plain, plain mirrored, zoom, zoom mirrored


def test_serving_options_from_config():
    assert serving_options({}) == (False, 0.0)
    assert serving_options({"serving": {"flip_tta": True}}) == (True, 0.0)
    assert serving_options({"serving": {"flip_tta": True, "zoom_tta": 0.9}}) == (True, 0.9)
    for bad in (1.5, -0.2, 1.0):
        with pytest.raises(ModelLoadError, match="zoom_tta"):
            serving_options({"serving": {"zoom_tta": bad}})


def test_center_zoom_is_the_resized_middle_slice():
    x = np.random.default_rng(3).random((2, 10, 10, 1)).astype(np.float32) * 255
    zoomed = center_zoom(x, 0.65)  # round(6.5) = 6 pixels kept, starting at (10 - 6) // 2 = 2
    for image, got in zip(x, zoomed):
        expected = cv2.resize(image[2:8, 2:8, 0], (10, 10), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(got[..., 0], expected)
    assert center_zoom(x, 0.01).shape == x.shape  # never less than one pixel


def test_predict_adds_the_channel_and_checks_the_shape():
    classifier, seen = recording_classifier(size=8)
    probs = classifier.predict(np.full((2, 8, 8), 255, np.uint8))
    assert seen[0].shape == (2, 8, 8, 1) and seen[0].dtype == np.float32
    assert probs.dtype == np.float32 and np.allclose(probs[:, 0], 1.0)
    empty = classifier.predict(np.zeros((0, 8, 8, 1)))
    assert empty.shape == (0, 7) and empty.dtype == np.float32 and len(seen) == 1  # the model is not called
    with pytest.raises(ValueError, match=r"Expected batches of shape \(B, 8, 8, 1\), got \(1, 8, 9, 1\)"):
        classifier.predict(np.zeros((1, 8, 9, 1)))


def test_probabilities_are_float32_whatever_the_model_returns():
    double = Classifier(lambda b: np.full((len(b), 7), 1 / 7, np.float64), 8, "fake")
    assert double.predict(np.zeros((2, 8, 8, 1))).dtype == np.float32
    double.flip_tta = True
    assert double.predict(np.zeros((2, 8, 8, 1))).dtype == np.float32


def test_serving_options_refuse_malformed_values():
    assert serving_options({"serving": None}) == (False, 0.0)
    assert serving_options({"serving": {"zoom_tta": None, "flip_tta": False}}) == (False, 0.0)
    assert serving_options({"serving": {"zoom_tta": 0}}) == (False, 0.0)
    assert serving_options({"serving": {"zoom_tta": 0.5}})[1] == 0.5 and isinstance(
        serving_options({"serving": {"zoom_tta": 1 / 2}})[1], float)
    with pytest.raises(ModelLoadError, match='config.json "serving" must be a table'):
        serving_options({"serving": [True]})
    with pytest.raises(ModelLoadError, match="serving.flip_tta must be true or false, got 'yes'"):
        serving_options({"serving": {"flip_tta": "yes"}})
    with pytest.raises(ModelLoadError, match="serving.flip_tta must be true or false, got 1"):
        serving_options({"serving": {"flip_tta": 1}})
    for bad in (True, "0.9", [0.9]):
        with pytest.raises(ModelLoadError, match=r"serving.zoom_tta must lie between 0 and 1 \(the part"):
            serving_options({"serving": {"zoom_tta": bad}})


class _Shaped:
    """Just what check_model_fits looks at."""

    def __init__(self, input_shape: tuple, num_outputs: int | None = 7):
        self.input_shape, self.num_outputs = input_shape, num_outputs


@pytest.mark.parametrize("shape, outputs, config, fragment", [
    ((None, 48, 48, 3), 7, {}, r"takes inputs of shape \(None, 48, 48, 3\); a square gray face"),
    ((None, 48, 32, 1), 7, {}, "a square gray face"),
    ((None, 48, 48), 7, {}, "a square gray face"),
    ((None, 0, 0, 1), 7, {}, "a square gray face"),
    ((None, 48, 48, 1), 7, {"image_size": 64}, "takes 48x48 faces but its config.json says image_size 64"),
    ((None, 48, 48, 1), 6, {}, "gives 6 outputs for 7 labels; this dashboard serves the 7 classes angry, disgust"),
    ((None, 48, 48, 1), 7, {"labels": list(reversed(EMOTIONS))}, "gives 7 outputs for 7 labels"),
    ((None, 48, 48, 1), 3, {"labels": ["a", "b", "c"]}, "gives 3 outputs for 3 labels"),
])
def test_models_that_do_not_fit_are_refused(shape, outputs, config, fragment, tmp_path):
    with pytest.raises(ModelLoadError, match=fragment):
        check_model_fits(_Shaped(shape, outputs), config, tmp_path)


def test_fitting_models_pass():
    for config in ({}, {"image_size": None}, {"image_size": 48, "labels": list(EMOTIONS)}):
        check_model_fits(_Shaped((None, 48, 48, 1)), config, Path("."))


def test_model_config_is_read_strictly(tmp_path):
    assert read_model_config(tmp_path) == {}
    (tmp_path / "config.json").write_text("{torn")
    with pytest.raises(ModelLoadError, match="config.json is unreadable"):
        read_model_config(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match=r"config.json is not a JSON table \(found list\)"):
        read_model_config(tmp_path)
    (tmp_path / "config.json").write_text('{"image_size": 64}')
    assert read_model_config(tmp_path) == {"image_size": 64}


@needs_default
def test_the_tflite_interpreter_follows_the_batch_size():
    classifier = Classifier.from_tflite(DEFAULT / "model.tflite")
    assert (classifier.backend, classifier.source, classifier.input_size) == ("tflite", DEFAULT / "model.tflite", 64)
    assert classifier.input_shape == (1, 64, 64, 1) and classifier.num_outputs == 7
    faces = np.random.default_rng(4).random((3, 64, 64, 1)).astype(np.float32) * 255
    together = classifier.predict(faces)
    one_by_one = np.concatenate([classifier.predict(faces[i:i + 1]) for i in range(3)])
    assert together.shape == (3, 7) and np.allclose(together, one_by_one, atol=1e-5)
    assert np.allclose(classifier.predict(faces), together, atol=1e-6)  # back to batch 3 after batch 1


@needs_default
def test_a_model_directory_brings_its_serving_options():
    classifier = Classifier.from_run(DEFAULT)
    config = json.loads((DEFAULT / "config.json").read_text())
    assert (classifier.flip_tta, classifier.zoom_tta) == serving_options(config)
    assert classifier.backend == "tflite"


def test_missing_model_directories_and_files_are_named(tmp_path):
    with pytest.raises(ModelLoadError, match=f"Model directory {tmp_path / 'nope'} does not exist"):
        Classifier.from_run(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match=f"No usable model in {tmp_path}: no model.tflite, model.keras or best"):
        Classifier.from_run(tmp_path)


def test_a_broken_tflite_file_is_reported(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"\0\0\0\0TFL3 but nothing else")
    with pytest.raises(ModelLoadError, match=f"No usable model in {tmp_path}: Cannot load TFLite model"):
        Classifier.from_run(tmp_path)
    (tmp_path / "model.tflite").write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="is not a TFLite model file"):
        Classifier.from_run(tmp_path)
    with pytest.raises(ModelLoadError, match="no model.tflite, model.keras or best.keras"):
        Classifier.from_run(tmp_path, prefer="keras")  # the TFLite file is not even tried


@needs_default
def test_a_served_model_with_a_wrong_config_is_refused(tmp_path):
    shutil.copy(DEFAULT / "model.tflite", tmp_path / "model.tflite")
    (tmp_path / "config.json").write_text(json.dumps({"image_size": 48}))
    with pytest.raises(ModelLoadError, match="takes 64x64 faces but its config.json says image_size 48"):
        Classifier.from_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"serving": {"zoom_tta": 2}}))
    with pytest.raises(ModelLoadError, match="zoom_tta"):
        Classifier.from_run(tmp_path)


def test_model_loads_are_counted_for_the_server_stats():
    from emotion_core.serving.inference import Classifier as Loaded

    before = Loaded.loaded_from_runs
    Loaded.from_run()  # the served model
    Loaded.from_run()
    assert Loaded.loaded_from_runs == before + 2
