"""Video: analyse a video file frame by frame; timelines and a table per person, downloads of every result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.charts import emotion_shares, people_timeline, track_timeline
from dashboard.session_files import safe_file_name, session_folder
from dashboard.video_jobs import VideoJob
from dashboard.widgets import few_faces_notice, served_pipeline
from emotion_core.labels import EMOTIONS
from emotion_core.media.video import VIDEO_EXTENSIONS
from emotion_core.media.video_analysis import VideoAnalysis
from emotion_core.serving.detect import DETECTORS, THOROUGH_DETECTOR

JOB_KEY = "video_job"

st.title("Video")
limit_mb = st.get_option("server.maxUploadSize")
st.caption(f"Upload a video ({', '.join(e.lstrip('.') for e in VIDEO_EXTENSIONS)}; up to {limit_mb} MB). Every "
           "frame, or every Nth, goes through the same face detection and MobileViT as the Live page; each "
           "person keeps a track number. The files stay on this server only while this browser session lasts.")

_, pipeline = served_pipeline("video_model")
left, right = st.columns(2)
every = int(left.number_input("Analyse every Nth frame", 1, 60, 1, key="video_every",
                              help="1 = every frame. 3 analyses a 30 fps video at 10 frames per second, 3x faster."))
annotate = right.toggle("Annotated video to watch and download", True, key="video_annotate",
                        help="Boxes and labels drawn on each analysed frame, encoded as H.264 MP4.")
upload = st.file_uploader("Video file", type=[e.lstrip(".") for e in VIDEO_EXTENSIONS], key="video_upload")
job: VideoJob | None = st.session_state.get(JOB_KEY)


def start(upload, previous: VideoJob | None) -> VideoJob | None:
    """Save the upload in this session's folder and start analysing it (the previous result's files go)."""
    if previous is not None and previous.running:
        st.warning(f"{previous.name} is still being analysed: cancel it or wait for it before starting another.")
        return None
    files = session_folder()
    if previous is not None:
        shutil.rmtree(previous.folder, ignore_errors=True)
    folder = files.new_folder("video")
    source = folder / safe_file_name(upload.name)  # messages about the file then name it as the user does
    with open(source, "wb") as fh:
        shutil.copyfileobj(upload, fh, 1 << 20)
    started = VideoJob(pipeline, source, upload.name, every, folder / "annotated.mp4" if annotate else None).start()
    files.on_close(started.cancel)
    st.session_state[JOB_KEY] = started
    return started


if st.button("Analyse", type="primary", disabled=upload is None, key="video_start"):
    job = start(upload, job) or job


@st.fragment(run_every=0.5)
def progress_panel() -> None:
    """Progress while the job runs; one full rerun when it ends, so the results appear."""
    snap = job.snapshot()
    if not snap.running:
        if st.session_state.get("video_shown") is not job:
            st.session_state["video_shown"] = job
            st.rerun()
        return
    p = snap.progress
    done = p.frames_done if p else 0
    fraction = p.fraction if p and p.fraction is not None else 0.0
    st.progress(fraction, text=f"Analysing {job.name}: frame {done:,}"
                + (f" of about {p.frames_total:,}" if p and p.frames_total else "")
                + (f", {p.fps:.0f} frames/s" if p and p.fps else "")
                + (f", about {p.eta_s:.0f} s left" if p and p.eta_s is not None else ""))
    if st.button("Cancel", key="video_cancel"):
        job.cancel()


def results(result: VideoAnalysis) -> None:
    if result.cancelled:
        st.warning(f"Cancelled after {result.frames_read:,} frames: the results below cover those.")
    if result.problem:
        st.warning(result.problem)
    tracks = result.tracks()
    info = result.info
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Frames analysed", f"{result.frames_analysed:,}", help=f"{result.frames_read:,} frames read")
    c2.metric("People (tracks)", len(tracks))
    c3.metric("Speed", f"{result.frames_read / result.seconds:.0f} frames/s" if result.seconds else "n/a")
    c4.metric("Video", f"{info.width}x{info.height}", help=f"{info.fps:.1f} fps, {info.codec}")
    notice = few_faces_notice(result.face_coverage, "the analysed frames", result.settings.get("detector", ""))
    if not tracks:
        st.info(f"No face was found in the analysed frames. Try the face detector {THOROUGH_DETECTOR} above "
                f"({DETECTORS[THOROUGH_DETECTOR]}).")
    elif notice:
        st.info(notice)
    if tracks:
        names = {t.track: f"track {t.track}" for t in tracks}
        st.plotly_chart(people_timeline(result.people_series(), names), width="stretch", key="video_people")
        chosen = st.selectbox("Person", [t.track for t in tracks], format_func=lambda k: (
            f"{names[k]}: {next(t.frames for t in tracks if t.track == k)} frames"), key="video_track")
        times, probs = result.track_series(chosen)
        st.plotly_chart(track_timeline(times, probs, f"{names[chosen]}: probabilities over time"),
                        width="stretch", key="video_timeline")
        st.plotly_chart(emotion_shares({names[t.track]: t.shares for t in tracks}), width="stretch",
                        key="video_shares")
        st.dataframe(pd.DataFrame([{"track": t.track, "frames": t.frames, "from (s)": round(t.first_s, 2),
                                    "to (s)": round(t.last_s, 2), "dominant": t.dominant,
                                    "share": round(t.share, 3), **{e: t.mean[e] for e in EMOTIONS}}
                                   for t in tracks]), hide_index=True)
    stem = Path(result.source).stem
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download CSV", result.csv(), f"{stem}_emotions.csv", "text/csv", key="video_csv")
    d2.download_button("Download JSON", json.dumps(result.to_json(), indent=1), f"{stem}_emotions.json",
                       "application/json", key="video_json")
    if result.annotated_path is not None and result.annotated_path.is_file():
        video = result.annotated_path.read_bytes()
        d3.download_button("Download annotated MP4", video, f"{stem}_annotated.mp4", "video/mp4", key="video_mp4")
        st.video(video, format="video/mp4")


if job is not None:
    progress_panel()
    snap = job.snapshot()
    if not snap.running:
        if snap.error:
            st.error(snap.error)
        elif snap.result is not None:
            st.subheader(f"Results: {job.name}")
            results(snap.result)
