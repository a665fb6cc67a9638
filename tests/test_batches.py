"""Training batches: order, augmentation, mixup / cutmix, validation untouched, reproducible draws."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.data.augment import NO_AUGMENTATION, AugmentConfig, augment_images
from emotion_core.data.batches import TrainingBatches, mix_batch, one_hot


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (20, 16, 16), dtype=np.uint8), np.arange(20) % 7


def test_validation_batches_are_the_data_in_order(data):
    images, labels = data
    batches = TrainingBatches(images, labels, batch_size=8)
    assert len(batches) == 3
    xs, ys = zip(*(batches[i] for i in range(len(batches))))
    assert [x.shape for x in xs] == [(8, 16, 16, 1), (8, 16, 16, 1), (4, 16, 16, 1)]
    np.testing.assert_array_equal(np.concatenate(xs)[..., 0], images)
    np.testing.assert_array_equal(np.concatenate(ys), one_hot(labels))
    assert np.concatenate(xs).dtype == np.float32


def test_training_batches_are_whole_and_smaller_sets_make_one_batch(data):
    images, labels = data
    batches = TrainingBatches(images, labels, batch_size=8, train=True, augment=NO_AUGMENTATION)
    assert len(batches) == 2 and {batches[i][0].shape[0] for i in range(2)} == {8}
    assert len(TrainingBatches(images[:3], labels[:3], batch_size=8, train=True)) == 1


def test_training_batches_shuffle_each_epoch_and_cover_every_image(data):
    images, labels = data
    batches = TrainingBatches(images, labels, batch_size=5, train=True, augment=NO_AUGMENTATION, seed=3)
    first = np.concatenate([batches[i][0] for i in range(len(batches))])[..., 0]
    batches.on_epoch_end()
    second = np.concatenate([batches[i][0] for i in range(len(batches))])[..., 0]
    key = lambda a: sorted(im.astype(np.uint8).tobytes() for im in a)  # noqa: E731  (the set of images)
    assert key(first) == key(second) == key(images)
    assert not np.array_equal(first, images) and not np.array_equal(first, second)


def test_draws_depend_on_seed_epoch_and_batch_not_on_call_order(data):
    images, labels = data
    make = lambda: TrainingBatches(images, labels, 4, train=True, augment=AugmentConfig(), seed=1)  # noqa: E731
    a, b = make(), make()
    later_first = [b[i][0] for i in reversed(range(len(b)))][::-1]  # worker threads ask in any order
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i][0], later_first[i])
    resumed = make()
    resumed.start_at(1)
    a.on_epoch_end()
    np.testing.assert_array_equal(a[0][0], resumed[0][0])  # a resumed run continues the sequence


def test_augmentation_in_training_batches_is_the_preview_transform(data):
    images, labels = data
    config = AugmentConfig(rotation=0.1)
    x, _ = TrainingBatches(images, labels, 4, train=True, augment=config, seed=0)[0]
    assert x.min() >= 0 and x.max() <= 255
    assert np.abs(x[..., 0] - images[:4]).mean() > 1  # (order shuffled, so compare loosely)
    preview = augment_images(images[:2], config, seed=0)
    assert preview.shape == (2, 16, 16) and preview.dtype == np.uint8


def test_mixup_blends_images_and_labels_in_the_same_proportion():
    x = np.stack([np.full((4, 4, 1), 0.0), np.full((4, 4, 1), 100.0)])
    y = one_hot(np.array([0, 1]))
    mixed, soft = mix_batch(x, y, np.random.default_rng(0), mixup=0.4)
    share = mixed[:, 0, 0, 0] / 100.0  # the part of image 1 in each result
    np.testing.assert_allclose(soft[:, 1], share, atol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert 0 < share.max() < 1 or np.array_equal(mixed, x[::-1])


def test_cutmix_pastes_a_box_and_labels_follow_its_area():
    x = np.stack([np.zeros((10, 10, 1)), np.full((10, 10, 1), 200.0)])
    y = one_hot(np.array([2, 5]))
    for seed in range(5):
        mixed, soft = mix_batch(x, y, np.random.default_rng(seed), cutmix=1.0)
        for i in range(2):
            pasted = np.mean(mixed[i] != x[i])  # the part of the image that changed
            partner_label = 5 if i == 0 else 2
            if not np.array_equal(mixed[i], x[i]):
                np.testing.assert_allclose(soft[i, partner_label], pasted, atol=1e-6)
        np.testing.assert_allclose(soft.sum(axis=1), 1.0)


def test_no_mixing_when_off_or_a_single_image():
    x, y = np.ones((3, 4, 4, 1)), one_hot(np.array([0, 1, 2]))
    assert mix_batch(x, y, np.random.default_rng(0))[0] is x
    single = mix_batch(x[:1], y[:1], np.random.default_rng(0), mixup=1.0, cutmix=1.0)
    assert single[0] is not None and np.array_equal(single[1], y[:1])


def test_erasing_blanks_one_rectangle_with_noise():
    image = np.full((1, 32, 32), 128, np.uint8)
    out = augment_images(image, AugmentConfig(horizontal_flip=False, rotation=0, zoom=0, translation=0, erasing=1.0),
                         seed=4)[0]
    changed = np.argwhere(out != 128)
    assert 0.02 * 32 * 32 * 0.5 < len(changed) <= 0.25 * 32 * 32 + 64
    rows, cols = changed[:, 0], changed[:, 1]
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert len(changed) / box > 0.9  # one rectangle, not scattered pixels
    untouched = augment_images(image, AugmentConfig(horizontal_flip=False, rotation=0, zoom=0, translation=0,
                                                    erasing=0.0), seed=4)[0]
    assert (untouched == 128).all()
