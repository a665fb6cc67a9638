"""Augmentation: flips, rotation, zoom, translation and random erasing, written with OpenCV.

One implementation for everything: the training batches (`emotion_core.data.batches`, on any
Keras backend) and the Augmentation page's previews call `augment_image`, so a preview
shows exactly what training sees, and the dashboard server never imports TensorFlow. Seedable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from emotion_core.options import check_ranges, option


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings.

    horizontal_flip: mirror left-right (faces are roughly symmetric).
    vertical_flip: off by default, because faces in the data and in front of a
        webcam are upright; an upside-down face is not a useful training example.
    rotation: max rotation as a fraction of a full turn (0.05 = +-18 degrees).
    zoom: max zoom in/out as a fraction (0.1 = +-10 %).
    translation: max shift as a fraction of the image size.
    erasing: probability of blanking one random rectangle (2-25 % of the image) with noise,
        so the model cannot lean on a single region (random erasing, Zhong et al. 2020).
    """

    horizontal_flip: bool = option(True, "--flip", "mirror left-right", label="Horizontal flip", off_flag="--no-flip")
    vertical_flip: bool = option(False, "--vertical-flip", "mirror upside down (off: faces are upright)",
                                 label="Vertical flip")
    rotation: float = option(0.05, "--rotation", "max rotation, fraction of a full turn", label="Rotation",
                             minimum=0.0, maximum=0.5)
    zoom: float = option(0.1, "--zoom", "max zoom in or out, fraction", label="Zoom", minimum=0.0, maximum=0.5)
    translation: float = option(0.1, "--translation", "max shift, fraction of the image size", label="Translation",
                                minimum=0.0, maximum=0.5)
    erasing: float = option(0.0, "--erasing", "probability of erasing a random rectangle", label="Random erasing",
                            minimum=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        check_ranges(self)

    @property
    def enabled(self) -> bool:
        return bool(self.horizontal_flip or self.vertical_flip or self.rotation or self.zoom or self.translation
                    or self.erasing)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


NO_AUGMENTATION = AugmentConfig(False, False, 0.0, 0.0, 0.0, 0.0)


def augment_images(images: np.ndarray, config: AugmentConfig, seed: int | None = 0, copies: int = 1) -> np.ndarray:
    """Augment a few uint8 images (N, H, W) or (N, H, W, C) for previews; returns uint8 (copies*N, ...).

    The transforms of training (`augment_image`), so a preview shows what the model sees.
    """
    squeeze = images.ndim == 3
    batch = images[..., None] if squeeze else images  # (N, H, W) -> (N, H, W, C)
    batch = np.tile(batch.astype(np.float32), (copies, 1, 1, 1))
    rng = np.random.default_rng(seed)
    out = np.stack([augment_image(image, config, rng) for image in batch]) if config.enabled else batch
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out[..., 0] if squeeze else out


def augment_image(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """One (H, W, C) float image in [0, 255] through the random steps: flips, rotation, zoom, translation
    (reflected borders, bilinear, the conventions of Keras' Random* layers), then erasing."""
    h, w = image.shape[:2]
    if config.horizontal_flip and rng.random() < 0.5:
        image = image[:, ::-1]
    if config.vertical_flip and rng.random() < 0.5:
        image = image[::-1, :]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    if config.rotation:
        theta = np.deg2rad(rng.uniform(-config.rotation, config.rotation) * 360)
        rotate = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        image = _warp(image, np.column_stack([rotate, [cx, cy] - rotate @ [cx, cy]]))
    if config.zoom:
        z = 1 + rng.uniform(-config.zoom, config.zoom)  # > 1 zooms out, as keras.layers.RandomZoom
        image = _warp(image, np.array([[z, 0, cx * (1 - z)], [0, z, cy * (1 - z)]]))
    if config.translation:
        dy, dx = rng.uniform(-config.translation, config.translation, size=2) * (h, w)
        image = _warp(image, np.array([[1.0, 0, -dx], [0, 1.0, -dy]]))
    if config.erasing and rng.random() < config.erasing:
        image = _erase(image, rng)
    return image


def _erase(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy with one rectangle of 2-25 % of the area, aspect 0.3-3.3, filled with uniform noise."""
    h, w, c = image.shape
    area = rng.uniform(0.02, 0.25) * h * w
    aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
    eh, ew = min(h, max(1, int(round(np.sqrt(area * aspect))))), min(w, max(1, int(round(np.sqrt(area / aspect)))))
    top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
    out = image.copy()
    out[top:top + eh, left:left + ew] = rng.uniform(0, 255, size=(eh, ew, c))
    return out


def _warp(image: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Resample (H, W, C) at inverse(x, y) for each output pixel; borders reflected like Keras' "reflect"."""
    h, w, c = image.shape
    out = cv2.warpAffine(np.ascontiguousarray(image), inverse, (w, h),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(h, w, c)  # warpAffine drops a single channel axis
