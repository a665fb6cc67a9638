"""Photo: upload images instead of using a webcam; same pipeline, annotated result and probabilities."""

from __future__ import annotations

import cv2
import streamlit as st

from dashboard.charts import probability_bars
from dashboard.widgets import served_pipeline
from emotion_core.pipeline import decode_image_bytes

MAX_UPLOAD_MB = 10

st.title("Photo")
st.caption(f"Upload one or more photos (PNG, JPEG, BMP or WebP, up to {MAX_UPLOAD_MB} MB each).")

_, pipeline = served_pipeline("photo_model")

uploads = st.file_uploader("Photos", type=["png", "jpg", "jpeg", "bmp", "webp"], accept_multiple_files=True)
for upload in uploads or []:
    st.subheader(upload.name)
    data = upload.getvalue()
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        st.error(f"{upload.name} is larger than {MAX_UPLOAD_MB} MB.")
        continue
    try:
        frame = decode_image_bytes(data, upload.name)
    except ValueError as exc:
        st.error(str(exc))
        continue
    results = pipeline.process(frame)
    annotated = pipeline.annotate(frame, results)
    left, right = st.columns([3, 2])
    left.image(cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB), width="stretch")
    if not results:
        right.warning("No face found. Try a frontal, well-lit face.")
    for i, r in enumerate(results):
        right.markdown(f"**Face {i + 1}: {r.label}** ({r.probability:.0%})")
        right.plotly_chart(probability_bars(r.to_dict()["probabilities"]), width="stretch",
                           key=f"{upload.file_id}_{i}")
