"""How many Live sessions this server can serve at a useful frame rate, measured; who gets in; how fast.

The server's CPU per processed frame is measured on the running process (all its threads: WebRTC decode
and encode, detection, classification, annotation), so the capacity follows the model, the detector and
the machine without a table of guesses. A newcomer is admitted while the sessions already streaming,
plus the newcomer, still get `MIN_FPS` each on the machine's cores; a session admitted is never turned
away on a rerun while its video connects or streams (`ServerStats` in live.py keeps its place).

Sessions that are in share the CPU evenly (`FairShare`): one frame-rate cap holds for every session; it
comes down when the cores are past their headroom and goes back up when they have room, and a session
over the cap shows its last annotated frame again instead of running the pipeline. Nobody is starved and
nobody gets a black video; a newcomer is refused once even the lowest cap leaves the cores overloaded.
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

import numpy as np

MIN_FPS = 10.0  # below this a live view stops feeling live
HEADROOM = 0.85  # of the cores' time; the rest for the page, the OS and bursts
WINDOW_S = 20.0  # CPU per frame is measured over this much recent time
MIN_FRAMES = 30  # frames in the window before the measurement counts
FLOOR_FPS = 5.0  # the fair cap never goes below this: a slower view is still a view
MAX_CAP_FPS = 60.0  # the cap's ceiling (above any webcam's rate: no limit)
MACHINE_BUSY = 0.95  # of the whole machine: past this, frames queue whoever uses the cores
ADJUST_EVERY_S = 2.0  # how often the cap is reconsidered
RAISE_FPS = 1.0  # how far the cap goes up each time there is room
BURST_FRAMES = 2.0  # frames a session may run back to back after a pause
MAX_VIEWS = 4  # test-time augmentation views per face with room to spare (as the model is served)
LATENCY_BUDGET_MS = 100.0  # a frame's pipeline time past this means frames wait, whatever the CPU counters say

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


def busy_and_total(cpu_line: str) -> tuple[float, float]:
    """(busy, total) CPU time from /proc/stat's "cpu" line. Niced work (a training started from the Training
    page) does not count as busy: it yields to the server's threads, which run at normal priority."""
    user, nice, system, idle, iowait, irq, softirq, steal = ([float(v) for v in cpu_line.split()[1:9]] + [0.0] * 8)[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal  # guest time is inside user and nice
    return user + system + irq + softirq + steal, total


def machine_cpu_times() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat (jiffies; (0, 0) elsewhere)."""
    try:
        with open("/proc/stat") as f:
            return busy_and_total(f.readline())
    except (OSError, ValueError):
        return 0.0, 0.0


class FairShare:
    """How much each Live session gets, from how loaded the server's cores are: test-time augmentation
    views per face (`views`), then one frame-rate cap for every session (`cap`).

    Each session spends a token per processed frame; tokens come at `cap` per second (at most
    BURST_FRAMES saved up), so every session runs at the cap or at its webcam's rate, whichever is lower.
    Every ADJUST_EVERY_S the load is read: this process's share of the cores over HEADROOM, the
    machine's busy share over MACHINE_BUSY (browsers or other programs on the same machine), or the
    sessions' median pipeline time over LATENCY_BUDGET_MS (frames that wait for the interpreter lock when
    the CPU counters look fine), whichever is highest. Past 1, the extra TTA views go first (4, 2, 1: a little accuracy), then the cap drops to the
    frame rate the sessions actually got, divided by the load. Below 0.9 the cap rises by RAISE_FPS (at
    once to no cap when it no longer binds anyone), then the views come back.
    """

    def __init__(self, cores: int | None = None, clock: Callable[[], float] = time.monotonic,
                 process_cpu: Callable[[], float] = time.process_time,
                 machine: Callable[[], tuple[float, float]] = machine_cpu_times) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.clock, self.process_cpu, self.machine = clock, process_cpu, machine
        self.lock = threading.Lock()
        self.cap = MAX_CAP_FPS
        self.views = MAX_VIEWS  # at most this many TTA views per face (the model may serve fewer)
        self.load = 0.0
        self._tokens: dict[int, tuple[float, float]] = {}  # session -> (tokens, time they were counted)
        self._processed: dict[int, int] = {}  # session -> frames processed since the last adjustment
        self._latency_ms: list[float] = []  # pipeline time of each frame since the last adjustment
        self._since = (self.clock(), self.process_cpu(), *self.machine())

    def allow(self, session: int) -> bool:
        """Whether this session may process its frame now (a token spent) or should repeat its last one."""
        with self.lock:
            now = self.clock()
            if now - self._since[0] >= ADJUST_EVERY_S:
                self._adjust(now)
            tokens, then = self._tokens.get(session, (1.0, now))
            tokens = min(BURST_FRAMES, tokens + (now - then) * self.cap)
            allowed = tokens >= 1.0
            self._tokens[session] = (tokens - allowed, now)
            if allowed:
                self._processed[session] = self._processed.get(session, 0) + 1
            return allowed

    def observe(self, latency_ms: float) -> None:
        """The pipeline time of a processed frame (any session)."""
        with self.lock:
            self._latency_ms.append(latency_ms)

    def forget(self, session: int) -> None:
        with self.lock:
            self._tokens.pop(session, None)
            self._processed.pop(session, None)

    @property
    def saturated(self) -> bool:
        """One view, the cap at its floor and the cores still overloaded: no room for one more session."""
        with self.lock:
            return self.views == 1 and self.cap <= FLOOR_FPS and self.load > 1.0

    def notice(self, webcam_fps: float, served_views: int) -> str:
        """For the Live page: what a busy server holds back from everyone, or "" when it holds back nothing."""
        cap, views = self.cap, min(self.views, served_views)
        held = []
        if views < served_views:
            held.append(f"each face is read from {views} of its {served_views} views (a little less accurate)")
        if cap < webcam_fps:
            held.append(f"{cap:.0f} of the webcam's {webcam_fps:.0f} frames per second are analysed")
        return f"The server is busy: {' and '.join(held)}, the same for everyone." if held else ""

    def _adjust(self, now: float) -> None:
        """Reconsider the cap from the load since the last adjustment (caller holds the lock)."""
        then, cpu0, busy0, total0 = self._since
        cpu1, (busy1, total1) = self.process_cpu(), self.machine()
        elapsed = now - then
        own = (cpu1 - cpu0) / (elapsed * self.cores) / HEADROOM
        machine = (busy1 - busy0) / (total1 - total0) / MACHINE_BUSY if total1 > total0 else 0.0
        waiting = float(np.median(self._latency_ms)) / LATENCY_BUDGET_MS if self._latency_ms else 0.0
        self.load = max(own, machine, waiting)
        got = [n / elapsed for n in self._processed.values() if n]  # fps each session actually processed
        if self.load > 1.0 and got:
            if self.views > 1:
                self.views //= 2
            else:
                self.cap = max(FLOOR_FPS, min(self.cap, sum(got) / len(got)) / self.load)
        elif self.load < 0.9:
            if self.cap < MAX_CAP_FPS:
                binding = any(fps >= self.cap - 1.0 for fps in got)
                self.cap = min(MAX_CAP_FPS, self.cap + RAISE_FPS) if binding else MAX_CAP_FPS
            else:
                self.views = min(MAX_VIEWS, self.views * 2)
        self._processed, self._latency_ms = {}, []
        self._since = (now, cpu1, busy1, total1)


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


def admit(holds_place: bool, sessions: int, cpu_ms_per_frame: float | None, cores: int | None = None,
          saturated: bool = False) -> Admission:
    """Whether a Live session may start: one that holds a place (admitted, connecting or streaming) always; a
    newcomer while everyone, the newcomer included, still gets MIN_FPS, and never while the fair cap is at its
    floor with the cores overloaded. sessions: the places others hold."""
    room = capacity(cpu_ms_per_frame, cores) if cpu_ms_per_frame is not None else None
    in_use = f"{sessions} of about {room} live sessions in use." if room is not None else ""
    if holds_place:
        return Admission(True, in_use, sessions, room)
    who = "1 colleague is" if sessions == 1 else f"{sessions} colleagues are"
    if saturated and sessions:
        log.warning("Live session refused: %d streaming, each held to %.0f fps and the cores still overloaded",
                    sessions, FLOOR_FPS)
        return Admission(False, f"The server is busy: {who} using the live view and it already shows each of "
                                f"them only {FLOOR_FPS:.0f} frames per second. Try again in a minute, or use the "
                                "Photo or Video page meanwhile.", sessions, room)
    if room is None or sessions < room:
        return Admission(True, in_use, sessions, room)
    log.warning("Live session refused: %d streaming, capacity %d at %.0f ms of CPU per frame", sessions, room,
                cpu_ms_per_frame)
    return Admission(False, f"The server is busy: {who} using the live view, as many as it can serve at "
                            f"{MIN_FPS:.0f} frames per second each. Try again in a minute, or use the Photo or "
                            "Video page meanwhile.", sessions, room)
