"""Augmentation: flips, rotation, zoom and translation, for training (Keras) and previews (OpenCV).

Training uses Keras preprocessing layers inside the tf.data pipeline
(`build_augmenter`); previews use `augment_images`, the same transforms written
with OpenCV, so the dashboard server never imports TensorFlow. Seedable.
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
    """

    horizontal_flip: bool = option(True, "--flip", "mirror left-right", label="Horizontal flip", off_flag="--no-flip")
    vertical_flip: bool = option(False, "--vertical-flip", "mirror upside down (off: faces are upright)",
                                 label="Vertical flip")
    rotation: float = option(0.05, "--rotation", "max rotation, fraction of a full turn", label="Rotation",
                             minimum=0.0, maximum=0.5)
    zoom: float = option(0.1, "--zoom", "max zoom in or out, fraction", label="Zoom", minimum=0.0, maximum=0.5)
    translation: float = option(0.1, "--translation", "max shift, fraction of the image size", label="Translation",
                                minimum=0.0, maximum=0.5)

    def __post_init__(self) -> None:
        check_ranges(self)

    @property
    def enabled(self) -> bool:
        return bool(self.horizontal_flip or self.vertical_flip or self.rotation or self.zoom or self.translation)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


NO_AUGMENTATION = AugmentConfig(False, False, 0.0, 0.0, 0.0)


def build_augmenter(config: AugmentConfig, seed: int | None = None):
    """A keras.Sequential of random layers for (B, H, W, C) float batches; identity when disabled."""
    import keras
    from keras import layers

    steps = []
    flip = {(True, True): "horizontal_and_vertical", (True, False): "horizontal", (False, True): "vertical"}
    mode = flip.get((config.horizontal_flip, config.vertical_flip))
    if mode:
        steps.append(layers.RandomFlip(mode, seed=seed))
    if config.rotation:
        steps.append(layers.RandomRotation(config.rotation, fill_mode="reflect", seed=seed))
    if config.zoom:
        steps.append(layers.RandomZoom(config.zoom, fill_mode="reflect", seed=seed))
    if config.translation:
        steps.append(layers.RandomTranslation(config.translation, config.translation, fill_mode="reflect", seed=seed))
    return keras.Sequential(steps, name="augmenter")


def augment_images(images: np.ndarray, config: AugmentConfig, seed: int | None = 0, copies: int = 1) -> np.ndarray:
    """Augment a few uint8 images (N, H, W) or (N, H, W, C) for previews; returns uint8 (copies*N, ...).

    The same transforms as `build_augmenter` (flip, rotation, zoom, translation, in that order,
    reflected borders, bilinear), written with OpenCV so a preview never imports TensorFlow.
    """
    squeeze = images.ndim == 3
    batch = images[..., None] if squeeze else images  # (N, H, W) -> (N, H, W, C)
    batch = np.tile(batch.astype(np.float32), (copies, 1, 1, 1))
    rng = np.random.default_rng(seed)
    out = np.stack([_augment_one(image, config, rng) for image in batch]) if config.enabled else batch
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out[..., 0] if squeeze else out


def _augment_one(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """One (H, W, C) float image through the random steps of `build_augmenter`."""
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
    return image


def _warp(image: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Resample (H, W, C) at inverse(x, y) for each output pixel; borders reflected like Keras' "reflect"."""
    h, w, c = image.shape
    out = cv2.warpAffine(np.ascontiguousarray(image), inverse, (w, h),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(h, w, c)  # warpAffine drops a single channel axis
