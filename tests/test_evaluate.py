"""Confusion matrix and per-class metrics against hand-computed values."""

import numpy as np
import pytest

from emotion_core.evaluation.metrics import (
    classification_report,
    confusion_matrix,
    evaluate_predictions,
    row_normalize,
)


def test_confusion_matrix_counts():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_report_matches_hand_computation():
    cm = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    r = classification_report(cm, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["a"]["precision"] == pytest.approx(0.5)
    assert r["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert r["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert r["per_class"]["b"]["recall"] == pytest.approx(1.0)
    assert r["per_class"]["b"]["f1"] == pytest.approx(2 / 3)
    assert r["per_class"]["c"]["f1"] == pytest.approx(0.8)
    assert r["macro"]["f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert r["weighted"]["recall"] == pytest.approx(r["accuracy"])
    assert r["per_class"]["c"]["support"] == 3


def test_absent_class_has_zero_metrics_and_is_left_out_of_macro():
    cm = np.array([[2, 0, 0], [0, 0, 0], [0, 0, 1]])
    r = classification_report(cm, ["a", "b", "c"])
    assert r["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro"]["f1"] == pytest.approx(1.0)


def test_row_normalize_and_evaluate_predictions():
    cm = np.array([[1, 3], [0, 0]])
    assert row_normalize(cm).tolist() == [[0.25, 0.75], [0.0, 0.0]]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    r = evaluate_predictions(np.array([0, 1, 1]), probs, ["x", "y"])
    assert r["confusion_matrix"] == [[1, 0], [1, 1]]


def test_the_validation_split_is_the_training_hold_out_whatever_the_seed(tiny_data, tmp_path, capsys):
    """`evaluate --split validation` scores exactly the images training held out (the same for every seed),
    so candidates are compared without touching the test split."""
    from emotion_core.data.dataset import load_split
    from emotion_core.data.splits import hold_out, stratified_split
    from emotion_core.evaluation.evaluate import load_evaluation_split

    train = load_split(tiny_data, "train", 48, tmp_path)
    _, rows = hold_out(train.labels, 0.25)
    validation = load_evaluation_split(tiny_data, "validation", 48, tmp_path, val_fraction=0.25)
    assert validation.split == "validation" and validation.paths == [train.paths[i] for i in rows]
    np.testing.assert_array_equal(validation.images, train.images[rows])
    assert set(validation.labels) == set(range(7))  # stratified: every class held out
    _, other_seed = stratified_split(train.labels, 0.25, seed=7)
    assert not np.array_equal(other_seed, rows)  # a seed would change it; the hold-out ignores --seed


def test_cli_evaluates_a_run_on_its_validation_hold_out(trained_run, tiny_data, tmp_path, capsys):
    import json

    from emotion_core.cli import main
    from emotion_core.data.dataset import load_split
    from emotion_core.data.splits import hold_out

    fraction = json.loads((trained_run / "config.json").read_text())["val_fraction"]
    expected = len(hold_out(load_split(tiny_data, "train", 48, tmp_path).labels, fraction)[1])
    assert main(["evaluate", "--run", str(trained_run), "--data", str(tiny_data), "--split", "validation",
                 "--cache-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["support"] == expected
