"""Where things live: the project, caches, runs, the served model, the training lock.

Each location has one default here and one environment variable that overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_cache_dir() -> Path:
    """`$EMOTION_CACHE_DIR`, else `~/.cache/emotion_dashboard` (data roots may be read-only)."""
    env = os.environ.get("EMOTION_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "emotion_dashboard"


def xla_cache_dir() -> Path:
    """`$JAX_COMPILATION_CACHE_DIR` (JAX's own variable), else `<cache dir>/xla`: compiled training steps."""
    env = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    return Path(env) if env else default_cache_dir() / "xla"


def default_runs_dir() -> Path:
    """`$EMOTION_RUNS_DIR`, else `<project>/runs`."""
    env = os.environ.get("EMOTION_RUNS_DIR")
    return Path(env) if env else PROJECT_ROOT / "runs"


def default_model_dir() -> Path:
    """`$EMOTION_MODEL_DIR`, else the shipped `<project>/models/default`."""
    env = os.environ.get("EMOTION_MODEL_DIR")
    return Path(env) if env else PROJECT_ROOT / "models" / "default"


def training_lock_path() -> Path:
    """One training at a time per machine and user, whatever runs directory it writes to."""
    return default_cache_dir() / "training.lock"
