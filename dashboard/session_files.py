"""A temporary folder per browser session (uploads, results, recordings), removed with the session."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Callable

import streamlit as st


class SessionFolder:
    """A private temporary folder; the session's state being dropped or the server stopping removes it, after
    calling every `on_close` hook (e.g. cancel a background job writing into it)."""

    def __init__(self, prefix: str = "emotion-session-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._hooks: list[Callable[[], None]] = []
        self._numbers = itertools.count(1)
        weakref.finalize(self, _remove, self.path, self._hooks)  # runs once: on garbage collection or at exit

    def on_close(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)

    def new_folder(self, stem: str) -> Path:
        """A fresh, empty sub-folder (`stem-1`, `stem-2`, ...)."""
        folder = self.path / f"{stem}-{next(self._numbers)}"
        folder.mkdir()
        return folder


def _remove(path: Path, hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # a hook must not keep the folder
            pass
    shutil.rmtree(path, ignore_errors=True)


def safe_file_name(name: str, fallback: str = "upload") -> str:
    """A user's file name reduced to its last part and to letters, digits, '.', '-', '_' and spaces."""
    kept = "".join(c for c in Path(name).name if c.isalnum() or c in "._- ").strip(" .")
    return kept[:120] or fallback


def session_folder() -> SessionFolder:
    """This browser session's folder (made on first use)."""
    if "_session_folder" not in st.session_state:
        st.session_state["_session_folder"] = SessionFolder()
    return st.session_state["_session_folder"]
