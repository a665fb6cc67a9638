"""Recording a live session: annotated frames to an H.264 MP4 and a row per face, up to a length limit.

`add()` is called from the video thread and only queues the frame; a writer thread
encodes, so recording does not add the encoder's time to each frame's latency. When
the writer falls behind, frames are dropped from the video (counted), never the rows.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from emotion_core.media.face_table import VIDEO_COLUMNS, csv_text, face_values
from emotion_core.media.video import Mp4Writer
from emotion_core.serving.pipeline import FaceResult

DEFAULT_MAX_SECONDS = 600.0  # 10 minutes


class Recording:
    """One recording into `folder` (recording.mp4); times count from the first frame."""

    def __init__(self, folder: Path, max_seconds: float = DEFAULT_MAX_SECONDS, fps: float = 15.0,
                 queue_frames: int = 30):
        self.folder = Path(folder)
        self.video_path = self.folder / "recording.mp4"
        self.max_seconds = max_seconds
        self.rows: list[tuple] = []
        self.frames = 0
        self.dropped = 0
        self.limit_reached = False
        self.error: str | None = None
        self._started: float | None = None
        self._last_time = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        self._writer = Mp4Writer(self.video_path, fps=fps)
        self._thread = threading.Thread(target=self._encode, name="recording-writer", daemon=True)
        self._thread.start()

    @property
    def recording(self) -> bool:
        return not self._stopped.is_set()

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._last_time

    def add(self, annotated: np.ndarray, faces: Sequence[FaceResult], now: float | None = None) -> bool:
        """Record one annotated BGR frame and its faces; False once stopped (by `stop` or the length limit)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._stopped.is_set():
                return False
            if self._started is None:
                self._started = now
            elapsed = now - self._started
            if elapsed > self.max_seconds:
                self.limit_reached = True
                self._stopped.set()
                return False
            self.rows += [(self.frames, round(elapsed, 3), *face_values(f)) for f in faces]
            self.frames += 1
            self._last_time = elapsed
        try:
            self._queue.put_nowait((annotated, elapsed))
        except queue.Full:
            with self._lock:
                self.dropped += 1
        return True

    def _encode(self) -> None:
        try:
            while not (self._stopped.is_set() and self._queue.empty()):
                try:
                    image, elapsed = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                self._writer.write(image, elapsed)
        except Exception as exc:  # disk full, a vanished folder: the rows are kept
            self.error = f"The video could not be written ({exc}); the table of faces is kept."
            self._stopped.set()
        finally:
            try:
                self._writer.close()
            except Exception as exc:
                self.error = self.error or f"The video could not be written ({exc}); the table of faces is kept."

    def stop(self, timeout: float = 30.0) -> "Recording":
        """Stop recording and wait for the video file to be finished."""
        self._stopped.set()
        self._thread.join(timeout)
        return self

    @property
    def has_video(self) -> bool:
        return not self._thread.is_alive() and self.video_path.is_file() and self.error is None

    def csv(self) -> str:
        with self._lock:
            return csv_text(list(self.rows), VIDEO_COLUMNS)
