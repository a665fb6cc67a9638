"""Training batches for any Keras backend: numpy and OpenCV, no tf.data.

`TrainingBatches` is a `keras.utils.PyDataset`, so the same pipeline feeds the
TensorFlow, JAX and PyTorch backends (a GPU machine with JAX and no TensorFlow
trains the same way as this CPU). Per batch: shuffle order, per-image augmentation
(`augment.augment_image`), then optionally mixup or cutmix across the batch.
Every random draw comes from (seed, epoch, batch index), so batches do not depend
on which worker thread builds them.
"""

from __future__ import annotations

import keras
import numpy as np

from emotion_core.data.augment import AugmentConfig, augment_image
from emotion_core.labels import NUM_CLASSES


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[labels]


def mix_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, mixup: float = 0.0,
              cutmix: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mixup (blend two images) or cutmix (paste a box of one into the other), labels mixed in proportion.

    x: float (B, H, W, C); y: (B, K) one-hot or soft. `mixup` / `cutmix` are the Beta(a, a) parameters
    (0: off); with both on, each batch uses one of them at random.
    """
    methods = [m for m, alpha in (("mixup", mixup), ("cutmix", cutmix)) if alpha > 0]
    if not methods or len(x) < 2:
        return x, y
    method = methods[rng.integers(len(methods))]
    lam = float(rng.beta(mixup, mixup) if method == "mixup" else rng.beta(cutmix, cutmix))
    partner = rng.permutation(len(x))
    if method == "mixup":
        return lam * x + (1 - lam) * x[partner], lam * y + (1 - lam) * y[partner]
    h, w = x.shape[1:3]
    bh, bw = int(round(h * np.sqrt(1 - lam))), int(round(w * np.sqrt(1 - lam)))
    cy, cx = rng.integers(h), rng.integers(w)
    top, bottom = max(0, cy - bh // 2), min(h, cy + (bh + 1) // 2)
    left, right = max(0, cx - bw // 2), min(w, cx + (bw + 1) // 2)
    mixed = x.copy()
    mixed[:, top:bottom, left:right] = x[partner, top:bottom, left:right]
    lam = 1 - (bottom - top) * (right - left) / (h * w)  # the box as clipped at the border
    return mixed, lam * y + (1 - lam) * y[partner]


class TrainingBatches(keras.utils.PyDataset):
    """(x float32 (B, S, S, 1) in [0, 255], y float32 (B, 7)) batches of uint8 images (N, S, S).

    train=False (validation): in order, unchanged, the last batch smaller. train=True: shuffled each epoch,
    augmented, mixed, whole batches only (the few left over are drawn in other epochs), so a compiled step
    (XLA, tf.function) sees one shape. `multiple`: every batch a multiple of it (the replicas of a mirrored
    run split each batch evenly; up to multiple - 1 validation images are left out). `targets`: (N, 7) soft
    targets instead of one-hot labels (distillation), mixed like them.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, train: bool = False,
                 augment: AugmentConfig | None = None, mixup: float = 0.0, cutmix: float = 0.0, seed: int = 0,
                 workers: int = 1, multiple: int = 1, targets: np.ndarray | None = None):
        super().__init__(workers=workers, use_multiprocessing=False)
        usable = len(labels) - len(labels) % multiple
        if usable == 0:
            raise ValueError(f"{len(labels)} images cannot be split over {multiple} devices.")
        self.images, self.labels, self.batch_size, self.train = images[:usable], labels[:usable], batch_size, train
        self.targets = None if targets is None else targets[:usable]  # (N, K) soft targets (distillation)
        self.augment, self.mixup, self.cutmix, self.seed = augment, mixup, cutmix, seed
        self.start_at(0)

    def start_at(self, epoch: int) -> None:
        """Draw this epoch's order and augmentation (a resumed run does not replay its first epochs)."""
        self.epoch = epoch
        self._order = self._ordering()

    def __len__(self) -> int:
        if self.train and len(self.labels) >= self.batch_size:
            return len(self.labels) // self.batch_size
        return int(np.ceil(len(self.labels) / self.batch_size))

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.images[rows, ..., None].astype(np.float32)  # (B, S, S) -> (B, S, S, 1)
        y = one_hot(self.labels[rows]) if self.targets is None else self.targets[rows]
        if not self.train:
            return x, y
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.augment is not None and self.augment.enabled:
            x = np.stack([augment_image(image, self.augment, rng) for image in x])
        x, y = mix_batch(x, y, rng, self.mixup, self.cutmix)
        return np.clip(x, 0, 255).astype(np.float32), y.astype(np.float32)

    def on_epoch_end(self) -> None:
        self.start_at(self.epoch + 1)

    def _ordering(self) -> np.ndarray:
        if not self.train:
            return np.arange(len(self.labels))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.labels))
