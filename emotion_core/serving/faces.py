"""What every face detector returns (`Detection`, `Box`) and the frame conversions they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


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
