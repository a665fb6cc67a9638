"""Distillation: teachers' probabilities as soft training targets (`train --teacher`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.run_copies import copy_run

from emotion_core.cli import main
from emotion_core.labels import NUM_CLASSES
from emotion_core.training.distill import soft_targets, teacher_probabilities


def test_soft_targets_mix_the_label_and_the_teacher():
    labels = np.array([0, 3])
    teacher = np.full((2, NUM_CLASSES), 1 / NUM_CLASSES, np.float32)
    mixed = soft_targets(labels, teacher, 0.25)
    assert np.allclose(mixed.sum(1), 1)
    assert np.isclose(mixed[0, 0], 0.75 + 0.25 / NUM_CLASSES) and np.isclose(mixed[1, 0], 0.25 / NUM_CLASSES)
    assert np.array_equal(soft_targets(labels, teacher, 0.0), np.eye(NUM_CLASSES, dtype=np.float32)[labels])
    assert np.allclose(soft_targets(labels, teacher, 1.0), teacher)


def _train_images(data, cache_dir, size):
    from emotion_core.data.dataset import load_split

    split = load_split(data, "train", size, cache_dir)
    return split.images, split.labels


def test_a_teacher_answers_as_it_is_served_and_two_are_averaged(trained_run, tiny_data, cache_dir, tmp_path):
    """A run directory answers with its served model and TTA; a bare .keras file with one view; the
    student's 64 px images are resized to the teachers' 48 px."""
    from emotion_core.serving.inference import Classifier

    images48, labels = _train_images(tiny_data, cache_dir, 48)
    images64, _ = _train_images(tiny_data, cache_dir, 64)
    served = tmp_path / "served"
    copy_run(trained_run, served)
    config = json.loads((served / "config.json").read_text())
    config["serving"] = {"flip_tta": True}
    (served / "config.json").write_text(json.dumps(config))
    logs: list[str] = []
    run_answer = teacher_probabilities(str(served), images64, labels, logs.append)
    expected = Classifier.from_run(served).predict(images48.astype(np.float32)[..., None])
    assert run_answer.shape == (len(labels), NUM_CLASSES)
    np.testing.assert_allclose(run_answer, expected, atol=0.02)  # 64 -> 48 px resizing differs slightly
    assert "2 view(s) per image at 48x48" in logs[0] and "of the training images right" in logs[0]

    keras_file = trained_run / "model.keras"
    both = teacher_probabilities(f"{served}, {keras_file}", images48, labels, logs.append)
    one_view = Classifier.from_run(trained_run).predict(images48.astype(np.float32)[..., None])
    np.testing.assert_allclose(both, (expected + one_view) / 2, atol=1e-4)
    assert "1 view(s) per image" in logs[-1]


def test_training_with_a_teacher_learns_from_its_soft_targets(trained_run, tiny_data, cache_dir, tmp_path,
                                                             keras_only_exports):
    from emotion_core.training.train import TrainConfig, prepare_data

    config = TrainConfig(data_root=str(tiny_data), cache_dir=str(cache_dir), batch_size=8, teacher=str(trained_run),
                         distill_weight=0.4, augment={"horizontal_flip": False, "rotation": 0.0, "zoom": 0.0,
                                                      "translation": 0.0})
    data = prepare_data(config, log=lambda message: None)
    images, labels = data.train.images, data.train.labels
    teacher = teacher_probabilities(str(trained_run), images, labels, log=lambda message: None)
    np.testing.assert_allclose(data.train.targets, soft_targets(labels, teacher, 0.4), atol=1e-6)
    x, y = data.train[0]
    rows = data.train._order[:8]
    np.testing.assert_allclose(y, data.train.targets[rows], atol=1e-6)
    assert np.all(y.max(1) < 1.0)  # soft: no one-hot row left
    _, y_val = data.validation[0]
    assert set(np.unique(y_val)) <= {0.0, 1.0}  # validation is judged on the true labels

    runs_dir = tmp_path / "runs"
    code = main(["train", "--data", str(tiny_data), "--variant", "xxs", "--epochs", "1", "--batch-size", "16",
                 "--teacher", str(trained_run), "--distill-weight", "0.5", "--no-test", "--runs-dir", str(runs_dir),
                 "--run-id", "student", "--cache-dir", str(cache_dir)])
    assert code == 0
    saved = json.loads((runs_dir / "student" / "config.json").read_text())
    assert (saved["teacher"], saved["distill_weight"]) == (str(trained_run), 0.5)
    assert (runs_dir / "student" / "model.keras").is_file()


def test_a_missing_teacher_stops_before_any_file_is_written(tiny_data, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    code = main(["train", "--data", str(tiny_data), "--teacher", str(tmp_path / "no-such-run"),
                 "--runs-dir", str(runs_dir), "--run-id", "student"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"Teacher {tmp_path / 'no-such-run'} does not exist" in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("weight", ["-0.1", "1.5"])
def test_the_distillation_weight_is_a_share(tiny_data, weight, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    assert main(["train", "--data", str(tiny_data), "--teacher", str(tmp_path), "--distill-weight", weight,
                 "--runs-dir", str(runs_dir)]) == 2
    assert f"distill_weight must be between 0 and 1, got {weight}" in capsys.readouterr().err
    assert not runs_dir.exists()
