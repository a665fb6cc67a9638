"""The Live page's connection line: what a visitor is told, what the server log records."""

from __future__ import annotations

import logging

from dashboard.live.connection import ConnectionWatch


def test_phases_from_idle_to_streaming_and_a_failure_logged_once(caplog):
    now = [0.0]
    watch = ConnectionWatch(session="abc", relay_only=True, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="emotion_dashboard.webrtc")
    assert watch.observe(False, None, None).phase == "idle"
    assert watch.observe(True, None, None).phase == "connecting"
    now[0] = 5
    assert watch.observe(True, "checking", None).phase == "connecting"
    now[0] = 12
    slow = watch.observe(True, "checking", None)
    assert slow.phase == "slow" and slow.level == "warning" and "turn_secret" in slow.message
    assert "12 s" in slow.message
    now[0] = 13
    watch.observe(True, "checking", None)  # still slow: not logged again
    failed = watch.observe(True, "failed", None)
    assert failed.phase == "failed" and failed.level == "error" and "TURN" in failed.message
    phases = [r.getMessage() for r in caplog.records if r.name == "emotion_dashboard.webrtc"]
    assert [p.split(": ")[1].split(" ")[:3] for p in phases] == [
        ["idle", "->", "connecting"], ["connecting", "->", "slow"], ["slow", "->", "failed"]]
    assert [r.levelname for r in caplog.records][-2:] == ["WARNING", "ERROR"]


def test_streaming_then_stalled_and_back_to_idle_after_stop():
    now = [0.0]
    watch = ConnectionWatch(clock=lambda: now[0])
    assert watch.observe(True, "completed", 0.1).phase == "streaming"
    stalled = watch.observe(True, "completed", 8.0)
    assert stalled.phase == "stalled" and "8 s" in stalled.message
    assert watch.observe(False, None, 8.0).phase == "idle"  # "waiting" is never shown before Start
    assert "STUN/TURN" in ConnectionWatch().observe(True, "failed", None).message
