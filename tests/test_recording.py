"""Live recording: rows and annotated video, the length limit, a full queue, a writer that fails."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from dashboard.live import processor as live
from emotion_core.media.face_table import VIDEO_COLUMNS
from emotion_core.media.recording import Recording
from emotion_core.media.video import VideoReader
from emotion_core.serving.pipeline import EmotionPipeline, FaceResult
from tests.video_helpers import moving_faces


def face(x: int, track: int = 0) -> FaceResult:
    probs = np.array([0.05, 0.05, 0.05, 0.6, 0.1, 0.1, 0.05], np.float32)
    return FaceResult.from_probs((x, 20, 50, 50), probs, track)


def frame(value: int = 80) -> np.ndarray:
    return np.full((120, 160, 3), value, np.uint8)


def test_rows_times_and_video_from_the_first_frame(tmp_path):
    rec = Recording(tmp_path, max_seconds=60)
    for i in range(6):
        assert rec.add(frame(20 * i), [face(10 + i), face(90, 1)] if i % 2 == 0 else [], now=100.0 + i / 10)
    rec.stop()
    assert not rec.recording and rec.frames == 6 and rec.error is None and rec.has_video
    rows = list(csv.DictReader(io.StringIO(rec.csv())))
    assert tuple(rows[0]) == VIDEO_COLUMNS and len(rows) == 6  # faces on frames 0, 2, 4
    assert [(r["frame"], r["time_s"], r["track"]) for r in rows[::2]] == [("0", "0.0", "0"), ("2", "0.2", "0"),
                                                                          ("4", "0.4", "0")]
    assert rows[0]["label"] == "happy" and rows[2]["x"] == "12"
    reader = VideoReader(rec.video_path)
    assert [round(f.time_s, 2) for f in reader] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert not rec.add(frame(), [face(1)])  # stopped: nothing more is taken


def test_the_length_limit_stops_the_recording_and_says_so(tmp_path):
    rec = Recording(tmp_path, max_seconds=1.0)
    assert rec.add(frame(), [face(1)], now=0.0) and rec.add(frame(), [face(1)], now=0.9)
    assert not rec.add(frame(), [face(1)], now=1.2)
    assert rec.limit_reached and not rec.recording and rec.frames == 2
    assert rec.stop().has_video and rec.seconds == pytest.approx(0.9)


def test_a_writer_that_falls_behind_drops_video_frames_never_rows(tmp_path, monkeypatch):
    from emotion_core.media import recording

    gate = recording.threading.Event()
    original = recording.Mp4Writer.write
    monkeypatch.setattr(recording.Mp4Writer, "write", lambda self, *a: (gate.wait(5), original(self, *a)))
    rec = Recording(tmp_path, queue_frames=2)
    for i in range(8):
        rec.add(frame(), [face(1)], now=i / 15)
    gate.set()
    rec.stop()
    assert len(rec.rows) == 8 and rec.dropped >= 5 and rec.has_video
    assert sum(1 for _ in VideoReader(rec.video_path)) == 8 - rec.dropped


def test_a_folder_that_vanishes_keeps_the_rows_and_says_why(tmp_path):
    import shutil

    rec = Recording(tmp_path / "gone", max_seconds=60)
    shutil.rmtree(tmp_path / "gone", ignore_errors=True)  # never created: the writer cannot open its file
    rec.add(frame(), [face(1)], now=0.0)
    rec.stop()
    assert rec.error and "could not be written" in rec.error and not rec.has_video and len(rec.rows) == 1


def test_live_processor_records_what_the_viewer_saw(tmp_path):
    pipeline = EmotionPipeline.from_run()
    processor = live.LiveProcessor(pipeline)
    frames = moving_faces(5)
    processor.process_bgr(frames[0])  # before recording: not recorded
    rec = processor.start_recording(tmp_path, max_seconds=60)
    shown = [processor.process_bgr(f) for f in frames[1:]]
    assert processor.stop_recording() is rec and not rec.recording
    assert rec.frames == 4 and len(rec.rows) == 4 and {r[2] for r in rec.rows} == {0}
    recorded = [f.image for f in VideoReader(rec.video_path)]
    assert len(recorded) == 4 and np.abs(recorded[0].astype(int) - shown[0]).mean() < 6  # the annotated frame
    processor.process_bgr(frames[0])
    assert rec.frames == 4  # stopped means stopped
    processor.close()
