"""Face detectors behind one interface: BlazeFace (default, `emotion_core.blazeface`) and OpenCV's Haar cascade.

`make_detector(kind)` builds one; every detector's `find(frame, gray, channel_order)`
returns `Detection`s (box in frame pixels, eye keypoints when the detector gives them),
largest first. The Haar cascade runs on a downscaled gray copy of the frame and maps
its boxes back to frame coordinates.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels

# Selectable everywhere a detector is used (settings [detector] kind, EMOTION_DETECTOR, pages, CLI).
DETECTORS: dict[str, str] = {
    "blazeface": "BlazeFace short range (MediaPipe): faces within about 2 m, tilted or dim faces too",
    "blazeface-full": "BlazeFace full range: small faces far from the camera, slower",
    "haar": "OpenCV Haar cascade: the original detector, upright frontal faces only",
}
DEFAULT_DETECTOR = "blazeface"


@dataclass
class Detection:
    """One face: box in frame pixels, keypoints (6, 2) as (x, y) when the detector gives them, score."""

    box: Box
    keypoints: np.ndarray | None = None  # BlazeFace order: right eye, left eye, nose, mouth, right ear, left ear
    score: float | None = None

    @property
    def eye_angle(self) -> float:
        """Degrees the line through the eyes is turned from level (positive: the eye on the image's right is
        lower); 0 without keypoints."""
        if self.keypoints is None:
            return 0.0
        (x0, y0), (x1, y1) = sorted(self.keypoints[:2].tolist())  # left to right in the image
        return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


class Detector(Protocol):
    kind: str

    def find(self, frame: np.ndarray, gray: np.ndarray, channel_order: str = "bgr") -> list[Detection]:
        """Faces of `frame` (`gray` is the same frame in gray), largest first."""
        ...


def make_detector(kind: str = DEFAULT_DETECTOR) -> Detector:
    """A detector by name (see DETECTORS); ValueError for an unknown name."""
    if kind == "haar":
        return FaceDetector()
    if kind in ("blazeface", "blazeface-full"):
        from emotion_core.blazeface import BlazeFaceDetector

        return BlazeFaceDetector("full" if kind == "blazeface-full" else "short")
    raise ValueError(f"Unknown face detector {kind!r}: choose one of {', '.join(DETECTORS)}.")


@dataclass(frozen=True)
class DetectorConfig:
    """scale_factor / min_neighbors / min_size are cv2.CascadeClassifier.detectMultiScale's;
    min_size is in frame pixels. detect_width: frames wider than this are downscaled first."""

    scale_factor: float = 1.2
    min_neighbors: int = 5
    min_size: int = 40
    detect_width: int = 320
    cascade: str = "haarcascade_frontalface_default.xml"


def to_gray(frame: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
    """2-D uint8 gray from a gray, BGR/RGB or BGRA/RGBA frame of any dtype."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.floating):
            scale = 255.0 if frame.size and float(np.nanmax(frame)) <= 1.0 else 1.0
            frame = np.nan_to_num(frame * scale)
        elif frame.dtype == np.uint16:
            frame = frame / 257.0
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[..., 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        rgb_first = channel_order.lower() == "rgb"
        code = {(3, False): cv2.COLOR_BGR2GRAY, (3, True): cv2.COLOR_RGB2GRAY,
                (4, False): cv2.COLOR_BGRA2GRAY, (4, True): cv2.COLOR_RGBA2GRAY}[(frame.shape[2], rgb_first)]
        return cv2.cvtColor(np.ascontiguousarray(frame), code)
    raise ValueError(f"Unsupported frame shape {frame.shape}: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).")


def to_rgb(frame: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
    """(H, W, 3) uint8 RGB from a BGR/RGB(A) uint8 frame; gray and other dtypes come back as gray in 3 channels."""
    frame = np.asarray(frame)
    if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] in (3, 4):
        rgb = frame[..., :3] if channel_order.lower() == "rgb" else frame[..., 2::-1]
        return np.ascontiguousarray(rgb)
    return np.repeat(to_gray(frame, channel_order)[..., None], 3, axis=2)


class FaceDetector:
    """Haar cascade detector; thread-safe (each thread gets its own cascade instance)."""

    kind = "haar"

    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        self.cascade_path = Path(cv2.data.haarcascades) / self.config.cascade
        if not self.cascade_path.is_file():
            raise RuntimeError(
                f"Haar cascade {self.cascade_path} not found: install opencv-python-headless>=4.10,<5 "
                "(OpenCV 5 ships no cascades)."
            )
        self._local = threading.local()
        self._cascade()  # fail early if it does not load

    def _cascade(self) -> "cv2.CascadeClassifier":
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(str(self.cascade_path))
            if cascade.empty():
                raise RuntimeError(f"Cannot load Haar cascade {self.cascade_path}.")
            self._local.cascade = cascade
        return cascade

    def detect_gray(self, gray: np.ndarray) -> list[Box]:
        """Boxes in the coordinates of `gray`, largest first."""
        h, w = gray.shape[:2]
        if h < 8 or w < 8:
            return []
        cfg = self.config
        scale = min(1.0, cfg.detect_width / w) if cfg.detect_width else 1.0
        small = gray if scale == 1.0 else cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                     interpolation=cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        min_side = max(8, int(round(cfg.min_size * scale)))
        found = self._cascade().detectMultiScale(small, scaleFactor=cfg.scale_factor,
                                                 minNeighbors=cfg.min_neighbors, minSize=(min_side, min_side))
        boxes = []
        for x, y, bw, bh in (found if len(found) else []):
            # Map back to frame coordinates and clip to the frame.
            fx, fy = int(round(x / scale)), int(round(y / scale))
            fw, fh = int(round(bw / scale)), int(round(bh / scale))
            fx, fy = max(0, fx), max(0, fy)
            boxes.append((fx, fy, min(fw, w - fx), min(fh, h - fy)))
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)

    def detect(self, frame: np.ndarray, channel_order: str = "bgr") -> list[Box]:
        return self.detect_gray(to_gray(frame, channel_order))

    def find(self, frame: np.ndarray, gray: np.ndarray, channel_order: str = "bgr") -> list[Detection]:
        return [Detection(box) for box in self.detect_gray(gray)]
