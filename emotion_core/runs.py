"""Run directories: layout, atomic writes, status, stop requests, the training lock.

A run directory `runs/<id>/` holds::

    config.json          the TrainConfig (and label order, stride plan)
    status.json          state (running/completed/stopped/failed), pid, epoch, message
    metrics.csv          one row per finished epoch, appended as training goes
    progress.json        position inside the current epoch (for live charts)
    state.json           resume state: epochs done, best epoch, early-stopping wait
    best.keras           best model by validation accuracy (atomic save)
    last.keras           last finished epoch with optimizer state (for resume)
    model.keras          the final model (the best), SavedModel in saved_model/,
    model.tflite         and TFLite for serving
    test_metrics.json    accuracy, per-class precision/recall/F1, macro/weighted
    confusion_matrix.json
    train.log            output of a background training process
    STOP                 present = stop requested

A run whose status says running but whose process is gone is reported as
"interrupted" and can be resumed from last.keras.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STOP_FILE = "STOP"
LOCK_NAME = ".training.lock"
MODEL_FILES = ("model.tflite", "model.keras", "best.keras")


class RunError(RuntimeError):
    """A run directory cannot be created, written or read; the message names the path."""


def default_runs_dir() -> Path:
    """`$EMOTION_RUNS_DIR`, else `<project>/runs`."""
    env = os.environ.get("EMOTION_RUNS_DIR")
    return Path(env) if env else PROJECT_ROOT / "runs"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, then rename: readers never see half a file."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise RunError(_describe_os_error(exc, path.parent)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RunError(_describe_os_error(exc, path)) from exc


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path, default: Any = None) -> Any:
    """Read JSON; a missing or corrupt file gives `default`."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def _describe_os_error(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"Disk full: cannot write {path}. Free some space and try again."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"No permission to write {path} ({exc.strerror}). Choose a writable runs directory."
    return f"Cannot write {path}: {exc.strerror or exc}"


def create_run_dir(runs_dir: Path, run_id: str) -> Path:
    """Create `runs_dir/run_id`; RunError with a clear message on disk or permission trouble."""
    path = Path(runs_dir) / run_id
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"Run directory {path} already exists; choose another run id.") from None
    except OSError as exc:
        raise RunError(_describe_os_error(exc, path)) from exc
    return path


def new_run_id(variant: str, runs_dir: Path) -> str:
    """A sortable unique id like 20261124-221500-xxs."""
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{variant.lower()}"
    run_id, n = base, 1
    while (Path(runs_dir) / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
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


def write_status(run_dir: Path, state: str, **fields: Any) -> None:
    status = read_json(Path(run_dir) / "status.json", {}) or {}
    status.update(fields, state=state, updated=time.time())
    atomic_write_json(Path(run_dir) / "status.json", status)


def read_status(run_dir: Path) -> dict:
    """status.json with `state` resolved: a running state whose process is gone is 'interrupted'."""
    status = read_json(Path(run_dir) / "status.json", None)
    if not isinstance(status, dict):
        return {"state": "unknown", "message": "status.json is missing or unreadable"}
    if status.get("state") == "running" and not pid_alive(status.get("pid")):
        status = {**status, "state": "interrupted"}
    return status


def append_metrics_row(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one epoch's metrics to metrics.csv (header written once), flushed and fsynced."""
    path = Path(run_dir) / "metrics.csv"
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
        raise RunError(_describe_os_error(exc, path)) from exc


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
        _rewrite_metrics(Path(run_dir) / "metrics.csv", rows[:epochs], list(rows[0].keys()))


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """Rows of metrics.csv as floats; a torn last line (killed mid-write) is dropped."""
    path = Path(run_dir) / "metrics.csv"
    try:
        text = path.read_text()
    except OSError:
        return []
    rows = []
    for raw in csv.DictReader(text.splitlines()):
        try:
            rows.append({k: float(v) for k, v in raw.items() if k is not None and v not in (None, "")})
        except ValueError:
            continue
    return rows


def request_stop(run_dir: Path) -> None:
    """Ask a training run to stop at the next batch (it saves and exits cleanly)."""
    atomic_write_bytes(Path(run_dir) / STOP_FILE, b"stop requested\n")


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def find_model_file(run_dir: Path) -> Path | None:
    """The servable model of a run: model.tflite, else model.keras, else best.keras."""
    for name in MODEL_FILES:
        candidate = Path(run_dir) / name
        if candidate.is_file():
            return candidate
    return None


@dataclass
class RunInfo:
    """What the dashboard and CLI show about one run directory."""

    run_id: str
    path: Path
    config: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    test_metrics: dict | None = None

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def test_accuracy(self) -> float | None:
        return (self.test_metrics or {}).get("accuracy")

    @property
    def servable(self) -> bool:
        return find_model_file(self.path) is not None


def load_run(path: Path) -> RunInfo:
    path = Path(path)
    return RunInfo(
        run_id=path.name,
        path=path,
        config=read_json(path / "config.json", {}) or {},
        status=read_status(path),
        test_metrics=read_json(path / "test_metrics.json", None),
    )


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """All run directories (those with a config.json), newest first."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    found = [load_run(p) for p in runs_dir.iterdir() if p.is_dir() and (p / "config.json").exists()]
    return sorted(found, key=lambda r: r.run_id, reverse=True)


class TrainingLock:
    """One training per machine: an flock on `<runs_dir>/.training.lock`, freed when the process dies."""

    def __init__(self, runs_dir: Path):
        self.path = Path(runs_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, run_id: str) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "run_id": run_id}).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> dict | None:
        """{'pid', 'run_id'} of the process training now, or None."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return read_json(self.path, {}) or {"pid": None, "run_id": None}
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
