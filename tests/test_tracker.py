"""One track per person: a missed frame keeps the id and the box, a person who takes another's place gets a
new id, one-frame boxes are not held, held boxes move with the face and stay inside the frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_core.serving.faces import Detection
from emotion_core.serving.pipeline import EmotionPipeline
from emotion_core.serving.tracker import SAME_PERSON, FaceTracker, appearance, similarity

PROBS = np.eye(7, dtype=np.float32)[[3]]


def face_picture(seed: int, side: int = 40) -> np.ndarray:
    """A (side, side) gray picture of its own for each seed (smooth blobs, like faces, unlike each other)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (5, 5)).astype(np.uint8)
    return cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)


def frame_with(pictures: dict[tuple[int, int], np.ndarray], shape=(240, 320)) -> np.ndarray:
    gray = np.full(shape, 90, np.uint8)
    for (x, y), picture in pictures.items():
        gray[y:y + picture.shape[0], x:x + picture.shape[1]] = picture
    return gray


class _ScriptedDetector:
    """Finds, on each call, the next frame's boxes of a script."""

    kind = "scripted"

    def __init__(self, script: list[list[tuple]]):
        self.script = list(script)

    def find(self, frame, gray, channel_order="bgr"):
        return [Detection(box) for box in self.script.pop(0)]


class _SameClassifier:
    input_size = 16
    views = 1

    def predict(self, batch, max_views=None):
        return np.repeat(PROBS, len(batch), axis=0)


def run(script: list[list[tuple]], frames: list[np.ndarray], tracker: FaceTracker | None = None):
    pipeline = EmotionPipeline(_SameClassifier(), _ScriptedDetector(script), align=False)
    tracker = pipeline.new_tracker() if tracker is None else tracker
    return [pipeline.process(frame, tracker=tracker) for frame in frames]


def test_a_missed_frame_keeps_the_id_and_the_box_where_it_was_going():
    picture = face_picture(1)
    boxes = [(40, 50, 40, 40), (46, 50, 40, 40), None, (58, 50, 40, 40)]  # moving right 6 px a frame
    frames = [frame_with({b[:2]: picture}) if b else frame_with({(52, 50): picture}) for b in boxes]
    results = run([[b] if b else [] for b in boxes], frames)
    ids = [r[0].track_id for r in results]
    assert len(set(ids)) == 1 and all(len(r) == 1 for r in results)
    held = results[2][0].box
    assert 49 <= held[0] <= 53 and held[1:] == (50, 40, 40)  # carried on at its speed (about 6 px a frame)


def test_a_face_seen_once_is_not_held():
    frames = [frame_with({(40, 50): face_picture(1)}), frame_with({})]
    results = run([[(40, 50, 40, 40)], []], frames)
    assert len(results[0]) == 1 and results[1] == []  # a one-frame box (a false one, often) does not linger


def test_a_held_face_is_dropped_after_hold_frames():
    picture = face_picture(1)
    tracker = FaceTracker(hold=2)
    script = [[(40, 50, 40, 40)], [(40, 50, 40, 40)], [], [], [], []]
    frames = [frame_with({(40, 50): picture})] * 2 + [frame_with({})] * 4
    counts = [len(r) for r in run(script, frames, tracker)]
    assert counts == [1, 1, 1, 1, 0, 0]


def test_someone_else_in_the_same_place_after_a_gap_gets_a_new_id():
    first, second = face_picture(1), face_picture(2)
    assert similarity(appearance(first, (0, 0, 40, 40)), appearance(second, (0, 0, 40, 40))) < SAME_PERSON
    frames = [frame_with({(40, 50): first})] * 3 + [frame_with({})] + [frame_with({(41, 50): second})] * 2
    script = [[(40, 50, 40, 40)]] * 3 + [[]] + [[(41, 50, 40, 40)]] * 2
    ids = [r[0].track_id if r else None for r in run(script, frames)]
    assert ids[0] == ids[1] == ids[2] == ids[3]  # held through the gap
    assert ids[4] == ids[5] and ids[4] != ids[0]  # the new face is a new person


def test_the_same_person_after_a_gap_keeps_the_id():
    picture = face_picture(3)
    noisy = np.clip(picture + np.random.default_rng(0).normal(0, 6, picture.shape), 0, 255).astype(np.uint8)
    frames = [frame_with({(40, 50): picture})] * 2 + [frame_with({})] * 2 + [frame_with({(42, 51): noisy})]
    script = [[(40, 50, 40, 40)]] * 2 + [[]] * 2 + [[(42, 51, 40, 40)]]
    ids = [r[0].track_id for r in run(script, frames)]
    assert len(set(ids)) == 1


def test_two_people_passing_keep_their_own_ids():
    a, b = face_picture(4), face_picture(5)
    script, frames = [], []
    for step in range(6):  # a moves right, b moves left, on rows of their own
        xa, xb = 20 + 20 * step, 220 - 20 * step
        script.append([(xa, 20, 40, 40), (xb, 120, 40, 40)])
        frames.append(frame_with({(xa, 20): a, (xb, 120): b}))
    results = run(script, frames)
    by_row = [{r.box[1] // 100: r.track_id for r in frame} for frame in results]
    assert len({row[0] for row in by_row}) == 1 and len({row[1] for row in by_row}) == 1
    assert by_row[0][0] != by_row[0][1]


def test_a_held_box_running_past_the_border_is_cut_to_the_frame():
    picture = face_picture(1)
    boxes = [(260, 50, 40, 40), (280, 50, 40, 40)]  # moving right 20 px a frame towards x = 320
    frames = [frame_with({b[:2]: picture}) for b in boxes] + [frame_with({})]
    results = run([[b] for b in boxes] + [[]], frames)
    x, y, w, h = results[2][0].box
    assert x + w <= 320 and w < 40 and (y, h) == (50, 40)


def test_followed_faces_do_not_confirm_a_track():
    tracker = FaceTracker()
    tracker.update([(40, 50, 40, 40)], PROBS)
    tracker.update([(40, 50, 40, 40)], PROBS, detected=False)  # followed, not found again
    assert tracker.held([None]) == []
    tracker.update([(40, 50, 40, 40)], PROBS)
    assert [tid for tid, _ in tracker.held([None])] == [0]


@pytest.mark.parametrize("box", [(0, 0, 0, 0), (500, 500, 10, 10), (-20, -20, 10, 10)])
def test_appearance_of_an_empty_box_is_unknown(box):
    assert appearance(np.zeros((100, 100), np.uint8), box) is None
    assert appearance(np.full((100, 100), 7, np.uint8), (10, 10, 20, 20)) is None  # flat: nothing to compare
    assert similarity(None, np.ones(3)) is None
