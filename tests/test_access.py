"""Shared password, admin-only Training page, interrupted runs offered for Resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(tmp_path / "roots"))
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(tmp_path / "no_model"))
    monkeypatch.chdir(ROOT)


def home(secrets: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120)
    for section, values in secrets.items():
        at.secrets[section] = values
    return at


def test_password_gate(env):
    at = home({"auth": {"password": "s3cret"}}).run()
    assert not at.exception
    assert all(t.value != "Facial emotion dashboard" for t in at.title)  # Home stays hidden
    assert len(at.text_input) == 1 and at.text_input[0].label == "Team password"
    at.text_input[0].set_value("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    at.text_input[0].set_value("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert any(t.value == "Facial emotion dashboard" for t in at.title)


def test_no_password_configured_means_open(env):
    at = home({}).run()
    assert any(t.value == "Facial emotion dashboard" for t in at.title)


def test_training_hidden_for_visitors_until_admin_unlocks(env):
    secrets = {"auth": {"admin_password": "boss", "hide_training": True}}
    at = home(secrets).run()
    assert not at.exception
    links = [p.label for p in at.get("page_link")]
    assert "Training" not in links and "Dataset" in links
    at.sidebar.text_input[0].set_value("boss")
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert "Training" in [p.label for p in at.get("page_link")]


def test_training_page_itself_refuses_non_admins(env):
    at = AppTest.from_file(str(ROOT / "pages" / "3_Training.py"), default_timeout=120)
    at.secrets["auth"] = {"admin_password": "boss", "hide_training": True}
    at.run()
    assert any("limited to admins" in w.value for w in at.warning)
    assert len(at.get("form")) == 0


def test_interrupted_run_is_shown_with_resume(env, tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    run = runs_dir / "20260101-000000-xxs"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_root": str(tmp_path), "variant": "xxs", "epochs": 5}))
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": 2 ** 22 + 12345, "epoch": 2}))
    (run / "metrics.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy\n1,1.9,0.2,1.8,0.25\n2,1.7,0.3,1.6,0.35\n")
    monkeypatch.setenv("EMOTION_RUNS_DIR", str(runs_dir))
    at = AppTest.from_file(str(ROOT / "pages" / "3_Training.py"), default_timeout=120).run()
    assert not at.exception
    assert any("interrupted" in m.value for m in at.markdown)
    assert any(b.label == "Resume" for b in at.button)
    assert any("ended without finishing" in w.value for w in at.warning)
