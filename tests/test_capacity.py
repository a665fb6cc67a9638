"""Live admission control: CPU per frame measured on the process, capacity from it, who gets in."""

from __future__ import annotations

import logging
import os

import pytest

from dashboard.live import capacity, processor as live
from dashboard.live.capacity import CpuPerFrame, admit


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


class _Load:
    """A fake clock, process CPU and machine CPU for FairShare (2 cores)."""

    def __init__(self) -> None:
        self.now, self.cpu, self.busy, self.total = 0.0, 0.0, 0.0, 0.0

    def share(self) -> capacity.FairShare:
        return capacity.FairShare(cores=2, clock=lambda: self.now, process_cpu=lambda: self.cpu,
                                  machine=lambda: (self.busy, self.total))

    def run(self, share: capacity.FairShare, seconds: float, offered: dict[int, float],
            process_cores: float, machine_busy: float = 0.0, latency_ms: float = 20.0) -> dict[int, int]:
        """Sessions offering frames at their rates for `seconds`; the process uses `process_cores` of the
        cores meanwhile, the machine `machine_busy` of itself. Returns the frames each session processed."""
        step, processed = 1 / 120, {s: 0 for s in offered}
        due = dict.fromkeys(offered, self.now)
        for _ in range(round(seconds / step)):
            self.now += step
            self.cpu += process_cores * step
            self.busy, self.total = self.busy + 2 * machine_busy * step, self.total + 2 * step
            for session, fps in offered.items():
                if self.now >= due[session]:
                    due[session] += 1 / fps
                    if share.allow(session):
                        processed[session] += 1
                        share.observe(latency_ms)
        return processed


def test_every_session_processes_at_most_the_cap_and_a_slower_webcam_its_own_rate():
    load = _Load()
    share = load.share()
    share.cap = 10.0
    got = load.run(share, 1.9, {1: 15, 2: 30, 3: 8}, process_cores=1.0)  # before the first adjustment
    assert 18 <= got[1] <= 21 and 18 <= got[2] <= 21  # 10 fps each, whatever their webcams send
    assert got[3] == pytest.approx(8 * 1.9, abs=1)  # under the cap: every frame


def test_an_overloaded_server_drops_tta_views_then_lowers_everyones_rate_evenly_then_recovers():
    load = _Load()
    share = load.share()
    sessions = {s: 15.0 for s in range(6)}
    load.run(share, 2.05, sessions, process_cores=2.0)  # all cores busy: load 1/0.85
    assert share.load == pytest.approx(1 / capacity.HEADROOM, rel=0.01)
    assert (share.views, share.cap) == (2, capacity.MAX_CAP_FPS)  # a little accuracy goes first
    load.run(share, 2.1, sessions, process_cores=2.0)
    assert (share.views, share.cap) == (1, capacity.MAX_CAP_FPS)
    load.run(share, 2.1, sessions, process_cores=2.0)  # then the frame rate: what they got, over the load
    assert share.views == 1 and share.cap == pytest.approx(15 * capacity.HEADROOM, rel=0.05)
    got = load.run(share, 4.0, sessions, process_cores=1.6)
    counts = sorted(got.values())
    assert counts[-1] - counts[0] <= 1, got  # even: nobody starved, nobody ahead
    assert counts[0] <= 4.0 * share.cap + capacity.BURST_FRAMES
    lowered = share.cap
    load.run(share, 6.0, sessions, process_cores=0.5)  # room again: up a frame at a time while it binds
    assert share.cap == pytest.approx(lowered + 3 * capacity.RAISE_FPS, abs=capacity.RAISE_FPS)
    load.run(share, 7.0, {1: 8.0}, process_cores=0.3)  # one slow webcam left: the cap binds nobody, it goes
    assert share.cap == capacity.MAX_CAP_FPS and share.views == 4  # and then the TTA views come back


def test_a_machine_busy_with_other_work_lowers_the_cap_too():
    load = _Load()
    share = load.share()
    load.run(share, 6.5, {1: 15.0, 2: 15.0}, process_cores=0.5, machine_busy=1.0)  # browsers, training...
    assert share.load == pytest.approx(1 / capacity.MACHINE_BUSY, rel=0.01)
    assert share.views == 1 and share.cap < 15


def test_the_cap_stops_at_its_floor_and_then_newcomers_wait(caplog):
    load = _Load()
    share = load.share()
    sessions = {s: 15.0 for s in range(12)}
    load.run(share, 30.0, sessions, process_cores=2.0)
    assert share.cap == capacity.FLOOR_FPS and share.views == 1 and share.saturated
    got = load.run(share, 2.0, sessions, process_cores=2.0)
    assert min(got.values()) >= 2 * capacity.FLOOR_FPS - 1  # still a view for everyone
    with caplog.at_level(logging.WARNING, logger="emotion_dashboard.live"):
        refused = admit(False, 12, 10, cores=2, saturated=True)  # capacity says 17, the cores say no
    assert not refused.admitted and f"only {capacity.FLOOR_FPS:.0f} frames per second" in refused.message
    assert "held to 5 fps" in caplog.text
    assert admit(True, 12, 10, cores=2, saturated=True).admitted  # a streaming session stays
    assert admit(False, 0, 10, cores=2, saturated=True).admitted  # an empty server takes anyone


def test_server_stats_refuse_newcomers_while_the_fair_cap_is_saturated(monkeypatch):
    stats = live.ServerStats()
    stats.record(1, 1, ["happy"])
    monkeypatch.setattr(type(stats.fair), "saturated", property(lambda self: True))
    assert stats.admission(1).admitted and not stats.admission(2).admitted
    assert "fps_cap" in stats.snapshot()


def test_niced_work_such_as_a_background_training_is_not_counted_as_busy():
    # user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user and nice)
    busy, total = capacity.busy_and_total("cpu  100 900 50 400 20 5 5 0 30 0")
    assert (busy, total) == (160.0, 1480.0)  # 900 jiffies of a niced training: room for the live sessions
    assert capacity.busy_and_total("cpu  10 0 10 80") == (20.0, 100.0)  # an old kernel's four columns


def test_a_training_started_from_the_page_runs_below_the_servers_priority():
    import os
    import subprocess
    import sys

    from dashboard import training

    prefix = training.lower_priority()
    assert prefix, "nice is missing"
    child = subprocess.run([*prefix, sys.executable, "-c", "import os; print(os.nice(0))"], capture_output=True,
                           text=True, check=True)
    assert int(child.stdout) == min(19, os.nice(0) + training.TRAINING_NICENESS)


def test_frames_that_wait_count_as_load_even_when_the_cpu_counters_look_fine():
    """With the browsers elsewhere the server's Python threads can queue for the interpreter lock at well under
    its share of the cores: the sessions' pipeline time says so."""
    load = _Load()
    share = load.share()
    load.run(share, 2.05, {s: 15.0 for s in range(8)}, process_cores=0.9, latency_ms=150.0)
    assert share.load == pytest.approx(1.5) and share.views == 2
    load.run(share, 4.2, {s: 15.0 for s in range(8)}, process_cores=0.9, latency_ms=150.0)
    assert share.views == 1 and share.cap < 15


def _ms_for(sessions: int) -> float:
    """CPU ms per frame at which this machine's cores hold exactly `sessions` Live sessions."""
    return (os.cpu_count() or 1) * 1000 * capacity.HEADROOM / (capacity.MIN_FPS * (sessions + 0.5))


def _stats(tmp_path, monkeypatch, sessions: int) -> tuple[live.ServerStats, _Clock]:
    """ServerStats on a fake clock whose measured capacity is `sessions`."""
    from dashboard.live.machine_sessions import MachineSessions

    clock = _Clock()
    clock.now = 1000.0
    stats = live.ServerStats(MachineSessions(tmp_path, clock=lambda: clock.now), clock=lambda: clock.now)
    monkeypatch.setattr(stats.cpu, "ms", lambda: _ms_for(sessions))
    return stats, clock


def test_visitors_who_press_start_together_are_admitted_only_as_far_as_the_capacity(tmp_path, monkeypatch):
    """Admitted visitors whose video is still connecting have sent no frame yet: they hold their places,
    so a burst of newcomers does not overfill the server."""
    stats, clock = _stats(tmp_path, monkeypatch, 2)
    assert stats.admission(1).admitted and stats.admission(2).admitted
    third = stats.admission(3)
    assert not third.admitted and (third.sessions, third.capacity) == (2, 2)
    clock.now += 2
    stats.record(1, 1, ["happy"])  # the first one's video is up; the second one still connects
    assert not stats.admission(3).admitted
    assert stats.snapshot()["connecting"] == 1


def test_an_admitted_session_keeps_its_place_while_its_video_connects(tmp_path, monkeypatch):
    """The video component reruns the page as it connects: a session admitted a moment ago is not turned away
    on that rerun because others filled the server meanwhile (its page would lose the video it just started)."""
    from dashboard.live.machine_sessions import MachineSessions

    stats, clock = _stats(tmp_path, monkeypatch, 1)
    assert stats.admission(1).admitted
    MachineSessions(tmp_path, pid=os.getppid(), clock=lambda: clock.now).publish(1)  # a neighbour fills up
    clock.now += 5
    assert stats.admission(1).admitted  # the rerun while connecting
    assert not stats.admission(2).admitted  # a newcomer is still refused


def test_a_place_held_by_a_video_that_never_connects_is_given_up(tmp_path, monkeypatch):
    stats, clock = _stats(tmp_path, monkeypatch, 1)
    assert stats.admission(1).admitted  # ...and its visitor closes the tab before the video connects
    clock.now += live.CONNECT_GRACE_S + 1
    assert stats.admission(2).admitted
    assert not stats.admission(1).admitted  # back later: a newcomer again, and now the server is full


def test_a_streaming_session_whose_frames_pause_keeps_its_place(tmp_path, monkeypatch):
    """Frames that stop for longer than the activity window (an overloaded server) do not make a streaming
    session a newcomer on its next rerun; a session that ended its video does."""
    stats, clock = _stats(tmp_path, monkeypatch, 1)
    assert stats.admission(1).admitted
    stats.record(1, 1, ["happy"])
    clock.now += live.ACTIVE_WINDOW_S + 10
    assert stats.admission(2).admitted  # 1 looks idle to newcomers: 2 gets the place...
    stats.record(2, 1, ["sad"])
    assert stats.admission(1).admitted  # ...and 1, whose video never ended, still streams
    stats.forget(1)
    assert not stats.admission(1).admitted


def test_places_held_while_connecting_count_for_the_machines_other_processes(tmp_path, monkeypatch):
    from dashboard.live.machine_sessions import MachineSessions

    stats, clock = _stats(tmp_path, monkeypatch, 1)
    assert stats.admission(1).admitted
    assert MachineSessions(tmp_path, pid=os.getppid(), clock=lambda: clock.now).others() == 1


def test_two_newcomers_deciding_at_the_same_moment_do_not_both_take_the_last_place(tmp_path, monkeypatch):
    """Each page runs in its own thread: the decision and the reservation happen at once, so a second
    newcomer deciding meanwhile sees the first one's place."""
    import threading

    stats, _ = _stats(tmp_path, monkeypatch, 1)
    answers: dict[int, live.Admission] = {}
    other = threading.Thread(target=lambda: answers.setdefault(2, stats.admission(2)))
    real_admit = live.admit

    def admit_while_another_decides(*args, **kwargs):
        if not other.is_alive() and 2 not in answers:  # the first decision: a second page asks meanwhile
            other.start()
            other.join(0.5)  # the second page gets as far as it can before the first one is decided
        return real_admit(*args, **kwargs)

    monkeypatch.setattr(live, "admit", admit_while_another_decides)
    answers[1] = stats.admission(1)
    other.join()
    assert answers[1].admitted and not answers[2].admitted
