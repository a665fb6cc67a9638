"""Training as a background process: survives reruns, navigation and closed tabs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from emotion_core import runs
from emotion_core.training.train import TrainConfig, start_run


def keras_file(run: runs.RunInfo) -> Path | None:
    """The .keras model a fine-tuning can start from: the final model, else the best checkpoint."""
    files = runs.RunDir(run.path)
    return next((p for p in (files.keras_model, files.best_model) if p.is_file()), None)


def fine_tuning(values: dict, start: runs.RunInfo) -> dict:
    """The form's values for a run that starts from `start`'s weights: its variant, input size and strides
    (the weights fix them), `init_from` its .keras file."""
    source = keras_file(start)
    if source is None:
        raise runs.RunError(f"{start.run_id} has no .keras model to start from.")
    return {**values, "init_from": str(source), "variant": start.config.get("variant", values["variant"]),
            "image_size": start.config.get("image_size", values["image_size"]), "strides": start.config.get("strides")}


def running_training() -> dict | None:
    """{'pid', 'run_id'} of the training that holds this machine's lock, or None."""
    return runs.TrainingLock().holder()


TRAINING_NICENESS = 10  # live sessions on the same server come first; the training takes what is left


def lower_priority() -> list[str]:
    """The command prefix that starts a process at TRAINING_NICENESS (nothing where `nice` is missing)."""
    return ["nice", "-n", str(TRAINING_NICENESS)] if shutil.which("nice") else []


def _spawn(run_dir: Path, verb: str) -> subprocess.Popen:
    """`train --run-dir DIR` (a new run) or `train --resume DIR` in its own session, at a lower CPU priority than
    the server; output to train.log."""
    log = open(runs.RunDir(run_dir).log, "ab")
    try:
        proc = subprocess.Popen(
            [*lower_priority(), sys.executable, "-m", "emotion_core", "train", verb, str(run_dir)],
            cwd=runs.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed with the Streamlit session or a page rerun
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
    finally:
        log.close()
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it when it ends
    return proc


def launch_training(config: TrainConfig, runs_dir: Path) -> Path:
    """Create a run directory and train it in a background process; RunError if one is running.

    From here on only the training process writes the run's status.json.
    """
    holder = running_training()
    if holder:
        raise runs.RunError(f"A training is already running (run {holder.get('run_id')}). "
                            "Only one training runs at a time on this machine; stop it or wait.")
    run_dir = start_run(config, runs_dir)
    _spawn(run_dir, "--run-dir")
    return run_dir


def resume_training(run_dir: Path) -> None:
    """Continue a stopped or interrupted run in a background process."""
    holder = running_training()
    if holder:
        raise runs.RunError(f"A training is already running (run {holder.get('run_id')}).")
    state = runs.read_status(run_dir).get("state")
    if state not in runs.RESUMABLE:
        raise runs.RunError(f"Run {run_dir.name} is {state}; only stopped, interrupted or failed runs can be resumed.")
    _spawn(run_dir, "--resume")


def log_tail(run_dir: Path, lines: int = 30) -> str:
    try:
        text = runs.RunDir(run_dir).log.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln for ln in text.splitlines() if not ln.startswith(("I0000", "W0000", "WARNING: All log"))]
    return "\n".join(kept[-lines:])
