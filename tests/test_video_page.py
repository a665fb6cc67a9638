"""The Video page (AppTest): upload, background analysis, results, downloads, bad files, one job at a time."""

from __future__ import annotations

import csv
import gc
import io
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.session_files import SessionFolder
from emotion_core.media.face_table import VIDEO_COLUMNS
from emotion_core.media.video import VideoReader
from tests.download_helpers import capture_downloads
from tests.video_helpers import moving_faces, write_clip

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "app_pages" / "7_Video.py")


@pytest.fixture
def served(monkeypatch):
    """The real served model (the tiny test run cannot tell faces apart) and the project root as cwd."""
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(ROOT / "models" / "default"))
    monkeypatch.chdir(ROOT)


def until_done(at: AppTest, seconds: float = 120) -> AppTest:
    """Rerun the page until its job has ended and the results (or the error) are shown."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        at.run()
        job = at.session_state["video_job"] if "video_job" in at.session_state else None
        if job is not None and not job.running and (at.get("download_button") or at.error):
            return at
        time.sleep(0.3)
    raise AssertionError("the video job did not finish")


def uploaded(at: AppTest, name: str, data: bytes, mime: str = "video/mp4") -> AppTest:
    at.get("file_uploader")[0].upload(name, data, mime).run()
    return at


def test_a_video_is_analysed_in_the_background_with_results_and_downloads(served, tmp_path, monkeypatch):
    downloaded = capture_downloads(monkeypatch)
    clip = write_clip(tmp_path / "talk.mp4", moving_faces(20, faces=2, side=260))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    at.number_input(key="video_every").set_value(2)
    uploaded(at, "talk.mp4", clip.read_bytes())
    at.button(key="video_start").click().run()
    until_done(at)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Frames analysed"] == "10" and metrics["People (tracks)"] == "2"
    table = at.dataframe[0].value
    assert list(table["frames"]) == [10, 10] and set(table.columns) >= {"track", "dominant", "share", "happy"}
    downloads = {d.label for d in at.get("download_button")}
    assert downloads == {"Download CSV", "Download JSON", "Download annotated MP4"}
    assert len(at.get("plotly_chart")) == 3 and at.get("video")  # every person at once, one person, shares
    rows = list(csv.DictReader(io.StringIO(downloaded(at, "Download CSV").decode())))
    assert tuple(rows[0]) == VIDEO_COLUMNS and len(rows) == 20 and {r["track"] for r in rows} == {"0", "1"}
    assert json.loads(downloaded(at, "Download JSON"))["settings"]["every"] == 2
    (tmp_path / "back.mp4").write_bytes(downloaded(at, "Download annotated MP4"))
    assert sum(1 for _ in VideoReader(tmp_path / "back.mp4")) == 10
    job = at.session_state["video_job"]
    assert job.snapshot().result.source == "talk.mp4" and job.folder.is_dir()
    at.selectbox(key="video_track").set_value(1).run()  # the other person's timeline
    assert not at.exception


def test_files_that_are_not_videos_or_are_cut_short_get_a_clear_message(served, tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    uploaded(at, "holiday.mp4", b"this is not a video at all")
    at.button(key="video_start").click().run()
    until_done(at)
    assert any("holiday.mp4 is not a readable video" in e.value for e in at.error)
    clip = write_clip(tmp_path / "long.webm", moving_faces(150, 320, 240, side=150), codec="libvpx").read_bytes()
    uploaded(at, "long.webm", clip[: len(clip) * 6 // 10], "video/webm")
    at.button(key="video_start").click().run()
    until_done(at)
    assert any("cut short" in w.value for w in at.warning) and at.get("download_button")
    assert not at.error  # the earlier error went with its job


def test_a_second_video_waits_for_the_first(served, tmp_path):
    clip = write_clip(tmp_path / "long.mp4", moving_faces(900, 320, 240, side=150))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    uploaded(at, "long.mp4", clip.read_bytes())
    at.button(key="video_start").click().run()
    first = at.session_state["video_job"]
    at.button(key="video_start").click().run()
    assert any("long.mp4 is still being analysed" in w.value for w in at.warning)
    assert at.session_state["video_job"] is first
    first.cancel()
    until_done(at)
    assert any("Cancelled after" in w.value for w in at.warning)


def test_session_folder_goes_with_the_session_and_cancels_its_work():
    folder = SessionFolder()
    path, cancelled = folder.path, []
    (folder.new_folder("video") / "upload.mp4").write_bytes(b"x")
    folder.on_close(lambda: cancelled.append(True))
    assert path.is_dir() and folder.new_folder("video").name == "video-2"
    del folder
    gc.collect()
    assert not path.exists() and cancelled == [True]


def test_upload_names_cannot_leave_the_folder():
    from dashboard.session_files import safe_file_name

    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("my holiday (1).mp4") == "my holiday 1.mp4"
    assert safe_file_name("..") == safe_file_name("") == "upload"
    assert safe_file_name("/") == "upload" and len(safe_file_name("a" * 500 + ".mp4")) == 120


def test_two_sessions_analysing_at_once_keep_their_own_results(served, tmp_path):
    clips = {"a.mp4": write_clip(tmp_path / "a.mp4", moving_faces(300, faces=2, side=260)),
             "b.mp4": write_clip(tmp_path / "b.mp4", moving_faces(40))}
    sessions = {}
    for name, clip in clips.items():
        at = AppTest.from_file(PAGE, default_timeout=120).run()
        uploaded(at, name, clip.read_bytes())
        at.button(key="video_start").click().run()
        sessions[name] = at
    assert all(at.session_state["video_job"].running for at in sessions.values())  # both at once
    for name, frames, people in (("a.mp4", 300, 2), ("b.mp4", 40, 1)):
        at = until_done(sessions[name])
        result = at.session_state["video_job"].snapshot().result
        assert result.source == name and result.frames_read == frames and len(result.tracks()) == people
        assert at.session_state["video_job"].folder != sessions["a.mp4" if name == "b.mp4" else "b.mp4"] \
            .session_state["video_job"].folder
