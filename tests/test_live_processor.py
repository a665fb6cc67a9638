"""The Live page's frame processor and the server-wide counters, without a browser."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from dashboard.live import processor as live
from tests.browser_harness import face_frame


@pytest.fixture(scope="module")
def pipeline(trained_run):
    from emotion_core.serving.pipeline import EmotionPipeline

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


class _CountingDetector:
    """Wraps the pipeline's detector and counts its calls."""

    def __init__(self, inner):
        self.inner, self.calls, self.kind = inner, 0, inner.kind

    def find(self, *args, **kwargs):
        self.calls += 1
        return self.inner.find(*args, **kwargs)

    def __getattr__(self, name):  # what the pipeline asks of its detector (takes_trusted) comes from the inner one
        return getattr(self.inner, name)


def test_detecting_every_third_frame_follows_the_faces_in_between(pipeline, monkeypatch):
    """Detection on frames 0, 3, 6; the frames between classify the followed faces at their last boxes, with
    the same track ids and labels as detecting every frame."""
    from emotion_core.serving.pipeline import EmotionPipeline

    counting = _CountingDetector(pipeline.detector)
    every_third = live.LiveProcessor(EmotionPipeline(pipeline.classifier, counting), detect_every=3)
    every_frame = live.LiveProcessor(pipeline)
    frame = face_frame(640, 480)
    for _ in range(7):
        out = every_third.process_bgr(frame)
        reference = every_frame.process_bgr(frame)
        assert out.shape == frame.shape
        ours, theirs = every_third.snapshot()["results"], every_frame.snapshot()["results"]
        key = lambda results: [(r["box"], r["label"], r["track_id"]) for r in results]  # noqa: E731
        assert key(ours) == key(theirs)
        np.testing.assert_allclose([list(r["probabilities"].values()) for r in ours],
                                   [list(r["probabilities"].values()) for r in theirs], atol=1e-5)
    assert counting.calls == 3 and every_third.snapshot()["faces"] == 1


def test_a_face_that_leaves_is_dropped_at_the_next_detection(pipeline):
    from emotion_core.serving.pipeline import EmotionPipeline

    counting = _CountingDetector(pipeline.detector)
    processor = live.LiveProcessor(EmotionPipeline(pipeline.classifier, counting), detect_every=2)
    processor.process_bgr(face_frame(640, 480))
    empty = np.full((480, 640, 3), 90, np.uint8)
    processor.process_bgr(empty)  # followed: the face is still reported where it was
    assert processor.snapshot()["faces"] == 1
    processor.process_bgr(empty)  # detected again: gone
    assert processor.snapshot()["faces"] == 0 and counting.calls == 2


def test_sessions_become_inactive_when_frames_stop():
    clock = [1000.0]
    stats = live.ServerStats(clock=lambda: clock[0])
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


def test_over_the_fair_share_the_last_annotated_frame_goes_out_again(pipeline, monkeypatch):
    av = pytest.importorskip("av")
    stats = live.ServerStats()
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    allowed = {"now": False}
    monkeypatch.setattr(stats.fair, "allow", lambda session: allowed["now"])
    processor = live.LiveProcessor(pipeline)
    face = av.VideoFrame.from_ndarray(face_frame(640, 480), format="bgr24")
    blank = av.VideoFrame.from_ndarray(np.zeros((480, 640, 3), np.uint8), format="bgr24")
    first = processor.callback(face)  # a session's first frame always runs: never a black video
    assert processor.snapshot()["faces"] == 1
    assert processor.callback(blank) is first  # over the share: the pipeline does not run
    assert processor.snapshot()["frames"] == 1 and stats.snapshot()["frames"] == 1
    allowed["now"] = True
    third = processor.callback(blank)
    assert third is not first and processor.snapshot()["frames"] == 2 and processor.snapshot()["faces"] == 0
    assert np.array_equal(third.to_ndarray(format="bgr24"), np.zeros((480, 640, 3), np.uint8))


def test_the_processor_classifies_with_as_many_views_as_the_fair_share_allows(pipeline, monkeypatch):
    stats = live.ServerStats()
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    asked = []
    predict = pipeline.classifier.predict
    monkeypatch.setattr(pipeline.classifier, "predict", lambda batch, max_views=None: (
        asked.append(max_views), predict(batch, max_views))[1])
    processor = live.LiveProcessor(pipeline)
    processor.process_bgr(face_frame(640, 480))
    stats.fair.views = 1  # the server got busy
    processor.process_bgr(face_frame(640, 480))
    assert asked == [4, 1]


def test_frames_go_to_the_encoder_in_its_own_format_and_come_back_alike():
    """The annotated frame leaves as YUV 4:2:0 (no conversion left for the VP8 encoder), odd sizes as BGR;
    a browser's YUV frame reads as the same BGR as libav's own conversion gives, within rounding."""
    av = pytest.importorskip("av")
    image = face_frame(640, 480)
    out = live.bgr_to_frame(image)
    assert (out.format.name, out.width, out.height) == ("yuv420p", 640, 480)
    assert np.abs(out.to_ndarray(format="bgr24").astype(int) - image).mean() < 2.0
    incoming = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    ours, libav = live.frame_to_bgr(incoming), incoming.to_ndarray(format="bgr24")
    assert ours.shape == image.shape and np.abs(ours.astype(int) - libav).max() <= 3
    odd = live.bgr_to_frame(image[:479, :639])
    assert (odd.format.name, odd.width, odd.height) == ("bgr24", 639, 479)
    assert live.frame_to_bgr(odd).shape == (479, 639, 3)


def test_a_frame_still_in_analysis_when_the_video_ends_does_not_bring_the_session_back(pipeline, monkeypatch):
    """The video ends (close) while a frame is being analysed: that frame must not mark the session active
    again, or admission control counts a visitor who left. The next video of the same processor counts."""
    stats = live.ServerStats()
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    processor = live.LiveProcessor(pipeline)
    started, release = threading.Event(), threading.Event()
    process = pipeline.process

    def held_process(*args, **kwargs):
        started.set()
        release.wait(10)
        return process(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process", held_process)
    worker = threading.Thread(target=processor.analyse_bgr, args=(face_frame(320, 240),))
    worker.start()
    assert started.wait(10)
    processor.close()
    release.set()
    worker.join(10)
    assert processor.snapshot()["frames"] == 1  # the page's own counters still show the frame
    assert stats.active_sessions() == 0, "a frame of the ended video made the session active again"
    processor.analyse_bgr(face_frame(320, 240))  # Start again: the new video counts
    assert stats.active_sessions() == 1


def test_a_frame_in_analysis_keeps_its_track_while_other_frames_arrive(pipeline, monkeypatch):
    """One frame of a face is being classified while other frames without it arrive: before, they dropped the
    face's track (missed more than max_missed times) and the first frame then updated a track that was gone
    (KeyError, seen with four threads on one processor). Frames of a processor now pass the tracker in turn."""
    processor = live.LiveProcessor(pipeline)
    processor.process_bgr(face_frame(320, 240))  # the face's track
    started, release = threading.Event(), threading.Event()
    classify = pipeline.classify_crops

    def held_in_one_thread(*args, **kwargs):
        if threading.current_thread().name == "held":
            started.set()
            release.wait(10)
        return classify(*args, **kwargs)

    monkeypatch.setattr(pipeline, "classify_crops", held_in_one_thread)
    errors = []

    def catching(work):
        def run():
            try:
                work()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        return run

    held = threading.Thread(target=catching(lambda: processor.process_bgr(face_frame(320, 240))), name="held")
    held.start()
    assert started.wait(10)
    empty = np.full((240, 320, 3), 90, np.uint8)
    others = threading.Thread(target=catching(lambda: [processor.process_bgr(empty) for _ in range(7)]))
    others.start()
    others.join(0.5)
    release.set()
    held.join(10)
    others.join(10)
    assert not errors, errors
    assert processor.snapshot()["frames"] == 9
