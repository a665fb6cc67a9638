"""Training control seen through the weights and the files: resume, fine-tuning, early stopping, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from emotion_core import runs
from emotion_core.data.dataset import cache_key, scan_split
from emotion_core.training.train import TrainConfig, resume, run_training, start_run


class _AtFit(list):
    """Weights per `fit` call; `optimizer`: the optimizer's variables at the same moments."""

    optimizer: list


@pytest.fixture
def weights_at_fit(monkeypatch) -> list:
    """The model's weights (and optimizer variables) at the moment each `fit` starts."""
    import keras

    seen = _AtFit()
    seen.optimizer = []
    real_fit = keras.Model.fit

    def fit(self, *args, **kwargs):
        seen.append([w.copy() for w in self.get_weights()])
        seen.optimizer.append([np.array(v) for v in self.optimizer.variables])
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    return seen


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_resume_continues_from_last_keras_and_a_kill_before_the_metrics_row_loses_no_epoch(
        tiny_data, cache_dir, tmp_path, weights_at_fit, monkeypatch):
    """Three sittings of one run: stopped after epoch 1; resumed and killed (fault injection) while epoch 2's
    row is being appended; resumed again, repeating epoch 2, to completion."""
    from emotion_core.serving.model_files import load_keras_model

    config = TrainConfig(data_root=str(tiny_data), epochs=2, batch_size=28, cache_dir=str(cache_dir), patience=0)
    run_dir = start_run(config, tmp_path / "runs", "resumed")
    run_training(run_dir, log=lambda m: runs.request_stop(run_dir) if m.startswith("epoch 1/2") else None)
    assert runs.read_status(run_dir)["state"] == "stopped"
    assert [r["epoch"] for r in runs.read_metrics(run_dir)] == [1]
    assert not (run_dir / "model.tflite").exists()  # exports only when the run completes
    saved = load_keras_model(run_dir / "last.keras", compile=True)
    last, optimizer = saved.get_weights(), [np.array(v) for v in saved.optimizer.variables]
    assert not _same(weights_at_fit[0], last)  # epoch 1 changed the weights

    real_append = runs.append_metrics_row

    def dies_at_epoch_2(directory, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt("killed while writing metrics.csv")
        real_append(directory, row)

    monkeypatch.setattr(runs, "append_metrics_row", dies_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        resume(run_dir, log=lambda m: None)
    assert _same(weights_at_fit[1], last)  # the second sitting started where the first ended...
    assert _same(weights_at_fit.optimizer[1], optimizer) and int(optimizer[0]) > 0  # ...Adam's moments and step too
    assert json.loads((run_dir / "state.json").read_text())["epochs_done"] == 1  # the state did not move on
    assert [r["epoch"] for r in runs.read_metrics(run_dir)] == [1]

    monkeypatch.setattr(runs, "append_metrics_row", real_append)
    resume(run_dir, log=lambda m: None)
    assert _same(weights_at_fit[2], last)  # epoch 2 repeated from epoch 1's weights, not from a half-kept epoch 2
    assert _same(weights_at_fit.optimizer[2], optimizer)
    assert runs.read_status(run_dir)["state"] == "completed"
    assert [r["epoch"] for r in runs.read_metrics(run_dir)] == [1, 2]  # rows neither lost nor repeated
    assert (run_dir / "model.tflite").is_file()


def test_init_from_starts_from_the_source_model(trained_run, tiny_data, cache_dir, tmp_path, weights_at_fit,
                                                keras_only_exports):
    from emotion_core.serving.model_files import load_keras_model

    source = trained_run / "model.keras"
    config = TrainConfig(data_root=str(tiny_data), epochs=1, batch_size=28, cache_dir=str(cache_dir),
                         init_from=str(source))
    logs: list[str] = []
    run_dir = start_run(config, tmp_path / "runs", "tuned")
    run_training(run_dir, log=logs.append)
    assert _same(weights_at_fit[0], load_keras_model(source).get_weights())
    assert any(m.startswith("starting from") for m in logs)
    assert runs.read_status(run_dir)["state"] == "completed"
    wrong_size = TrainConfig(data_root=str(tiny_data), epochs=1, image_size=64, cache_dir=str(cache_dir),
                             init_from=str(source))
    with pytest.raises(ValueError, match="expects input"):
        run_training(start_run(wrong_size, tmp_path / "runs", "bad"), log=lambda m: None)


def test_early_stopping_fires_after_patience_epochs_without_improvement(tiny_data, cache_dir, tmp_path,
                                                                        keras_only_exports):
    """A vanishing learning rate: validation accuracy stops improving, so training must stop early."""
    config = TrainConfig(data_root=str(tiny_data), epochs=8, batch_size=28, cache_dir=str(cache_dir), patience=2,
                         learning_rate=1e-9, schedule="constant")
    run_dir = start_run(config, tmp_path / "runs", "patient")
    run_training(run_dir, log=lambda m: None)
    accuracies = [r["val_accuracy"] for r in runs.read_metrics(run_dir)]
    best, wait, expected_epochs = -1.0, 0, len(accuracies)
    for epoch, acc in enumerate(accuracies, 1):  # the rule, replayed on what was recorded
        best, wait = (acc, 0) if acc > best else (best, wait + 1)
        if wait >= 2:
            expected_epochs = epoch
            break
    assert len(accuracies) == expected_epochs < 8
    assert json.loads((run_dir / "state.json").read_text())["wait"] == 2
    assert runs.read_status(run_dir)["state"] == "completed"


def test_readers_never_see_half_a_file(tmp_path):
    target = tmp_path / "status.json"
    payloads = [{"state": "running", "epoch": i, "message": "x" * 200_000} for i in range(60)]
    runs.atomic_write_json(target, payloads[0])
    bad: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                json.loads(target.read_text())
            except ValueError as exc:
                bad.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for payload in payloads:
            runs.atomic_write_json(target, payload)
    finally:
        done.set()
        thread.join()
    assert bad == []
    assert json.loads(target.read_text())["epoch"] == 59


def test_cache_key_changes_when_a_file_changes_at_the_same_size(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    before = cache_key(scan_split(root, "train"), 48)
    image = next((root / "train" / "happy").iterdir())
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF  # same size, other bytes
    image.write_bytes(bytes(data))
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert cache_key(scan_split(root, "train"), 48) != before
    assert cache_key(scan_split(root, "train"), 64) != cache_key(scan_split(root, "train"), 48)
