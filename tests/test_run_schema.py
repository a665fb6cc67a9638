"""Run-file checks and the run directory helpers, without training anything."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotion_core import runs
from emotion_core.run_schema import (check_config, check_confusion_matrix, check_predictions, check_progress,
                                     check_status, check_test_metrics)

GOOD_METRICS = {"accuracy": 0.64, "macro": {"precision": 0.6, "recall": 0.58, "f1": 0.59},
                "weighted": {"precision": 0.63, "recall": 0.64, "f1": 0.63},
                "per_class": {"happy": {"precision": 0.84, "recall": 0.85, "f1": 0.85, "support": 895}}}


def test_good_files_pass_unchanged():
    assert check_test_metrics(GOOD_METRICS) == (GOOD_METRICS, [])
    assert check_status({"state": "completed", "pid": None, "epoch": 3, "message": "done"}) == (
        {"state": "completed", "pid": None, "epoch": 3, "message": "done"}, [])
    assert check_config({"variant": "xs", "image_size": 64, "serving": {"flip_tta": True}}) == (
        {"variant": "xs", "image_size": 64, "serving": {"flip_tta": True}}, [])
    cm = {"labels": ["a", "b"], "matrix": [[3, 1], [0, 2]]}
    assert check_confusion_matrix(cm) == (cm, [])
    assert check_progress({"epoch": 1, "epochs": 3, "batch": 5, "batches": 10, "time": 1.0}) == {
        "epoch": 1, "epochs": 3, "batch": 5, "batches": 10}
    assert check_test_metrics(None) == (None, [])


@pytest.mark.parametrize("metrics, fragment", [
    ({"accuracy": "high"}, "accuracy is not a number"),
    ({"accuracy": 1.5}, "between 0 and 1"),
    ({"accuracy": -0.1}, "between 0 and 1"),
    ({"accuracy": True}, "accuracy is not a number"),
    ({"accuracy": float("nan")}, "accuracy is not a number"),
    ({**GOOD_METRICS, "macro": {"precision": 0.6, "recall": 0.5}}, "macro.f1"),
    ({**GOOD_METRICS, "weighted": 3}, "weighted should be a table"),
    ({**GOOD_METRICS, "per_class": {"happy": {"precision": "x", "recall": 1, "f1": 1}}}, "per_class.happy.precision"),
    ({**GOOD_METRICS, "per_class": [1]}, "per_class should be a table"),
    ([1, 2], "not a table"),
])
def test_bad_test_metrics_are_named(metrics, fragment):
    checked, problems = check_test_metrics(metrics)
    assert checked is None and any(fragment in p for p in problems), problems


@pytest.mark.parametrize("status, fragment, kept", [
    ({"state": "running", "pid": "abc"}, "pid should be an integer", {"state": "running"}),
    ({"state": "running", "pid": True}, "pid should be an integer", {"state": "running"}),
    ({"state": "done"}, "unknown state", {"state": "unknown"}),
    ({"state": "stopped", "epoch": 2.5}, "epoch should be an integer", {"state": "stopped"}),
    ({"state": "failed", "message": 7}, "message should be text", {"state": "failed", "message": "7"}),
])
def test_bad_status_fields_are_dropped_and_named(status, fragment, kept):
    checked, problems = check_status(status)
    assert checked == kept and any(fragment in p for p in problems)
    assert check_status("running") == (None, ["status.json is not a table (found str)"])


@pytest.mark.parametrize("config, fragment, missing", [
    ({"variant": 3}, "variant should be str", "variant"),
    ({"image_size": "big"}, "image_size should be int", "image_size"),
    ({"image_size": True}, "image_size should be int", "image_size"),
    ({"serving": 5}, "serving should be dict", "serving"),
    ({"labels": ["a", 2]}, "labels should be a list of class names", "labels"),
])
def test_bad_config_fields_are_dropped_and_named(config, fragment, missing):
    checked, problems = check_config({"epochs": 3, **config})
    assert missing not in checked and checked["epochs"] == 3 and any(fragment in p for p in problems)
    assert check_config([1, 2])[1] == ["config.json is not a table (found list)"]


@pytest.mark.parametrize("cm", [
    {"labels": ["a", "b"], "matrix": [[1, 2, 3]]},
    {"labels": ["a", "b"], "matrix": [[1, 2], [3]]},
    {"labels": ["a"], "matrix": [["x"]]},
    {"labels": ["a", "b"], "matrix": [[1, -1], [0, 1]]},
    {"labels": ["a", "b"], "matrix": [[1, 0.5], [0, 1]]},
    {"labels": [1, 2], "matrix": [[1, 0], [0, 1]]},
    {"labels": ["a"], "matrix": [[float("inf")]]},
    {"matrix_missing": True},
    None,
])
def test_bad_confusion_matrices_are_refused(cm):
    checked, problems = check_confusion_matrix(cm)
    assert checked is None and problems


@pytest.mark.parametrize("progress", [None, {"epoch": "1", "epochs": 2, "batch": 1, "batches": 4},
                                      {"epoch": 1, "epochs": 2, "batch": 1, "batches": 0},
                                      {"epoch": 1, "epochs": 2, "batch": 1}])
def test_bad_progress_is_ignored(progress):
    assert check_progress(progress) is None


def _predictions(n=3, k=7, **override):
    arrays = {"paths": np.array([f"test/happy/{i}.png" for i in range(n)]),
              "labels": np.arange(n) % k, "probs": np.full((n, k), 1 / k, np.float16)}
    return {**arrays, **override}


@pytest.mark.parametrize("override, fragment", [
    ({"labels": np.array([0, 1])}, "shapes"),
    ({"probs": np.zeros((3, 5))}, "shapes"),
    ({"labels": np.array([0, 1, 7])}, "class indices"),
    ({"labels": np.array([0, -1, 2])}, "class indices"),
    ({"labels": np.array([0.0, 1.0, 2.0])}, "class indices"),
    ({"probs": np.full((3, 7), np.nan)}, "finite"),
    ({"paths": np.array([1, 2, 3])}, "text"),
])
def test_bad_predictions_are_named(override, fragment):
    assert check_predictions(_predictions()) == []
    assert any(fragment in p for p in check_predictions(_predictions(**override)))


def test_load_run_lists_every_problem(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"variant": 3}))
    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "pid": "abc"}))
    (tmp_path / "test_metrics.json").write_text("{not json")
    info = runs.load_run(tmp_path)
    assert info.state == "interrupted" and info.test_metrics is None
    assert [p.split(":")[0] for p in info.problems] == ["config.json", "status.json", "test_metrics.json is not valid JSON"]


def test_read_predictions_and_confusion_matrix_from_a_run(tmp_path):
    assert runs.read_predictions(tmp_path) == (None, [])
    np.savez(tmp_path / "test_predictions.npz", **_predictions())
    arrays, problems = runs.read_predictions(tmp_path)
    assert problems == [] and arrays["probs"].shape == (3, 7)
    (tmp_path / "test_predictions.npz").write_bytes(b"PK\x03\x04 broken")
    assert runs.read_predictions(tmp_path)[0] is None and "unreadable" in runs.read_predictions(tmp_path)[1][0]
    (tmp_path / "confusion_matrix.json").write_text(json.dumps({"labels": ["a"], "matrix": [[2]]}))
    assert runs.read_confusion_matrix(tmp_path) == ({"labels": ["a"], "matrix": [[2]]}, [])


def test_pid_alive_only_for_live_integer_pids():
    import os

    assert runs.pid_alive(os.getpid())
    for not_a_pid in (None, 0, -1, "123", True, 2 ** 22 + 12345, 1.5):
        assert not runs.pid_alive(not_a_pid)


def test_metrics_rows_append_and_grow_columns(tmp_path):
    runs.append_metrics_row(tmp_path, {"epoch": 1, "loss": 2.0})
    runs.append_metrics_row(tmp_path, {"epoch": 2, "loss": 1.5, "val_loss": 1.7})  # a new column
    assert runs.read_metrics(tmp_path) == [{"epoch": 1.0, "loss": 2.0}, {"epoch": 2.0, "loss": 1.5, "val_loss": 1.7}]
    runs.truncate_metrics(tmp_path, 1)
    assert [r["epoch"] for r in runs.read_metrics(tmp_path)] == [1.0]
    text = (tmp_path / "metrics.csv").read_text()
    assert text.startswith("epoch,loss") and text.endswith("\n")


def test_stop_requests_and_model_files(tmp_path):
    assert not runs.stop_requested(tmp_path)
    runs.request_stop(tmp_path)
    assert runs.stop_requested(tmp_path)
    assert runs.find_model_file(tmp_path) is None
    (tmp_path / "best.keras").write_bytes(b"x")
    assert runs.find_model_file(tmp_path) == tmp_path / "best.keras"
    (tmp_path / "model.tflite").write_bytes(b"x")
    assert runs.find_model_file(tmp_path) == tmp_path / "model.tflite"  # TFLite is served first


def test_new_run_ids_are_unique_and_valid(tmp_path):
    first = runs.new_run_id("XS", tmp_path)
    assert runs.check_run_id(first) == first and first.endswith("-xs")
    runs.create_run_dir(tmp_path, first)
    second = runs.new_run_id("XS", tmp_path)
    assert second != first and second.startswith(first)
    with pytest.raises(runs.RunError, match="already exists"):
        runs.create_run_dir(tmp_path, first)


def test_list_runs_newest_first_and_only_run_folders(tmp_path):
    for name in ("20260101-000000-xs", "20260102-000000-xs"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "not-a-run").mkdir()
    assert [r.run_id for r in runs.list_runs(tmp_path)] == ["20260102-000000-xs", "20260101-000000-xs"]
    assert runs.list_runs(tmp_path / "missing") == []
