"""Splits of a data set: the stratified validation hold-out every run and evaluation agree on."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): `fraction` of every class, at least one if it has two."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(len(idx) * fraction))
        if fraction > 0 and n_val == 0 and len(idx) >= 2:
            n_val = 1
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


HOLD_OUT_SEED = 42  # the validation hold-out ignores --seed: every run on a data set is judged on the same images


def hold_out(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of a run: the stratified split with the fixed hold-out seed."""
    return stratified_split(labels, fraction, HOLD_OUT_SEED)
