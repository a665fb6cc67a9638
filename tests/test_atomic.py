"""The one atomic-write helper: whole files or the old file, never a leftover temporary."""

from __future__ import annotations

import os
import stat

import pytest

from emotion_core import atomic


def test_a_successful_block_replaces_the_target(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    with atomic.replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.keras.") and tmp.suffix == ".keras"
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # nothing visible before the block ends
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_a_failing_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "cache.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="export failed"):
        with atomic.replacing(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("export failed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]


def test_a_block_that_removes_its_temporary_itself_is_not_an_error_on_cleanup(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic.replacing(tmp_path / "x.json") as tmp:
            tmp.unlink()  # the rename then fails; the cleanup must not fail again
    assert list(tmp_path.iterdir()) == []


def test_write_bytes_flushes_to_disk_before_the_rename(tmp_path, monkeypatch):
    order: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append("replace"), real_replace(a, b)))
    atomic.write_bytes(tmp_path / "status.json", b"{}")
    assert order == ["fsync", "replace"] and (tmp_path / "status.json").read_bytes() == b"{}"
