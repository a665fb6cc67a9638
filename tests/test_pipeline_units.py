"""Tracker, box overlap and annotation, without a model."""

from __future__ import annotations

import numpy as np

from emotion_core.pipeline import EmotionPipeline, FaceResult, FaceTracker, iou


def test_iou_values():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150
    assert iou((0, 0, 10, 10), (10, 10, 5, 5)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_tracker_ema_matches_faces_by_overlap_and_drops_lost_ones():
    tracker = FaceTracker(alpha=0.25, iou_threshold=0.3, max_missed=2)
    a, b = np.eye(7, dtype=np.float32)[[3]], np.eye(7, dtype=np.float32)[[5]]
    _, first = tracker.update([(10, 10, 50, 50)], a)
    smoothed, second = tracker.update([(14, 12, 50, 50)], b)
    assert first == second
    assert np.allclose(smoothed[0], 0.25 * b[0] + 0.75 * a[0])
    _, far = tracker.update([(300, 300, 50, 50)], b)
    assert far != first and len(tracker) == 2
    for _ in range(3):
        tracker.update([(300, 300, 50, 50)], b)
    assert len(tracker) == 1  # the first face was missed more than twice


def test_tracker_assigns_two_faces_to_their_own_tracks():
    tracker = FaceTracker(alpha=0.5)
    probs = np.eye(7, dtype=np.float32)[[0, 6]]
    _, ids = tracker.update([(0, 0, 40, 40), (100, 0, 40, 40)], probs)
    smoothed, swapped = tracker.update([(102, 0, 40, 40), (1, 1, 40, 40)], probs[::-1])
    assert swapped == ids[::-1]
    assert np.allclose(smoothed, probs[::-1])  # each face kept its own history


def test_alpha_one_means_no_smoothing():
    tracker = FaceTracker(alpha=1.0)
    tracker.update([(0, 0, 40, 40)], np.eye(7, dtype=np.float32)[[0]])
    smoothed, _ = tracker.update([(0, 0, 40, 40)], np.eye(7, dtype=np.float32)[[6]])
    assert np.allclose(smoothed, np.eye(7)[[6]])


def test_annotate_draws_inside_the_box_only_in_its_colour():
    frame = np.zeros((120, 160, 3), np.uint8)
    result = FaceResult((40, 40, 60, 60), "happy", 0.9, np.eye(7, dtype=np.float32)[3])
    out = EmotionPipeline.annotate(frame, [result])
    assert out.shape == frame.shape and not out[:20, :20].any()  # far corner untouched
    assert tuple(out[70, 40]) == (40, 200, 240)  # the box's left edge in happy's BGR colour
    assert not frame.any()  # the input frame is not drawn on
    gray = EmotionPipeline.annotate(np.zeros((120, 160), np.uint8), [result])
    assert gray.shape == (120, 160, 3)
