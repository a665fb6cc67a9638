"""Live: the browser's webcam through face detection and MobileViT; the server draws the faces on the video it
sends back, or the browser draws them over its own camera picture."""

from __future__ import annotations

import shutil

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from dashboard import settings
from dashboard.charts import probability_bars, probability_timeline
from dashboard.live.browser_overlay import browser_overlay, close_peer, current_peer
from dashboard.live.connection import ConnectionWatch, server_ice_state
from dashboard.live.processor import FACE_WINDOW, SERVER_STATS, LiveProcessor
from dashboard.session_files import session_folder
from dashboard.widgets import few_faces_notice, served_pipeline

st.title("Live")
st.caption("Allow camera access, press Start: faces get a box, the emotion and its probability. "
           "Video is processed on this server; nothing is stored unless you press Record (kept only for this "
           "browser session, for you to download).")

run, pipeline = served_pipeline("live_model")

# One processor per browser session and model; the pipeline itself is shared by all sessions.
key = f"live_processor::{run.path}::{pipeline.detector.kind}"
if key not in st.session_state:
    st.session_state[key] = LiveProcessor(pipeline, detect_every=settings.detect_every(),
                                          reuse_below=settings.reuse_below())
processor: LiveProcessor = st.session_state[key]
rtc_configuration = settings.rtc_configuration()  # fresh short-lived TURN credentials when configured
if "live_watch" not in st.session_state:
    st.session_state["live_watch"] = ConnectionWatch(
        session=hex(id(processor))[-6:], relay_only=rtc_configuration["iceTransportPolicy"] == "relay")
watch: ConnectionWatch = st.session_state["live_watch"]

admission = SERVER_STATS.admission(id(processor))
if not admission.admitted:
    st.warning(admission.message)
    st.button("Try again", key="live_try_again")
    st.stop()
if admission.capacity is not None:
    st.caption(admission.message)

BROWSER_DRAWS = "This browser (lighter for the server)"
drawn_by = st.radio("Overlays drawn by", ["The server (annotated video back)", BROWSER_DRAWS], horizontal=True,
                    index=settings.OVERLAYS.index(settings.overlays_drawn_by()), key="live_drawn_by",
                    help="Drawn by this browser, the server sends back only the boxes and labels and your own "
                    "camera is shown: no video is encoded for you, so the server holds more colleagues.")
if drawn_by == BROWSER_DRAWS:
    browser_overlay(processor, rtc_configuration, settings.video_constraints())

    def connection() -> tuple[bool, str | None]:
        """(started, server ICE state) of the browser-overlay peer."""
        peer = current_peer()
        return (peer is not None and not peer.closed), (peer.ice_state if peer else None)
else:
    close_peer()
    ctx = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration,
        media_stream_constraints=settings.video_constraints(),  # capped fps and size: server CPU per session
        video_frame_callback=processor.callback,
        on_video_ended=processor.close,  # the session leaves the server's active set
        async_processing=True,
    )

    def connection() -> tuple[bool, str | None]:
        """(started, server ICE state) of the streamlit-webrtc connection."""
        return bool(ctx.state.playing or ctx.state.signalling), server_ice_state(ctx)

if not settings.ice_servers():
    st.caption("No STUN/TURN servers configured: fine on this machine or a LAN. Remote colleagues need "
               "[webrtc] ice_servers in .streamlit/secrets.toml (see the README).")


@st.fragment(run_every=1.0)
def live_stats() -> None:
    snap = processor.snapshot()
    started, ice_state = connection()
    status = watch.observe(started, ice_state, snap["last_frame_age"])
    if status.phase != "streaming":
        getattr(st, status.level)(status.message)
        return
    slowed = SERVER_STATS.fair.notice(settings.video_constraints()["video"]["frameRate"]["max"],
                                      pipeline.classifier.views)
    if slowed:
        st.info(slowed)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("FPS", f"{snap['fps']:.1f}")
    c2.metric("Latency (median)", f"{snap['latency_ms']:.0f} ms")
    c3.metric("Faces", snap["faces"])
    c4.metric("Frames", snap["frames"])
    notice = few_faces_notice(snap["face_share"], f"the last {snap['recent_frames']} frames", pipeline.detector.kind)
    if snap["recent_frames"] >= FACE_WINDOW and notice:
        st.info(notice)
    if snap["results"]:
        main = max(snap["results"], key=lambda r: r["box"][2] * r["box"][3])
        left, right = st.columns(2)
        left.plotly_chart(probability_bars(main["probabilities"]), width="stretch", key="live_bars")
        right.plotly_chart(probability_timeline(snap["history"]), width="stretch", key="live_timeline")


live_stats()


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def start_recording() -> None:
    """Button callback: a new recording in this session's folder (the previous one's files go)."""
    if processor.recording is not None:
        processor.stop_recording()
        shutil.rmtree(processor.recording.folder, ignore_errors=True)  # one recording kept per session
    files = session_folder()
    processor.start_recording(files.new_folder("recording"), settings.max_recording_seconds())
    files.on_close(processor.stop_recording)


@st.fragment(run_every=1.0)
def recording_panel() -> None:
    """Record / Stop and the indicator; one full rerun when a recording ends, so its downloads appear."""
    rec = processor.recording
    limit = settings.max_recording_seconds()
    if rec is not None and rec.recording:
        st.error(f"● Recording {minutes(rec.seconds)} of at most {minutes(limit)} ({rec.frames} frames)")
        st.button("Stop recording", key="live_record_stop", on_click=processor.stop_recording)
        return
    if rec is not None and st.session_state.get("live_recording_shown") is not rec:
        st.session_state["live_recording_shown"] = rec
        st.rerun()
    st.button("Record", key="live_record", on_click=start_recording,
              help=f"Record the annotated video and a table of every face, up to {minutes(limit)} minutes; "
                   "downloads appear when you stop.")


recording_panel()
finished = processor.recording
if finished is not None and not finished.recording:
    if finished.limit_reached:
        st.warning(f"The recording stopped at the limit of {minutes(finished.max_seconds)} minutes "
                   "([live] max_recording_minutes). Press Record for another.")
    if finished.error:
        st.error(finished.error)
    if finished.dropped:
        st.caption(f"{finished.dropped} frame(s) left out of the video: the server was busy. The table has them all.")
    left, right = st.columns(2)
    left.download_button("Download recording (CSV)", finished.csv(), "live_emotions.csv", "text/csv",
                         key="live_recording_csv")
    if finished.has_video:
        right.download_button("Download recording (MP4)", finished.video_path.read_bytes(), "live_annotated.mp4",
                              "video/mp4", key="live_recording_mp4")
