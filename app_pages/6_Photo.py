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

cropped = st.toggle("Each image is one face (pre-cropped: data-set images, crops from other tools)",
                    key="photo_cropped", help="No detection: the whole image is classified as one face.")
uploads = st.file_uploader("Photos", type=["png", "jpg", "jpeg", "bmp", "webp"], accept_multiple_files=True)


def decoded(upload):
    """The upload as a BGR frame, or None after showing why not."""
    data = upload.getvalue()
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        st.error(f"{upload.name} is larger than {MAX_UPLOAD_MB} MB.")
        return None
    try:
        return decode_image_bytes(data, upload.name)
    except ValueError as exc:
        st.error(str(exc))
        return None


if cropped and uploads:
    rows = []
    for upload in uploads:
        frame = decoded(upload)
        if frame is not None:
            r = pipeline.process_cropped(frame).to_dict()
            rows.append({"file": upload.name, "emotion": r["label"], "probability": round(r["probability"], 3),
                         **{e: round(p, 3) for e, p in r["probabilities"].items()}})
    if rows:
        st.dataframe(rows, hide_index=True)
elif uploads:
    for upload in uploads:
        st.subheader(upload.name)
        frame = decoded(upload)
        if frame is None:
            continue
        results = pipeline.process(frame)
        annotated = pipeline.annotate(frame, results)
        left, right = st.columns([3, 2])
        left.image(cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB), width="stretch")
        if not results:
            right.warning("No face found. Try another detector above, or switch on 'Each image is one face' for "
                          "images that are already face crops.")
        for i, r in enumerate(results):
            right.markdown(f"**Face {i + 1}: {r.label}** ({r.probability:.0%})")
            right.plotly_chart(probability_bars(r.to_dict()["probabilities"]), width="stretch",
                               key=f"{upload.file_id}_{i}")
