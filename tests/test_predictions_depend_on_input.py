"""Prediction-level behaviour on the shipped model, whose output depends on its input.

Each test first shows that the input change matters (p(x) != p(x')), then checks
what the code does with it; a model that outputs the same for every face could
not tell a right implementation from a wrong one.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_core.serving.inference import Classifier, default_model_dir
from emotion_core.serving.pipeline import EmotionPipeline

MODEL = default_model_dir() / "model.tflite"
pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason="models/default/model.tflite is not present")


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Four different face crops (B, 64, 64, 1) float32 in [0, 255]: the astronaut's face and shifted views."""
    from skimage import data

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    crops = [gray[56 + dy:174 + dy, 164 + dx:282 + dx] for dx, dy in ((0, 0), (12, 0), (0, 12), (-10, 6))]
    return np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in crops]).astype(np.float32)[..., None]


@pytest.fixture(scope="module")
def plain() -> Classifier:
    return Classifier.from_tflite(MODEL)


def test_mirror_tta_averages_the_horizontal_mirror(plain, faces):
    mirrored = faces[:, :, ::-1]
    assert np.abs(plain.predict(faces) - plain.predict(mirrored)).max() > 0.01  # the mirror matters
    assert np.abs(plain.predict(faces) - plain.predict(faces[:, ::-1])).max() > 0.01  # so does upside down
    tta = Classifier.from_tflite(MODEL)
    tta.flip_tta = True
    expected = (plain.predict(faces) + plain.predict(mirrored)) / 2
    assert np.allclose(tta.predict(faces), expected, atol=1e-5)


def test_zoom_tta_averages_the_central_crop(plain, faces):
    from emotion_core.serving.inference import center_zoom

    zoomed = center_zoom(faces, 0.8)
    assert np.abs(plain.predict(faces) - plain.predict(zoomed)).max() > 0.01
    tta = Classifier.from_tflite(MODEL)
    tta.zoom_tta = 0.8
    assert np.allclose(tta.predict(faces), (plain.predict(faces) + plain.predict(zoomed)) / 2, atol=1e-5)


def test_each_face_of_a_batch_gets_its_own_probabilities(plain, faces):
    batch = np.concatenate([faces, faces[:1, ::-1]])  # the last one upside down: a very different input
    together = plain.predict(batch)
    alone = np.concatenate([plain.predict(batch[i:i + 1]) for i in range(len(batch))])
    assert np.abs(together[0] - together[-1]).max() > 0.01  # different faces, different outputs
    assert np.allclose(together, alone, atol=1e-5)  # batching does not mix faces


def test_smoothing_reduces_flicker_on_a_noisy_face():
    from skimage import data

    pipeline = EmotionPipeline.from_run(default_model_dir())
    frame = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(0)
    tracker = pipeline.new_tracker(alpha=0.3)
    raw, smooth = [], []
    for _ in range(10):
        noisy = np.clip(frame + rng.normal(0, 30, frame.shape), 0, 255).astype(np.uint8)
        raw.append(pipeline.process(noisy)[0].probabilities)
        smooth.append(pipeline.process(noisy, tracker=tracker)[0].probabilities)
    raw_jitter = np.abs(np.diff(raw, axis=0)).mean()
    assert raw_jitter > 0.002  # the noise moves the model's output
    assert np.abs(np.diff(smooth, axis=0)).mean() < 0.6 * raw_jitter


def test_the_colour_order_reaches_the_model():
    from skimage import data

    pipeline = EmotionPipeline.from_run(default_model_dir())
    rgb = data.astronaut()
    as_rgb = pipeline.process(rgb, "rgb")[0]
    as_bgr_frame = pipeline.process(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "bgr")[0]
    swapped = pipeline.process(rgb, "bgr")[0]  # the wrong order: other gray levels
    assert as_rgb.box == as_bgr_frame.box and np.allclose(as_rgb.probabilities, as_bgr_frame.probabilities, atol=1e-5)
    assert np.abs(swapped.probabilities - as_rgb.probabilities).max() > 1e-3
