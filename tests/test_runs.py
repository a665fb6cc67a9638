"""Run directory helpers with exact expectations: atomic writes, status, ids, errors, the training lock.

No TensorFlow: these run in the mutation-testing selection (pyproject.toml).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from emotion_core import runs

ROOT = Path(__file__).resolve().parents[1]


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_atomic_write_replaces_the_whole_file_readable_by_others(tmp_path):
    target = tmp_path / "status.json"
    target.write_text("old contents that are longer than the new ones")
    runs.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert _temp_files(tmp_path) == []


def test_atomic_write_json_is_sorted_indented_and_ends_with_a_newline(tmp_path):
    runs.atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    target.write_text("intact")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(runs.RunError, match=f"Disk full: cannot write {target}"):
        runs.atomic_write_bytes(target, b"half")
    assert target.read_text() == "intact" and _temp_files(tmp_path) == []


def test_a_failed_write_removes_the_temp_file(tmp_path, monkeypatch):
    def fsync_fails(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync_fails)
    with pytest.raises(runs.RunError, match="Cannot write .*x.json: Input/output error"):
        runs.atomic_write_bytes(tmp_path / "x.json", b"data")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_named_in_the_error(tmp_path):
    missing = tmp_path / "gone"
    with pytest.raises(runs.RunError, match=f"Cannot write {missing}/x.json: No such file"):
        runs.atomic_write_bytes(missing / "x.json", b"data")


@pytest.mark.parametrize("code, expected", [
    (errno.ENAMETOOLONG, "The name is too long: /p..."),
    (errno.ELOOP, "Too many levels of symbolic links (a link loop?) at /p."),
    (errno.ENOSPC, "Disk full: cannot write /p. Free some space and try again."),
    (errno.EACCES, "No permission to write /p (why). Choose a writable runs directory."),
    (errno.EPERM, "No permission to write /p (why). Choose a writable runs directory."),
    (errno.EROFS, "No permission to write /p (why). Choose a writable runs directory."),
    (errno.EIO, "Cannot write /p: why"),
])
def test_os_errors_become_one_sentence(code, expected):
    assert runs.describe_os_error(OSError(code, "why"), "/p") == expected


def test_os_error_sentences_fall_back_to_the_error_s_own_file_name():
    assert runs.describe_os_error(OSError(errno.EIO, "why", "/from/exc")) == "Cannot write /from/exc: why"
    assert runs.describe_os_error(OSError(errno.EIO, "why")) == "Cannot write a file: why"
    assert runs.describe_os_error(OSError("plain")) == "Cannot write a file: plain"
    long = "/x" * 200
    assert runs.describe_os_error(OSError(errno.ENAMETOOLONG, "long"), long) == f"The name is too long: {long[:120]}..."


def test_read_json_gives_the_default_for_missing_or_corrupt_files(tmp_path):
    assert runs.read_json(tmp_path / "missing.json", "default") == "default"
    (tmp_path / "bad.json").write_text("{torn")
    assert runs.read_json(tmp_path / "bad.json") is None
    (tmp_path / "good.json").write_text('{"a": 1}')
    assert runs.read_json(tmp_path / "good.json", "default") == {"a": 1}


@pytest.mark.parametrize("run_id", ["a", "A.b_c-9", "9" + "x" * 99])
def test_plain_run_ids_are_accepted(run_id):
    assert runs.check_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", ["", ".hidden", "-flag", "_x", "a/b", "a..b", "..", "x" * 101, "a b", "é",
                                    None, 5])
def test_other_run_ids_are_refused(run_id):
    with pytest.raises(runs.RunError, match="is not allowed: use up to 100 letters"):
        runs.check_run_id(run_id)


def test_create_run_dir_makes_missing_parents_and_names_failures(tmp_path):
    path = runs.create_run_dir(tmp_path / "new" / "runs", "first")
    assert path == tmp_path / "new" / "runs" / "first" and path.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(runs.RunError, match="Cannot write .*file/first"):
        runs.create_run_dir(tmp_path / "file", "first")


def test_new_run_ids_count_up_from_two(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt: "20261126-101500")
    assert runs.new_run_id("XS", tmp_path) == "20261126-101500-xs"
    (tmp_path / "20261126-101500-xs").mkdir()
    assert runs.new_run_id("XS", tmp_path) == "20261126-101500-xs-2"
    (tmp_path / "20261126-101500-xs-2").mkdir()
    assert runs.new_run_id("XS", tmp_path) == "20261126-101500-xs-3"


def test_a_finished_child_that_is_not_reaped_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while time.time() < deadline:  # exited but not waited for: a zombie
        state = Path(f"/proc/{child.pid}/stat").read_text().split(") ", 1)[1][0]
        if state == "Z":
            break
        time.sleep(0.05)
    try:
        assert not runs.pid_alive(child.pid)
    finally:
        child.wait()


def test_another_user_s_process_counts_as_alive(monkeypatch):
    def not_permitted(pid, sig):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_permitted)
    assert runs.pid_alive(1)


def test_write_status_keeps_earlier_fields_and_stamps_the_time(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1000.0)
    runs.write_status(tmp_path, "created", pid=os.getpid(), message="starting")
    monkeypatch.setattr(time, "time", lambda: 2000.0)
    runs.write_status(tmp_path, "running", epoch=3)
    assert json.loads((tmp_path / "status.json").read_text()) == {
        "state": "running", "pid": os.getpid(), "message": "starting", "epoch": 3, "updated": 2000.0}


def test_write_status_starts_over_from_a_corrupt_file(tmp_path):
    (tmp_path / "status.json").write_text("null")
    runs.write_status(tmp_path, "failed", message="boom")
    assert {k: v for k, v in runs.read_status(tmp_path).items() if k != "updated"} == {
        "state": "failed", "message": "boom"}


def test_read_status_of_a_live_run_dead_run_and_missing_file(tmp_path):
    assert runs.read_status(tmp_path) == {"state": "unknown", "message": "status.json is missing or unreadable",
                                          "problems": ["status.json is missing or not valid JSON"]}
    (tmp_path / "status.json").write_text("[1]")
    assert runs.read_status(tmp_path)["problems"] == ["status.json is not a table (found list)"]
    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "pid": os.getpid()}))
    assert runs.read_status(tmp_path) == {"state": "running", "pid": os.getpid()}
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "pid": dead.pid, "epoch": 2}))
    assert runs.read_status(tmp_path) == {"state": "interrupted", "pid": dead.pid, "epoch": 2}
    (tmp_path / "status.json").write_text(json.dumps({"state": "stopped", "pid": dead.pid}))
    assert runs.read_status(tmp_path)["state"] == "stopped"  # only a running state can be interrupted


def test_a_torn_last_metrics_line_is_dropped_and_bad_rows_skipped(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,2.0\n2,x\n3,1.0,9\n4\n5,1.5\n6,1.")
    assert runs.read_metrics(tmp_path) == [{"epoch": 1.0, "loss": 2.0}, {"epoch": 5.0, "loss": 1.5}]
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,\n")
    assert runs.read_metrics(tmp_path) == [{"epoch": 1.0}]  # an empty cell is left out, the row kept
    (tmp_path / "metrics.csv").write_text("")
    assert runs.read_metrics(tmp_path) == []


def test_metrics_rows_are_appended_under_one_header(tmp_path):
    for epoch in (1, 2, 3):
        runs.append_metrics_row(tmp_path, {"epoch": epoch, "loss": 1.0 / epoch})
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "epoch,loss", "1,1.0", "2,0.5", "3,0.3333333333333333"]
    runs.truncate_metrics(tmp_path, 5)  # fewer rows than asked: nothing changes
    assert len(runs.read_metrics(tmp_path)) == 3


def test_metrics_append_errors_name_the_file(tmp_path):
    (tmp_path / "metrics.csv").mkdir()
    with pytest.raises(runs.RunError, match="metrics.csv"):
        runs.append_metrics_row(tmp_path, {"epoch": 1})


def test_run_info_reports_state_accuracy_and_servability(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"variant": "xs"}))
    (tmp_path / "status.json").write_text(json.dumps({"state": "completed"}))
    info = runs.load_run(tmp_path)
    assert (info.run_id, info.config, info.state, info.test_accuracy, info.servable, info.problems) == (
        tmp_path.name, {"variant": "xs"}, "completed", None, False, [])
    (tmp_path / "test_metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    (tmp_path / "model.tflite").write_bytes(b"x")
    info = runs.load_run(tmp_path)
    assert (info.test_accuracy, info.servable, info.problems) == (0.5, True, [])
    assert runs.RunInfo("x", tmp_path).state == "unknown"


def test_stop_request_file_is_named_stop(tmp_path):
    runs.request_stop(tmp_path)
    assert (tmp_path / "STOP").read_text() == "stop requested\n"


def test_lock_is_taken_released_and_reported(tmp_path):
    path = tmp_path / "deep" / "training.lock"
    lock = runs.TrainingLock(path)
    assert runs.TrainingLock(path).holder() is None  # no file yet
    assert lock.acquire("mine")
    assert json.loads(path.read_text()) == {"pid": os.getpid(), "run_id": "mine"}
    assert runs.TrainingLock(path).holder() == {"pid": os.getpid(), "run_id": "mine"}
    assert not runs.TrainingLock(path).acquire("other")  # a second description in the same process
    lock.release()
    lock.release()  # twice is harmless
    assert runs.TrainingLock(path).holder() is None
    again = runs.TrainingLock(path)
    assert again.acquire("next") and json.loads(path.read_text())["run_id"] == "next"  # old content replaced
    path.write_text("not json")
    assert runs.TrainingLock(path).holder() == {"pid": None, "run_id": None}
    again.release()


def test_lock_in_an_unwritable_place_raises_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(runs.RunError, match="Cannot open the training lock .*file/training.lock"):
        runs.TrainingLock(tmp_path / "file" / "training.lock").acquire("x")


def test_the_default_lock_lives_in_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path))
    assert runs.TrainingLock().path == tmp_path / "training.lock"


def test_probing_the_lock_never_makes_an_acquire_fail(tmp_path):
    """The Training page probes the lock every 2 s in every session; a training starting meanwhile must win."""
    path = tmp_path / "training.lock"
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            runs.TrainingLock(path).holder()

    probers = [threading.Thread(target=probe) for _ in range(3)]
    for t in probers:
        t.start()
    failures = 0
    try:
        for i in range(2000):
            lock = runs.TrainingLock(path)
            if lock.acquire(f"run-{i}"):
                lock.release()
            else:
                failures += 1
    finally:
        stop.set()
        for t in probers:
            t.join()
    assert failures == 0


def test_lock_holder_is_reported_from_another_process(tmp_path):
    path = tmp_path / "training.lock"
    code = ("import sys, time; from emotion_core import runs; lock = runs.TrainingLock(sys.argv[1]); "
            "assert lock.acquire('other'); print('held', flush=True); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert runs.TrainingLock(path).holder() == {"pid": proc.pid, "run_id": "other"}
        assert not runs.TrainingLock(path).acquire("mine")
    finally:
        proc.kill()
        proc.wait()
    assert runs.TrainingLock(path).holder() is None  # the lock died with the process


def test_a_created_run_is_interrupted_only_once_a_process_took_it_on(tmp_path):
    (tmp_path / "status.json").write_text(json.dumps({"state": "created", "pid": None}))
    assert runs.read_status(tmp_path)["state"] == "created"  # waiting for its training process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "status.json").write_text(json.dumps({"state": "created", "pid": dead.pid}))
    assert runs.read_status(tmp_path)["state"] == "interrupted"  # the process died before its first write
    (tmp_path / "status.json").write_text(json.dumps({"state": "created", "pid": os.getpid()}))
    assert runs.read_status(tmp_path)["state"] == "created"


def test_run_dir_names_every_file_once(tmp_path):
    run = runs.RunDir(str(tmp_path))
    names = {attr: getattr(run, attr).name for attr in (
        "config", "status", "metrics", "progress", "state", "best_model", "last_model", "keras_model",
        "tflite_model", "saved_model", "test_metrics", "confusion_matrix", "predictions", "log", "stop_file")}
    assert names == {"config": "config.json", "status": "status.json", "metrics": "metrics.csv",
                     "progress": "progress.json", "state": "state.json", "best_model": "best.keras",
                     "last_model": "last.keras", "keras_model": "model.keras", "tflite_model": "model.tflite",
                     "saved_model": "saved_model", "test_metrics": "test_metrics.json",
                     "confusion_matrix": "confusion_matrix.json", "predictions": "test_predictions.npz",
                     "log": "train.log", "stop_file": "STOP"}
    assert all(getattr(run, a).parent == tmp_path for a in names) and run.name == tmp_path.name
    assert [p.name for p in run.model_files] == ["model.tflite", "model.keras", "best.keras"]


def test_run_dir_config_and_state(tmp_path):
    run = runs.RunDir(tmp_path)
    assert run.read_config(missing_ok=True) == {} and run.read_state() is None
    with pytest.raises(runs.RunError, match="config.json is missing: .* is not a run or model directory"):
        run.read_config()
    run.write_config({"variant": "xs"})
    assert run.read_config() == {"variant": "xs"}
    run.config.write_text("[1, 2]")
    with pytest.raises(runs.RunError, match=r"config.json is not a JSON table \(found list\)"):
        run.read_config(missing_ok=True)
    run.config.write_text("{torn")
    with pytest.raises(runs.RunError, match="config.json is unreadable"):
        run.read_config()
    run.write_state({"epochs_done": 3})
    assert run.read_state() == {"epochs_done": 3}
    run.state.write_text("[]")
    assert run.read_state() is None
