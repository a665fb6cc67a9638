"""The Keras callbacks of a training run, one job each: progress, stop requests, the epoch record, early stopping.

Imported by `train._fit` only (it imports Keras). They share the run's resume state
(`state.json`: epochs_done, best_value, best_epoch, wait), updated in this order at the
end of every epoch: `EpochRecorder`, then `EarlyStopping`.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from emotion_core import atomic, runs
from emotion_core.run_schema import RunState
from emotion_core.serving.export import save_keras

LogFn = Callable[[str], None]


class StopFlag:
    """Set by SIGTERM/SIGINT (main thread only) or a STOP file in the run directory."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.event = threading.Event()
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, lambda *_: self.event.set())

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def is_set(self) -> bool:
        if not self.event.is_set() and runs.stop_requested(self.run_dir):
            self.event.set()
        return self.event.is_set()


class StopOnRequest(keras.callbacks.Callback):
    """Ends training within 10 batches of a stop request; a partial epoch is marked so it is not recorded."""

    def __init__(self, stop: StopFlag):
        super().__init__()
        self.stop = stop
        self.stopped_mid_epoch = False

    def on_train_batch_end(self, batch, logs=None):
        if batch % 10 == 0 and self.stop.is_set():
            self.stopped_mid_epoch = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stop.is_set():
            self.model.stop_training = True


class ProgressWriter(keras.callbacks.Callback):
    """progress.json (position inside the epoch, for the live charts) at each epoch start and every 2 s."""

    def __init__(self, run_dir: Path, epochs: int, steps_per_epoch: int, state: dict):
        super().__init__()
        self.run_dir, self.epochs, self.steps_per_epoch, self.state = run_dir, epochs, steps_per_epoch, state
        self._last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._write(epoch, 0)

    def on_train_batch_end(self, batch, logs=None):
        now = time.time()
        if now - self._last > 2.0:
            self._write(self.state["epochs_done"], batch + 1, logs)
            self._last = now

    def _write(self, epoch: int, batch: int, logs=None) -> None:
        runs.atomic_write_json(runs.RunDir(self.run_dir).progress, {
            "epoch": epoch + 1, "epochs": self.epochs, "batch": batch, "batches": self.steps_per_epoch,
            "time": time.time(), "logs": {k: float(v) for k, v in (logs or {}).items()},
        })


class EpochRecorder(keras.callbacks.Callback):
    """After each whole epoch: checkpoints, the metrics row, the resume state, status and a log line."""

    def __init__(self, run_dir: Path, epochs: int, state: dict, stop: StopOnRequest, log: LogFn):
        super().__init__()
        self.run_dir, self.epochs, self.state, self.stop, self.log = run_dir, epochs, state, stop, log
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self.stop.stopped_mid_epoch:
            return  # a partial epoch is not recorded; resume repeats it
        logs = {k: float(v) for k, v in (logs or {}).items()}
        row = {"epoch": epoch + 1, **logs, "learning_rate": float(np.asarray(self.model.optimizer.learning_rate)),
               "seconds": round(time.time() - self._epoch_start, 2)}
        monitor = logs.get("val_accuracy", logs.get("accuracy", 0.0))
        improved = monitor > self.state["best_value"]
        files = runs.RunDir(self.run_dir)
        # The best checkpoint before the metrics row: a row never points at a model that is not on disk.
        if improved:
            self.state.update(best_value=monitor, best_epoch=epoch + 1, wait=0)
            save_keras(self.model, files.best_model)
        else:
            self.state["wait"] += 1
        # last.keras is saved beside itself first (the slow part), the metrics row made durable, then the
        # checkpoint renamed into place and the resume state moved on, one right after the other: a kill
        # before that repeats this epoch on resume from the previous epoch's weights and optimizer (its
        # extra row truncated), and never loses one.
        with atomic.replacing(files.last_model) as checkpoint:
            self.model.save(checkpoint)
            runs.append_metrics_row(self.run_dir, row)
        self.state["epochs_done"] = epoch + 1
        files.write_state(self.state)
        runs.write_status(self.run_dir, RunState.RUNNING, epoch=epoch + 1, epochs=self.epochs,
                          message=f"epoch {epoch + 1}/{self.epochs} done")
        shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
        self.log(f"epoch {epoch + 1}/{self.epochs}: {shown}{' (best)' if improved else ''}")


class EarlyStopping(keras.callbacks.Callback):
    """Stops after `patience` epochs without a better validation accuracy (the recorder counts them); 0 = off."""

    def __init__(self, patience: int, state: dict, log: LogFn):
        super().__init__()
        self.patience, self.state, self.log = patience, state, log

    def on_epoch_end(self, epoch, logs=None):
        if self.patience and self.state["wait"] >= self.patience:
            self.model.stop_training = True
            self.log(f"early stopping: no validation improvement for {self.patience} epochs")
