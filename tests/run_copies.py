"""Cheap copies of a trained run: model files are hard-linked, everything else is copied.

A run directory is ~42 MB, nearly all of it model files (`*.keras`, `model.tflite`, `saved_model/`) that no
test writes to; linking them keeps the suite's temporary files small and its copies fast. Reports and
configuration, the files tests damage or rewrite in place, are real copies, so a test never changes the
shared session run through a link.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MODEL_SUFFIXES = (".keras", ".tflite")


def _is_model_file(path: Path) -> bool:
    return path.suffix in MODEL_SUFFIXES or "saved_model" in path.parts


def _link_or_copy(src: str, dst: str) -> str:
    if _is_model_file(Path(src)):
        try:
            os.link(src, dst)
            return dst
        except OSError:  # another file system, or links not allowed: a real copy
            pass
    return shutil.copy2(src, dst)


def copy_run(src: Path, dst: Path) -> Path:
    """Copy run directory `src` to `dst` (which must not exist); its model files become hard links."""
    shutil.copytree(src, dst, copy_function=_link_or_copy)
    return dst
