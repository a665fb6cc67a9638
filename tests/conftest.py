"""Shared fixtures: a tiny synthetic data set and one trained run reused by many tests."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pylibsrtp  # noqa: F401  - must load before TensorFlow (see dashboard/__init__.py)
import pytest

ROOT = Path(__file__).resolve().parents[1]
FER_ROOT = ROOT.parent / "shared" / "datasets" / "fer2013"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """7 classes x 8 train / 3 test synthetic 48x48 faces in the FER-2013 layout."""
    from emotion_core.data.synthetic import make_dataset

    return make_dataset(tmp_path_factory.mktemp("data"), per_class_train=8, per_class_test=3, seed=1)


@pytest.fixture
def keras_only_exports(monkeypatch):
    """For training tests about something else: a finished run exports model.keras only, as on a backend
    without TensorFlow (the SavedModel and TFLite conversions, tested in test_train.py, take ~15 s a run)."""
    from emotion_core.runs import RunDir
    from emotion_core.serving import export

    def keras_only(model, directory, int8_weights=False):
        return {"keras": export.save_keras(export.float32_copy(model), RunDir(directory).keras_model)}

    monkeypatch.setattr(export, "export_all", keras_only)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def trained_run(tiny_data, cache_dir, tmp_path_factory) -> Path:
    """One complete run directory, produced through the CLI: train 2 epochs on tiny data."""
    from emotion_core.cli import main

    runs_dir = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as env:  # the training lock too lives in the cache dir, not the user's
        env.setenv("EMOTION_CACHE_DIR", str(cache_dir))
        code = main(["train", "--data", str(tiny_data), "--variant", "xxs", "--epochs", "2", "--batch-size", "16",
                     "--runs-dir", str(runs_dir), "--run-id", "tiny", "--cache-dir", str(cache_dir)])
    assert code == 0
    return runs_dir / "tiny"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Keep caches and runs of code under test out of the home folder and the project."""
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EMOTION_RUNS_DIR", str(tmp_path / "runs"))
