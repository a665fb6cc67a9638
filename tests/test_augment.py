"""Augmentation: seeded, shape-preserving, each transform does what it says."""

import numpy as np
import pytest

from emotion_core.data.augment import NO_AUGMENTATION, AugmentConfig, augment_image, augment_images
from emotion_core.data.synthetic import draw_face


@pytest.fixture
def faces():
    rng = np.random.default_rng(0)
    return np.stack([draw_face("happy", 48, rng) for _ in range(4)])


def test_defaults_keep_faces_upright():
    cfg = AugmentConfig()
    assert cfg.horizontal_flip and not cfg.vertical_flip


def test_shapes_dtype_and_copies(faces):
    out = augment_images(faces, AugmentConfig(), seed=1, copies=3)
    assert out.shape == (12, 48, 48) and out.dtype == np.uint8


def test_seed_reproducible_and_different_seeds_differ(faces):
    cfg = AugmentConfig(rotation=0.1, zoom=0.2)
    a = augment_images(faces, cfg, seed=7)
    b = augment_images(faces, cfg, seed=7)
    c = augment_images(faces, cfg, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_disabled_is_identity(faces):
    assert np.array_equal(augment_images(faces, NO_AUGMENTATION, seed=0), faces)


def test_flip_only_mirrors_or_keeps(faces):
    cfg = AugmentConfig(horizontal_flip=True, rotation=0, zoom=0, translation=0)
    out = augment_images(faces, cfg, seed=3, copies=8)
    tiled = np.tile(faces, (8, 1, 1))
    mirrored = tiled[:, :, ::-1]
    same = np.all(out == tiled, axis=(1, 2))
    flipped = np.all(out == mirrored, axis=(1, 2))
    assert np.all(same | flipped) and flipped.any() and same.any()


def test_vertical_flip_when_enabled(faces):
    cfg = AugmentConfig(horizontal_flip=False, vertical_flip=True, rotation=0, zoom=0, translation=0)
    out = augment_images(faces, cfg, seed=3, copies=8)
    assert np.any(np.all(out == np.tile(faces, (8, 1, 1))[:, ::-1, :], axis=(1, 2)))


def test_rotation_changes_pixels_but_keeps_range(faces):
    out = augment_images(faces, AugmentConfig(horizontal_flip=False, rotation=0.1, zoom=0, translation=0), seed=2)
    assert not np.array_equal(out, faces) and out.min() >= 0 and out.max() <= 255


def test_invalid_ranges_refused():
    with pytest.raises(ValueError, match="rotation"):
        AugmentConfig(rotation=0.9)


class _FixedDraws:
    """Stands in for numpy's Generator: no flips, every uniform draw at a chosen value."""

    def __init__(self, value: float):
        self.value = value

    def random(self):
        return 0.99  # never below 0.5: no flip

    def uniform(self, low, high, size=None):
        return self.value if size is None else np.full(size, self.value)


@pytest.mark.parametrize("step, value", [("rotation", 0.05), ("rotation", -0.08), ("zoom", 0.1), ("zoom", -0.15),
                                         ("translation", 0.1), ("translation", -0.07)])
def test_transforms_follow_the_keras_layers_conventions(faces, step, value):
    """Our OpenCV transforms give the picture Keras' Random* layers give for the same draw (sign, centre,
    zoom direction, borders): the reference a reader of the options expects."""
    from keras import layers

    image = faces[0].astype(np.float32)
    image[5:15, 5:10] = 255  # an asymmetric mark: a mirrored or wrongly signed transform shows
    config = AugmentConfig(horizontal_flip=False, **{k: (0.5 if k == step else 0.0)
                                                    for k in ("rotation", "zoom", "translation")})
    ours = augment_image(image[..., None], config, _FixedDraws(value))[..., 0]
    layer = {"rotation": lambda: layers.RandomRotation((value, value), fill_mode="reflect"),
             "zoom": lambda: layers.RandomZoom((value, value), fill_mode="reflect"),
             "translation": lambda: layers.RandomTranslation((value, value), (value, value), fill_mode="reflect")}[step]()
    keras_out = np.asarray(layer(image[None, ..., None], training=True))[0, ..., 0]
    assert np.abs(ours - image).mean() > 5  # the transform changes the picture
    assert np.abs(ours - keras_out).mean() < 1.0  # ...and the same way as the Keras layer does
