"""Synthetic face-like data sets in the FER-2013 folder layout, for tests and demos.

Each class draws a cartoon face whose mouth and brows differ per emotion, with
random position, size and noise, so a model can learn it in a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emotion_core.labels import EMOTIONS

# (mouth curvature, mouth openness, brow tilt) per emotion
_SHAPES = {
    "angry": (-0.4, 0.1, 0.5), "disgust": (-0.2, 0.3, 0.3), "fear": (-0.1, 0.6, -0.4),
    "happy": (0.8, 0.2, 0.0), "neutral": (0.0, 0.05, 0.0), "sad": (-0.8, 0.05, -0.3),
    "surprise": (0.0, 0.9, -0.6),
}


def draw_face(emotion: str, size: int = 48, rng: np.random.Generator | None = None) -> np.ndarray:
    """One (size, size) uint8 gray cartoon face for `emotion`."""
    rng = rng or np.random.default_rng()
    curve, open_, brow = _SHAPES[emotion]
    s = size / 48.0
    img = np.full((size, size), int(rng.integers(20, 80)), np.uint8)
    cx, cy = size / 2 + rng.normal(0, 1.5 * s), size / 2 + rng.normal(0, 1.5 * s)
    r = size * rng.uniform(0.36, 0.44)
    cv2.ellipse(img, (int(cx), int(cy)), (int(r * 0.85), int(r)), 0, 0, 360, int(rng.integers(150, 210)), -1)
    eye_y, eye_dx = cy - r * 0.25, r * 0.38
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.circle(img, (int(ex), int(eye_y)), max(1, int(3 * s)), 30, -1)
        tilt = brow * side * 4 * s
        cv2.line(img, (int(ex - 5 * s), int(eye_y - 7 * s - tilt)), (int(ex + 5 * s), int(eye_y - 7 * s + tilt)),
                 40, max(1, int(2 * s)))
    mouth_y, mouth_w = cy + r * 0.45, r * 0.45
    xs = np.linspace(-1, 1, 20)
    top = mouth_y - curve * 6 * s * (1 - xs ** 2) - open_ * 5 * s
    bottom = mouth_y - curve * 6 * s * (1 - xs ** 2) + open_ * 5 * s
    pts = np.concatenate([np.stack([cx + xs * mouth_w, top], 1), np.stack([cx + xs[::-1] * mouth_w, bottom[::-1]], 1)])
    cv2.fillPoly(img, [pts.astype(np.int32)], 35)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def make_dataset(root: str | Path, per_class_train: int = 8, per_class_test: int = 3, size: int = 48,
                 seed: int = 0, emotions: tuple[str, ...] = EMOTIONS) -> Path:
    """Write `<root>/{train,test}/<emotion>/*.png`; returns root."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for split, n in (("train", per_class_train), ("test", per_class_test)):
        for emotion in emotions:
            folder = root / split / emotion
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(folder / f"{emotion}_{i:04d}.png"), draw_face(emotion, size, rng))
    return root
