"""Face detectors behind one interface: BlazeFace (default, `emotion_core.serving.blazeface`) and OpenCV's Haar cascade.

`make_detector(kind)` builds one; every detector's `find(frame, gray, channel_order)`
returns `Detection`s (box in frame pixels, eye keypoints when the detector gives them),
largest first. The Haar cascade runs on a downscaled gray copy of the frame and maps
its boxes back to frame coordinates.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion_core.serving.faces import Box, Detection, Detector, to_gray


# Selectable everywhere a detector is used (settings [detector] kind, EMOTION_DETECTOR, pages, CLI).
DETECTORS: dict[str, str] = {
    "blazeface": "BlazeFace short range (MediaPipe): faces within about 2 m, tilted or dim faces too",
    "blazeface-full": "BlazeFace full range: small faces far from the camera, slower",
    "blazeface-multi": "BlazeFace short and full range on the whole frame, each face checked by a landmark model: "
                       "faces from about 60 px in 640x480, no cups or cats",
    "blazeface-tiles": "blazeface-multi plus both models on overlapping tiles: faces from about 40 px in any frame "
                       "size, several times slower (the thorough search)",
    "blazeface-follow": "on photos the thorough search; on streams the short-range model on the whole frame and "
                        "around each face it follows, and a part of the thorough search every second frame: "
                        "faces from about 40 px at Live speed",
    "haar": "OpenCV Haar cascade: the original detector, upright frontal faces only",
}
DEFAULT_DETECTOR = "blazeface-follow"  # photos: the thorough search; streams: follow faces, search in turns
THOROUGH_DETECTOR = "blazeface-tiles"  # what pages suggest when faces are found in few frames


def make_detector(kind: str = DEFAULT_DETECTOR) -> Detector:
    """A detector by name (see DETECTORS); ValueError for an unknown name."""
    if kind == "haar":
        return FaceDetector()
    if kind in ("blazeface", "blazeface-full"):
        from emotion_core.serving.blazeface import BlazeFaceDetector

        return BlazeFaceDetector("full" if kind == "blazeface-full" else "short")
    if kind in ("blazeface-multi", "blazeface-tiles", "blazeface-follow"):
        from emotion_core.serving.multiscale import MultiScaleDetector

        return MultiScaleDetector(kind.removeprefix("blazeface-"))
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
