"""Live sessions counted across the app processes of one machine (dashboard/live/machine_sessions.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from dashboard.live import processor as live
from dashboard.live.machine_sessions import FRESH_S, MachineSessions


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_each_process_sees_the_others_sessions_not_its_own(tmp_path):
    clock = _Clock()
    here = MachineSessions(tmp_path, pid=os.getpid(), clock=clock)
    neighbour = MachineSessions(tmp_path, pid=os.getppid(), clock=clock)  # another live process
    here.publish(2)
    neighbour.publish(3)
    assert here.others() == 3 and neighbour.others() == 2
    neighbour.publish(0)  # a changed count is written at once
    assert here.others() == 0


def test_an_unchanged_count_is_rewritten_once_a_second_and_a_silent_one_goes_stale(tmp_path):
    clock = _Clock()
    here = MachineSessions(tmp_path, pid=os.getpid(), clock=clock)
    neighbour = MachineSessions(tmp_path, pid=os.getppid(), clock=clock)
    neighbour.publish(4)
    written = (tmp_path / f"{os.getppid()}.json").stat().st_mtime_ns
    clock.now += 0.5
    neighbour.publish(4)  # every frame calls this: no write within the second
    assert (tmp_path / f"{os.getppid()}.json").stat().st_mtime_ns == written
    clock.now += FRESH_S
    assert here.others() == 0  # silent for longer than FRESH_S: it stopped streaming or hangs
    neighbour.publish(4)
    assert here.others() == 4  # fresh again


def test_a_dead_process_counts_nothing_and_its_file_goes(tmp_path):
    clock = _Clock()
    dead = _dead_pid()
    (tmp_path / f"{dead}.json").write_text(json.dumps({"pid": dead, "sessions": 5, "time": clock.now}))
    (tmp_path / "notes.json").write_text("{}")  # not a count file
    (tmp_path / f"{os.getppid()}.json").write_text("{half")  # torn or foreign: ignored
    assert MachineSessions(tmp_path, pid=os.getpid(), clock=clock).others() == 0
    assert not (tmp_path / f"{dead}.json").exists()


def test_an_unwritable_folder_leaves_frames_running_and_is_logged_once(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    here = MachineSessions(blocker / "live", pid=os.getpid())
    with caplog.at_level("WARNING", logger="emotion_dashboard.live"):
        here.publish(1)
        here.publish(2)
    assert caplog.text.count("Cannot share the Live session count") == 1
    assert here.others() == 0


def test_admission_counts_the_sessions_of_the_machines_other_app_processes(tmp_path, monkeypatch):
    """Capacity is the machine's: a newcomer to a process with nobody streaming is refused while another
    process on the machine already fills it."""
    stats = live.ServerStats(MachineSessions(tmp_path, pid=os.getpid()))
    monkeypatch.setattr(stats.cpu, "ms", lambda: 1000.0)  # one frame costs a core-second: capacity 1
    neighbour = MachineSessions(tmp_path, pid=os.getppid())
    assert stats.admission(1).admitted
    stats.forget(1)  # its visitor left before starting
    neighbour.publish(1)
    refused = stats.admission(2)
    assert not refused.admitted and (refused.sessions, refused.capacity) == (1, 1)
    neighbour.publish(0)
    assert stats.admission(2).admitted


def test_a_process_publishes_its_streaming_sessions_as_frames_come_and_sessions_leave(tmp_path):
    stats = live.ServerStats(MachineSessions(tmp_path, pid=os.getppid()))  # as if it were another process
    reader = MachineSessions(tmp_path, pid=os.getpid())
    stats.record(1, 1, ["happy"])
    stats.record(2, 0, [])
    assert reader.others() == 2
    stats.forget(1)
    assert reader.others() == 1


def test_video_threads_publishing_at_once_never_trip_over_each_other(tmp_path, caplog):
    """Every session's video thread publishes; one temporary file per process must not be raced for."""
    here = MachineSessions(tmp_path, pid=os.getppid())
    reader = MachineSessions(tmp_path, pid=os.getpid())

    def frames(start: int) -> None:
        for i in range(300):
            here.publish(start + i % 3)  # a changing count: every call writes

    with caplog.at_level("WARNING", logger="emotion_dashboard.live"):
        threads = [threading.Thread(target=frames, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert "Cannot share" not in caplog.text
    assert 0 <= reader.others() <= 6
