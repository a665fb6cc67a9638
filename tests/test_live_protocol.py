"""The Live page end to end without a browser: a Python visitor (tests/webrtc_client.py LivePageClient) speaks
Streamlit's websocket protocol and each video component's signalling against a real server, as
`benchmarks/live_load.py --clients python` does for many visitors."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.browser_harness import face_frame, read_stats, streamlit_server
from tests.polling import wait_until
from tests.turn_server import TURNSERVER, coturn, relay_only_env
from tests.webrtc_client import LivePageClient, vp8_clip

LABELS = {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}


@pytest.fixture(scope="module")
def server(trained_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("protocol_server")
    stats = tmp / "live_stats.json"
    env = {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_RUNS_DIR": str(trained_run.parent),
           "EMOTION_CACHE_DIR": str(tmp / "cache"), "EMOTION_ICE_SERVERS": "[]", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with streamlit_server(env, log_path=tmp / "streamlit.log", stats_file=stats) as (url, proc):
        yield {"url": url, "stats": stats}


@pytest.fixture(scope="module")
def clip():
    frame = face_frame(640, 480)
    noise = np.random.default_rng(0).normal(0, 2.0, (10, *frame.shape))
    return vp8_clip([np.clip(frame + n, 0, 255).astype(np.uint8) for n in noise])


def faces_seen(client: LivePageClient) -> int:
    """Faces messages (browser-drawn) that held at least one face."""
    return sum(bool(m["faces"]) for m in client.messages)


async def visit(url: str, clip: list[bytes], drawn_by: str, until) -> LivePageClient:
    """Start a visitor, wait (at most 90 s) until `until(client)`, press Stop; the client for its record."""
    client = LivePageClient(url, clip, drawn_by)
    try:
        assert await client.start(), client.busy
        for _ in range(180):
            if until(client):
                break
            await asyncio.sleep(0.5)
    finally:
        await client.stop()
    return client


def test_a_python_visitor_gets_the_faces_over_the_data_channel(server, clip):
    client = asyncio.run(visit(server["url"], clip, "browser",
                               lambda c: faces_seen(c) >= 5 and c.session.metric("FPS")))
    with_faces = [m for m in client.messages if m["faces"]]
    assert len(with_faces) >= 5, client.messages[-3:]
    face = with_faces[-1]["faces"][0]
    assert (with_faces[-1]["width"], with_faces[-1]["height"]) == (640, 480)
    assert face["label"] in LABELS and 0 < face["probability"] <= 1
    x, y, w, h = face["box"]
    assert 200 < x + w / 2 < 440 and w > 40  # the face is in the middle of the picture
    assert client.session.metric("FPS") is not None  # the page's stats fragment reran on its own, as in a browser
    assert 0 < client.box_lag() < 1.0  # the boxes belong to a frame sent moments before
    assert wait_until(lambda: read_stats(server["stats"]).get("sessions") == 0, 30), "Stop left the session on"


def test_a_python_visitor_gets_the_annotated_video_back(server, clip):
    frames_before = read_stats(server["stats"]).get("frames_with_faces", 0)
    client = asyncio.run(visit(server["url"], clip, "server", lambda c: len(c.arrivals) >= 10))
    assert len(client.arrivals) >= 10, "no annotated video came back"
    assert read_stats(server["stats"]).get("frames_with_faces", 0) >= frames_before + 5
    assert client.messages == []  # no data channel in this mode
    assert wait_until(lambda: read_stats(server["stats"]).get("sessions") == 0, 30), "Stop left the session on"


@pytest.mark.skipif(TURNSERVER is None, reason="coturn not installed (apt-get install coturn)")
def test_browser_drawn_overlays_work_through_a_turn_relay_only(trained_run, clip, tmp_path):
    """A relay-only server (remote colleagues behind strict firewalls): the visitor takes the page's TURN
    credentials and policy, the server's overlay peer relays too; the faces still come back."""
    env = {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_RUNS_DIR": str(tmp_path / "runs"),
           "EMOTION_CACHE_DIR": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with coturn(tmp_path, "north-wind") as (port, turn_log), \
            streamlit_server({**env, **relay_only_env(port, "north-wind")}, log_path=tmp_path / "streamlit.log") as (url, _):
        client = asyncio.run(visit(url, clip, "browser", lambda c: faces_seen(c) >= 3))
        log = turn_log.read_text(errors="replace")
    assert faces_seen(client) >= 3, "no faces came back through the relay"
    assert log.count("ALLOCATE processed, success") >= 2, log[-3000:]  # the visitor's and the server's relay
    assert "CHANNEL_BIND processed, success" in log  # a peer's address let through (aioice binds a channel)
