"""The server end of a Live session whose overlays the browser draws: webcam in, face results out.

The browser sends its webcam over WebRTC and opens a data channel; every analysed frame's faces go back
over that channel as JSON and the page draws them over its own video. No video is encoded or sent back.
The peers live on one asyncio loop in a daemon thread per process; frames are analysed in a worker
thread, one at a time per session (frames arriving meanwhile are skipped, so a slow server lowers the
rate instead of building a queue). No Streamlit calls here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from dashboard.live.processor import SERVER_STATS, LiveProcessor, frame_to_bgr
from emotion_core.serving.pipeline import EMOTION_HEX, FaceResult, face_name

LOG = logging.getLogger("emotion_dashboard.webrtc")
MAX_OFFER_CHARS = 64_000  # a browser's offer is 3-10 KB; more is not a browser
ANSWER_TIMEOUT_S = 30.0  # ICE gathering with an unreachable TURN server gives up within this

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
_analysers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="overlay-analyse")


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's loop for browser-overlay peers, started on first use in a daemon thread."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="overlay-peers", daemon=True).start()
        return _loop


def overlay_message(results: list[FaceResult], width: int, height: int, frame: int) -> str:
    """The JSON the page draws: the analysed frame's size and each face's box (frame pixels), label,
    probability, name (its track number, as the server-drawn overlays show it) and colour (theirs too)."""
    faces = [{"box": [int(v) for v in r.box], "label": r.label, "probability": round(float(r.probability), 4),
              "name": face_name(r), "color": EMOTION_HEX.get(r.label, "#ffffff")}
             for r in results]
    return json.dumps({"frame": frame, "width": width, "height": height, "faces": faces})


def parse_offer(offer: object) -> tuple[str, str]:
    """(sdp, type) of a browser's offer; ValueError with the reason for anything else."""
    if not isinstance(offer, dict) or offer.get("type") != "offer" or not isinstance(offer.get("sdp"), str):
        raise ValueError("expected a WebRTC offer: {'type': 'offer', 'sdp': '...'}")
    if len(offer["sdp"]) > MAX_OFFER_CHARS:
        raise ValueError(f"the offer is {len(offer['sdp']):,} characters, more than {MAX_OFFER_CHARS:,}")
    if "m=video" not in offer["sdp"]:
        raise ValueError("the offer sends no video")
    return offer["sdp"], "offer"


def aiortc_configuration(rtc_configuration: dict):
    """An aiortc RTCConfiguration from the browser's (`settings.rtc_configuration()`): the same STUN / TURN
    servers (streamlit-webrtc's conversion) and, when the browser may only relay, the server relays too."""
    from aiortc.rtcconfiguration import RTCIceTransportPolicy
    from streamlit_webrtc.config import compile_rtc_configuration

    config = compile_rtc_configuration(rtc_configuration)
    if rtc_configuration.get("iceTransportPolicy") == "relay":
        config.iceTransportPolicy = RTCIceTransportPolicy.RELAY
    return config


class OverlayPeer:
    """One browser's connection: `answer(offer)` once, then frames flow until `close()` or the browser leaves."""

    def __init__(self, processor: LiveProcessor, rtc_configuration: dict):
        self.processor = processor
        self.rtc_configuration = rtc_configuration
        self.loop = event_loop()
        self.pc = None
        self.channel = None
        self.frames_in = 0  # decoded frames received
        self.frames_skipped = 0  # arrived while the previous frame was still being analysed
        self.messages_sent = 0
        self.closed = False
        self._busy = False

    @property
    def ice_state(self) -> str | None:
        return None if self.pc is None else self.pc.iceConnectionState

    def answer(self, offer: object, timeout: float = ANSWER_TIMEOUT_S) -> dict:
        """The answer to the browser's offer (blocks the calling thread while ICE candidates are gathered)."""
        sdp, kind = parse_offer(offer)
        future = asyncio.run_coroutine_threadsafe(self._answer(sdp, kind), self.loop)
        return future.result(timeout)

    async def _answer(self, sdp: str, kind: str) -> dict:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        self.pc = pc = RTCPeerConnection(aiortc_configuration(self.rtc_configuration))

        @pc.on("datachannel")
        def on_datachannel(channel) -> None:
            self.channel = channel

        @pc.on("track")
        def on_track(track) -> None:
            if track.kind == "video":
                asyncio.ensure_future(self._consume(track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            LOG.info("browser-overlay peer of session %s: %s", hex(id(self.processor))[-6:], pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                await self._close()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        for transceiver in pc.getTransceivers():
            transceiver.direction = "recvonly" if transceiver.kind == "video" else "inactive"
        await pc.setLocalDescription(await pc.createAnswer())  # gathers every candidate: no trickle ICE
        return {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}

    async def _consume(self, track) -> None:
        """Read every decoded frame; analyse the newest while none is being analysed."""
        from aiortc.mediastreams import MediaStreamError

        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            self.frames_in += 1
            if self._busy or not SERVER_STATS.fair.allow(id(self.processor)):
                self.frames_skipped += 1
                continue
            self._busy = True
            asyncio.ensure_future(self._analyse(frame))
        await self._close()

    async def _analyse(self, frame) -> None:
        try:
            message = await self.loop.run_in_executor(_analysers, self._message_for, frame)
            channel = self.channel
            if message is not None and channel is not None and channel.readyState == "open":
                channel.send(message)
                self.messages_sent += 1
        except Exception:  # one bad frame must not end the session
            LOG.exception("browser-overlay frame failed")
        finally:
            self._busy = False

    def _message_for(self, frame) -> str | None:
        if self.closed:  # the browser left while this frame waited for an analyser: it counts for nobody
            return None
        image = frame_to_bgr(frame)
        results = self.processor.analyse_bgr(image)
        return overlay_message(results, image.shape[1], image.shape[0], self.frames_in)

    async def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.processor.close()
        if self.pc is not None:
            await self.pc.close()

    def close(self, timeout: float = 5.0) -> None:
        """End the connection (the page's Stop, a new offer, the session going away); safe to call twice."""
        if self.closed and (self.pc is None or self.pc.connectionState == "closed"):
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), self.loop)
        try:
            future.result(timeout)
        except Exception:  # the loop is gone at interpreter exit, or closing timed out: nothing left to do
            pass
