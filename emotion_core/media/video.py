"""Video files through PyAV: read frames one at a time, write H.264 MP4.

`VideoReader` decodes a file as a stream (one frame in memory at a time), every
frame or every Nth, turned upright by the file's rotation metadata and scaled
down when larger than `max_side`. `Mp4Writer` encodes BGR frames to H.264 MP4
(libx264 from the `av` wheel), the format browsers play in `st.video`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v")
MAX_ANALYSIS_SIDE = 1280  # longer frames (4K) are scaled down before detection and annotation

# Counter-clockwise rotation (as `av.VideoFrame.rotation` reads it) -> the OpenCV turn that shows it upright.
_UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


class VideoRefused(ValueError):
    """A file that cannot be analysed as a video; the message says why, for the user."""


@dataclass
class VideoInfo:
    """What the container says: size as shown (rotation applied), average frame rate, frames and length
    when known (0 / None otherwise)."""

    width: int
    height: int
    fps: float
    frames: int
    duration_s: float | None
    rotation: int
    codec: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class DecodedFrame:
    """One frame: index in the file, presentation time, BGR pixels (upright, maybe scaled) and that scale."""

    index: int
    time_s: float
    image: np.ndarray
    scale: float  # image pixels per video pixel (1.0 unless the frame was larger than max_side)


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise VideoRefused(f"{path.name} does not exist or is not a file.")
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoRefused(f"{path.name} is not a readable video ({_reason(exc)}).") from None


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc).rstrip(".")


def _rotation(value: float | int | None) -> int:
    """A display rotation snapped to 0/90/180/270 (counter-clockwise)."""
    return int(round((value or 0) / 90.0)) * 90 % 360


class VideoReader:
    """Frames of a video file, decoded one at a time; `problem` says afterwards why reading stopped early.

    Iterating yields every `every`-th frame. A damaged or cut-off file ends the iteration with `problem`
    set instead of raising, so the frames before the break keep their results.
    """

    def __init__(self, path: str | Path, every: int = 1, max_side: int = MAX_ANALYSIS_SIDE):
        if every < 1:
            raise ValueError("every must be 1 or more (1 = every frame).")
        self.path = Path(path)
        self.every = every
        self.max_side = max_side
        self.problem: str | None = None
        self.frames_read = 0
        self.damaged = 0  # packets the decoder refused
        self.last_time_s = 0.0
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        with _open(self.path) as container:
            if not container.streams.video:
                raise VideoRefused(f"{self.path.name} has no video stream (audio only, or not a video).")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if not ctx.width or not ctx.height:
                raise VideoRefused(f"{self.path.name}: its video stream has no picture size; the file is damaged.")
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            duration = (float(stream.duration * stream.time_base) if stream.duration and stream.time_base
                        else container.duration / av.time_base if container.duration else None)
            fps = float(rate) if rate else 0.0
            frames = stream.frames or (int(round(duration * fps)) if duration and fps else 0)
            rotation = self._first_rotation(container, stream)
            w, h = (ctx.height, ctx.width) if rotation in (90, 270) else (ctx.width, ctx.height)
            return VideoInfo(w, h, fps, frames, duration, rotation, stream.codec_context.name)

    @staticmethod
    def _first_rotation(container, stream) -> int:
        """The display rotation of the first frame (0 when none decodes: reading reports that later)."""
        try:
            for frame in container.decode(stream):
                return _rotation(frame.rotation)
        except av.FFmpegError:
            pass
        return 0

    def __iter__(self) -> Iterator[DecodedFrame]:
        self.problem, self.frames_read, self.damaged = None, 0, 0
        with _open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for packet in container.demux(stream):  # the last packet (empty) flushes the decoder
                    for frame in self._decode(packet):
                        index = self.frames_read
                        self.frames_read += 1
                        time_s = float(frame.time) if frame.time is not None else index / (self.info.fps or 30.0)
                        self.last_time_s = time_s
                        if index % self.every == 0:
                            yield self._upright(frame, index, time_s)
            except av.FFmpegError as exc:
                self.problem = (f"{self.path.name} is damaged or cut short after frame {self.frames_read} "
                                f"({_reason(exc)}); the frames before it are analysed.")
                return
        if self.frames_read == 0:
            self.problem = f"{self.path.name} has no frame that can be decoded."
        elif self.info.duration_s and self.last_time_s < self.info.duration_s - 0.5 - 3 / (self.info.fps or 30.0):
            self.problem = (f"{self.path.name} ends at {self.last_time_s:.1f} s although it says it lasts "
                            f"{self.info.duration_s:.1f} s: it may be cut short; the frames before are analysed.")
        elif self.damaged:
            self.problem = f"{self.path.name}: {self.damaged} damaged part(s) could not be decoded and were skipped."

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        """The frames of one packet; a packet the decoder refuses is counted in `damaged` and skipped."""
        try:
            return packet.decode()
        except av.FFmpegError:
            self.damaged += 1
            return []

    def _upright(self, frame: av.VideoFrame, index: int, time_s: float) -> DecodedFrame:
        image = frame.to_ndarray(format="bgr24")  # (H, W, 3)
        turn = _UPRIGHT.get(_rotation(frame.rotation))
        if turn is not None:
            image = cv2.rotate(image, turn)
        scale = min(1.0, self.max_side / max(image.shape[:2]))
        if scale < 1.0:
            size = (max(2, round(image.shape[1] * scale)), max(2, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return DecodedFrame(index, time_s, image, scale)


class Mp4Writer:
    """BGR frames -> H.264 MP4 (yuv420p, browser-playable). Frame size is fixed by the first frame (rounded
    down to even numbers, as H.264 4:2:0 needs); frames are stamped with their own times in milliseconds."""

    def __init__(self, path: str | Path, fps: float = 30.0, crf: int = 23):
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 30.0
        self.crf = crf
        self.frames = 0
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._size: tuple[int, int] | None = None
        self._last_pts = -1

    def _start(self, width: int, height: int) -> None:
        self._size = (max(2, width - width % 2), max(2, height - height % 2))
        self._container = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
        stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = self._size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._stream = stream

    def write(self, image: np.ndarray, time_s: float | None = None) -> None:
        """Append one BGR frame shown at `time_s` (default: the next frame at `fps`)."""
        if self._container is None:
            self._start(image.shape[1], image.shape[0])
        w, h = self._size  # type: ignore[misc]
        if image.shape[1] != w or image.shape[0] != h:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        pts = round(1000 * time_s) if time_s is not None else round(1000 * self.frames / self.fps)
        pts = max(pts, self._last_pts + 1)  # strictly increasing, whatever the source's clock did
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        self._last_pts = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (a writer that got no frame writes no file)."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
