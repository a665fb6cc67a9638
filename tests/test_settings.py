"""WebRTC settings: ICE servers and the webcam constraints asked of each browser."""

from __future__ import annotations

import json

import pytest

from dashboard import settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EMOTION_ICE_SERVERS", "EMOTION_LIVE_MAX_FPS", "EMOTION_LIVE_MAX_WIDTH", "EMOTION_ICE_TRANSPORT_POLICY",
                 "EMOTION_TURN_SECRET", "EMOTION_TURN_URLS", "EMOTION_TURN_TTL_S", "EMOTION_DETECTOR",
                 "EMOTION_ALIGN_FACES", "EMOTION_MAX_RECORDING_MINUTES"):
        monkeypatch.delenv(name, raising=False)


def test_ice_servers_from_environment(monkeypatch):
    turn = {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}
    monkeypatch.setenv("EMOTION_ICE_SERVERS", json.dumps([{"urls": ["stun:stun.example.org"]}, turn]))
    assert settings.rtc_configuration() == {"iceServers": [{"urls": ["stun:stun.example.org"]}, turn],
                                            "iceTransportPolicy": "all"}


def test_no_ice_servers_by_default():
    assert settings.rtc_configuration() == {"iceServers": [], "iceTransportPolicy": "all"}


@pytest.mark.parametrize("raw, fragment", [
    ("not json [", "not valid JSON"),
    ('{"urls": "stun:x"}', "must be a list"),
    ('["stun:x"]', "must be a table with urls"),
    ('[{"url": "stun:x"}]', "urls must list"),
    ('[{"urls": ["http://x"]}]', "urls must list"),
    ('[{"urls": ["turn:x:3478"]}]', "TURN server without username and credential"),
])
def test_bad_ice_servers_are_an_error_not_an_empty_list(monkeypatch, raw, fragment):
    monkeypatch.setenv("EMOTION_ICE_SERVERS", raw)
    with pytest.raises(settings.SettingsError, match=fragment):
        settings.validate_settings()


def test_relay_only_policy(monkeypatch):
    monkeypatch.setenv("EMOTION_ICE_TRANSPORT_POLICY", "relay")
    assert settings.rtc_configuration()["iceTransportPolicy"] == "relay"
    monkeypatch.setenv("EMOTION_ICE_TRANSPORT_POLICY", "relay-only")
    with pytest.raises(settings.SettingsError, match="ice_transport_policy"):
        settings.validate_settings()


def test_short_lived_turn_credentials_follow_coturn_use_auth_secret(monkeypatch):
    import base64
    import hashlib
    import hmac

    monkeypatch.setenv("EMOTION_TURN_SECRET", "north-wind")
    monkeypatch.setenv("EMOTION_TURN_URLS", "turn:127.0.0.1:3478,turn:127.0.0.1:3478?transport=tcp")
    monkeypatch.setenv("EMOTION_TURN_TTL_S", "600")
    entry = settings.turn_credentials(now=1_000_000)
    assert entry["urls"] == ["turn:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp"]
    assert entry["username"] == "1000500:emotion"  # expiry in steps of ttl/2: valid 300 to 600 s from now
    assert settings.turn_credentials(now=1_000_199) == entry  # the same within a step: stable page arguments
    assert settings.turn_credentials(now=1_000_200)["username"] == "1000800:emotion"
    expected = base64.b64encode(hmac.new(b"north-wind", b"1000500:emotion", hashlib.sha1).digest()).decode()
    assert entry["credential"] == expected
    assert "north-wind" not in json.dumps(settings.rtc_configuration())  # the secret never reaches a browser
    assert settings.rtc_configuration()["iceServers"][-1]["username"].endswith(":emotion")
    monkeypatch.delenv("EMOTION_TURN_URLS")
    with pytest.raises(settings.SettingsError, match="turn_urls"):
        settings.validate_settings()


def test_video_constraints_default_to_15_fps_at_640():
    video = settings.video_constraints()["video"]
    assert video["frameRate"] == {"ideal": 15, "max": 15}
    assert video["width"] == {"ideal": 640, "max": 640}
    assert video["height"] == {"ideal": 480}
    assert settings.video_constraints()["audio"] is False


@pytest.mark.parametrize("fps, width, expected_fps, expected_width", [
    ("10", "320", 10, 320),
    ("1000", "99999", 60, 1920),  # clamped
    ("0", "10", 1, 160),
    ("fast", "wide", 15, 640),  # unusable values fall back to the defaults
])
def test_video_constraints_from_environment(monkeypatch, fps, width, expected_fps, expected_width):
    monkeypatch.setenv("EMOTION_LIVE_MAX_FPS", fps)
    monkeypatch.setenv("EMOTION_LIVE_MAX_WIDTH", width)
    video = settings.video_constraints()["video"]
    assert video["frameRate"]["max"] == expected_fps
    assert video["width"]["max"] == expected_width
    assert video["height"]["ideal"] == expected_width * 3 // 4


def test_shipped_config_turns_the_file_watcher_off():
    """The watcher would follow .venv and overflow inotify; the browser tests pass the same value."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False
    # Streamlit itself refuses larger uploads (a 2 GB video never reaches the Video page); photos stop at 10 MB.
    assert config["server"]["maxUploadSize"] == 500


def test_detector_and_alignment_defaults_and_environment(monkeypatch):
    from emotion_core.serving.pipeline import ALIGN_BY_DEFAULT

    from emotion_core.serving.detect import DEFAULT_DETECTOR

    assert DEFAULT_DETECTOR == "blazeface-follow"  # faces from about 40 px: issue #29
    assert settings.detector_kind() == DEFAULT_DETECTOR and settings.align_faces() is ALIGN_BY_DEFAULT
    monkeypatch.setenv("EMOTION_DETECTOR", "haar")
    monkeypatch.setenv("EMOTION_ALIGN_FACES", "false")
    assert settings.detector_kind() == "haar" and settings.align_faces() is False
    monkeypatch.setenv("EMOTION_ALIGN_FACES", " TRUE ")
    assert settings.align_faces() is True
    settings.validate_settings()


def test_detect_every_default_environment_and_secrets(monkeypatch, tmp_path):
    assert settings.detect_every() == 1
    monkeypatch.setenv("EMOTION_DETECT_EVERY", " 3 ")
    assert settings.detect_every() == 3
    monkeypatch.delenv("EMOTION_DETECT_EVERY")
    monkeypatch.setattr(settings, "secret", lambda section, key, default=None: 10 if key == "detect_every" else default)
    assert settings.detect_every() == 10


def test_reuse_below_default_environment_and_secrets(monkeypatch):
    from emotion_core.serving.pipeline import REUSE_BELOW

    assert settings.reuse_below() == REUSE_BELOW
    monkeypatch.setenv("EMOTION_REUSE_BELOW", "0")
    assert settings.reuse_below() == 0.0  # off: every face classified on every frame
    monkeypatch.delenv("EMOTION_REUSE_BELOW")
    monkeypatch.setattr(settings, "secret", lambda section, key, default=None: 2.5 if key == "reuse_below" else default)
    assert settings.reuse_below() == 2.5


def test_live_overlays_default_environment_and_secrets(monkeypatch):
    assert settings.overlays_drawn_by() == "server"  # the annotated video back, boxes on their own frames
    monkeypatch.setenv("EMOTION_LIVE_OVERLAYS", " Browser ")
    assert settings.overlays_drawn_by() == "browser"
    monkeypatch.delenv("EMOTION_LIVE_OVERLAYS")
    monkeypatch.setattr(settings, "secret", lambda section, key, default=None: "browser" if key == "overlays" else default)
    assert settings.overlays_drawn_by() == "browser"


def test_recording_limit_default_and_environment(monkeypatch):
    assert settings.max_recording_seconds() == 600
    monkeypatch.setenv("EMOTION_MAX_RECORDING_MINUTES", "0.5")
    assert settings.max_recording_seconds() == 30


@pytest.mark.parametrize("name, value, fragment", [
    ("EMOTION_DETECTOR", "mtcnn", "must be one of blazeface, blazeface-full, blazeface-multi, blazeface-tiles, "
                                  "blazeface-follow, haar; got 'mtcnn'"),
    ("EMOTION_ALIGN_FACES", "maybe", "must be true or false; got 'maybe'"),
    ("EMOTION_MAX_RECORDING_MINUTES", "ten", "must be a number of minutes above 0 and at most 1440; got 'ten'"),
    ("EMOTION_MAX_RECORDING_MINUTES", "-1", "max_recording_minutes"),
    ("EMOTION_MAX_RECORDING_MINUTES", "nan", "max_recording_minutes"),
    ("EMOTION_DETECT_EVERY", "0", "detect_every .* must be a whole number from 1 to 10; got '0'"),
    ("EMOTION_DETECT_EVERY", "11", "detect_every"),
    ("EMOTION_DETECT_EVERY", "2.5", "detect_every"),
    ("EMOTION_REUSE_BELOW", "-1", "reuse_below .* must be a number of gray levels from 0 to 50 .*; got '-1'"),
    ("EMOTION_REUSE_BELOW", "nan", "reuse_below"),
    ("EMOTION_REUSE_BELOW", "lots", "reuse_below"),
    ("EMOTION_LIVE_OVERLAYS", "client", r"\[live\] overlays .* must be \"server\" or \"browser\"; got 'client'"),
])
def test_bad_detector_settings_stop_the_app(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match=fragment):
        settings.validate_settings()
