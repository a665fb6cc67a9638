"""The server end of browser-drawn overlays: a Python WebRTC client streams a face, the data channel answers."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from tests.browser_harness import face_frame
from tests.polling import wait_until
from tests.webrtc_client import stream_to

from dashboard.live import processor as live, overlay_peer


@pytest.fixture(scope="module")
def pipeline(trained_run):
    from emotion_core.serving.pipeline import EmotionPipeline

    return EmotionPipeline.from_run(trained_run)


@pytest.fixture
def stats(monkeypatch):
    stats = live.ServerStats()
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    monkeypatch.setattr(overlay_peer, "SERVER_STATS", stats)
    return stats


def hung_up(peer: overlay_peer.OverlayPeer) -> bool:
    """The client hung up and the peer noticed, with no frame left in analysis: nothing of this test can
    reach the next test's counters."""
    return wait_until(lambda: peer.closed and not peer._busy, 10)


def test_faces_come_back_over_the_data_channel_and_no_video_goes_back(pipeline, stats):
    processor = live.LiveProcessor(pipeline)
    peer = overlay_peer.OverlayPeer(processor, {"iceServers": [], "iceTransportPolicy": "all"})
    frame = face_frame(640, 480)
    messages = asyncio.run(stream_to(peer.answer, frame, seconds=4))
    assert len(messages) >= 5, f"{len(messages)} messages, {peer.frames_in} frames in"
    last = messages[-1]
    assert (last["width"], last["height"]) == (640, 480) and len(last["faces"]) == 1
    face = last["faces"][0]
    expected = pipeline.process(frame)[0]
    assert np.allclose(face["box"], expected.box, atol=8), (face["box"], expected.box)  # VP8 moves edges a little
    assert face["label"] == expected.label and face["color"].startswith("#") and 0 < face["probability"] <= 1
    assert [m["frame"] for m in messages] == sorted(m["frame"] for m in messages)
    senders = [t.sender for t in peer.pc.getTransceivers() if t.sender.track is not None]
    assert not senders, "the server sent a track back"
    snap = processor.snapshot()
    # every analysed frame was sent, but for one still being analysed when the client hung up
    assert peer.messages_sent <= snap["frames"] <= peer.messages_sent + 1 and snap["faces"] == 1
    assert len(messages) <= peer.messages_sent
    assert hung_up(peer), "the browser hung up but the peer stayed open"
    assert stats.active_sessions() == 0


def test_a_running_recording_gets_annotated_frames(pipeline, stats, tmp_path):
    processor = live.LiveProcessor(pipeline)
    recording = processor.start_recording(tmp_path, max_seconds=60)
    peer = overlay_peer.OverlayPeer(processor, {"iceServers": []})
    asyncio.run(stream_to(peer.answer, face_frame(320, 240), seconds=3))
    processor.stop_recording()
    assert hung_up(peer)
    assert recording.frames >= 3 and recording.error is None and recording.has_video
    assert len(recording.csv().splitlines()) == 1 + recording.frames  # a header, then one face a frame


def test_a_slow_server_skips_frames_instead_of_queueing_them(pipeline, stats, monkeypatch):
    processor = live.LiveProcessor(pipeline)
    slow = processor.analyse_bgr

    def analyse_slowly(image, record=True):
        time.sleep(0.3)
        return slow(image, record)

    monkeypatch.setattr(processor, "analyse_bgr", analyse_slowly)
    peer = overlay_peer.OverlayPeer(processor, {"iceServers": []})
    messages = asyncio.run(stream_to(peer.answer, face_frame(320, 240), seconds=3))
    assert peer.frames_skipped > peer.messages_sent > 0
    assert len(messages) <= 3 / 0.3 + 1
    assert hung_up(peer)


@pytest.mark.parametrize("offer, reason", [
    ("v=0", "expected a WebRTC offer"),
    ({"type": "answer", "sdp": "v=0\r\nm=video"}, "expected a WebRTC offer"),
    ({"type": "offer", "sdp": "v=0\r\nm=audio 9"}, "sends no video"),
    ({"type": "offer", "sdp": "m=video" + "x" * 70_000}, "more than 64,000"),
])
def test_what_is_not_a_browser_offer_is_refused_with_the_reason(pipeline, offer, reason):
    peer = overlay_peer.OverlayPeer(live.LiveProcessor(pipeline), {"iceServers": []})
    with pytest.raises(ValueError, match=reason):
        peer.answer(offer)
    assert peer.pc is None


def test_a_garbled_offer_raises_and_leaves_no_peer_running(pipeline, stats):
    peer = overlay_peer.OverlayPeer(live.LiveProcessor(pipeline), {"iceServers": []})
    with pytest.raises(Exception):
        peer.answer({"type": "offer", "sdp": "v=0\r\nm=video garbage\r\n"})
    peer.close()
    assert peer.closed and stats.active_sessions() == 0


def test_relay_only_servers_relay_too():
    config = overlay_peer.aiortc_configuration({
        "iceServers": [{"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "c"}, {"nourls": 1}],
        "iceTransportPolicy": "relay"})
    assert [s.urls for s in config.iceServers] == [["turn:127.0.0.1:3478"]]
    assert config.iceTransportPolicy.value == "relay"
    assert overlay_peer.aiortc_configuration({"iceServers": []}).iceTransportPolicy.value == "all"


def test_the_message_is_what_the_page_draws():
    from emotion_core.serving.pipeline import FaceResult

    probs = np.array([0.05, 0.05, 0.05, 0.7, 0.05, 0.05, 0.05], np.float32)
    faces = [FaceResult.from_probs((1, 2, 30, 40), probs), FaceResult.from_probs((40, 2, 20, 20), probs, track_id=4)]
    message = json.loads(overlay_peer.overlay_message(faces, 64, 48, 7))
    assert message == {"frame": 7, "width": 64, "height": 48,
                       "faces": [{"box": [1, 2, 30, 40], "label": "happy", "probability": 0.7, "name": "",
                                  "color": message["faces"][0]["color"]},
                                 {"box": [40, 2, 20, 20], "label": "happy", "probability": 0.7, "name": "#4",
                                  "color": message["faces"][0]["color"]}]}
    assert len(message["faces"][0]["color"]) == 7


def test_a_frame_that_waited_for_an_analyser_after_the_browser_left_is_not_analysed(pipeline, stats):
    """Under load frames queue for the shared analysers: one whose browser left meanwhile counts for nobody
    (analysed, it would mark the session active again for admission control)."""
    import av

    processor = live.LiveProcessor(pipeline)
    peer = overlay_peer.OverlayPeer(processor, {"iceServers": []})
    peer.close()
    frame = av.VideoFrame.from_ndarray(face_frame(320, 240), format="bgr24")
    assert peer._message_for(frame) is None
    assert processor.snapshot()["frames"] == 0 and stats.active_sessions() == 0
