"""Live: the browser's webcam through face detection and MobileViT, annotated video back."""

from __future__ import annotations

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from dashboard import settings
from dashboard.charts import probability_bars, probability_timeline
from dashboard.connection import ConnectionWatch, server_ice_state
from dashboard.live import LiveProcessor
from dashboard.widgets import served_pipeline

st.title("Live")
st.caption("Allow camera access, press Start: faces get a box, the emotion and its probability. "
           "Video is processed on this server; nothing is stored.")

run, pipeline = served_pipeline("live_model")

# One processor per browser session and model; the pipeline itself is shared by all sessions.
key = f"live_processor::{run.path}::{pipeline.detector.kind}"
if key not in st.session_state:
    st.session_state[key] = LiveProcessor(pipeline)
processor: LiveProcessor = st.session_state[key]
rtc_configuration = settings.rtc_configuration()  # fresh short-lived TURN credentials when configured
if "live_watch" not in st.session_state:
    st.session_state["live_watch"] = ConnectionWatch(
        session=hex(id(processor))[-6:], relay_only=rtc_configuration["iceTransportPolicy"] == "relay")
watch: ConnectionWatch = st.session_state["live_watch"]

ctx = webrtc_streamer(
    key="live",
    mode=WebRtcMode.SENDRECV,
    rtc_configuration=rtc_configuration,
    media_stream_constraints=settings.video_constraints(),  # capped fps and size: server CPU per session
    video_frame_callback=processor.callback,
    on_video_ended=processor.close,  # the session leaves the server's active set
    async_processing=True,
)

if not settings.ice_servers():
    st.caption("No STUN/TURN servers configured: fine on this machine or a LAN. Remote colleagues need "
               "[webrtc] ice_servers in .streamlit/secrets.toml (see the README).")


@st.fragment(run_every=1.0)
def live_stats() -> None:
    snap = processor.snapshot()
    started = bool(ctx.state.playing or ctx.state.signalling)
    status = watch.observe(started, server_ice_state(ctx), snap["last_frame_age"])
    if status.phase != "streaming":
        getattr(st, status.level)(status.message)
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("FPS", f"{snap['fps']:.1f}")
    c2.metric("Latency (median)", f"{snap['latency_ms']:.0f} ms")
    c3.metric("Faces", snap["faces"])
    c4.metric("Frames", snap["frames"])
    if snap["results"]:
        main = max(snap["results"], key=lambda r: r["box"][2] * r["box"][3])
        left, right = st.columns(2)
        left.plotly_chart(probability_bars(main["probabilities"]), width="stretch", key="live_bars")
        right.plotly_chart(probability_timeline(snap["history"]), width="stretch", key="live_timeline")


live_stats()
