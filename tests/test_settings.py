"""WebRTC settings: ICE servers and the webcam constraints asked of each browser."""

from __future__ import annotations

import json

import pytest

from dashboard import settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EMOTION_ICE_SERVERS", "EMOTION_LIVE_MAX_FPS", "EMOTION_LIVE_MAX_WIDTH"):
        monkeypatch.delenv(name, raising=False)


def test_ice_servers_from_environment(monkeypatch):
    turn = {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}
    monkeypatch.setenv("EMOTION_ICE_SERVERS", json.dumps([{"urls": ["stun:stun.example.org"]}, turn]))
    assert settings.rtc_configuration() == {"iceServers": [{"urls": ["stun:stun.example.org"]}, turn]}


def test_no_ice_servers_by_default_and_on_bad_json(monkeypatch):
    assert settings.rtc_configuration() == {"iceServers": []}
    monkeypatch.setenv("EMOTION_ICE_SERVERS", "not json [")
    assert settings.ice_servers() == []
    monkeypatch.setenv("EMOTION_ICE_SERVERS", json.dumps(["stun:x", 3, {"urls": "stun:y"}]))
    assert settings.ice_servers() == [{"urls": "stun:y"}]  # entries that are not objects are dropped


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
