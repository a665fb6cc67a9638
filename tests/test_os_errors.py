"""Operating-system errors reach people as one clear sentence, never a traceback."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import settings
from emotion_core import runs
from emotion_core.cli import main
from emotion_core.data.dataset import DataError, load_split, scan_split

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def roots(tmp_path, monkeypatch):
    allowed = tmp_path / "data"
    allowed.mkdir()
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(allowed))
    return allowed


def test_symlink_loop_and_long_names_are_refused_with_a_message(roots):
    os.symlink(roots / "loop", roots / "loop")
    with pytest.raises(ValueError, match="cannot be used as a folder"):
        settings.resolve_data_root(str(roots / "loop" / "x"))
    long_name = roots / ("a" * 300)
    with pytest.raises(DataError, match="Cannot read"):
        scan_split(settings.resolve_data_root(str(long_name)), "train")


def test_sibling_prefix_and_symlinks_out_of_the_roots_are_refused(roots, tmp_path):
    evil = tmp_path / "data_evil"
    evil.mkdir()
    with pytest.raises(ValueError, match="outside the configured data roots"):
        settings.resolve_data_root(str(evil))
    with pytest.raises(ValueError, match="outside the configured data roots"):
        settings.resolve_data_root(str(roots / ".." / "data_evil"))
    os.symlink(evil, roots / "link_out")
    with pytest.raises(ValueError, match="outside the configured data roots"):
        settings.resolve_data_root(str(roots / "link_out"))
    assert settings.resolve_data_root(str(roots / "inside")) == roots / "inside"


def _unreadable(monkeypatch, folder: Path) -> None:
    """Make listing `folder` fail as it would for another user's folder (tests run as root)."""
    real = Path.iterdir

    def iterdir(self):
        if self == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)


def test_unreadable_class_folder_is_a_data_error(tiny_data, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(tiny_data, root)
    _unreadable(monkeypatch, root / "train" / "happy")
    with pytest.raises(DataError, match="Cannot read .*happy: Permission denied"):
        load_split(root, "train", 48, cache_dir=tmp_path / "cache")
    assert main(["prepare", "--data", str(root), "--cache-dir", str(tmp_path / "cache")]) == 2


def test_dataset_page_shows_an_unreadable_folder_as_an_error(tiny_data, tmp_path, monkeypatch):
    root = tmp_path / "data" / "fer"
    shutil.copytree(tiny_data, root)
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("EMOTION_DATA_DEFAULT", str(root))
    monkeypatch.chdir(ROOT)
    _unreadable(monkeypatch, root / "test" / "sad")
    at = AppTest.from_file(str(ROOT / "app_pages" / "1_Dataset.py"), default_timeout=120).run()
    assert not at.exception
    assert any("Permission denied" in e.value for e in at.error)


def test_run_ids_cannot_leave_the_runs_directory(tiny_data, tmp_path, capsys):
    for bad in ("../escape_run", "a/b", "..", ".hidden", "", "x" * 101):
        with pytest.raises(runs.RunError, match="not allowed"):
            runs.create_run_dir(tmp_path / "runs", bad)
    code = main(["train", "--data", str(tiny_data), "--epochs", "1", "--runs-dir", str(tmp_path / "runs"),
                 "--run-id", "../escape_run"])
    assert code == 2 and "not allowed" in capsys.readouterr().err
    assert not (tmp_path / "escape_run").exists()


def test_cli_reports_os_errors_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    photo = tmp_path / "photo.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    code = main(["predict", str(photo), "--out", str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


def test_disk_full_while_writing_a_run_file_is_a_run_error(tmp_path, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(runs.RunError, match="Disk full"):
        runs.atomic_write_json(tmp_path / "status.json", {"state": "running"})
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_predict_never_overwrites_one_input_with_another(tmp_path):
    import cv2
    import numpy as np

    from emotion_core.cli import annotated_names

    for ext, value in ((".jpg", 40), (".png", 200)):
        cv2.imwrite(str(tmp_path / f"x{ext}"), np.full((40, 40, 3), value, np.uint8))
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "x.jpg"), str(tmp_path / "x.png"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x_jpg_annotated.png", "x_png_annotated.png"]
    assert cv2.imread(str(out / "x_jpg_annotated.png")).mean() < 100 < cv2.imread(str(out / "x_png_annotated.png")).mean()
    assert annotated_names(["a/photo.jpg", "b/group.png"]) == {"a/photo.jpg": "photo_annotated.png",
                                                               "b/group.png": "group_annotated.png"}
