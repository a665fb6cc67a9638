"""One damaged run directory never breaks a page for anyone: every run file is checked on read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.run_copies import copy_run
from streamlit.testing.v1 import AppTest

from emotion_core import runs

ROOT = Path(__file__).resolve().parents[1]


def _npz(path: Path, **arrays) -> None:
    np.savez(path, **arrays)


# file name -> content written over the copy of a good run
DAMAGE = {
    "metrics-accuracy-text": ("test_metrics.json", {"accuracy": "high"}),
    "metrics-list": ("test_metrics.json", [1, 2, 3]),
    "metrics-macro-f1-text": ("test_metrics.json", {"accuracy": 0.5, "macro": {"f1": "x"}, "weighted": {}}),
    "status-pid-text": ("status.json", {"state": "running", "pid": "abc"}),
    "status-state-number": ("status.json", {"state": 7}),
    "config-list": ("config.json", [1, 2]),
    "config-serving-number": ("config.json", {"variant": "xxs", "image_size": 48, "serving": 5}),
    "config-image-size-text": ("config.json", {"variant": "xxs", "image_size": "big"}),
    "cm-wrong-shape": ("confusion_matrix.json", {"labels": ["a", "b"], "matrix": [[1, 2, 3]]}),
    "cm-text": ("confusion_matrix.json", {"labels": ["a"], "matrix": [["x"]]}),
    "cm-negative": ("confusion_matrix.json", {"labels": ["a", "b"], "matrix": [[1, -2], [0, 1]]}),
    "progress-text": ("progress.json", {"epoch": "1", "epochs": 2, "batch": 1, "batches": 0}),
}


@pytest.fixture
def damaged_env(request, monkeypatch, tmp_path, tiny_data, trained_run):
    name = request.param
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    copy_run(trained_run, runs_dir / "good")
    bad = runs_dir / f"bad-{name}"
    copy_run(trained_run, bad)
    if name == "npz-shapes":
        _npz(bad / "test_predictions.npz", paths=np.array(["a"]), labels=np.array([0, 1]), probs=np.zeros((3, 7)))
    elif name == "npz-garbage":
        (bad / "test_predictions.npz").write_bytes(b"PK\x03\x04 not a zip")
    else:
        file_name, content = DAMAGE[name]
        (bad / file_name).write_text(json.dumps(content))
    monkeypatch.setenv("EMOTION_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(tiny_data.parent))
    monkeypatch.setenv("EMOTION_DATA_DEFAULT", str(tiny_data))
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(bad))
    monkeypatch.chdir(ROOT)
    return bad


ALL_DAMAGE = [*DAMAGE, "npz-shapes", "npz-garbage"]


def _shown(at: AppTest) -> str:
    parts = [e.value for kind in ("error", "warning", "info", "caption", "markdown") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("damaged_env", ALL_DAMAGE, indirect=True)
@pytest.mark.parametrize("script", ["Home.py", "app_pages/3_Training.py", "app_pages/4_Evaluation.py",
                                    "app_pages/6_Photo.py"])
def test_pages_survive_a_damaged_run(damaged_env, script):
    at = AppTest.from_file(str(ROOT / script), default_timeout=240).run()
    assert not at.exception, f"{script}: {at.exception}"


@pytest.mark.parametrize("damaged_env", [n for n in DAMAGE if not n.startswith(("cm-", "progress"))], indirect=True)
def test_damaged_run_is_listed_with_what_is_wrong(damaged_env):
    info = runs.load_run(damaged_env)
    assert info.problems, "the damage was not noticed"
    at = AppTest.from_file(str(ROOT / "app_pages/3_Training.py"), default_timeout=240).run()
    table = at.dataframe[-1].value
    row = table[table["run"] == damaged_env.name].iloc[0]
    assert row["problems"] == "; ".join(info.problems)
    good = table[table["run"] == "good"].iloc[0]
    assert good["problems"] == "" and good["test accuracy"] is not None


@pytest.mark.parametrize("damaged_env", ["config-serving-number", "config-list"], indirect=True)
def test_model_with_a_bad_config_is_refused_with_a_message(damaged_env):
    at = AppTest.from_file(str(ROOT / "app_pages/6_Photo.py"), default_timeout=240).run()
    errors = [e.value for e in at.error]
    assert any("cannot be served" in e and ("serving" in e or "JSON table" in e) for e in errors), errors


@pytest.mark.parametrize("damaged_env", ["cm-wrong-shape", "npz-shapes"], indirect=True)
def test_evaluation_names_the_damaged_report(damaged_env):
    at = AppTest.from_file(str(ROOT / "app_pages/4_Evaluation.py"), default_timeout=240).run()
    assert not at.exception
    shown = _shown(at)
    assert "confusion_matrix.json" in shown or "test_predictions.npz" in shown


def test_status_with_text_pid_reads_as_interrupted(tmp_path):
    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "pid": "abc"}))
    status = runs.read_status(tmp_path)
    assert status["state"] == "interrupted"
    assert any("pid should be an integer" in p for p in status["problems"])


@pytest.mark.parametrize("torn", ["2,1.7,0.", "2,1.7", "2,1.7,0.5,9"])
def test_read_metrics_drops_a_torn_last_line(tmp_path, torn):
    (tmp_path / "metrics.csv").write_text(f"epoch,loss,accuracy\r\n1,1.9,0.2\r\n{torn}")
    assert runs.read_metrics(tmp_path) == [{"epoch": 1.0, "loss": 1.9, "accuracy": 0.2}]


def test_read_metrics_keeps_complete_rows(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,loss,accuracy\r\n1,1.9,0.2\r\n2,1.7,0.3\r\n")
    assert [r["epoch"] for r in runs.read_metrics(tmp_path)] == [1.0, 2.0]
