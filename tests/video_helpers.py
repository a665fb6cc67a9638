"""Generated video clips for the video tests: moving faces, odd frame rates, rotation, damage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import cv2
import numpy as np


def astronaut_head(side: int) -> np.ndarray:
    """scikit-image's astronaut, her head filling most of a (side, side, 3) BGR square."""
    from skimage import data

    return cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:260, 110:350], (side, side))


def moving_faces(frames: int, width: int = 640, height: int = 480, faces: int = 1, side: int = 220) -> list[np.ndarray]:
    """BGR frames with `faces` astronaut heads side by side, drifting a pixel a frame (right, then back)."""
    head = astronaut_head(side)
    room = max(1, width - (10 + faces * side + (faces - 1) * 40))  # pixels the row of heads can move
    out = []
    for i in range(frames):
        frame = np.full((height, width, 3), 50, np.uint8)
        drift = room - abs(i % (2 * room) - room)  # 0, 1, ... room, room - 1, ... 0
        for k in range(faces):
            x = 10 + k * (side + 40) + drift
            frame[(height - side) // 2:(height - side) // 2 + side, x:x + side] = head
        out.append(frame)
    return out


def write_clip(path: Path, frames: Sequence[np.ndarray], fps: int = 30, codec: str = "libx264",
               times: Sequence[float] | None = None, rotation: int = 0) -> Path:
    """Encode BGR frames; `times` (seconds) stamps each frame (variable frame rate), `rotation` sets the
    display matrix (counter-clockwise degrees, as phones write it)."""
    options = {"movflags": "+faststart"} if path.suffix in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if times is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def cut(path: Path, fraction: float, out: Path) -> Path:
    """The first `fraction` of a file's bytes: a download or copy that stopped part-way."""
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out
