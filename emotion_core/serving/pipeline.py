"""The frame pipeline: detect faces, classify all of them in one batch, annotate.

`EmotionPipeline` is shared by the Live page (one per server, many video
sessions), the Photo page and the `predict` CLI. It holds no per-session
state: temporal smoothing lives in a `FaceTracker` that each video session
owns (`pipeline.new_tracker()`), so one pipeline serves many sessions at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion_core.data.dataset import resize_square
from emotion_core.data.images import MAX_PIXELS, ImageRefused, check_image_bytes
from emotion_core.labels import EMOTIONS
from emotion_core.serving.detect import DEFAULT_DETECTOR, make_detector
from emotion_core.serving.faces import Box, Detection, Detector, to_gray
from emotion_core.serving.inference import Classifier
from emotion_core.serving.tracker import FaceTracker, Reading, appearance

ALIGN_BY_DEFAULT = True  # helps tilted faces, neutral on upright ones: benchmarks/detection.py, README
REUSE_BELOW = 3.0  # Live: gray levels a face's crop may change and keep its classification (benchmarks/live_reuse.py)

# BGR colours per emotion for the overlay.
EMOTION_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 230), "disgust": (40, 140, 40), "fear": (160, 60, 160), "happy": (40, 200, 240),
    "neutral": (180, 180, 60), "sad": (200, 120, 40), "surprise": (0, 140, 255),
}
# The same colours as "#rrggbb", for the browser-drawn overlays and the charts.
EMOTION_HEX: dict[str, str] = {e: "#{2:02x}{1:02x}{0:02x}".format(*bgr) for e, bgr in EMOTION_COLORS.items()}


@dataclass
class FaceResult:
    """One face: box (x, y, w, h) in frame pixels, top label, its probability, all 7 probabilities."""

    box: Box
    label: str
    probability: float
    probabilities: np.ndarray
    track_id: int | None = None

    @classmethod
    def from_probs(cls, box: Box, probs: np.ndarray, track_id: int | None = None) -> "FaceResult":
        """The result for one face: its most probable label."""
        k = int(np.argmax(probs))
        return cls(box, EMOTIONS[k], float(probs[k]), probs, track_id)

    def to_dict(self) -> dict:
        return {
            "box": [int(v) for v in self.box], "label": self.label, "probability": float(self.probability),
            "probabilities": {e: float(p) for e, p in zip(EMOTIONS, self.probabilities)},
            "track_id": self.track_id,
        }


@dataclass
class Timings:
    detect_ms: float = 0.0
    classify_ms: float = 0.0
    total_ms: float = 0.0


def find_faces(detector: Detector, frame: np.ndarray, gray: np.ndarray, channel_order: str = "bgr",
               tracker: FaceTracker | None = None) -> list[Detection]:
    """The detector's faces of a frame; on a stream (a tracker), detectors that follow faces
    (`takes_trusted`) are told where the tracker expects them and the frame's number."""
    if tracker is not None and getattr(detector, "takes_trusted", False):
        return detector.find(frame, gray, channel_order, followed=tracker.expected(),
                             trusted=tracker.expected(found_last=True), step=tracker.frames)
    return detector.find(frame, gray, channel_order)


def face_name(result: FaceResult) -> str:
    """What a drawn face is called: its track number ("#2") as in the tables, "" without a track."""
    return "" if result.track_id is None else f"#{result.track_id}"


def clip_box(box: Box, shape: tuple[int, ...]) -> Box | None:
    """The part of `box` inside a frame of `shape` (H, W, ...); None when nothing of it is inside."""
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(shape[1], x + w), min(shape[0], y + h)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def crop_face(gray: np.ndarray, box: Box, size: int, margin: float = 0.1, angle: float = 0.0) -> np.ndarray:
    """Square (size, size) crop around `box` grown by `margin` per side; edges replicated past the border.

    A non-zero `angle` (degrees, as `Detection.eye_angle`) turns the crop about the box centre so the eyes
    come out level.
    """
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    if angle:
        turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)  # (2, 3): rotate about the box centre
        turn[:, 2] += (side / 2 - cx, side / 2 - cy)  # ...and move the centre to the middle of the crop
        out = max(1, int(round(side)))
        crop = cv2.warpAffine(gray, turn, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return resize_square(crop, size)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = x0 + int(round(side)), y0 + int(round(side))
    H, W = gray.shape
    crop = gray[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]
    pad = ((max(0, -y0), max(0, y1 - H)), (max(0, -x0), max(0, x1 - W)))
    if any(p for pair in pad for p in pair):
        crop = np.pad(crop, pad, mode="edge") if crop.size else np.zeros((y1 - y0, x1 - x0), np.uint8)
    return resize_square(crop, size)


class EmotionPipeline:
    """Face detection + MobileViT classification of every face of a frame in one batch."""

    def __init__(self, classifier: Classifier, detector: Detector | None = None, margin: float = 0.1,
                 align: bool = ALIGN_BY_DEFAULT):
        self.classifier = classifier
        self.detector = detector or make_detector()
        self.margin = margin
        self.align = align  # turn each crop so the eyes are level (detectors with keypoints only)

    @classmethod
    def from_run(cls, run_dir: Path | None = None, detector: str = DEFAULT_DETECTOR, prefer: str = "tflite",
                 align: bool = ALIGN_BY_DEFAULT) -> "EmotionPipeline":
        """Load the model of a run directory (default: models/default) with the named detector."""
        return cls(Classifier.from_run(run_dir, prefer=prefer), make_detector(detector), align=align)

    def new_tracker(self, alpha: float = 0.4, reuse_below: float = 0.0) -> FaceTracker:
        return FaceTracker(alpha=alpha, reuse_below=reuse_below)

    def crop_faces(self, gray: np.ndarray, boxes: list[Box], angles: list[float] | None = None) -> np.ndarray:
        """The model inputs (N, S, S) uint8 for the boxes of a gray frame, turned by `angles`."""
        size = self.classifier.input_size
        if not boxes:
            return np.zeros((0, size, size), np.uint8)
        angles = angles or [0.0] * len(boxes)
        return np.stack([crop_face(gray, b, size, self.margin, a) for b, a in zip(boxes, angles)])

    def classify_gray(self, gray: np.ndarray, boxes: list[Box], angles: list[float] | None = None,
                      max_views: int | None = None) -> np.ndarray:
        """Probabilities (N, 7) for the boxes of a gray frame (crops turned by `angles`), all faces in one batch;
        max_views limits the test-time augmentation views (None: as the model is served)."""
        return self.classify_crops(self.crop_faces(gray, boxes, angles), max_views)

    def classify_crops(self, crops: np.ndarray, max_views: int | None = None) -> np.ndarray:
        """Probabilities (N, 7) for model inputs (N, S, S), all in one batch."""
        if not len(crops):
            return np.zeros((0, len(EMOTIONS)), np.float32)
        return self.classifier.predict(crops.astype(np.float32)[..., None], max_views)  # (N, S, S, 1)

    def views_used(self, max_views: int | None) -> int:
        """The test-time augmentation views a prediction with `max_views` runs per face."""
        return self.classifier.views if max_views is None else max(1, min(max_views, self.classifier.views))

    def process_cropped(self, frame: np.ndarray, channel_order: str = "bgr") -> FaceResult:
        """The whole image classified as one face (data-set images, crops from other tools); no detection.

        A non-square image is squared around its centre with its edges replicated, as a face crop would be.
        """
        gray = to_gray(frame, channel_order)
        h, w = gray.shape
        crop = crop_face(gray, (0, 0, w, h), self.classifier.input_size, margin=0.0)
        probs = self.classifier.predict(crop.astype(np.float32)[None, ..., None])[0]  # (1, S, S, 1) -> (7,)
        return FaceResult.from_probs((0, 0, w, h), probs)

    def process(self, frame: np.ndarray, channel_order: str = "bgr", tracker: FaceTracker | None = None,
                timings: Timings | None = None, detect: bool = True, max_views: int | None = None) -> list[FaceResult]:
        """Results for every face of a gray, BGR or RGB frame of any size (largest face first).

        detect=False (with a tracker): no detection; the faces the tracker follows from its last detection are
        classified where they were (a live stream detects every Nth frame and saves the detector's time).
        max_views: at most this many test-time augmentation views per face (a busy live server asks for fewer).
        """
        start = time.perf_counter()
        gray = to_gray(frame, channel_order)
        if detect or tracker is None:
            faces = find_faces(self.detector, frame, gray, channel_order, tracker)
            if tracker is not None:
                tracker.followed = faces
        else:
            faces = tracker.followed
        boxes = [f.box for f in faces]
        detected = time.perf_counter()
        ids: list[int | None] = [None] * len(boxes)
        if tracker is None:
            probs = self.classify_gray(gray, boxes, [f.eye_angle for f in faces] if self.align else None, max_views)
        else:
            boxes, probs, ids = self._classify_tracked(tracker, gray, faces, max_views,  # type: ignore[assignment]
                                                       detected=detect)
        done = time.perf_counter()
        if timings is not None:
            timings.detect_ms = (detected - start) * 1000
            timings.classify_ms = (done - detected) * 1000
            timings.total_ms = (done - start) * 1000
        results = [FaceResult.from_probs(box, p, tid) for box, p, tid in zip(boxes, probs, ids)]
        return sorted(results, key=lambda r: r.box[2] * r.box[3], reverse=True)  # held faces among the others

    def _classify_tracked(self, tracker: FaceTracker, gray: np.ndarray, faces: list[Detection],
                          max_views: int | None, detected: bool = True) -> tuple[list[Box], np.ndarray, list[int]]:
        """Boxes, smoothed probabilities and track ids: this frame's faces (found by the detector, or followed
        from its last run when not `detected`), then the tracks held where they are expected; the faces that
        changed are classified (all of them unless the tracker reuses readings)."""
        looks = [appearance(gray, f.box) for f in faces]
        ids = tracker.match([f.box for f in faces], looks)
        held = [(tid, box) for tid, box in ((tid, clip_box(box, gray.shape)) for tid, box in tracker.held(ids)) if box]
        boxes = [f.box for f in faces] + [box for _, box in held]
        ids = ids + [tid for tid, _ in held]
        looks = looks + [None] * len(held)
        angles = [f.eye_angle if self.align else 0.0 for f in faces] + [0.0] * len(held)
        views = self.views_used(max_views)
        size = self.classifier.input_size
        known = (tracker.reusable(ids, lambda box, angle: crop_face(gray, box, size, self.margin, angle), views)
                 if tracker.reuse_below > 0 else [None] * len(boxes))
        fresh = [i for i, k in enumerate(known) if k is None]
        crops = self.crop_faces(gray, [boxes[i] for i in fresh], [angles[i] for i in fresh])  # (F, S, S)
        new_probs = self.classify_crops(crops, max_views)
        probs = np.array([k if k is not None else np.zeros(len(EMOTIONS), np.float32) for k in known], np.float32)
        readings: list[Reading | None] = [None] * len(boxes)
        for row, i in enumerate(fresh):
            probs[i] = new_probs[row]
            readings[i] = Reading(boxes[i], angles[i], crops[row], views, new_probs[row])
        smoothed, ids = tracker.update(boxes, probs.reshape(len(boxes), len(EMOTIONS)), ids=ids, readings=readings,
                                       appearances=looks, held=len(held), detected=detected)
        return boxes, smoothed, ids

    @staticmethod
    def annotate(frame: np.ndarray, results: list[FaceResult], channel_order: str = "bgr",
                 names: list[str] | None = None) -> np.ndarray:
        """A copy of the frame with boxes, labels and probabilities drawn (gray frames come back BGR), each label
        after the face's name: `names` (a photo's face numbers), else its track number (`face_name`)."""
        if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
            out = cv2.cvtColor(to_gray(frame), cv2.COLOR_GRAY2BGR)
            channel_order = "bgr"
        else:
            out = np.ascontiguousarray(frame[..., :3] if frame.shape[2] == 4 else frame).copy()
            if out.dtype != np.uint8:
                out = cv2.cvtColor(to_gray(frame, channel_order), cv2.COLOR_GRAY2BGR)
                channel_order = "bgr"
        thickness = max(1, round(min(out.shape[:2]) / 240))
        names = names if names is not None else [face_name(r) for r in results]
        for r, name in zip(results, names):
            color = EMOTION_COLORS.get(r.label, (255, 255, 255))
            if channel_order.lower() == "rgb":
                color = color[::-1]
            x, y, w, h = r.box
            cv2.rectangle(out, (x, y), (x + w, y + h), color, thickness + 1)
            text = f"{name} {r.label} {r.probability:.0%}".lstrip()
            scale = max(0.4, min(1.2, w / 160))
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            ty = y - 6 if y - th - 10 >= 0 else min(out.shape[0] - 2, y + h + th + 6)
            cv2.rectangle(out, (x, ty - th - 4), (x + tw + 6, ty + base), color, -1)
            cv2.putText(out, text, (x + 3, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness, cv2.LINE_AA)
        return out


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as BGR (or gray) uint8; ValueError with the path if unreadable."""
    data = Path(path).read_bytes() if Path(path).is_file() else None
    if data is None:
        raise ValueError(f"{path} does not exist or is not a file.")
    return decode_image_bytes(data, str(path))


def decode_image_bytes(data: bytes, name: str = "upload", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode uploaded bytes to a BGR uint8 frame; ValueError (ImageRefused) with a clear message otherwise.

    The header is checked before any pixel is decoded (see `emotion_core.data.images`).
    """
    check_image_bytes(data, name, max_pixels)
    buffer = np.frombuffer(data, np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageRefused(f"{name} is not a readable image ({exc.err}).") from None
    if image is None:
        raise ImageRefused(f"{name} is not a readable image (its pixel data is damaged).")
    return image
