"""Video files: reading (frames, times, rotation, scale, damage), the MP4 writer and the shared analysis."""

from __future__ import annotations

import csv
import io
import json

import av
import numpy as np
import pytest

from emotion_core.labels import EMOTIONS
from emotion_core.media.face_table import VIDEO_COLUMNS
from emotion_core.media.video import Mp4Writer, VideoReader, VideoRefused
from emotion_core.media.video_analysis import VideoProgress, analyse_video
from emotion_core.serving.pipeline import EmotionPipeline
from tests.video_helpers import cut, moving_faces, write_clip


@pytest.fixture(scope="module")
def pipeline():
    return EmotionPipeline.from_run()  # the served model and the default detector


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {
        "one": write_clip(root / "one.mp4", moving_faces(45)),
        "two": write_clip(root / "two.webm", moving_faces(30, faces=2, side=200), codec="libvpx"),
        "long": write_clip(root / "long.mkv", moving_faces(150, width=320, height=240, side=150)),
        "long_vp8": write_clip(root / "long.webm", moving_faces(150, width=320, height=240, side=150), codec="libvpx"),
    }


def test_reader_gives_every_nth_frame_with_its_time(clips):
    reader = VideoReader(clips["one"], every=4)
    frames = list(reader)
    assert [f.index for f in frames] == list(range(0, 45, 4))
    assert [f.time_s for f in frames] == pytest.approx([i / 30 for i in range(0, 45, 4)], abs=1e-3)
    assert reader.frames_read == 45 and reader.problem is None
    assert (reader.info.width, reader.info.height, reader.info.frames) == (640, 480, 45)
    assert reader.info.fps == pytest.approx(30, rel=1e-3) and reader.info.duration_s == pytest.approx(1.5, abs=0.05)
    assert frames[0].image.shape == (480, 640, 3) and frames[0].image.dtype == np.uint8 and frames[0].scale == 1.0


def test_variable_frame_rate_keeps_each_frames_own_time(tmp_path):
    times = [0.0, 0.05, 0.3, 0.31, 1.0, 1.02, 2.5]
    path = write_clip(tmp_path / "vfr.mkv", moving_faces(len(times), 160, 120, side=80), times=times)
    assert [f.time_s for f in VideoReader(path)] == pytest.approx(times, abs=2e-3)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_turns_frames_upright(tmp_path, rotation):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:12, :16] = 255  # a white block in the stored frame's top-left corner
    reader = VideoReader(write_clip(tmp_path / f"r{rotation}.mp4", [image] * 3, rotation=rotation))
    shown = next(iter(reader)).image
    expected = np.rot90(image, k=rotation // 90)  # counter-clockwise, as the display matrix says
    assert shown.shape == expected.shape
    assert (reader.info.width, reader.info.height) == (expected.shape[1], expected.shape[0])
    assert np.abs(shown.astype(int) - expected).mean() < 8


def test_large_frames_are_scaled_for_analysis_and_boxes_come_back_in_video_pixels(tmp_path, pipeline):
    small = moving_faces(3, 640, 360, side=340)
    large = [np.kron(f, np.ones((6, 6, 1), np.uint8)) for f in small]  # 3840x2160, the same picture
    path = write_clip(tmp_path / "4k.mp4", large)
    frames = list(VideoReader(path))
    assert frames[0].image.shape == (720, 1280, 3) and frames[0].scale == pytest.approx(1 / 3)
    big, ref = analyse_video(path, pipeline), analyse_video(write_clip(tmp_path / "hd.mp4", small), pipeline)
    assert len(big.rows) == len(ref.rows) == 3
    for row_big, row_ref in zip(big.rows, ref.rows):
        assert np.allclose(row_big[3:7], np.array(row_ref[3:7]) * 6, atol=30)  # x, y, w, h


def test_not_a_video_no_video_stream_and_missing_file_are_refused_clearly(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are notes, not a video")
    with pytest.raises(VideoRefused, match="notes.mp4 is not a readable video"):
        VideoReader(tmp_path / "notes.mp4")
    with av.open(str(tmp_path / "sound.m4a"), "w") as out:  # audio only
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(VideoRefused, match="no video stream"):
        VideoReader(tmp_path / "sound.m4a")
    with pytest.raises(VideoRefused, match="does not exist"):
        VideoReader(tmp_path / "gone.mp4")
    with pytest.raises(ValueError, match="every"):
        VideoReader(tmp_path / "gone.mp4", every=0)


@pytest.mark.parametrize("clip", ["long", "long_vp8"])
def test_a_cut_file_keeps_the_frames_before_the_break_and_says_so(clips, tmp_path, pipeline, clip):
    damaged = cut(clips[clip], 0.7, tmp_path / f"cut_{clips[clip].name}")
    result = analyse_video(damaged, pipeline)
    whole = analyse_video(clips[clip], pipeline)
    assert 0 < result.frames_read < whole.frames_read
    assert result.problem and "cut short" in result.problem and damaged.name in result.problem
    assert result.rows == whole.rows[: len(result.rows)]  # the frames before the break, as in the whole file
    assert whole.problem is None


def test_analysis_rows_tracks_and_csv(clips, pipeline):
    result = analyse_video(clips["two"], pipeline, every=2)
    assert result.frames_read == 30 and result.frames_analysed == 15 and not result.cancelled
    assert len(result.rows) == 30  # two faces in each analysed frame
    tracks = result.tracks()
    assert [t.frames for t in tracks] == [15, 15] and {t.track for t in tracks} == {0, 1}
    sides = {t.track: {r[3] < 240 for r in result.rows if r[2] == t.track} for t in tracks}
    assert sorted(map(tuple, sides.values())) == [(False,), (True,)]  # each head keeps its own track
    for row in result.rows:
        probs = row[-len(EMOTIONS):]
        assert sum(probs) == pytest.approx(1, abs=2e-3) and row[7] == EMOTIONS[int(np.argmax(probs))]
    assert tracks[0].share == pytest.approx([r[7] for r in result.rows if r[2] == tracks[0].track]
                                            .count(tracks[0].dominant) / 15)
    parsed = list(csv.DictReader(io.StringIO(result.csv())))
    assert tuple(parsed[0]) == VIDEO_COLUMNS == ("frame", "time_s", "track", "x", "y", "w", "h", "label",
                                                 "probability", *EMOTIONS)
    assert len(parsed) == 30 and [int(r["frame"]) for r in parsed[::2]] == list(range(0, 30, 2))
    assert float(parsed[2]["time_s"]) == pytest.approx(2 / 30, abs=1e-3)
    payload = json.loads(json.dumps(result.to_json()))
    assert payload["settings"]["every"] == 2 and payload["settings"]["detector"] == pipeline.detector.kind
    assert payload["faces"][0] == {k: (v if k != "time_s" else pytest.approx(float(v))) for k, v in
                                   zip(VIDEO_COLUMNS, result.rows[0])}
    assert payload["video"]["width"] == 640 and len(payload["tracks"]) == 2


def test_annotated_video_plays_back_with_one_frame_per_analysed_frame(clips, pipeline, tmp_path):
    result = analyse_video(clips["one"], pipeline, every=3, annotated=tmp_path / "out.mp4")
    assert result.annotated_path == tmp_path / "out.mp4"
    reader = VideoReader(result.annotated_path)
    frames = list(reader)
    assert reader.problem is None and len(frames) == 15 and reader.info.codec == "h264"
    assert [f.time_s for f in frames] == pytest.approx([i / 30 for i in range(0, 45, 3)], abs=2e-3)
    original = next(iter(VideoReader(clips["one"]))).image
    assert np.abs(frames[0].image.astype(int) - original).mean() > 0.5  # a box and a label were drawn


def test_progress_and_cancel(clips, pipeline):
    seen: list[VideoProgress] = []
    result = analyse_video(clips["long"], pipeline, progress=seen.append, should_stop=lambda: len(seen) >= 10)
    assert result.cancelled and result.frames_analysed == 10 and len(seen) == 10
    assert [p.frames_done for p in seen] == list(range(1, 11)) and seen[-1].frames_total == 150
    assert seen[-1].fraction == pytest.approx(10 / 150) and seen[-1].eta_s > 0 and seen[-1].fps > 0


def test_progress_arithmetic():
    p = VideoProgress(frames_done=30, frames_total=120, elapsed_s=2.0)
    assert (p.fps, p.fraction, p.eta_s) == (15.0, 0.25, 6.0)
    unknown = VideoProgress(frames_done=30, frames_total=0, elapsed_s=2.0)
    assert unknown.fraction is None and unknown.eta_s is None
    assert VideoProgress(0, 10, 0.0).fps == 0.0 and VideoProgress(0, 10, 0.0).eta_s is None


def test_mp4_writer_makes_even_sizes_and_increasing_times(tmp_path):
    path = tmp_path / "odd.mp4"
    with Mp4Writer(path, fps=10) as writer:
        for i in range(5):
            writer.write(np.full((101, 151, 3), 40 * i, np.uint8), time_s=0.5 if i == 3 else None)
    reader = VideoReader(path)
    times = [f.time_s for f in reader]
    assert (reader.info.width, reader.info.height) == (150, 100) and len(times) == 5
    assert times == sorted(set(times))  # a clock that went back is nudged forward, never repeated
    Mp4Writer(tmp_path / "empty.mp4").close()
    assert not (tmp_path / "empty.mp4").exists()


def test_track_series_and_shares(clips, pipeline):
    result = analyse_video(clips["one"], pipeline, every=5)
    (track,) = result.tracks()
    times, probs = result.track_series(track.track)
    assert times.tolist() == pytest.approx([i / 30 for i in range(0, 45, 5)], abs=1e-3) and probs.shape == (9, 7)
    assert sum(track.shares.values()) == pytest.approx(1) and track.shares[track.dominant] == track.share
    assert track.mean == pytest.approx(dict(zip(EMOTIONS, probs.mean(axis=0))), abs=1e-3)
    empty_times, empty_probs = result.track_series(99)
    assert empty_times.shape == (0,) and empty_probs.shape == (0, 7)


def test_a_file_with_a_video_stream_but_no_frame_says_so(clips, tmp_path, pipeline):
    header_only = tmp_path / "header.mkv"
    header_only.write_bytes(clips["long"].read_bytes()[:1000])  # the stream is declared, no frame follows
    result = analyse_video(header_only, pipeline, annotated=tmp_path / "none.mp4")
    assert result.frames_read == 0 and result.rows == [] and result.annotated_path is None
    assert result.problem == "header.mkv has no frame that can be decoded."
    assert not (tmp_path / "none.mp4").exists()


def test_face_coverage_and_every_person_at_once(clips, pipeline):
    from dashboard.charts import people_timeline

    result = analyse_video(clips["two"], pipeline, every=3)
    assert result.face_coverage == 1.0  # both heads in every analysed frame
    series = result.people_series()
    assert set(series) == {0, 1}
    for times, labels in series.values():
        assert times.tolist() == pytest.approx([i / 30 for i in range(0, 30, 3)], abs=1e-3) and len(labels) == 10
    figure = people_timeline(series, {0: "track 0", 1: "track 1"})
    drawn = {(x, y) for trace in figure.data for x, y in zip(trace.x, trace.y)}
    assert len(drawn) == 20 and {y for _, y in drawn} == {"track 0", "track 1"}  # a mark per person per frame
    result.rows = [r for r in result.rows if r[0] < 12]  # faces in the first 4 of 10 analysed frames only
    assert result.face_coverage == pytest.approx(0.4)
    result.frames_analysed = 0
    assert result.face_coverage == 0.0
