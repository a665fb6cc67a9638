"""Faces followed from frame to frame: one id per person, probabilities smoothed per face, a face held
through frames where detection misses it, and readings reused while a face's picture does not change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from emotion_core.serving.faces import Box, Detection


def iou(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0, min(ax2, bx2) - max(ax1, bx1)), max(0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Reading:
    """A face's last classification: where its crop was taken, the crop, the views used, the probabilities."""

    box: Box
    angle: float
    crop: np.ndarray  # (S, S) uint8, the model input
    views: int
    probs: np.ndarray  # (7,) before smoothing
    reused: int = 0  # later frames that showed it again


@dataclass
class _Track:
    box: Box
    probs: np.ndarray  # (7,) smoothed
    missed: int = 0  # frames in a row without a detection of this face (held frames included)
    reading: Reading | None = None
    seen: int = 1  # frames on which a detector found this face
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre's movement per frame, smoothed
    appearance: np.ndarray | None = None  # (APPEARANCE_SIDE ** 2,) the face's picture, normalised

    def predicted(self, frames_ahead: int = 1) -> Box:
        """Where the box will be `frames_ahead` frames after it was last found, at its smoothed speed."""
        x, y, w, h = self.box
        dx, dy = self.velocity
        return (int(round(x + dx * frames_ahead)), int(round(y + dy * frames_ahead)), w, h)


APPEARANCE_SIDE = 16  # a face's picture is compared on a 16x16 thumbnail
SAME_PERSON = 0.35  # thumbnail correlation above which a face found after a gap continues its old track


def appearance(gray: np.ndarray, box: Box) -> np.ndarray | None:
    """The face's picture as a zero-mean, unit-length vector (APPEARANCE_SIDE ** 2,); None for an empty box."""
    x, y, w, h = box
    patch = gray[max(0, y):max(0, y + h), max(0, x):max(0, x + w)]
    if patch.size == 0:
        return None
    thumb = cv2.resize(patch, (APPEARANCE_SIDE, APPEARANCE_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    thumb = thumb.ravel() - thumb.mean()
    norm = float(np.linalg.norm(thumb))
    return thumb / norm if norm > 1e-6 else None


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Correlation of two appearances in [-1, 1]; None when either is unknown."""
    return None if a is None or b is None else float(a @ b)


CHANGE_GRID = 8  # crops are compared cell by cell on an 8x8 grid (8x8-pixel cells on a 64-pixel crop)


def crop_change(a: np.ndarray, b: np.ndarray) -> float:
    """How much a crop changed, in gray levels: the largest change of any grid cell's mean brightness.

    Camera noise averages out within a cell; a change in one place (a mouth opening) does not, as it would in
    the mean over the whole crop."""
    diff = a.astype(np.float32) - b.astype(np.float32)  # (S, S)
    cells = cv2.resize(diff, (CHANGE_GRID, CHANGE_GRID), interpolation=cv2.INTER_AREA)  # (8, 8) cell means
    return float(np.abs(cells).max())


@dataclass
class FaceTracker:
    """One id per person across frames, probabilities smoothed per face (EMA).

    Faces are matched greedily by box overlap (IoU) with where each track is expected (its last box moved at
    its smoothed speed). A face found again after frames without it continues its track only when its picture
    still looks like the track's (`SAME_PERSON`), so a person who takes the place of another gets a new id. A
    track found on at least two frames is held where it is expected for up to `hold` frames the detector
    misses it (`held`), so boxes do not flicker; unseen for more than `max_missed` frames, it is dropped.

    alpha: weight of the newest frame (1.0 = no smoothing). `followed` holds the faces of the last detection:
    on frames without detection they are classified where they were.
    reuse_below: a face whose picture changed by less than this many gray levels since its last
    classification (`crop_change`, compared where that crop was taken) keeps that classification (0: every
    face classified on every frame); at most `reuse_at_most` frames in a row, so a change too small to see
    shows within reuse_at_most + 1 frames.
    """

    alpha: float = 0.4
    iou_threshold: float = 0.3
    max_missed: int = 5
    hold: int = 3
    same_person: float = SAME_PERSON
    reuse_below: float = 0.0
    reuse_at_most: int = 3
    followed: list[Detection] = field(default_factory=list)
    frames: int = 0  # frames seen (updates), the stream's frame number for detectors that search in turns
    _tracks: dict[int, _Track] = field(default_factory=dict)
    _next_id: int = 0

    def match(self, boxes: list[Box], appearances: list[np.ndarray | None] | None = None) -> list[int | None]:
        """The track each box continues (greedy, by overlap with where the track is expected), None for a new
        face; changes nothing. With `appearances`, a track that missed frames is continued only by a face that
        looks like it."""
        appearances = appearances or [None] * len(boxes)
        pairs = sorted(((iou(b, t.predicted(t.missed + 1)), i, tid) for i, b in enumerate(boxes)
                        for tid, t in self._tracks.items()), reverse=True)
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < self.iou_threshold:
                break
            if i in assigned or tid in used:
                continue
            track = self._tracks[tid]
            alike = similarity(appearances[i], track.appearance)
            if track.missed > 0 and alike is not None and alike < self.same_person:
                continue  # someone else where this person was
            assigned[i] = tid
            used.add(tid)
        return [assigned.get(i) for i in range(len(boxes))]

    def expected(self, found_last: bool = False) -> list[Box]:
        """Where each track's face is expected on the next frame (found_last: only the tracks whose face the
        detector found on the last frame, not those held or missed)."""
        return [t.predicted(t.missed + 1) for t in self._tracks.values() if not found_last or t.missed == 0]

    def held(self, ids: list[int | None]) -> list[tuple[int, Box]]:
        """(track id, expected box) of the tracks this frame's faces did not continue that are held: found on
        two frames or more and missed for fewer than `hold` frames."""
        taken = set(ids)
        return [(tid, t.predicted(t.missed + 1)) for tid, t in self._tracks.items()
                if tid not in taken and t.seen >= 2 and t.missed < self.hold]

    def reusable(self, ids: list[int | None], crop_at: Callable[[Box, float], np.ndarray],
                 views: int) -> list[np.ndarray | None]:
        """For each face (ids from `match`): its track's last probabilities when the frame, cropped where that
        reading was taken (`crop_at(box, angle)`), changed by less than `reuse_below` and the same number of
        views is asked for; else None (classify it). Comparing at the reading's own place keeps a detector's
        jitter of a pixel or a degree from counting as change."""
        out: list[np.ndarray | None] = []
        for tid in ids:
            reading = self._tracks[tid].reading if tid is not None else None
            keep = (reading is not None and reading.views == views and reading.reused < self.reuse_at_most
                    and crop_change(reading.crop, crop_at(reading.box, reading.angle)) < self.reuse_below)
            out.append(reading.probs if keep else None)
        return out

    def update(self, boxes: list[Box], probs: np.ndarray, ids: list[int | None] | None = None,
               readings: list[Reading | None] | None = None, appearances: list[np.ndarray | None] | None = None,
               held: int = 0, detected: bool = True) -> tuple[np.ndarray, list[int]]:
        """Smoothed probabilities (N, 7) and track ids for this frame's boxes.

        ids: `match(boxes)` when the caller already has it. readings (with reuse): per face, the Reading of a
        face classified on this frame, or None where the track's last reading was shown again. appearances:
        per face, its picture (`appearance`). held: the last `held` boxes are held tracks (from `held()`, their
        ids in `ids`), shown where expected but not found. detected=False: the boxes are followed from the last
        detection, not found on this frame (they keep their tracks but do not count as seen again).
        """
        self.frames += 1
        assigned = self.match(boxes, appearances) if ids is None else ids
        appearances = appearances or [None] * len(boxes)
        smoothed = np.array(probs, dtype=np.float32, copy=True)
        found_count = len(boxes) - held
        ids = []
        for i, box in enumerate(boxes):
            tid = assigned[i]
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                self._tracks[tid] = track = _Track(box, smoothed[i].copy(), appearance=appearances[i])
            else:
                track = self._tracks[tid]
                smoothed[i] = self.alpha * smoothed[i] + (1 - self.alpha) * track.probs
                if i < found_count:
                    steps = track.missed + 1
                    (x0, y0, w0, h0), (x1, y1, w1, h1) = track.box, box
                    moved = ((x1 + w1 / 2 - x0 - w0 / 2) / steps, (y1 + h1 / 2 - y0 - h0 / 2) / steps)
                    track.velocity = tuple(0.5 * v + 0.5 * m for v, m in zip(track.velocity, moved))
                    track.box, track.missed, track.seen = box, 0, track.seen + detected
                    if appearances[i] is not None:
                        track.appearance = appearances[i]
                else:
                    track.missed += 1  # held: shown where expected, still not found; expected from the last box
                track.probs = smoothed[i].copy()
            if readings is not None and readings[i] is not None:
                track.reading = readings[i]
            elif readings is not None and track.reading is not None:
                track.reading.reused += 1
            ids.append(tid)
        for tid in list(self._tracks):
            if tid not in ids:
                self._tracks[tid].missed += 1
            if self._tracks[tid].missed > self.max_missed:
                del self._tracks[tid]
        return smoothed, ids

    def __len__(self) -> int:
        return len(self._tracks)
