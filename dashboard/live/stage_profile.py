"""Where a running server's CPU goes, stage by stage: a sampling profiler that lives in the process.

Every `interval` seconds it looks at each Python thread: when the thread is on a CPU (state R in /proc),
the stage of its stack counts one sample: the innermost frame that a rule in `STAGE_RULES` names (VP8
decode in aiortc's decoder thread, the emotion pipeline's steps in the WebRTC worker, ...). Once a second
each thread's own CPU time since the last flush is shared among the stages in proportion to its samples,
so short bursts (a 3 ms encode every 66 ms) are charged right rather than to wherever the thread waits.
Threads that run no Python (libvpx and TFLite thread pools) are charged as one stage from their /proc
times; the profiler's own thread as another. Totals only grow; whoever reads them takes differences over
a window of their own (benchmarks/live_load.py divides them by the frames processed in that window).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from pathlib import Path
from types import FrameType

# (stage, path fragment of the source file, function names or None for any): the innermost match wins.
STAGE_RULES: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    ("video decode (VP8)", "aiortc/codecs/", frozenset({"decode"})),
    ("video encode (VP8)", "aiortc/codecs/", frozenset({"encode", "pack"})),
    ("colour conversion", "dashboard/live/processor.py", frozenset({"frame_to_bgr", "bgr_to_frame"})),
    ("colour conversion", "emotion_core/serving/detect.py", frozenset({"to_gray", "to_rgb"})),
    ("detection", "emotion_core/serving/detect.py", None),
    ("detection", "emotion_core/serving/blazeface.py", None),
    ("face crops", "emotion_core/serving/pipeline.py", frozenset({"crop_face"})),
    ("classification", "emotion_core/serving/inference.py", None),
    ("tracker", "emotion_core/serving/pipeline.py", frozenset({"update", "iou"})),
    ("annotation", "emotion_core/serving/pipeline.py", frozenset({"annotate"})),
    ("annotation", "dashboard/live/processor.py", frozenset({"mark_recording"})),
    ("recording", "emotion_core/media/recording.py", None),
    ("WebRTC / RTP", "aiortc/", None),
    ("WebRTC / RTP", "aioice/", None),
    ("WebRTC / RTP", "streamlit_webrtc/", None),
    ("Streamlit pages", "streamlit/", None),
    ("Streamlit pages", "tornado/", None),
    ("event loop (asyncio)", "asyncio/", None),
)
OTHER_PYTHON = "other Python"
NATIVE_THREADS = "native threads (codec / inference pools)"
PROFILER = "the profiler itself"


def stage_of(frame: FrameType | None) -> str:
    """The stage of a stack: the innermost frame that a rule names, else OTHER_PYTHON."""
    while frame is not None:
        path, name = frame.f_code.co_filename.replace(os.sep, "/"), frame.f_code.co_name
        for stage, fragment, names in STAGE_RULES:
            if fragment in path and (names is None or name in names):
                return stage
        frame = frame.f_back
    return OTHER_PYTHON


def current_stacks() -> dict[int, FrameType]:
    """sys._current_frames() with the garbage collector held off.

    The call locks the interpreter's list of threads; a collection inside it can run a finaliser that lets
    go of the GIL (av's VideoReformatter does), and a thread that then starts or ends waits for that list
    while holding the GIL: the whole server froze that way under eight live sessions."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        if enabled:
            gc.enable()


def thread_cpu_s(tid: int) -> float | None:
    """CPU seconds an OS thread of this process has used (None when it is gone).

    Read from /proc by the thread's native id, never through its pthread handle: a thread that ends between
    listing and reading would leave a dangling handle (pthread_getcpuclockid on it crashed the server)."""
    try:
        return int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) / 1e9  # ns on a CPU
    except (OSError, IndexError, ValueError):
        pass
    fields = task_stat(tid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if len(fields) > 12 else None


def task_stat(tid: int) -> list[str]:
    """The fields of /proc/self/task/TID/stat after the command name (state first); [] when it is gone."""
    try:
        return Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def on_cpu(tid: int) -> bool:
    """Whether an OS thread is running or ready to run now (not sleeping, not waiting for the GIL)."""
    fields = task_stat(tid)
    return bool(fields) and fields[0] == "R"


class StageProfiler:
    """Charges this process's CPU time to stages; `totals()` gives CPU seconds per stage so far."""

    def __init__(self, interval: float = 0.02, flush_every: int = 50) -> None:
        self.interval, self.flush_every = interval, flush_every
        self.lock = threading.Lock()
        self._cpu: dict[str, float] = {}  # stage -> CPU seconds
        self._samples: dict[int, dict[str, int]] = {}  # thread ident -> stage -> on-CPU samples since flush
        self._flushed: dict[int, float] = {}  # thread ident -> its CPU clock at the last flush it was charged
        self._last_native: dict[int, float] = {}  # OS thread id -> CPU seconds at the last sample
        self._own = 0.0  # the profiler thread's CPU clock at its last flush
        self._count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """One look at every Python thread (the profiler's own left out); every flush_every-th, a flush."""
        me = threading.get_ident()
        stacks = current_stacks()
        for thread in threading.enumerate():
            if thread.ident is None or thread.ident == me or thread.native_id is None:
                continue
            if thread.ident not in self._flushed:
                self._flushed[thread.ident] = thread_cpu_s(thread.native_id) or 0.0
            if on_cpu(thread.native_id):
                counts = self._samples.setdefault(thread.ident, {})
                stage = stage_of(stacks.get(thread.ident))
                counts[stage] = counts.get(stage, 0) + 1
        self._count += 1
        if self._count % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        """Share each thread's CPU since its last charge among its sampled stages; native and own time too."""
        charged: dict[str, float] = {}
        python_tids = {threading.get_native_id()}
        alive = {t.ident: t for t in threading.enumerate()}
        for ident in list(self._flushed):
            thread = alive.get(ident)
            now = thread_cpu_s(thread.native_id) if thread is not None else None
            if now is None:  # ended: what it used since its last charge is lost (at most one flush)
                self._flushed.pop(ident), self._samples.pop(ident, None)
                continue
            python_tids.add(thread.native_id)
            counts = self._samples.get(ident)
            if not counts:
                continue  # no sample caught it on a CPU yet: its time waits for the next flush
            used, total = now - self._flushed[ident], sum(counts.values())
            for stage, n in counts.items():
                charged[stage] = charged.get(stage, 0.0) + used * n / total
            self._flushed[ident], self._samples[ident] = now, {}
        native, seen = 0.0, {}  # ended native threads drop out of _last_native
        for entry in os.scandir("/proc/self/task"):
            tid = int(entry.name)
            if tid in python_tids:
                continue
            now = seen[tid] = thread_cpu_s(tid) or 0.0
            native += max(0.0, now - self._last_native.get(tid, now))
        self._last_native = seen
        own = thread_cpu_s(threading.get_native_id()) or 0.0
        charged[PROFILER], self._own = own - self._own, own
        charged[NATIVE_THREADS] = native
        with self.lock:
            for stage, seconds in charged.items():
                self._cpu[stage] = self._cpu.get(stage, 0.0) + seconds

    def totals(self) -> dict[str, float]:
        """CPU seconds charged to each stage since the profiler started."""
        with self.lock:
            return dict(self._cpu)

    def start(self) -> "StageProfiler":
        self._thread = threading.Thread(target=self._run, name="stage-profiler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
