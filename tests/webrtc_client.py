"""A WebRTC client in Python (aiortc) that sends a face video and reads the browser-overlay data channel,
as the Live page's browser-overlay component does; for tests and benchmarks without a browser."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from typing import Callable

import cv2
import numpy as np


def face_track(frame: np.ndarray, fps: float = 15.0, noise: float = 0.0):
    """An aiortc video track repeating a BGR frame at `fps` (with Gaussian camera noise of `noise` levels)."""
    import av
    from aiortc import VideoStreamTrack

    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    rng = np.random.default_rng(0)

    class FaceTrack(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0
            self.start = time.monotonic()

        async def recv(self):
            self.count += 1
            await asyncio.sleep(max(0.0, self.start + self.count / fps - time.monotonic()))
            planes = yuv if not noise else np.clip(yuv + rng.normal(0, noise, yuv.shape), 0, 255).astype(np.uint8)
            out = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            out.pts, out.time_base = self.count, fractions.Fraction(1, int(fps))
            return out

    return FaceTrack()


def faces_channel(pc, on_text: Callable[[str], None]):
    """The data channel the overlay component opens on `pc` ("faces", unordered, no retransmits), its messages
    (JSON text) handed to `on_text`."""
    channel = pc.createDataChannel("faces", ordered=False, maxRetransmits=0)
    channel.on("message", on_text)
    return channel


async def stream_to(answer: Callable[[dict], dict], frame: np.ndarray, seconds: float, fps: float = 15.0,
                    noise: float = 0.0, with_channel: bool = True) -> list[dict]:
    """Offer a video of `frame` (and a data channel) to `answer` (called in a worker thread: it may block),
    stream for `seconds`, return every message the server sent on the channel."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    messages: list[dict] = []
    if with_channel:
        faces_channel(pc, lambda text: messages.append(json.loads(text)))
    pc.addTransceiver(face_track(frame, fps, noise), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
    reply = await asyncio.get_running_loop().run_in_executor(None, answer, offer)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type=reply["type"]))
    await asyncio.sleep(seconds)
    await pc.close()
    return messages


def vp8_clip(frames: list[np.ndarray], fps: float = 15.0, bitrate: int = 500_000) -> list[bytes]:
    """BGR frames encoded once as VP8 (libvpx, real-time, a key frame at the start of each loop), so that many
    clients can send a webcam's stream without each encoding it (a browser's encoder runs on its own machine)."""
    import av

    h, w = frames[0].shape[:2]
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
    codec.time_base, codec.framerate = fractions.Fraction(1, int(fps)), int(fps)
    codec.bit_rate, codec.gop_size = bitrate, len(frames)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: list[bytes] = []
    for index, frame in enumerate(frames):
        yuv = cv2.cvtColor(np.ascontiguousarray(frame[:codec.height, :codec.width]), cv2.COLOR_BGR2YUV_I420)
        out = av.VideoFrame.from_ndarray(yuv, format="yuv420p")  # (H*3/2, W)
        out.pts = index
        packets += [bytes(p) for p in codec.encode(out)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets


def clip_track(clip: list[bytes], fps: float = 15.0):
    """An aiortc video track that sends the pre-encoded `clip` in a loop at `fps` (no encoding per client)."""
    import av
    from aiortc.mediastreams import MediaStreamTrack

    class ClipTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.count = 0
            self.start = time.monotonic()
            self.sent: list[float] = []  # monotonic time each frame left

        async def recv(self):
            await asyncio.sleep(max(0.0, self.start + self.count / fps - time.monotonic()))
            self.sent.append(time.monotonic())
            packet = av.Packet(clip[self.count % len(clip)])
            packet.pts, packet.time_base = self.count, fractions.Fraction(1, int(fps))
            self.count += 1
            return packet

    return ClipTrack()


class LivePageClient:
    """One visitor of the Live page, in Python: a Streamlit session (tests/streamlit_client.py), the video
    component's offer / answer spoken as its frontend does, a pre-encoded webcam clip sent (`clip_track`).

    drawn_by "server": streamlit-webrtc's component (value {"playing", "sdpOffer"}, answer in the argument
    "sdp_answer_json"); the annotated video comes back and is decoded, as a browser would. drawn_by "browser":
    the overlay component (dashboard/live/overlay_component/index.html: value {"offer", "id"}, answer in "answer");
    the faces come back over the data channel. `arrivals`: when each annotated frame or faces message came."""

    COMPONENTS = {"server": "streamlit_webrtc", "browser": "live_overlay"}

    def __init__(self, url: str, clip: list[bytes], drawn_by: str = "browser", fps: float = 15.0) -> None:
        from tests.streamlit_client import StreamlitSession

        self.session = StreamlitSession(url, "Live")
        self.clip, self.fps, self.drawn_by = clip, fps, drawn_by
        self.arrivals: list[float] = []  # monotonic times
        self.messages: list[dict] = []  # the faces messages (browser-drawn)
        self.box_lags: list[tuple[float, float]] = []  # (arrival, s since its frame left) of faces messages
        self.track = None
        self.busy: str | None = None  # the page's message when admission control refused this visitor
        self.pc = None
        self._component_id = ""
        self._offer_id = 0
        self._tasks: list[asyncio.Task] = []

    def _component(self):
        return self.session.component(self.COMPONENTS[self.drawn_by])

    async def start(self, timeout: float = 120) -> bool:
        """Open the page, choose who draws, offer the video, apply the answer; False when the page said busy."""
        from aiortc import RTCPeerConnection, RTCSessionDescription
        from tests.streamlit_client import component_args

        from dashboard.live.overlay_peer import aiortc_configuration

        await self.session.__aenter__()
        s = self.session
        found = await s.wait_for(lambda s: s.widget("radio", "Overlays drawn by")
                                 or next((t for t in s.texts() if "server is busy" in t), None), timeout)
        if isinstance(found, str):
            self.busy = found
            return False
        await s.set_value(found.id, string_value=found.options[self.drawn_by == "browser"])  # whatever the default
        component = await s.wait_for(lambda s: self._component(), timeout)
        self._component_id = component.id
        # the STUN / TURN servers and policy the page gives the browser (relay-only pages: relay only)
        self.pc = RTCPeerConnection(aiortc_configuration(component_args(component).get("rtc_configuration") or {}))
        self.track = clip_track(self.clip, self.fps)
        if self.drawn_by == "browser":
            faces_channel(self.pc, self._on_message)
            self.pc.addTransceiver(self.track, direction="sendonly")
        else:
            self.pc.addTransceiver(self.track, direction="sendrecv")
            self.pc.on("track", lambda track: self._tasks.append(asyncio.create_task(self._watch(track))))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"type": self.pc.localDescription.type, "sdp": self.pc.localDescription.sdp}
        self._offer_id = int(time.time() * 1000)
        if self.drawn_by == "browser":
            value = {"offer": offer, "id": self._offer_id}
            reply = lambda args: (a := args.get("answer")) and a.get("id") == self._offer_id and a  # noqa: E731
        else:
            value = {"playing": True, "sdpOffer": offer}
            reply = lambda args: args.get("sdp_answer_json") and json.loads(args["sdp_answer_json"])  # noqa: E731
        await s.set_value(self._component_id, json_value=json.dumps(value))
        answer = await s.wait_for(lambda s: reply(component_args(self._component())), timeout)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        return True

    def _on_message(self, text: str) -> None:
        now = time.monotonic()
        message = json.loads(text)
        self.arrivals.append(now)
        self.messages.append(message)
        # message["frame"]: the server's count of frames received, the Nth frame sent (loopback loses none)
        if 0 < message["frame"] <= len(self.track.sent):
            self.box_lags.append((now, now - self.track.sent[message["frame"] - 1]))

    async def _watch(self, track) -> None:
        """Take every annotated frame the server sends (decoded, as a browser shows it)."""
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                await track.recv()
                self.arrivals.append(time.monotonic())
        except MediaStreamError:
            pass

    def box_lag(self, since: float = 0.0, until: float = float("inf")) -> float:
        """Median seconds from a frame leaving this visitor to its faces arriving back (browser-drawn: how
        far the boxes trail the live picture, less the browser's own camera and encoder time); nan if none."""
        lags = [lag for t, lag in self.box_lags if since <= t < until]
        return float(np.median(lags)) if lags else float("nan")

    def rate(self, since: float, until: float) -> float:
        """Frames (annotated frames or faces messages) a second this visitor got between two monotonic times."""
        return sum(since <= t < until for t in self.arrivals) / max(until - since, 1e-9)

    async def stop(self) -> None:
        """Press Stop (the server ends its peer), hang up, close the page."""
        try:
            if self._offer_id:
                stop = {"stop": self._offer_id} if self.drawn_by == "browser" else {"playing": False}
                await self.session.set_value(self._component_id, json_value=json.dumps(stop))
                await asyncio.sleep(0.5)
            if self.pc is not None:
                await self.pc.close()
            for task in self._tasks:
                task.cancel()
        finally:
            await self.session.__aexit__(None, None, None)
