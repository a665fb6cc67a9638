"""Dataset: counts per split and class, sample faces, pixel statistics, unreadable files, cache."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import class_counts_bar, intensity_histogram
from dashboard.resources import decoded_split, quick_counts, sample_indices
from dashboard.widgets import data_root_input
from emotion_core.data.dataset import SPLITS, DataError, load_split, pixel_stats
from emotion_core.labels import EMOTIONS

st.title("Dataset")
root = data_root_input()
if root is None:
    st.stop()

try:
    counts = quick_counts(str(root))
except DataError as exc:
    st.error(str(exc))
    st.stop()

totals = {split: sum(c.values()) for split, c in counts.items()}
cols = st.columns(4)
cols[0].metric("Train images", f"{totals['train']:,}")
cols[1].metric("Test images", f"{totals['test']:,}")
present = [n for n in counts["train"].values() if n]
cols[2].metric("Imbalance (largest / smallest class)", f"{max(present) / min(present):.1f}x" if present else "n/a")
cols[3].metric("Classes", f"{len(present)} of {len(EMOTIONS)}")
st.plotly_chart(class_counts_bar(counts), width="stretch")

st.subheader("Images")
size = st.selectbox("Decode at size", [48, 64, 96, 128], index=0, help="Images are converted to gray and resized.")
loaded_key = f"loaded::{root}::{size}"
if not st.session_state.get(loaded_key):
    st.caption("Decoding reads every image once and writes an .npz cache; later loads are instant.")
    if st.button("Load images and build the cache", type="primary"):
        bar = st.progress(0.0, text="decoding...")
        try:
            for split in SPLITS:
                load_split(root, split, size,
                           progress=lambda d, t, s=split: bar.progress(d / max(t, 1), text=f"{s}: {d:,}/{t:,} images"))
        except DataError as exc:
            st.error(str(exc))
            st.stop()
        st.session_state[loaded_key] = True
        st.rerun()
    st.stop()


split = st.radio("Split", SPLITS, horizontal=True)
try:
    data = decoded_split(root, split, size)
except DataError as exc:
    st.error(str(exc))
    st.stop()

st.markdown("**Sample faces per class**")
seed = st.number_input("Sample seed", 0, 10_000, 0)
picks = sample_indices(data.labels, 8, int(seed))
for label, indices in picks.items():
    st.caption(f"{EMOTIONS[label]} ({data.counts()[EMOTIONS[label]]:,} images)")
    st.image([data.images[i] for i in indices], width=72)

st.markdown("**Pixel intensity statistics**")
stats, histograms = pixel_stats(data)
st.dataframe(stats, hide_index=True)
st.plotly_chart(intensity_histogram(histograms), width="stretch")

st.markdown("**Problems found**")
if data.unreadable:
    st.warning(f"{len(data.unreadable)} unreadable files were skipped:")
    st.dataframe({"file": data.unreadable}, hide_index=True)
else:
    st.success("Every image file decoded.")
if data.ignored:
    st.info(f"{len(data.ignored)} files that are not images were ignored: " + ", ".join(data.ignored[:20]))
if data.duplicates:
    st.info(f"{len(data.duplicates)} groups of byte-identical images.")
    st.dataframe({"duplicates": [", ".join(g) for g in data.duplicates[:200]]}, hide_index=True)
if data.missing_classes:
    st.warning("No folder for: " + ", ".join(data.missing_classes))
