"""Exact geometry: face crops, boxes mapped back from the downscaled frame, colour order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_core.serving.detect import DetectorConfig, FaceDetector
from emotion_core.serving.faces import to_gray
from emotion_core.serving.pipeline import crop_face


@pytest.fixture
def ramp() -> np.ndarray:
    """200x300 gray frame whose every pixel value tells its position (mod 256)."""
    y, x = np.mgrid[0:200, 0:300]
    return ((x * 7 + y * 13) % 256).astype(np.uint8)


def test_crop_is_the_box_grown_by_the_margin(ramp):
    # box 40x40 at (50, 60), margin 10% per side: a 48x48 square around the same centre (70, 80)
    assert np.array_equal(crop_face(ramp, (50, 60, 40, 40), 48, margin=0.1), ramp[56:104, 46:94])
    assert np.array_equal(crop_face(ramp, (50, 60, 40, 40), 40, margin=0.0), ramp[60:100, 50:90])


def test_crop_of_a_wide_box_is_a_square_on_its_centre(ramp):
    crop = crop_face(ramp, (100, 50, 60, 20), 60, margin=0.0)  # side = max(w, h) = 60, centre (130, 60)
    assert np.array_equal(crop, ramp[30:90, 100:160])


def test_crop_past_the_border_replicates_the_edge_pixels(ramp):
    crop = crop_face(ramp, (0, 0, 20, 20), 40, margin=0.5)  # side 40 centred on (10, 10): 10 px outside
    expected = np.pad(ramp[0:30, 0:30], ((10, 0), (10, 0)), mode="edge")
    assert np.array_equal(crop, expected)
    assert (crop[:10, 10:] == ramp[0, 0:30]).all()  # rows above the frame repeat its first row


def test_crop_is_resized_to_the_model_input(ramp):
    crop = crop_face(ramp, (50, 60, 40, 40), 24, margin=0.1)
    assert crop.shape == (24, 24)
    assert np.array_equal(crop, cv2.resize(ramp[56:104, 46:94], (24, 24), interpolation=cv2.INTER_AREA))


class _FakeCascade:
    """Returns fixed boxes in the coordinates of the image it is given; remembers that image."""

    def __init__(self, boxes):
        self.boxes = np.array(boxes)
        self.seen_shape = None
        self.min_size = None

    def detectMultiScale(self, image, scaleFactor, minNeighbors, minSize):  # noqa: N802, N803 (OpenCV's names)
        self.seen, self.seen_shape, self.min_size = image, image.shape, minSize
        self.scale_factor, self.min_neighbors = scaleFactor, minNeighbors
        return self.boxes


def _detector_with(boxes, monkeypatch) -> tuple[FaceDetector, _FakeCascade]:
    detector = FaceDetector(DetectorConfig(detect_width=320, min_size=40))
    fake = _FakeCascade(boxes)
    monkeypatch.setattr(detector, "_cascade", lambda: fake)
    return detector, fake


def test_boxes_are_mapped_back_to_frame_pixels(monkeypatch):
    detector, fake = _detector_with([(10, 20, 30, 40)], monkeypatch)
    boxes = detector.detect_gray(np.zeros((480, 640), np.uint8))
    assert fake.seen_shape == (240, 320)  # detection ran on the half-size copy
    assert fake.min_size == (20, 20)  # 40 frame pixels at half size
    assert boxes == [(20, 40, 60, 80)]


def test_boxes_are_clipped_to_the_frame(monkeypatch):
    detector, _ = _detector_with([(300, 220, 40, 40), (-5, -3, 20, 20)], monkeypatch)
    boxes = detector.detect_gray(np.zeros((480, 640), np.uint8))
    for x, y, w, h in boxes:
        assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    assert (600, 440, 40, 40) in boxes  # 80x80 in the frame, cut at the right and bottom edges
    assert boxes[0][2] * boxes[0][3] >= boxes[-1][2] * boxes[-1][3]  # largest first


def test_small_frames_are_not_rescaled(monkeypatch):
    detector, fake = _detector_with([(10, 20, 30, 40)], monkeypatch)
    assert detector.detect_gray(np.zeros((200, 300), np.uint8)) == [(10, 20, 30, 40)]
    assert fake.seen_shape == (200, 300)


def test_astronaut_face_is_found_where_it_is():
    from skimage import data

    boxes = FaceDetector().detect(data.astronaut(), "rgb")
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    known = (174, 66, 98, 98)  # her face in the 512x512 picture: forehead to chin, ear to ear
    assert max(abs(a - b) for a, b in zip((x, y, w, h), known)) <= 6, boxes[0]


def test_to_gray_honours_the_channel_order():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(to_gray(rgb, "rgb"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    assert np.array_equal(to_gray(rgb, "bgr"), cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY))
    assert not np.array_equal(to_gray(rgb, "rgb"), to_gray(rgb, "bgr"))  # the order matters for colours
    rgba = np.dstack([rgb, np.full((16, 16), 255, np.uint8)])
    assert np.array_equal(to_gray(rgba, "rgb"), to_gray(rgb, "rgb"))


def test_the_cascade_sees_the_equalised_area_downscale_with_the_configured_settings(monkeypatch):
    detector, fake = _detector_with([], monkeypatch)
    rgb = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detector.detect(rgb, "rgb") == []
    expected = cv2.equalizeHist(cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (320, 240),
                                           interpolation=cv2.INTER_AREA))
    assert np.array_equal(fake.seen, expected)
    assert (fake.scale_factor, fake.min_neighbors) == (1.2, 5)


def test_boxes_come_largest_first_and_negative_corners_are_clipped(monkeypatch):
    detector, _ = _detector_with([(0, 0, 10, 10), (20, 20, 30, 30), (50, 50, 20, 20), (-5, -3, 20, 20)], monkeypatch)
    boxes = detector.detect_gray(np.zeros((480, 640), np.uint8))
    assert boxes == [(40, 40, 60, 60), (100, 100, 40, 40), (0, 0, 40, 40), (0, 0, 20, 20)]


def test_frames_under_8_pixels_are_not_searched(monkeypatch):
    detector, fake = _detector_with([(0, 0, 4, 4)], monkeypatch)
    assert detector.detect_gray(np.zeros((7, 100), np.uint8)) == []
    assert detector.detect_gray(np.zeros((100, 7), np.uint8)) == []
    assert fake.seen_shape is None  # the cascade was never asked
    assert detector.detect_gray(np.zeros((8, 8), np.uint8)) == [(0, 0, 4, 4)]


def test_to_gray_converts_every_dtype_and_layout():
    ramp = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(to_gray(ramp), np.clip(ramp * 255, 0, 255).astype(np.uint8))  # [0, 1] floats scaled
    big = np.array([[0.0, 2.0, 300.0, -4.0]], np.float64)
    assert to_gray(big).tolist() == [[0, 2, 255, 0]]  # other floats taken as 0-255 values, clipped
    assert to_gray(np.array([[np.nan, 0.5]], np.float32)).tolist() == [[0, 127]]
    assert to_gray(np.array([[0, 257, 65535]], np.uint16)).tolist() == [[0, 1, 255]]
    assert to_gray(np.array([[5, 300, -3]], np.int32)).tolist() == [[5, 255, 0]]
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(to_gray(gray), gray)
    assert np.array_equal(to_gray(gray[..., None]), gray)
    assert np.array_equal(to_gray(np.zeros((0, 0), np.float32)), np.zeros((0, 0), np.uint8))
    bgra = np.random.default_rng(2).integers(0, 256, (4, 4, 4), dtype=np.uint8)
    assert np.array_equal(to_gray(bgra, "bgr"), cv2.cvtColor(bgra, cv2.COLOR_BGRA2GRAY))
    assert np.array_equal(to_gray(bgra, "rgb"), cv2.cvtColor(bgra, cv2.COLOR_RGBA2GRAY))
    for bad in (np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 5), np.uint8), np.zeros((2, 2, 2, 3), np.uint8)):
        with pytest.raises(ValueError, match=r"Unsupported frame shape .* expected \(H, W\)"):
            to_gray(bad)
