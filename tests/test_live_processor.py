"""The Live page's frame processor and the server-wide counters, without a browser."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from dashboard import live
from browser_harness import face_frame


@pytest.fixture(scope="module")
def pipeline(trained_run):
    from emotion_core.pipeline import EmotionPipeline

    return EmotionPipeline.from_run(trained_run)


def test_processor_annotates_and_reports(pipeline, monkeypatch):
    stats = live.ServerStats()
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    processor = live.LiveProcessor(pipeline)
    frame = face_frame(640, 480)
    out = processor.process_bgr(frame)
    assert out.shape == frame.shape and not np.array_equal(out, frame)
    snap = processor.snapshot()
    assert snap["frames"] == 1 and snap["faces"] == 1 and len(snap["history"]) == 1
    assert abs(sum(snap["history"][0].values()) - 1) < 1e-3
    seen = stats.snapshot()
    assert (seen["frames"], seen["frames_with_faces"], seen["sessions"], seen["last_labels"]) == (
        1, 1, 1, [snap["results"][0]["label"]])
    assert json.loads(json.dumps(seen)) == seen  # what tests/serve_app.py writes out
    processor.close()
    assert stats.active_sessions() == 0 and stats.snapshot()["sessions"] == 0


def test_sessions_become_inactive_when_frames_stop(monkeypatch):
    stats = live.ServerStats()
    clock = [1000.0]
    monkeypatch.setattr(live.time, "time", lambda: clock[0])
    stats.record(1, 1, ["happy"])
    stats.record(2, 0, [])
    assert stats.active_sessions() == 2
    clock[0] += live.ACTIVE_WINDOW_S + 1
    stats.record(2, 0, [])
    assert stats.active_sessions() == 1
    clock[0] += 120
    assert stats.active_sessions() == 0 and stats.last_frame == {}


def test_processor_is_safe_across_threads(pipeline):
    processor = live.LiveProcessor(pipeline)
    frame = face_frame(320, 240)
    errors = []

    def worker():
        try:
            for _ in range(5):
                processor.process_bgr(frame)
                processor.snapshot()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors and processor.snapshot()["frames"] == 20
