"""Live pipeline: real-face detection, batch classification, smoothing, threads, odd frames."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from emotion_core.labels import EMOTIONS
from emotion_core.serving.detect import FaceDetector
from emotion_core.serving.faces import to_gray
from emotion_core.serving.pipeline import EmotionPipeline, Timings, crop_face, decode_image_bytes
from emotion_core.serving.tracker import FaceTracker, iou


@pytest.fixture(scope="module")
def astronaut_bgr():
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def pipeline(trained_run):
    return EmotionPipeline.from_run(trained_run)


def four_faces(face_bgr: np.ndarray) -> np.ndarray:
    """A 640x480 frame with four copies of the astronaut's head."""
    head = cv2.resize(face_bgr[30:250, 130:330], (200, 220))
    frame = np.full((480, 640, 3), 90, np.uint8)
    for x, y in ((20, 10), (420, 10), (20, 250), (420, 250)):
        frame[y : y + 220, x : x + 200] = head
    return frame


def test_astronaut_has_exactly_one_face(astronaut_bgr):
    boxes = FaceDetector().detect(astronaut_bgr)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 180  # the astronaut's face


def test_results_shape_and_probabilities(pipeline, astronaut_bgr):
    timings = Timings()
    results = pipeline.process(astronaut_bgr, timings=timings)
    assert len(results) == 1
    r = results[0]
    assert r.probabilities.shape == (7,) and abs(float(r.probabilities.sum()) - 1) < 1e-4
    assert r.label == EMOTIONS[int(np.argmax(r.probabilities))] and r.probability == pytest.approx(r.probabilities.max())
    assert timings.total_ms >= timings.detect_ms > 0
    assert set(r.to_dict()["probabilities"]) == set(EMOTIONS)


def test_rgb_gray_and_bgra_frames_agree(pipeline, astronaut_bgr):
    rgb = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB)
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA)
    ref = pipeline.process(astronaut_bgr)[0]
    for frame, order in ((rgb, "rgb"), (bgra, "bgr")):  # the same colours: the same face
        res = pipeline.process(frame, order)
        assert len(res) == 1 and res[0].box == ref.box
        assert np.allclose(res[0].probabilities, ref.probabilities, atol=1e-4)
    for frame in (gray, gray[..., None]):  # BlazeFace sees gray in three channels: nearly the same box
        res = pipeline.process(frame)
        assert len(res) == 1 and iou(res[0].box, ref.box) > 0.8


def test_many_faces_classified_in_one_batch(pipeline, astronaut_bgr):
    calls = []
    original = pipeline.classifier.predict

    def spy(batch, max_views=None):
        calls.append(batch.shape)
        return original(batch, max_views)

    pipeline.classifier.predict = spy
    try:
        results = pipeline.process(four_faces(astronaut_bgr))
    finally:
        pipeline.classifier.predict = original
    assert len(results) == 4 and calls == [(4, 48, 48, 1)]


@pytest.mark.parametrize("shape", [(480, 640, 3), (1, 1, 3), (7, 3), (2000, 30, 3), (30, 2000), (1080, 1920, 3)])
def test_frames_without_faces_and_odd_sizes(pipeline, shape):
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    results = pipeline.process(frame)
    assert isinstance(results, list)
    annotated = pipeline.annotate(frame, results)
    assert annotated.shape[:2] == frame.shape[:2]


def test_face_at_border_is_cropped_with_padding(pipeline, astronaut_bgr):
    shifted = np.zeros_like(astronaut_bgr)
    shifted[:, :400] = astronaut_bgr[:, 112:]  # face near the left edge
    crop = crop_face(to_gray(shifted), (0, 50, 100, 100), 48, margin=0.2)
    assert crop.shape == (48, 48)
    assert len(pipeline.process(shifted)) >= 0


def test_float_and_uint16_frames(pipeline, astronaut_bgr):
    as_float = astronaut_bgr.astype(np.float32) / 255.0
    as_u16 = astronaut_bgr.astype(np.uint16) * 257
    assert len(pipeline.process(as_float)) == 1
    assert len(pipeline.process(as_u16)) == 1


def test_annotate_draws_the_box(pipeline, astronaut_bgr):
    results = pipeline.process(astronaut_bgr)
    out = pipeline.annotate(astronaut_bgr, results)
    assert out.shape == astronaut_bgr.shape and not np.array_equal(out, astronaut_bgr)
    x, y, w, h = results[0].box
    assert not np.array_equal(out[y, x : x + w], astronaut_bgr[y, x : x + w])  # top edge painted
    gray_out = pipeline.annotate(to_gray(astronaut_bgr), results)
    assert gray_out.shape == astronaut_bgr.shape  # gray comes back BGR


def test_tracker_smooths_and_keeps_ids():
    tracker = FaceTracker(alpha=0.5)
    a = np.eye(7, dtype=np.float32)[[3]]
    b = np.eye(7, dtype=np.float32)[[5]]
    p1, ids1 = tracker.update([(10, 10, 50, 50)], a)
    p2, ids2 = tracker.update([(12, 11, 50, 50)], b)  # same face moved slightly
    assert ids1 == ids2
    assert np.allclose(p2[0], 0.5 * a[0] + 0.5 * b[0]) and np.isclose(p2.sum(), 1)
    p3, ids3 = tracker.update([(300, 300, 50, 50)], b)  # a different face
    assert ids3 != ids1 and np.allclose(p3, b)
    for _ in range(6):
        tracker.update([], np.zeros((0, 7), np.float32))
    assert len(tracker) == 0


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_thread_safety_many_threads_one_pipeline(pipeline, astronaut_bgr):
    single = pipeline.process(astronaut_bgr)[0].probabilities
    frames = [astronaut_bgr, four_faces(astronaut_bgr)]
    errors, outputs = [], []

    def worker(i: int) -> None:
        try:
            trackers = [pipeline.new_tracker(), pipeline.new_tracker()]  # one per picture: a stream of its own
            for j in range(8):
                k = (i + j) % 2
                res = pipeline.process(frames[k], tracker=None if j % 3 else trackers[k])
                outputs.append((len(res), res[0].probabilities if len(res) == 1 else None))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(outputs) == 48 and {n for n, _ in outputs} == {1, 4}


def test_decode_upload_errors():
    with pytest.raises(ValueError, match="empty"):
        decode_image_bytes(b"")
    with pytest.raises(ValueError, match="not a readable image"):
        decode_image_bytes(b"%PDF-1.4 not an image", "doc.pdf")
    ok = decode_image_bytes(cv2.imencode(".png", np.zeros((10, 12, 3), np.uint8))[1].tobytes())
    assert ok.shape == (10, 12, 3)
    big = cv2.imencode(".png", np.zeros((3000, 3000), np.uint8))[1].tobytes()
    with pytest.raises(ValueError, match="too large"):
        decode_image_bytes(big, "big.png", max_pixels=1_000_000)


def test_cli_predict_writes_annotated_image(trained_run, astronaut_bgr, tmp_path, capsys):
    import json

    from emotion_core.cli import main

    image = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(image), astronaut_bgr)
    (tmp_path / "bad.png").write_text("nope")
    code = main(["predict", str(image), str(tmp_path / "bad.png"), "--run", str(trained_run),
                 "--out", str(tmp_path / "out"), "--json"])
    assert code == 1  # one unreadable input, reported, the other processed
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert len(payload[str(image)]) == 1 and "bad.png" in captured.err
    assert (tmp_path / "out" / "astronaut_annotated.png").is_file()


def test_cli_predict_folders_cropped_faces_and_detectors(trained_run, astronaut_bgr, tmp_path, capsys):
    import json

    from emotion_core.cli import main

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), astronaut_bgr)
    cv2.imwrite(str(folder / "sub" / "b.jpg"), astronaut_bgr[:, ::-1])
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"x")
    for detector in ("haar", "blazeface"):
        assert main(["predict", str(folder), "--run", str(trained_run), "--out", str(tmp_path / detector),
                     "--detector", detector, "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert sorted(payload) == [str(folder / "a.png"), str(folder / "sub" / "b.jpg")]
        assert all(len(faces) == 1 for faces in payload.values()), (detector, payload)
    face = astronaut_bgr[81:175, 178:272]
    cv2.imwrite(str(folder / "face.png"), face)
    assert main(["predict", str(folder / "face.png"), "--cropped", "--run", str(trained_run), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)[str(folder / "face.png")]
    assert result["box"] == [0, 0, 94, 94] and abs(sum(result["probabilities"].values()) - 1) < 1e-4
    assert main(["predict", str(tmp_path / "empty_dir_that_is_missing"), "--run", str(trained_run)]) == 1
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--run", str(trained_run)]) == 2
    assert "no image or video files found" in capsys.readouterr().err
