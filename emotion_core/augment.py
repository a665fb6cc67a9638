"""Augmentation from Keras preprocessing layers: flips, rotation, zoom, translation.

Used inside the tf.data training pipeline (`build_augmenter`) and on a handful
of images for previews (`augment_images`). Seedable for reproducible previews.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


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

    horizontal_flip: bool = True
    vertical_flip: bool = False
    rotation: float = 0.05
    zoom: float = 0.1
    translation: float = 0.1

    def __post_init__(self) -> None:
        for name in ("rotation", "zoom", "translation"):
            value = getattr(self, name)
            if not 0.0 <= value <= 0.5:
                raise ValueError(f"Augmentation {name} must be between 0 and 0.5, got {value}.")

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
    """Augment a few uint8 images (N, H, W) or (N, H, W, C) for previews; returns uint8 (copies*N, ...)."""
    import keras

    squeeze = images.ndim == 3
    batch = images[..., None] if squeeze else images  # (N, H, W) -> (N, H, W, 1)
    batch = np.tile(batch.astype("float32"), (copies, 1, 1, 1))
    augmenter = build_augmenter(config, seed=seed)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    out = np.asarray(augmenter(batch, training=True)) if augmenter.layers else batch
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out[..., 0] if squeeze else out
