"""The data-root path checks: which folders may be browsed, the preselected one, relative paths, messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard import settings


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("EMOTION_DATA_ROOTS", "EMOTION_DATA_DEFAULT"):
        monkeypatch.delenv(name, raising=False)


def make_dataset(folder: Path) -> Path:
    (folder / "train").mkdir(parents=True)
    (folder / "test").mkdir()
    return folder


def test_default_roots_are_the_project_data_folder_and_the_shared_datasets():
    assert settings.data_roots() == [(settings.PROJECT_ROOT / "data").resolve(),
                                     (settings.PROJECT_ROOT.parent / "shared" / "datasets").resolve()]


def test_roots_from_the_environment_relative_to_the_project_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("EMOTION_DATA_ROOTS", os.pathsep.join(["", "rel/sets", "~/faces", str(tmp_path / "a" / ".."), ""]))
    assert settings.data_roots() == [(settings.PROJECT_ROOT / "rel" / "sets").resolve(), tmp_path / "faces", tmp_path]


def test_the_preselected_root(monkeypatch, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    make_dataset(second / "b_set")
    make_dataset(second / "a_set")
    (second / "c_file").write_text("not a folder")
    monkeypatch.setenv("EMOTION_DATA_ROOTS", os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)]))
    assert settings.default_data_root() == second / "a_set"  # first allowed folder with train/ and test/, sorted
    make_dataset(first)
    assert settings.default_data_root() == first  # a root that is itself a data set comes first
    monkeypatch.setenv("EMOTION_DATA_DEFAULT", "chosen/here")
    assert settings.default_data_root() == (settings.PROJECT_ROOT / "chosen" / "here").resolve()


def test_no_preselected_root_without_a_data_set(monkeypatch, tmp_path):
    (tmp_path / "only_train" / "train").mkdir(parents=True)
    (tmp_path / "only_test" / "test").mkdir(parents=True)
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(tmp_path))
    assert settings.default_data_root() is None


def test_resolve_inside_outside_and_empty(monkeypatch, tmp_path):
    roots = [tmp_path / "r1", tmp_path / "r2"]
    for root in roots:
        (root / "set").mkdir(parents=True)
    monkeypatch.setenv("EMOTION_DATA_ROOTS", os.pathsep.join(map(str, roots)))
    assert settings.resolve_data_root(f"  {roots[1] / 'set'}  ") == roots[1] / "set"  # any root, spaces trimmed
    assert settings.resolve_data_root(str(roots[0])) == roots[0]  # a root itself
    assert settings.resolve_data_root(str(roots[0] / "set" / ".." / "set")) == roots[0] / "set"
    with pytest.raises(ValueError) as refused:
        settings.resolve_data_root(str(tmp_path / "elsewhere"))
    assert str(refused.value) == (f"{tmp_path / 'elsewhere'} is outside the configured data roots ({roots[0]}, "
                                  f"{roots[1]}); it cannot be browsed.")
    for empty in ("", "   "):
        with pytest.raises(ValueError, match="^Enter a data root folder.$"):
            settings.resolve_data_root(empty)


def test_roots_and_default_from_secrets_toml(monkeypatch, tmp_path):
    written = {("data", "roots"): ["sets", str(tmp_path)], ("data", "default"): "sets/fer"}
    monkeypatch.setattr(settings, "secret", lambda section, key, default=None: written.get((section, key), default))
    monkeypatch.chdir(tmp_path)  # relative paths are the project's, whatever the working folder
    assert settings.data_roots() == [(settings.PROJECT_ROOT / "sets").resolve(), tmp_path]
    assert settings.default_data_root() == (settings.PROJECT_ROOT / "sets" / "fer").resolve()


def test_a_root_that_is_missing_or_a_file_is_skipped_when_preselecting(monkeypatch, tmp_path):
    (tmp_path / "file_root").write_text("x")
    make_dataset(tmp_path / "real" / "set")
    monkeypatch.setenv("EMOTION_DATA_ROOTS", os.pathsep.join(str(tmp_path / n) for n in ("gone", "file_root", "real")))
    assert settings.default_data_root() == tmp_path / "real" / "set"
