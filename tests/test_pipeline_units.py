"""Tracker, box overlap and annotation, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.serving.faces import Detection
from emotion_core.serving.pipeline import EmotionPipeline, FaceResult, crop_face
from emotion_core.serving.tracker import FaceTracker, iou


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


def test_iou_of_unequal_overlapping_boxes():
    assert iou((0, 0, 10, 20), (5, 10, 10, 20)) == 50 / 350
    assert iou((5, 10, 10, 20), (0, 0, 10, 20)) == 50 / 350
    assert iou((0, 0, 10, 10), (2, 3, 4, 5)) == 20 / 100  # one inside the other


def test_tracker_gives_a_box_to_the_track_it_overlaps_most():
    tracker = FaceTracker(alpha=0.5, iou_threshold=0.3)
    _, ids = tracker.update([(0, 0, 40, 40), (30, 0, 40, 40)], np.eye(7, dtype=np.float32)[[0, 6]])
    _, new_ids = tracker.update([(28, 0, 40, 40)], np.eye(7, dtype=np.float32)[[6]])
    assert new_ids == [ids[1]]  # IoU 0.90 with the second track beats 0.14 with the first
    _, below = tracker.update([(60, 0, 40, 40)], np.eye(7, dtype=np.float32)[[6]])  # IoU 0.25 < 0.3
    assert below[0] not in ids


def test_result_as_a_dict():
    probs = np.array([0.05, 0.05, 0.1, 0.6, 0.1, 0.05, 0.05], np.float32)
    result = FaceResult((1, 2, 3, 4), "happy", 0.6, probs, track_id=7)
    d = result.to_dict()
    assert d["box"] == [1, 2, 3, 4] and d["label"] == "happy" and d["track_id"] == 7
    assert abs(d["probability"] - 0.6) < 1e-6
    assert list(d["probabilities"]) == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert abs(d["probabilities"]["fear"] - 0.1) < 1e-6 and all(isinstance(v, float) for v in d["probabilities"].values())


class _FixedDetector:
    kind = "fixed"

    def __init__(self, boxes):
        self.boxes = boxes

    def find(self, frame, gray, channel_order="bgr"):
        return [Detection(b) for b in self.boxes]


class _FixedClassifier:
    input_size = 16

    def __init__(self, rows):
        self.rows = np.asarray(rows, np.float32)
        self.batches = []

    def predict(self, batch, max_views=None):
        self.batches.append(batch)
        return self.rows[: len(batch)]


def test_process_labels_each_face_with_its_argmax_and_times_the_stages():
    from emotion_core.serving.pipeline import Timings

    rows = [np.eye(7)[2] * 0.7 + 0.3 / 7, np.eye(7)[5] * 0.9 + 0.1 / 7]
    classifier = _FixedClassifier(rows)
    pipeline = EmotionPipeline(classifier, _FixedDetector([(10, 10, 30, 30), (60, 20, 20, 20)]))
    timings = Timings()
    results = pipeline.process(np.zeros((100, 120, 3), np.uint8), timings=timings)
    assert [r.label for r in results] == ["fear", "sad"] and [r.box for r in results] == [(10, 10, 30, 30), (60, 20, 20, 20)]
    assert abs(results[1].probability - (0.9 + 0.1 / 7)) < 1e-6
    assert classifier.batches[0].shape == (2, 16, 16, 1)  # both faces in one batch, gray crops
    assert timings.detect_ms >= 0 and timings.classify_ms >= 0
    assert abs(timings.total_ms - timings.detect_ms - timings.classify_ms) < 1e-6 and timings.total_ms < 5_000
    assert EmotionPipeline(classifier, _FixedDetector([])).process(np.zeros((50, 50), np.uint8)) == []
    assert EmotionPipeline(classifier, _FixedDetector([])).classify_gray(np.zeros((50, 50), np.uint8), []).shape == (0, 7)


HAPPY_BGR = (40, 200, 240)


def _result(box):
    return FaceResult(box, "happy", 0.9, np.eye(7, dtype=np.float32)[3])


def test_annotate_puts_the_label_above_the_box_or_below_it_at_the_top():
    frame = np.zeros((240, 320, 3), np.uint8)
    above = EmotionPipeline.annotate(frame, [_result((100, 100, 80, 80))])
    band = above[80:98, 100:160]  # just above the box: the filled label background
    assert (band == HAPPY_BGR).all(axis=2).mean() > 0.5
    assert not above[185:200, 100:160].any()  # nothing below the box
    below = EmotionPipeline.annotate(frame, [_result((100, 0, 80, 80))])
    assert (below[84:98, 100:160] == HAPPY_BGR).all(axis=2).mean() > 0.5  # under the box instead


def test_annotate_swaps_the_colour_for_rgb_frames_and_draws_floats_as_gray():
    rgb = EmotionPipeline.annotate(np.zeros((120, 160, 3), np.uint8), [_result((40, 40, 60, 60))], "rgb")
    assert tuple(rgb[70, 40]) == HAPPY_BGR[::-1]
    as_float = EmotionPipeline.annotate(np.full((120, 160, 3), 0.5, np.float32), [_result((40, 40, 60, 60))], "rgb")
    assert as_float.dtype == np.uint8 and tuple(as_float[5, 5]) == (127, 127, 127)
    assert tuple(as_float[70, 40]) == HAPPY_BGR  # converted to BGR, so the BGR colour
    bgra = EmotionPipeline.annotate(np.zeros((120, 160, 4), np.uint8), [_result((40, 40, 60, 60))])
    assert bgra.shape == (120, 160, 3)
    thick = EmotionPipeline.annotate(np.zeros((960, 1280, 3), np.uint8), [_result((400, 400, 200, 200))])
    thin = EmotionPipeline.annotate(np.zeros((120, 160, 3), np.uint8), [_result((40, 40, 60, 60))])
    width = lambda row: int((row == HAPPY_BGR).all(axis=1).sum())  # noqa: E731
    assert width(thick[500, 380:420]) == 7 and width(thin[70, 30:50]) == 3  # lines grow with the frame


def test_a_pre_cropped_image_is_classified_whole():
    classifier = _FixedClassifier([[0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1]])
    pipeline = EmotionPipeline(classifier, _FixedDetector([(0, 0, 1, 1)]))
    wide = np.zeros((10, 20), np.uint8)
    wide[:, 10:] = 200
    result = pipeline.process_cropped(wide)
    assert (result.box, result.label, result.probability) == ((0, 0, 20, 10), "happy", pytest.approx(0.4))
    (batch,) = classifier.batches
    assert batch.shape == (1, 16, 16, 1)  # squared around the centre (edges replicated), no detection
    assert batch[0, :, :8, 0].max() == 0 and batch[0, :, 8:, 0].min() == 200


def test_alignment_turns_the_crop_only_when_asked():
    class Tilted:
        kind = "tilted"

        def find(self, frame, gray, channel_order="bgr"):
            return [Detection((10, 10, 30, 30), np.array([[15.0, 15.0], [35.0, 35.0]] + [[0.0, 0.0]] * 4))]

    frame = np.zeros((60, 60), np.uint8)
    frame[20:30, :] = 255  # a horizontal bar: turning the crop by 45 degrees changes it
    crops = {}
    for align in (False, True):
        classifier = _FixedClassifier([[1, 0, 0, 0, 0, 0, 0]])
        EmotionPipeline(classifier, Tilted(), align=align).process(frame)
        crops[align] = classifier.batches[0][0, ..., 0]
    assert np.array_equal(crops[False], crop_face(frame, (10, 10, 30, 30), 16, 0.1))
    assert np.array_equal(crops[True], crop_face(frame, (10, 10, 30, 30), 16, 0.1, 45.0))
    assert not np.array_equal(crops[False], crops[True])


class _BrightnessClassifier:
    """Probabilities from the crop's mean brightness (dark: angry ... bright: surprise); counts faces."""

    input_size = 16
    views = 4

    def __init__(self):
        self.faces = 0

    def predict(self, batch, max_views=None):
        self.faces += len(batch)
        k = np.clip(batch.reshape(len(batch), -1).mean(axis=1) // 37, 0, 6).astype(int)
        return np.eye(7, dtype=np.float32)[k] * 0.9 + 0.1 / 7


def _noisy_frames(level: int, count: int, sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.full((100, 120), level, np.float32)
    return [np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def test_a_still_face_keeps_its_classification_for_at_most_reuse_at_most_frames():
    classifier = _BrightnessClassifier()
    pipeline = EmotionPipeline(classifier, _FixedDetector([(20, 20, 60, 60)]))
    tracker = pipeline.new_tracker(reuse_below=1.5)
    frames = _noisy_frames(120, 9, sigma=1.0)  # camera noise: the crop changes by well under 1.5 levels
    shown = [pipeline.process(f, tracker=tracker)[0] for f in frames]
    assert classifier.faces == 3  # frames 0, 4 and 8: three reuses in a row at most
    assert [r.label for r in shown] == ["happy"] * 9 and len({r.track_id for r in shown}) == 1
    off = _BrightnessClassifier()
    plain = EmotionPipeline(off, _FixedDetector([(20, 20, 60, 60)]))
    plain_tracker = plain.new_tracker()
    expected = [plain.process(f, tracker=plain_tracker)[0] for f in frames]
    assert off.faces == 9  # reuse is off unless asked for
    np.testing.assert_allclose([r.probabilities for r in shown], [r.probabilities for r in expected], atol=1e-6)


def test_a_changed_crop_is_classified_at_once():
    classifier = _BrightnessClassifier()
    pipeline = EmotionPipeline(classifier, _FixedDetector([(20, 20, 60, 60)]))
    tracker = pipeline.new_tracker(alpha=1.0, reuse_below=1.5)
    pipeline.process(_noisy_frames(120, 1, 0)[0], tracker=tracker)
    after = pipeline.process(_noisy_frames(200, 1, 0)[0], tracker=tracker)  # another face in the same box
    assert classifier.faces == 2 and after[0].label == "sad"


def test_reuse_needs_the_same_views_and_a_face_of_its_own():
    classifier = _BrightnessClassifier()
    pipeline = EmotionPipeline(classifier, _FixedDetector([(20, 20, 40, 40), (70, 20, 40, 40)]))
    tracker = pipeline.new_tracker(reuse_below=1.5)
    frame = _noisy_frames(120, 1, 0)[0]
    pipeline.process(frame, tracker=tracker)
    pipeline.process(frame, tracker=tracker, max_views=2)  # the busy server dropped views: classified again
    assert classifier.faces == 4
    pipeline.process(frame, tracker=tracker, max_views=2)
    assert classifier.faces == 4  # both faces reused, each from its own track
    pipeline.detector = _FixedDetector([(20, 20, 40, 40), (70, 20, 40, 40), (20, 60, 30, 30)])
    pipeline.process(frame, tracker=tracker, max_views=2)
    assert classifier.faces == 5  # only the newcomer


def test_reusable_compares_the_frame_where_the_last_crop_was_taken():
    from emotion_core.serving.tracker import Reading

    tracker = FaceTracker(reuse_below=2.0)
    probs = np.eye(7, dtype=np.float32)[[4]]
    reading = Reading((0, 0, 40, 40), 5.0, np.full((8, 8), 100, np.uint8), views=1, probs=probs[0])
    _, ids = tracker.update([(0, 0, 40, 40)], probs, readings=[reading])
    places = []

    def crop_at(level):
        return lambda box, angle: places.append((box, angle)) or np.full((8, 8), level, np.uint8)

    assert np.array_equal(tracker.reusable(ids, crop_at(101), views=1)[0], probs[0])
    assert places == [((0, 0, 40, 40), 5.0)]  # cropped at the reading's box and angle
    assert tracker.reusable(ids, crop_at(103), views=1) == [None]
    assert tracker.reusable(ids, crop_at(100), views=2) == [None]
    assert tracker.reusable([None], crop_at(100), views=1) == [None]


def test_detector_jitter_does_not_count_as_change():
    """The box moves a pixel back and forth on a still picture: the reading is still reused."""
    classifier = _BrightnessClassifier()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (100, 120), np.uint8)  # texture: a shifted crop differs a lot
    pipeline = EmotionPipeline(classifier, _FixedDetector([(20, 20, 60, 60)]))
    tracker = pipeline.new_tracker(reuse_below=1.5)
    for x in (20, 21, 20, 19):
        pipeline.detector = _FixedDetector([(x, 20, 60, 60)])
        pipeline.process(frame, tracker=tracker)
    assert classifier.faces == 1


def test_a_change_in_one_place_counts_though_the_mean_over_the_face_barely_moves():
    """A mouth opening changes a small part of the face a lot: as the crop's mean it is a fraction of a gray
    level (less than camera noise); as the largest change of a grid cell it is plain."""
    from emotion_core.serving.pipeline import REUSE_BELOW
    from emotion_core.serving.tracker import crop_change

    rng = np.random.default_rng(0)
    face = rng.integers(60, 200, (64, 64)).astype(np.uint8)
    noisy = np.clip(face + rng.normal(0, 3, face.shape), 0, 255).astype(np.uint8)
    mouth = face.copy()
    mouth[40:48, 24:32] += 30  # one 8x8 cell, 1/64 of the crop
    assert float(np.abs(mouth.astype(float) - face).mean()) < 0.5  # what a mean over the crop would see
    assert crop_change(face, mouth) >= 29 and crop_change(face, noisy) < REUSE_BELOW  # noise of 3 levels a pixel


def _label_width(image: np.ndarray, row: int) -> int:
    """Pixels of happy's colour on one row of the label above a box (its background, wider for longer text)."""
    return int((image[row] == HAPPY_BGR).all(axis=1).sum())


def test_annotate_names_each_face_by_its_track_or_the_names_given():
    from emotion_core.serving.pipeline import face_name

    frame = np.zeros((240, 320, 3), np.uint8)
    plain = _result((100, 100, 80, 80))
    tracked = FaceResult((100, 100, 80, 80), "happy", 0.9, np.eye(7, dtype=np.float32)[3], track_id=12)
    assert face_name(plain) == "" and face_name(tracked) == "#12"
    row = 100 - 12  # inside the label's background, above the box
    without = _label_width(EmotionPipeline.annotate(frame, [plain]), row)
    with_track = _label_width(EmotionPipeline.annotate(frame, [tracked]), row)
    numbered = _label_width(EmotionPipeline.annotate(frame, [plain], names=["3"]), row)
    assert without < numbered < with_track  # "happy 90%" < "3 happy 90%" < "#12 happy 90%"
    assert _label_width(EmotionPipeline.annotate(frame, [tracked], names=[""]), row) == without
