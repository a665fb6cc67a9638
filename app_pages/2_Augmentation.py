"""Augmentation: preview flips, rotation, zoom, translation and random erasing on real samples."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.widgets import data_root_input
from emotion_core.data.augment import AugmentConfig, augment_images
from emotion_core.data.dataset import DataError, decode_gray, scan_split
from emotion_core.data.synthetic import draw_face
from emotion_core.labels import EMOTIONS

st.title("Augmentation")
st.caption("What the training pipeline feeds the model: each image is transformed at random every epoch.")

root = data_root_input()
emotion = st.selectbox("Class", EMOTIONS, index=EMOTIONS.index("happy"))
count = st.slider("Images", 1, 8, 4)
seed = st.number_input("Seed (same seed, same samples)", 0, 10_000, 0)

images, source = None, ""
if root is not None:
    try:
        files = [f for f in scan_split(root, "train").files if EMOTIONS[f.label] == emotion]
        rng = np.random.default_rng(int(seed))
        chosen = [files[i] for i in rng.choice(len(files), size=min(count, len(files)), replace=False)] if files else []
        decoded = [decode_gray(f.path.read_bytes(), 96) for f in chosen]
        decoded = [d for d in decoded if d is not None]
        if decoded:
            images, source = np.stack(decoded), f"{len(decoded)} {emotion} images from {root}"
    except DataError as exc:
        st.warning(f"{exc} Showing synthetic faces instead.")
if images is None:
    rng = np.random.default_rng(int(seed))
    images, source = np.stack([draw_face(emotion, 96, rng) for _ in range(count)]), "synthetic faces"
st.caption(f"Source: {source}")

with st.sidebar:
    st.header("Augmentation settings")
    hflip = st.checkbox("Horizontal flip", True)
    vflip = st.checkbox("Vertical flip", False, help="Off by default: faces are upright.")
    rotation = st.slider("Rotation (fraction of a turn)", 0.0, 0.5, 0.05, 0.01)
    zoom = st.slider("Zoom", 0.0, 0.5, 0.1, 0.01)
    translation = st.slider("Translation", 0.0, 0.5, 0.1, 0.01)
    erasing = st.slider("Random erasing (probability)", 0.0, 1.0, 0.0, 0.05,
                        help="Blank one random rectangle with noise, so the model cannot lean on one region.")
    copies = st.slider("Augmented copies per image", 1, 6, 3)

config = AugmentConfig(hflip, vflip, rotation, zoom, translation, erasing)
with st.spinner("Augmenting..."):
    augmented = augment_images(images, config, seed=int(seed), copies=copies)
n = len(images)
for i in range(n):
    st.image([images[i]] + [augmented[c * n + i] for c in range(copies)], width=110,
             caption=["original"] + [f"augmented {c + 1}" for c in range(copies)])
