"""Live admission control: CPU per frame measured on the process, capacity from it, who gets in."""

from __future__ import annotations

import logging

import pytest

from dashboard import capacity, live
from dashboard.capacity import CpuPerFrame, admit


class _Clock:
    def __init__(self) -> None:
        self.now, self.cpu = 0.0, 0.0


def _meter(clock: _Clock) -> CpuPerFrame:
    return CpuPerFrame(clock=lambda: clock.now, cpu=lambda: clock.cpu)


def test_cpu_per_frame_is_measured_over_recent_frames():
    clock = _Clock()
    meter = _meter(clock)
    assert meter.ms() is None
    for _ in range(60):  # 15 frames a second, 40 ms of CPU each
        clock.now += 1 / 15
        clock.cpu += 0.040
        meter.frame()
    assert meter.ms() == pytest.approx(40, rel=0.1)
    for _ in range(15 * 30):  # then 30 s at 20 ms a frame: the window forgets the old frames
        clock.now += 1 / 15
        clock.cpu += 0.020
        meter.frame()
    assert meter.ms() == pytest.approx(20, rel=0.1)


def test_too_few_frames_measure_nothing():
    clock = _Clock()
    meter = _meter(clock)
    for _ in range(capacity.MIN_FRAMES - 5):
        clock.now += 0.1
        clock.cpu += 0.05
        meter.frame()
    assert meter.ms() is None


@pytest.mark.parametrize("ms, cores, expected", [(45, 2, 3), (20, 2, 8), (5, 2, 34), (500, 2, 1), (45, 16, 30)])
def test_capacity_gives_every_session_ten_frames_a_second(ms, cores, expected):
    assert capacity.capacity(ms, cores) == expected
    if expected > 1:  # one more session would get less than MIN_FPS on the usable share of the cores
        assert cores * 1000 * capacity.HEADROOM / (ms * (expected + 1)) < capacity.MIN_FPS


def test_newcomers_wait_when_full_and_streaming_sessions_stay(caplog):
    assert admit(False, 0, None).admitted  # nothing measured yet: everyone in
    assert admit(False, 2, 45, cores=2).admitted  # room for a third at 45 ms
    with caplog.at_level(logging.WARNING, logger="emotion_dashboard.live"):
        full = admit(False, 3, 45, cores=2)
    assert not full.admitted and "The server is busy: 3 colleagues" in full.message
    assert "refused: 3 streaming, capacity 3" in caplog.text
    assert admit(True, 5, 45, cores=2).admitted  # a session that streams is never cut off


def test_server_stats_admit_by_measured_capacity(monkeypatch):
    stats = live.ServerStats()
    monkeypatch.setattr(stats.cpu, "ms", lambda: 1000.0)  # one frame costs a core-second: capacity 1
    assert stats.admission(1).admitted
    stats.record(1, 1, ["happy"])
    assert stats.admission(1).admitted  # itself
    refused = stats.admission(2)
    assert not refused.admitted and (refused.sessions, refused.capacity) == (1, 1)
    stats.forget(1)
    assert stats.admission(2).admitted
