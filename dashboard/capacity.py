"""How many Live sessions this server can serve at a useful frame rate, measured, and who gets in.

The server's CPU per processed frame is measured on the running process (all its threads: WebRTC decode
and encode, detection, classification, annotation), so the capacity follows the model, the detector and
the machine without a table of guesses. A newcomer is admitted while the sessions already streaming,
plus the newcomer, still get `MIN_FPS` each on the machine's cores; a session that streams is never
turned away on a rerun.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

MIN_FPS = 10.0  # below this a live view stops feeling live
HEADROOM = 0.85  # of the cores' time; the rest for the page, the OS and bursts
WINDOW_S = 20.0  # CPU per frame is measured over this much recent time
MIN_FRAMES = 30  # frames in the window before the measurement counts

log = logging.getLogger("emotion_dashboard.live")


class CpuPerFrame:
    """This process's CPU milliseconds per processed frame over the last WINDOW_S seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.process_time) -> None:
        self.clock, self.cpu = clock, cpu
        self.lock = threading.Lock()
        self.frames = 0
        self._samples: deque[tuple[float, float, int]] = deque()  # (time, cpu seconds, frames so far)

    def frame(self) -> None:
        """Count one processed frame (any session); samples at most once a second."""
        with self.lock:
            self.frames += 1
            now = self.clock()
            if not self._samples or now - self._samples[-1][0] >= 1.0:
                self._samples.append((now, self.cpu(), self.frames))
            while len(self._samples) > 2 and now - self._samples[1][0] > WINDOW_S:
                self._samples.popleft()

    def ms(self) -> float | None:
        """CPU ms per frame, None until MIN_FRAMES frames were seen in the window."""
        with self.lock:
            if len(self._samples) < 2:
                return None
            (_, cpu0, frames0), (_, cpu1, frames1) = self._samples[0], self._samples[-1]
        if frames1 - frames0 < MIN_FRAMES:
            return None
        return (cpu1 - cpu0) * 1000 / (frames1 - frames0)


def capacity(cpu_ms_per_frame: float, cores: int | None = None, min_fps: float = MIN_FPS) -> int:
    """Sessions the cores can serve at `min_fps` each (at least 1)."""
    cores = cores or os.cpu_count() or 1
    return max(1, math.floor(cores * 1000 * HEADROOM / (cpu_ms_per_frame * min_fps)))


@dataclass(frozen=True)
class Admission:
    admitted: bool
    message: str  # for the page: why not, or how full the server is
    sessions: int  # streaming now (this one not counted)
    capacity: int | None  # None until measured


def admit(streaming: bool, sessions: int, cpu_ms_per_frame: float | None, cores: int | None = None) -> Admission:
    """Whether a Live session may start: a streaming one always; a newcomer while everyone, the newcomer
    included, still gets MIN_FPS."""
    if cpu_ms_per_frame is None:
        return Admission(True, "", sessions, None)
    room = capacity(cpu_ms_per_frame, cores)
    if streaming or sessions < room:
        return Admission(True, f"{sessions} of about {room} live sessions in use.", sessions, room)
    log.warning("Live session refused: %d streaming, capacity %d at %.0f ms of CPU per frame", sessions, room,
                cpu_ms_per_frame)
    who = "1 colleague is" if sessions == 1 else f"{sessions} colleagues are"
    return Admission(False, f"The server is busy: {who} using the live view, as many as it can serve at "
                            f"{MIN_FPS:.0f} frames per second each. Try again in a minute, or use the Photo or "
                            "Video page meanwhile.", sessions, room)
