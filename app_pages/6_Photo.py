"""Photo: upload images instead of using a webcam; same pipeline, annotated result and probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import streamlit as st

from dashboard.charts import probability_bars
from dashboard.widgets import served_pipeline
from emotion_core.media.face_table import PHOTO_COLUMNS, csv_text, photo_rows
from emotion_core.serving.pipeline import decode_image_bytes

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


def table_downloads(rows: list[dict], key: str) -> None:
    """CSV and JSON of the face rows of every photo."""
    if not rows:
        return
    left, right = st.columns(2)
    left.download_button("Download faces (CSV)", csv_text(rows, PHOTO_COLUMNS), "faces.csv", "text/csv",
                         key=f"{key}_csv")
    right.download_button("Download faces (JSON)", json.dumps(rows, indent=1), "faces.json", "application/json",
                          key=f"{key}_json")


if cropped and uploads:
    rows = []
    for upload in uploads:
        frame = decoded(upload)
        if frame is not None:
            rows += photo_rows(upload.name, [pipeline.process_cropped(frame)])
    if rows:
        st.dataframe([{k: v for k, v in r.items() if k not in ("face", "x", "y", "w", "h")} for r in rows],
                     hide_index=True)
    table_downloads(rows, "photo_cropped")
elif uploads:
    rows = []
    for upload in uploads:
        st.subheader(upload.name)
        frame = decoded(upload)
        if frame is None:
            continue
        results = pipeline.process(frame)
        rows += photo_rows(upload.name, results)
        annotated = pipeline.annotate(frame, results, names=[str(i + 1) for i in range(len(results))])
        left, right = st.columns([3, 2])
        left.image(cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB), width="stretch")
        left.download_button("Download annotated image", cv2.imencode(".png", annotated)[1].tobytes(),
                             f"{Path(upload.name).stem}_annotated.png", "image/png", key=f"{upload.file_id}_png")
        if not results:
            right.warning("No face found. Try another detector above, or switch on 'Each image is one face' for "
                          "images that are already face crops.")
        for i, r in enumerate(results):
            right.markdown(f"**Face {i + 1}: {r.label}** ({r.probability:.0%})")
            right.plotly_chart(probability_bars(r.to_dict()["probabilities"]), width="stretch",
                               key=f"{upload.file_id}_{i}")
    if rows:
        st.subheader("All faces")
    table_downloads(rows, "photo_faces")
