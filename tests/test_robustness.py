"""Bad input everywhere: random frames and bytes (hypothesis), bad model files, paths outside roots."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from emotion_core.data.dataset import decode_gray, load_split
from emotion_core.serving.inference import Classifier
from emotion_core.serving.model_files import ModelLoadError, load_keras_model
from emotion_core.serving.pipeline import decode_image_bytes

FRAME_SHAPES = st.one_of(
    st.tuples(st.integers(1, 300), st.integers(1, 300)),
    st.tuples(st.integers(1, 300), st.integers(1, 300), st.sampled_from([1, 3, 4])),
)


@st.composite
def frames(draw) -> np.ndarray:
    """Random frames of any size, 1-4 channels, as uint8, uint16 or float in [0, 1] or [0, 255]."""
    base = draw(arrays(np.uint8, FRAME_SHAPES))
    kind = draw(st.sampled_from(["uint8", "uint16", "float01", "float255"]))
    if kind == "uint16":
        return base.astype(np.uint16) * 257
    if kind == "float01":
        return base.astype(np.float32) / 255.0
    if kind == "float255":
        return base.astype(np.float64)
    return base


@pytest.fixture(scope="module")
def pipeline(trained_run):
    from emotion_core.serving.pipeline import EmotionPipeline

    return EmotionPipeline.from_run(trained_run)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(frame=frames(), order=st.sampled_from(["bgr", "rgb"]))
def test_pipeline_never_crashes_on_random_frames(pipeline, frame, order):
    results = pipeline.process(frame, order)
    for r in results:
        assert r.probabilities.shape == (7,) and abs(float(r.probabilities.sum()) - 1) < 1e-3
        x, y, w, h = r.box
        assert 0 <= x and 0 <= y and w > 0 and h > 0
    out = pipeline.annotate(frame, results, order)
    assert out.shape[:2] == frame.shape[:2] and out.dtype == np.uint8


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_crash_the_loaders(data):
    image = decode_gray(data, 48)
    assert image is None or (image.shape == (48, 48) and image.dtype == np.uint8)
    try:
        frame = decode_image_bytes(data, "upload.bin")
    except ValueError as exc:
        assert "upload.bin" in str(exc)
    else:
        assert frame.ndim == 3 and frame.dtype == np.uint8


@settings(max_examples=40, deadline=None)
@given(image=arrays(np.uint8, st.tuples(st.integers(1, 200), st.integers(1, 200), st.sampled_from([1, 3, 4]))),
       ext=st.sampled_from([".png", ".bmp", ".jpg"]), cut=st.floats(0.05, 1.0))
def test_real_images_whole_or_truncated_decode_or_are_rejected(image, ext, cut):
    data = cv2.imencode(ext, image)[1].tobytes()
    whole = decode_gray(data, 48)
    assert whole is not None and whole.shape == (48, 48)
    partial = decode_gray(data[: max(1, int(len(data) * cut))], 48)
    assert partial is None or partial.shape == (48, 48)


def test_huge_image_in_dataset_is_resized(tmp_path):
    from emotion_core.data.synthetic import make_dataset

    root = make_dataset(tmp_path / "d", per_class_train=1, per_class_test=1)
    cv2.imwrite(str(root / "train" / "happy" / "huge.png"), np.full((4000, 3000), 128, np.uint8))
    split = load_split(root, "train", 48, cache_dir=tmp_path / "c")
    assert split.counts()["happy"] == 2 and split.images.shape[1:] == (48, 48)


def test_keras_file_that_is_not_a_model(tmp_path):
    not_zip = tmp_path / "a.keras"
    not_zip.write_bytes(b"hello")
    with pytest.raises(ModelLoadError, match="not a Keras model file"):
        load_keras_model(not_zip)
    empty = tmp_path / "b.keras"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load_keras_model(empty)
    junk_zip = tmp_path / "c.keras"
    with zipfile.ZipFile(junk_zip, "w") as z:
        z.writestr("config.json", "{not json")
    with pytest.raises(ModelLoadError, match="Cannot load model"):
        load_keras_model(junk_zip)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_keras_model(tmp_path / "missing.keras")


def test_keras_file_with_lambda_code_is_refused(tmp_path):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ModelLoadError, match="Cannot load model"):
        load_keras_model(path)  # safe_mode=True never deserialises Python code


def test_run_dir_with_missing_or_corrupt_models(tmp_path, trained_run):
    import shutil

    with pytest.raises(ModelLoadError, match="does not exist"):
        Classifier.from_run(tmp_path / "nope")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="No usable model"):
        Classifier.from_run(empty)
    # A corrupt TFLite file falls back to the Keras model of the same run.
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "model.tflite").write_bytes(b"garbage")
    shutil.copy(trained_run / "model.keras", partial / "model.keras")
    assert Classifier.from_run(partial).backend == "tf.function"
    (partial / "model.keras").write_bytes(b"also garbage")
    with pytest.raises(ModelLoadError, match="not a TFLite model file.*not a Keras model file"):
        Classifier.from_run(partial)


def test_classifier_rejects_wrong_batch_shapes(trained_run):
    c = Classifier.from_run(trained_run)
    assert c.predict(np.zeros((0, 48, 48, 1), np.float32)).shape == (0, 7)
    with pytest.raises(ValueError, match="Expected batches"):
        c.predict(np.zeros((1, 64, 64, 1), np.float32))


def test_paths_outside_data_roots_are_refused(tmp_path, monkeypatch):
    from dashboard.settings import resolve_data_root

    root = tmp_path / "roots"
    (root / "fer").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(root))
    assert resolve_data_root(str(root / "fer")) == (root / "fer").resolve()
    for bad in ("/etc", str(root / ".." / ".."), str(root / "escape"), "", "   "):
        with pytest.raises(ValueError):
            resolve_data_root(bad)
