"""Training end to end through the CLI, run directory contents, export/reload, stop and resume."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.polling import wait_until

from emotion_core import runs
from emotion_core.cli import main
from emotion_core.data.splits import stratified_split
from emotion_core.labels import EMOTIONS
from emotion_core.training.train import TrainConfig, balanced_class_weights, resume, run_training, start_run

ROOT = Path(__file__).resolve().parents[1]


def test_run_directory_is_complete(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "status.json", "metrics.csv", "best.keras", "last.keras", "model.keras", "model.tflite",
            "saved_model", "test_metrics.json", "confusion_matrix.json", "state.json"} <= names
    assert runs.read_status(trained_run)["state"] == "completed"
    rows = runs.read_metrics(trained_run)
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in ("loss", "accuracy", "precision", "recall", "val_loss", "val_accuracy", "val_precision", "val_recall"):
        assert key in rows[0]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["labels"] == list(EMOTIONS) and config["strides"] == [2, 1, 2, 2, 1]
    cm = json.loads((trained_run / "confusion_matrix.json").read_text())
    assert np.array(cm["matrix"]).sum() == 21  # 7 classes x 3 test images
    metrics = json.loads((trained_run / "test_metrics.json").read_text())
    assert set(metrics["per_class"]) == set(EMOTIONS) and 0 <= metrics["accuracy"] <= 1


def test_exports_reload_with_same_predictions(trained_run, tiny_data, cache_dir):
    import tensorflow as tf

    from emotion_core.data.dataset import load_split
    from emotion_core.serving.inference import Classifier
    from emotion_core.serving.model_files import load_keras_model

    images = load_split(tiny_data, "test", 48, cache_dir).images.astype("float32")[..., None]
    keras_model = load_keras_model(trained_run / "model.keras")
    expected = np.asarray(keras_model(images, training=False))
    tflite = Classifier.from_tflite(trained_run / "model.tflite").predict(images)
    saved = tf.saved_model.load(str(trained_run / "saved_model"))
    served = saved.serve(tf.constant(images)).numpy()
    assert np.allclose(tflite, expected, atol=1e-4)
    assert np.allclose(served, expected, atol=1e-4)
    assert np.array_equal(tflite.argmax(1), expected.argmax(1))


def test_cli_evaluate_prints_per_class_table(trained_run, tiny_data, cache_dir, capsys):
    assert main(["evaluate", "--run", str(trained_run), "--data", str(tiny_data), "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro F1" in out
    for emotion in EMOTIONS:
        assert emotion in out
    assert main(["evaluate", "--run", str(trained_run), "--data", str(tiny_data), "--json",
                 "--cache-dir", str(cache_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert np.array(report["confusion_matrix"]).sum() == 21


def test_cli_export_to_other_folder(trained_run, tmp_path, capsys):
    assert main(["export", "--run", str(trained_run), "--out", str(tmp_path / "exp")]) == 0
    assert {p.name for p in (tmp_path / "exp").iterdir()} >= {"model.keras", "model.tflite", "saved_model"}


def test_cli_export_with_int8_weights_is_smaller_and_answers_alike(trained_run, tiny_data, cache_dir, tmp_path,
                                                                   capsys):
    from emotion_core.data.dataset import load_split
    from emotion_core.serving.export import tflite_weights
    from emotion_core.serving.inference import Classifier

    assert main(["export", "--run", str(trained_run), "--out", str(tmp_path / "int8"), "--int8-weights"]) == 0
    float_file, int8_file = trained_run / "model.tflite", tmp_path / "int8" / "model.tflite"
    assert (tflite_weights(float_file), tflite_weights(int8_file)) == ("float32", "int8")
    assert int8_file.stat().st_size < 0.4 * float_file.stat().st_size
    images = load_split(tiny_data, "test", 48, cache_dir).images.astype("float32")[..., None]
    exact = Classifier.from_tflite(float_file).predict(images)
    quantized = Classifier.from_tflite(int8_file).predict(images)
    assert np.abs(quantized - exact).max() < 0.05, np.abs(quantized - exact).max()


def test_cli_prepare_summary(tiny_data, capsys, tmp_path):
    assert main(["prepare", "--data", str(tiny_data), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "train: 56 images" in out and "test: 21 images" in out


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["prepare", "--data", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--image-size", "50"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])


def test_stratified_split_and_class_weights():
    labels = np.array([0] * 50 + [1] * 10 + [2] * 2)
    tr, va = stratified_split(labels, 0.1, seed=0)
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == 62
    assert np.bincount(labels[va]).tolist() == [5, 1, 1]
    w = balanced_class_weights(labels, 3)
    assert w[2] > w[1] > w[0]


def test_second_training_is_refused_while_one_holds_the_lock(tiny_data, tmp_path):
    """One lock per machine: a training writing to another runs directory is refused too."""
    run_dir = start_run(TrainConfig(data_root=str(tiny_data), epochs=1), tmp_path / "other_runs", "second")
    lock = runs.TrainingLock()
    assert lock.acquire("first")
    try:
        assert runs.TrainingLock().holder()["run_id"] == "first"
        with pytest.raises(runs.RunError, match="Another training is running"):
            run_training(run_dir)
    finally:
        lock.release()
    assert runs.TrainingLock().holder() is None


def test_unwritable_runs_dir_gives_clear_error(tiny_data, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(runs.RunError, match="Cannot write"):
        start_run(TrainConfig(data_root=str(tiny_data)), blocker / "runs")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(runs.RunError, match="Disk full"):
        start_run(TrainConfig(data_root=str(tiny_data)), tmp_path / "runs2")


def test_signals_mid_training_leave_consistent_runs(tiny_data, cache_dir, tmp_path, monkeypatch):
    """SIGTERM stops a run cleanly, SIGKILL leaves it interrupted; either way the files agree with each other.
    The two victims train at the same time (their first epoch is mostly single-threaded tracing)."""
    from emotion_core.serving.model_files import load_keras_model

    victims = {}
    for sig, expected in [(signal.SIGTERM, "stopped"), (signal.SIGKILL, "interrupted")]:
        machine = tmp_path / sig.name  # each its own training lock, as on two machines
        proc = subprocess.Popen(
            [sys.executable, "-m", "emotion_core", "train", "--data", str(tiny_data), "--epochs", "200",
             "--batch-size", "8", "--patience", "0", "--runs-dir", str(machine / "runs"), "--run-id", "victim",
             "--cache-dir", str(cache_dir)],
            cwd=ROOT, env={**os.environ, "EMOTION_CACHE_DIR": str(machine / "cache")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        victims[sig] = (proc, machine, expected)
    try:
        for sig, (proc, machine, _) in victims.items():
            run_dir = machine / "runs" / "victim"
            assert wait_until(lambda: len(runs.read_metrics(run_dir)) >= 1, 300, every=0.5), f"{sig.name}: no epoch finished"
        time.sleep(1.0)  # somewhere inside a later epoch
        for sig, (proc, _, _) in victims.items():
            proc.send_signal(sig)
        for proc, _, _ in victims.values():
            proc.wait(timeout=120)
    finally:
        for proc, _, _ in victims.values():
            if proc.poll() is None:
                proc.kill()
    for sig, (_, machine, expected) in victims.items():
        run_dir = machine / "runs" / "victim"
        assert runs.read_status(run_dir)["state"] == expected, sig.name
        rows = runs.read_metrics(run_dir)
        state = json.loads((run_dir / "state.json").read_text())
        assert len(rows) == state["epochs_done"] >= 1, sig.name
        assert load_keras_model(run_dir / "last.keras").count_params() > 0
        monkeypatch.setenv("EMOTION_CACHE_DIR", str(machine / "cache"))
        assert (machine / "cache" / "training.lock").is_file()  # the lock was taken...
        assert runs.TrainingLock().holder() is None, sig.name  # ...and died with the process


def test_flip_tta_averages_the_mirror_image(trained_run, tmp_path):
    from tests.run_copies import copy_run

    from emotion_core.serving.inference import Classifier

    plain = Classifier.from_run(trained_run)
    assert not plain.flip_tta
    x = np.random.default_rng(0).random((3, 48, 48, 1)).astype("float32") * 255
    expected = (plain.predict(x) + plain.predict(x[:, :, ::-1])) / 2
    served = tmp_path / "served"
    copy_run(trained_run, served)
    config = json.loads((served / "config.json").read_text())
    (served / "config.json").write_text(json.dumps({**config, "serving": {"flip_tta": True}}))
    tta = Classifier.from_run(served)
    assert tta.flip_tta and np.allclose(tta.predict(x), expected, atol=1e-5)
    assert np.allclose(tta.predict(x).sum(axis=1), 1, atol=1e-4)
