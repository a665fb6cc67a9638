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


APP_PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "app_pages").glob("*.py"))
PAGE_TITLES = ["Dataset", "Augmentation", "Training", "Evaluation", "Live", "Photo", "Video"]


@pytest.fixture(autouse=True)
def _fresh_throttle():
    from dashboard import auth

    auth.THROTTLE.reset()
    yield
    auth.THROTTLE.reset()


def test_no_page_folder_streamlit_would_serve_without_the_router():
    """A `pages/` folder makes Streamlit serve each file at /<name> without running Home.py (no login)."""
    assert not (ROOT / "pages").exists()
    assert len(APP_PAGES) == len(PAGE_TITLES)


@pytest.mark.parametrize("page_path", APP_PAGES)
def test_every_page_url_shows_only_the_login(env, page_path):
    at = home({"auth": {"password": "s3cret"}}).run()
    at.switch_page(page_path).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Emotion dashboard"]
    assert [t.label for t in at.text_input] == ["Team password"]
    assert not at.get("page_link") and not at.get("selectbox") and not at.get("file_uploader")


def test_the_requested_page_opens_after_login(env):
    at = home({"auth": {"password": "s3cret"}}).run()
    at.switch_page("app_pages/3_Training.py").run()
    at.text_input[0].set_value("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Training"]


@pytest.mark.parametrize("given", ["", "s3cre", "s", "S3CRET", "s3cret ", "s3cret2", "boss"])
def test_near_miss_passwords_are_refused(env, given):
    at = home({"auth": {"password": "s3cret", "admin_password": "boss"}}).run()
    at.text_input[0].set_value(given)
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    assert all(t.value != "Facial emotion dashboard" for t in at.title)


def test_wrong_passwords_lock_the_session_out_even_for_the_right_one(env, caplog):
    at = home({"auth": {"password": "s3cret"}}).run()
    for attempt in range(6):
        at.text_input[0].set_value(f"guess{attempt}")
        at.button[0].click().run()
    at.text_input[0].set_value("s3cret")
    at.button[0].click().run()
    assert any("Too many wrong passwords" in e.value for e in at.error)
    assert all(t.value != "Facial emotion dashboard" for t in at.title)
    logged = [r.getMessage() for r in caplog.records if r.name == "emotion_dashboard.auth"]
    assert len(logged) == 6 and "failure 6" in logged[-1]
    assert not any("guess" in line for line in logged)  # passwords are never logged


def test_admin_password_is_throttled_too(env):
    at = home({"auth": {"admin_password": "boss", "hide_training": True}}).run()
    for attempt in range(6):
        at.sidebar.text_input[0].set_value(f"guess{attempt}")
        at.sidebar.button[0].click().run()
    at.sidebar.text_input[0].set_value("boss")
    at.sidebar.button[0].click().run()
    assert any("Too many wrong passwords" in e.value for e in at.error)
    assert "Training" not in [p.label for p in at.get("page_link")]


@pytest.mark.parametrize("auth, fragment", [
    ({"password": 12345}, "[auth] password must be a non-empty string"),
    ({"password": ""}, "[auth] password must be a non-empty string"),
    ({"admin_password": ["a"]}, "[auth] admin_password must be a non-empty string"),
    ({"password": "x", "hide_training": "yes"}, "hide_training must be true or false"),
])
def test_auth_misconfiguration_stops_the_app(env, auth, fragment):
    at = home({"auth": auth}).run()
    assert any(fragment in e.value for e in at.error), [e.value for e in at.error]
    assert not at.get("page_link") and not at.text_input  # neither open nor a login that cannot work


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
    at = AppTest.from_file(str(ROOT / "app_pages" / "3_Training.py"), default_timeout=120)
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
    at = AppTest.from_file(str(ROOT / "app_pages" / "3_Training.py"), default_timeout=120).run()
    assert not at.exception
    assert any("interrupted" in m.value for m in at.markdown)
    assert any(b.label == "Resume" for b in at.button)
    assert any("ended without finishing" in w.value for w in at.warning)


def test_unparseable_secrets_file_is_an_error_not_an_open_door(tmp_path):
    import streamlit as st
    from streamlit import config

    from dashboard import settings

    bad = tmp_path / "secrets.toml"
    bad.write_text('[auth]\npassword = "unterminated\n')
    previous = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(bad)])
    st.secrets._reset()
    try:
        with pytest.raises(settings.SettingsError, match="cannot be read"):
            settings.secret("auth", "password", None)
        with pytest.raises(settings.SettingsError):
            settings.validate_settings()
        bad.unlink()  # no secrets file at all: defaults (no password configured)
        st.secrets._reset()
        assert settings.secret("auth", "password", None) is None
    finally:
        config.set_option("secrets.files", previous)
        st.secrets._reset()


def test_login_throttle_backs_off_and_forgets():
    from dashboard.login_throttle import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(free_failures=5, max_lock_s=300, forget_after_s=3600, clock=lambda: now[0])
    keys = ["team:ip:10.0.0.1"]
    tried = 0
    for _ in range(300):  # a client retrying as fast as it can for 14 s
        if throttle.wait_s(keys) == 0:
            tried += 1
            throttle.failed(keys)
        now[0] += 14 / 300
    assert tried == 8  # 5 free, then locked 2 s, 4 s, 8 s
    assert 0 < throttle.wait_s(keys) <= 16
    assert throttle.wait_s(["team:ip:10.0.0.2"]) == 0  # other clients are not affected
    now[0] += 10_000
    throttle.failed(["team:ip:10.0.0.3"])  # any activity drops idle records
    assert throttle.wait_s(keys) == 0
    throttle.failed(keys)
    assert throttle.wait_s(keys) == 0  # its history was forgotten: a free failure again


def test_login_throttle_right_password_clears_and_memory_is_bounded():
    from dashboard.login_throttle import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(free_failures=1, max_keys=3, forget_after_s=100, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed(["a"])
    assert throttle.wait_s(["a"]) > 0
    throttle.succeeded(["a"])
    assert throttle.wait_s(["a"]) == 0 and throttle.failed(["a"]) == 1  # a fresh start
    for key in ("b", "c", "d"):  # a flood of new keys: the least recently seen go first
        now[0] += 1
        throttle.failed([key])
    assert sorted(throttle._records) == ["b", "c", "d"]  # "a" was the least recently seen


def test_password_fields_are_masked_and_the_wait_is_announced(env, caplog):
    at = home({"auth": {"password": "s3cret", "admin_password": "boss"}}).run()
    assert at.text_input[0].proto.type == at.text_input[0].proto.PASSWORD
    for attempt in range(6):
        at.text_input[0].set_value(f"guess{attempt}")
        at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password. Try again in 2 s."]  # the 6th failure starts the wait
    line = [r.getMessage() for r in caplog.records if r.name == "emotion_dashboard.auth"][0]
    assert line == "wrong team password from unknown address (failure 1)"


def test_one_address_is_throttled_across_sessions(env, monkeypatch):
    """A client that opens a new session for every guess still meets the back-off of its address."""
    from dashboard import auth

    monkeypatch.setattr(auth, "_client_ip", lambda: "10.1.2.3")
    for attempt in range(6):  # six fresh sessions, one wrong password each
        at = home({"auth": {"password": "s3cret"}}).run()
        at.text_input[0].set_value(f"guess{attempt}")
        at.button[0].click().run()
    fresh = home({"auth": {"password": "s3cret"}}).run()
    fresh.text_input[0].set_value("s3cret")
    fresh.button[0].click().run()
    assert any("Too many wrong passwords" in e.value for e in fresh.error)
    monkeypatch.setattr(auth, "_client_ip", lambda: "10.9.9.9")  # another address is not affected
    other = home({"auth": {"password": "s3cret"}}).run()
    other.text_input[0].set_value("s3cret")
    other.button[0].click().run()
    assert any(t.value == "Facial emotion dashboard" for t in other.title)


def test_admin_unlock_hides_the_admin_form_and_training_is_visible_without_hide_training(env):
    at = home({"auth": {"admin_password": "boss"}}).run()
    assert "Training" in [p.label for p in at.get("page_link")]  # hide_training defaults to false
    assert at.sidebar.text_input[0].proto.type == at.sidebar.text_input[0].proto.PASSWORD
    at.sidebar.text_input[0].set_value("boss")
    at.sidebar.button[0].click().run()
    assert not at.sidebar.text_input  # unlocked: no admin form any more


def test_the_forms_say_what_they_are_and_the_first_refusal_is_plain(env):
    """What a visitor sees: the labels and keys of both forms, and no wait announced after one wrong try."""
    at = home({"auth": {"password": "s3cret", "admin_password": "boss"}}).run()
    (login,) = at.get("form")
    assert login.proto.form.form_id == "login" and at.text_input[0].form_id == "login"
    assert [t.label for t in at.text_input] == ["Team password"] and [b.label for b in at.button] == ["Enter"]
    at.text_input[0].set_value("nope")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert len(at.session_state["_auth_session_id"]) == 16  # 8 random bytes as hex, one per browser session
    at.text_input[0].set_value("s3cret")
    at.button[0].click().run()
    (expander,) = at.sidebar.expander
    assert expander.label == "Admin"
    assert [(t.label, t.key) for t in at.sidebar.text_input] == [("Admin password", "admin_pw")]
    assert [(b.label, b.key) for b in at.sidebar.button] == [("Unlock", "admin_unlock")]
