"""The shipped default model: serves on a fresh clone; scores at least 60% on FER-2013 test when present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "models" / "default"
FER = ROOT.parent / "shared" / "datasets" / "fer2013"

pytestmark = pytest.mark.skipif(not (DEFAULT / "model.tflite").is_file(), reason="models/default not present")


def test_default_model_files_and_card():
    for name in ("model.tflite", "model.keras", "config.json", "test_metrics.json", "confusion_matrix.json",
                 "confusion_matrix.png", "MODEL_CARD.md"):
        assert (DEFAULT / name).is_file(), name
    metrics = json.loads((DEFAULT / "test_metrics.json").read_text())
    card = (DEFAULT / "MODEL_CARD.md").read_text()
    assert f"{metrics['accuracy']:.4f}" in card and "python -m emotion_core train" in card


def test_default_model_serves_a_real_face(monkeypatch):
    import cv2
    from skimage import data

    from emotion_core.serving.pipeline import EmotionPipeline

    monkeypatch.delenv("EMOTION_MODEL_DIR", raising=False)
    pipeline = EmotionPipeline.from_run()  # no argument: models/default
    assert pipeline.classifier.backend == "tflite"
    serving = json.loads((DEFAULT / "config.json").read_text())["serving"]
    assert (pipeline.classifier.flip_tta, pipeline.classifier.zoom_tta) == (serving["flip_tta"],
                                                                            serving.get("zoom_tta", 0.0))
    results = pipeline.process(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert len(results) == 1 and abs(float(results[0].probabilities.sum()) - 1) < 1e-4


def test_tflite_and_keras_agree():
    from emotion_core.serving.export import tflite_weights
    from emotion_core.serving.inference import Classifier

    tflite = Classifier.from_run(DEFAULT)
    keras_model = Classifier.from_run(DEFAULT, prefer="keras")
    x = np.random.default_rng(0).random((8, tflite.input_size, tflite.input_size, 1)).astype("float32") * 255
    served, exact = tflite.predict(x), keras_model.predict(x)
    int8 = tflite_weights(DEFAULT / "model.tflite") == "int8"  # quantized weights move the probabilities a little
    assert np.abs(served - exact).max() < (0.05 if int8 else 1e-3), np.abs(served - exact).max()
    assert np.array_equal(served.argmax(1), exact.argmax(1))


needs_fer = pytest.mark.skipif(not (FER / "test").is_dir(), reason="../shared/datasets/fer2013 not present")


@pytest.fixture(scope="module")
def fer_report(tmp_path_factory):
    from emotion_core.evaluation.evaluate import evaluate_model_dir

    evaluation = evaluate_model_dir(DEFAULT, FER, "test", cache_dir=tmp_path_factory.mktemp("cache"))
    assert len(evaluation.data.labels) == 3589
    return evaluation.report


@needs_fer
def test_default_model_card_numbers_reproduce(fer_report):
    recorded = json.loads((DEFAULT / "test_metrics.json").read_text())
    assert fer_report["accuracy"] == pytest.approx(recorded["accuracy"], abs=0.002)
    assert fer_report["macro"]["f1"] == pytest.approx(recorded["macro"]["f1"], abs=0.005)


@needs_fer
def test_default_model_scores_at_least_60_percent_on_fer2013(fer_report):
    assert fer_report["accuracy"] >= 0.60
