"""Run directories: layout, atomic writes, status, stop requests, the training lock.

A run directory `runs/<id>/` holds::

    config.json          the TrainConfig (and label order, stride plan)
    status.json          state (running/completed/stopped/failed), pid, epoch, message
    metrics.csv          one row per finished epoch, appended as training goes
    progress.json        position inside the current epoch (for live charts)
    state.json           resume state: epochs done, best epoch, early-stopping wait
    hardware.json        each training sitting: backend, devices, distribution, first epoch
    best.keras           best model by validation accuracy (atomic save)
    last.keras           last finished epoch with optimizer state (for resume)
    model.keras          the final model (the best), SavedModel in saved_model/,
    model.tflite         and TFLite for serving
    test_metrics.json    accuracy, per-class precision/recall/F1, macro/weighted
    confusion_matrix.json
    MODEL_SELECTION.md   what was compared on validation to choose this model (written by hand; the card shows it)
    train.log            output of a background training process
    STOP                 present = stop requested

A run whose status says running (or created, with the pid of the process that
took it on) but whose process is gone is reported as "interrupted" and can be
resumed from last.keras. After `start_run` creates the directory, only the
training process writes status.json.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import re
import struct
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion_core import atomic
from emotion_core.paths import PROJECT_ROOT, default_runs_dir, training_lock_path  # noqa: F401 (re-exported)
from emotion_core.run_schema import RESUMABLE, RunState  # noqa: F401 (re-exported)
from emotion_core.run_schema import (check_config, check_confusion_matrix, check_predictions, check_progress,
                                     check_status, check_test_metrics)

STOP_FILE = "STOP"
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RunError(RuntimeError):
    """A run directory cannot be created, written or read; the message names the path."""


@dataclass(frozen=True)
class RunDir:
    """One run directory: where each of its files lives (the layout above), and its config and resume state.

    Every reader and writer of run files takes its path from here, so a file's name is written once.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    config = property(lambda self: self.path / "config.json")
    status = property(lambda self: self.path / "status.json")
    metrics = property(lambda self: self.path / "metrics.csv")
    progress = property(lambda self: self.path / "progress.json")
    state = property(lambda self: self.path / "state.json")
    best_model = property(lambda self: self.path / "best.keras")
    last_model = property(lambda self: self.path / "last.keras")
    keras_model = property(lambda self: self.path / "model.keras")
    tflite_model = property(lambda self: self.path / "model.tflite")
    saved_model = property(lambda self: self.path / "saved_model")
    test_metrics = property(lambda self: self.path / "test_metrics.json")
    confusion_matrix = property(lambda self: self.path / "confusion_matrix.json")
    predictions = property(lambda self: self.path / "test_predictions.npz")
    log = property(lambda self: self.path / "train.log")
    model_selection = property(lambda self: self.path / "MODEL_SELECTION.md")
    hardware = property(lambda self: self.path / "hardware.json")  # one entry per training sitting
    stop_file = property(lambda self: self.path / STOP_FILE)

    @property
    def model_files(self) -> tuple[Path, ...]:
        """Servable models in the order they are preferred: TFLite, the final .keras, the best checkpoint."""
        return self.tflite_model, self.keras_model, self.best_model

    def read_config(self, missing_ok: bool = False) -> dict:
        """config.json as a table ({} when absent and `missing_ok`); RunError when it is missing, unreadable or
        not a table."""
        if missing_ok and not self.config.exists():
            return {}
        try:
            raw = json.loads(self.config.read_text())
        except FileNotFoundError:
            raise RunError(f"{self.config} is missing: {self.path} is not a run or model directory.") from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.config} is unreadable: {exc}") from None
        if not isinstance(raw, dict):
            raise RunError(f"{self.config} is not a JSON table (found {type(raw).__name__}).")
        return raw

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.config, config)

    def read_state(self) -> dict | None:
        """The resume state (epochs done, best epoch, early-stopping wait), None before the first epoch."""
        state = read_json(self.state, None)
        return state if isinstance(state, dict) else None

    def write_state(self, state: dict) -> None:
        atomic_write_json(self.state, state)

    def read_hardware(self) -> list[dict]:
        """The sittings that trained this run: backend, device, distribution, devices, first epoch, time."""
        entries = read_json(self.hardware, [])
        return entries if isinstance(entries, list) else []

    def append_hardware(self, entry: dict) -> None:
        atomic_write_json(self.hardware, [*self.read_hardware(), entry])


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic.write_bytes` with a RunError that names the path."""
    try:
        atomic.write_bytes(path, data)
    except OSError as exc:
        raise RunError(describe_os_error(exc, path)) from exc


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path, default: Any = None) -> Any:
    """Read JSON; a missing or corrupt file gives `default`."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def describe_os_error(exc: OSError, path: Path | str | None = None) -> str:
    """A sentence for a visitor: what failed, on which path, and what to do."""
    path = path or exc.filename or "a file"
    if exc.errno == errno.ENAMETOOLONG:
        return f"The name is too long: {str(path)[:120]}..."
    if exc.errno == errno.ELOOP:
        return f"Too many levels of symbolic links (a link loop?) at {path}."
    if exc.errno == errno.ENOSPC:
        return f"Disk full: cannot write {path}. Free some space and try again."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"No permission to write {path} ({exc.strerror}). Choose a writable runs directory."
    return f"Cannot write {path}: {exc.strerror or exc}"


def check_run_id(run_id: str) -> str:
    """`run_id` when it is a plain folder name (letters, digits, . _ -); RunError otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise RunError(f"Run id {run_id!r} is not allowed: use up to 100 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit (no '..', no '/').")
    return run_id


def create_run_dir(runs_dir: Path, run_id: str) -> Path:
    """Create `runs_dir/run_id`; RunError with a clear message on a bad id, disk or permission trouble."""
    path = Path(runs_dir) / check_run_id(run_id)
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"Run directory {path} already exists; choose another run id.") from None
    except OSError as exc:
        raise RunError(describe_os_error(exc, path)) from exc
    return path


def new_run_id(variant: str, runs_dir: Path) -> str:
    """A sortable unique id like 20261124-221500-xxs."""
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{variant.lower()}"
    run_id, n = base, 1
    while (Path(runs_dir) / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def pid_alive(pid: object) -> bool:
    """True while process `pid` runs (a zombie counts as gone); False for anything that is not a pid."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (finished child not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def write_status(run_dir: Path, state: RunState, **fields: Any) -> None:
    """Update status.json: `state`, the given fields and the time; earlier fields are kept."""
    path = RunDir(run_dir).status
    status = read_json(path, {}) or {}
    status.update(fields, state=state, updated=time.time())
    atomic_write_json(path, status)


def read_status(run_dir: Path) -> dict:
    """status.json with `state` resolved: a started run whose process is gone is 'interrupted'.

    Fields of the wrong type are dropped and named in `problems`.
    """
    raw = read_json(RunDir(run_dir).status, None)
    status, problems = check_status(raw)
    if status is None:
        if raw is None:
            problems = ["status.json is missing or not valid JSON"]
        return {"state": RunState.UNKNOWN, "message": "status.json is missing or unreadable", "problems": problems}
    if problems:
        status["problems"] = problems
    started = status.get("state") == RunState.RUNNING or (
        status.get("state") == RunState.CREATED and status.get("pid") is not None)  # a process took it on
    if started and not pid_alive(status.get("pid")):
        status = {**status, "state": RunState.INTERRUPTED}
    return status


def append_metrics_row(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one epoch's metrics to metrics.csv (header written once), flushed and fsynced."""
    path = RunDir(run_dir).metrics
    rows = read_metrics(run_dir)
    keys = list(dict.fromkeys([k for r in rows for k in r] + list(row)))
    if rows and keys != list(rows[0].keys()):
        # New columns appeared: rewrite the whole file atomically with the union header.
        rows.append(row)
        _rewrite_metrics(path, rows, keys)
        return
    new_file = not path.exists() or path.stat().st_size == 0
    try:
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            if new_file:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise RunError(describe_os_error(exc, path)) from exc


def _rewrite_metrics(path: Path, rows: list[dict], keys: list[str]) -> None:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def truncate_metrics(run_dir: Path, epochs: int) -> None:
    """Keep only the first `epochs` rows (on resume, drop rows newer than last.keras)."""
    rows = read_metrics(run_dir)
    if len(rows) > epochs:
        _rewrite_metrics(RunDir(run_dir).metrics, rows[:epochs], list(rows[0].keys()))


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """Rows of metrics.csv as floats; a torn last line (killed mid-write) is dropped."""
    path = RunDir(run_dir).metrics
    try:
        text = path.read_text()
    except OSError:
        return []
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        lines = lines[:-1]  # the last row was cut off mid-write: every complete row ends with a newline
    rows = []
    for raw in csv.DictReader(lines):
        if None in raw or None in raw.values():
            continue  # more or fewer fields than the header
        try:
            rows.append({k: float(v) for k, v in raw.items() if v != ""})
        except ValueError:
            continue
    return rows


def request_stop(run_dir: Path) -> None:
    """Ask a training run to stop at the next batch (it saves and exits cleanly)."""
    atomic_write_bytes(RunDir(run_dir).stop_file, b"stop requested\n")


def stop_requested(run_dir: Path) -> bool:
    return RunDir(run_dir).stop_file.exists()


def find_model_file(run_dir: Path) -> Path | None:
    """The servable model of a run: model.tflite, else model.keras, else best.keras."""
    return next((candidate for candidate in RunDir(run_dir).model_files if candidate.is_file()), None)


@dataclass
class RunInfo:
    """What the dashboard and CLI show about one run directory."""

    run_id: str
    path: Path
    config: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    test_metrics: dict | None = None
    problems: list[str] = field(default_factory=list)  # what is wrong with its files, in plain words

    @property
    def state(self) -> str:
        return self.status.get("state", RunState.UNKNOWN)

    @property
    def test_accuracy(self) -> float | None:
        return (self.test_metrics or {}).get("accuracy")

    @property
    def servable(self) -> bool:
        return find_model_file(self.path) is not None


def load_run(path: Path) -> RunInfo:
    """What a run directory holds, every file checked; problems are listed, never raised."""
    run = RunDir(path)
    path = run.path
    config, config_problems = check_config(read_json(run.config, {}))
    status = read_status(path)
    metrics_file = run.test_metrics
    metrics, metrics_problems = check_test_metrics(read_json(metrics_file, None))
    if metrics_file.exists() and metrics is None and not metrics_problems:
        metrics_problems = ["test_metrics.json is not valid JSON"]
    return RunInfo(run_id=path.name, path=path, config=config, status=status, test_metrics=metrics,
                   problems=config_problems + status.get("problems", []) + metrics_problems)


def read_progress(run_dir: Path) -> dict | None:
    """{'epoch', 'epochs', 'batch', 'batches'} inside the current epoch, or None."""
    return check_progress(read_json(RunDir(run_dir).progress, None))


def read_confusion_matrix(run_dir: Path) -> tuple[dict | None, list[str]]:
    """({"labels", "matrix"}, []) or (None, problems) for a run's confusion_matrix.json."""
    return check_confusion_matrix(read_json(RunDir(run_dir).confusion_matrix, None))


def read_predictions(run_dir: Path) -> tuple[dict[str, np.ndarray] | None, list[str]]:
    """({'paths', 'labels', 'probs'}, []) from test_predictions.npz; (None, problems) when absent or bad."""
    path = RunDir(run_dir).predictions
    if not path.is_file():
        return None, []
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("paths", "labels", "probs")}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return None, [f"test_predictions.npz is unreadable ({exc})"]
    problems = check_predictions(arrays)
    return (None if problems else arrays), problems


def write_predictions(run_dir: Path, paths: list[str], labels: np.ndarray, probs: np.ndarray) -> None:
    """test_predictions.npz: per-image test predictions (paths relative to the data root) for the mistakes gallery."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, paths=np.array(paths, dtype=str), labels=np.asarray(labels).astype(np.int64),
                        probs=np.asarray(probs).astype(np.float16))
    atomic_write_bytes(RunDir(run_dir).predictions, buffer.getvalue())


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """All run directories (those with a config.json), newest first."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    found = [load_run(p) for p in runs_dir.iterdir() if p.is_dir() and RunDir(p).config.exists()]
    return sorted(found, key=lambda r: r.run_id, reverse=True)


_FLOCK = "hhqqi4x"  # struct flock: l_type, l_whence, l_start, l_len, l_pid (Linux, 64-bit off_t)


class TrainingLock:
    """One training per machine and user: an open-file-description lock on `paths.training_lock_path()`.

    The lock dies with the process that holds it. `holder()` asks the kernel
    (F_OFD_GETLK) without taking the lock, so probing never makes a concurrent
    `acquire` fail.
    """

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else training_lock_path()
        self._fd: int | None = None

    def acquire(self, run_id: str) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunError(f"Cannot open the training lock {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise RunError(f"Cannot take the training lock {self.path}: {exc.strerror or exc}") from exc
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "run_id": run_id}).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the description releases its lock
            self._fd = None

    def holder(self) -> dict | None:
        """{'pid', 'run_id'} of the process training now, or None."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
            l_type = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0]
            if l_type == fcntl.F_UNLCK:
                return None
            info = read_json(self.path, None)
            return info if isinstance(info, dict) else {"pid": None, "run_id": None}
        finally:
            os.close(fd)
