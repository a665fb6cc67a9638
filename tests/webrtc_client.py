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


async def stream_to(answer: Callable[[dict], dict], frame: np.ndarray, seconds: float, fps: float = 15.0,
                    noise: float = 0.0, with_channel: bool = True) -> list[dict]:
    """Offer a video of `frame` (and a data channel) to `answer` (called in a worker thread: it may block),
    stream for `seconds`, return every message the server sent on the channel."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    messages: list[dict] = []
    if with_channel:
        channel = pc.createDataChannel("faces", ordered=False, maxRetransmits=0)
        channel.on("message", lambda text: messages.append(json.loads(text)))
    pc.addTransceiver(face_track(frame, fps, noise), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
    reply = await asyncio.get_running_loop().run_in_executor(None, answer, offer)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type=reply["type"]))
    await asyncio.sleep(seconds)
    await pc.close()
    return messages
