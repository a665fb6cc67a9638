"""Face detection with OpenCV's Haar cascade (frontal face default).

Detection runs on a downscaled gray copy of the frame (faster on large frames)
and the boxes are mapped back to frame coordinates.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


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


class FaceDetector:
    """Haar cascade detector; thread-safe (each thread gets its own cascade instance)."""

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
