"""The stage profiler charges CPU to the stage a thread is in, and idle threads to nothing."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from dashboard.live.stage_profile import OTHER_PYTHON, PROFILER, StageProfiler, stage_of, thread_cpu_s
from emotion_core.serving.pipeline import EmotionPipeline, FaceResult


def code_in(path: str, source: str) -> dict:
    """Functions defined as if they lived in `path` (stack frames carry that file name)."""
    namespace: dict = {}
    exec(compile(source, path, "exec"), namespace)
    return namespace


def test_the_innermost_named_frame_decides_the_stage():
    vpx = code_in("/site-packages/aiortc/codecs/vpx.py", "def decode(f):\n    return f()\n"
                                                          "def helper(f):\n    return f()\n")
    here = sys._getframe
    assert vpx["decode"](here) is not None
    assert stage_of(vpx["decode"](here)) == "video decode (VP8)"
    # a function of aiortc without a rule of its own is WebRTC; a stack of only this test is other Python
    assert stage_of(vpx["helper"](here)) == "WebRTC / RTP"
    assert stage_of(here()) == OTHER_PYTHON
    # decode called from inside the emotion pipeline's frame: the innermost (decode) wins
    pipeline = code_in("/repo/emotion_core/serving/pipeline.py", "def annotate(f):\n    return f()\n")
    assert stage_of(pipeline["annotate"](lambda: vpx["decode"](here))) == "video decode (VP8)"
    assert stage_of(pipeline["annotate"](here)) == "annotation"


def test_a_busy_thread_is_charged_to_its_stage_and_a_sleeping_one_to_nothing():
    frame = np.zeros((480, 640, 3), np.uint8)
    results = [FaceResult.from_probs((100 + 20 * i, 100, 120, 120), np.eye(7, dtype=np.float32)[i]) for i in range(7)]
    used: dict[str, float] = {}

    def annotate_for(seconds: float) -> None:
        start, deadline = thread_cpu_s(threading.get_native_id()), time.monotonic() + seconds
        while time.monotonic() < deadline:
            EmotionPipeline.annotate(frame, results)
        used["cpu"] = thread_cpu_s(threading.get_native_id()) - start

    profiler = StageProfiler(interval=0.01, flush_every=5).start()
    sleeper = threading.Thread(target=time.sleep, args=(1.5,))
    worker = threading.Thread(target=annotate_for, args=(1.2,))
    sleeper.start(), worker.start()
    worker.join()
    time.sleep(0.05)
    profiler.stop()
    sleeper.join()
    totals = profiler.totals()
    assert used["cpu"] > 0.3, used  # the worker really worked
    # the worker's CPU is charged to annotation (up to one sampling interval lost at its end)
    assert 0.8 * used["cpu"] <= totals.get("annotation", 0.0) <= 1.05 * used["cpu"], (totals, used)
    # and nothing else of note: the sleeper and the joining main thread used no CPU
    others = sum(v for k, v in totals.items() if k not in ("annotation", PROFILER))
    assert others < 0.15 * used["cpu"], totals


def test_short_bursts_are_charged_to_the_burst_not_to_the_wait_between_them():
    """A thread that works 4 ms and sleeps 30 ms (as the VP8 encoder does per frame) is mostly seen asleep;
    its CPU still belongs to the work."""
    frame = np.zeros((480, 640, 3), np.uint8)
    results = [FaceResult.from_probs((100, 100, 200, 200), np.eye(7, dtype=np.float32)[3])]
    used: dict[str, float] = {}

    def bursts(seconds: float) -> None:
        start, deadline = thread_cpu_s(threading.get_native_id()), time.monotonic() + seconds
        while time.monotonic() < deadline:
            burst_end = time.monotonic() + 0.004
            while time.monotonic() < burst_end:
                EmotionPipeline.annotate(frame, results)
            time.sleep(0.03)
        used["cpu"] = thread_cpu_s(threading.get_native_id()) - start

    profiler = StageProfiler(interval=0.01, flush_every=10).start()
    worker = threading.Thread(target=bursts, args=(2.0,))
    worker.start(), worker.join()
    profiler.stop()
    totals = profiler.totals()
    assert totals.get("annotation", 0.0) >= 0.6 * used["cpu"], (totals, used)
    assert totals.get(OTHER_PYTHON, 0.0) <= 0.3 * used["cpu"], (totals, used)


ENDED = """
import threading, time
from dashboard.live.stage_profile import StageProfiler, thread_cpu_s

profiler = StageProfiler()
threads = [threading.Thread(target=time.sleep, args=(0.3,)) for _ in range(100)]
for t in threads:
    t.start()
profiler.sample()  # the profiler has seen them all
ids = [t.native_id for t in threads]
for t in threads:
    t.join()
time.sleep(0.3)  # their stacks are gone now
print([thread_cpu_s(i) for i in ids].count(None), "ended")
profiler.flush()
print("alive")
"""


def test_threads_that_ended_are_read_as_gone_not_through_a_dangling_handle():
    """The profiler once read thread CPU clocks through pthread handles: for a thread that had just ended that
    read freed memory and the server died of SIGSEGV under four live sessions. It reads /proc by native id."""
    import subprocess
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", ENDED], cwd=Path(__file__).parents[1], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["100", "ended", "alive"]


FINALISER_DURING_SAMPLING = """
import gc, threading, time
from dashboard.live.stage_profile import current_stacks

class LetsGoOfTheGil:
    def __del__(self):
        time.sleep(0.01)

def threads_come_and_go():
    while True:
        t = threading.Thread(target=int)
        t.start(), t.join()

threading.Thread(target=threads_come_and_go, daemon=True).start()
gc.set_threshold(1)  # a collection at every allocation, inside the sampling call too
for _ in range(300):
    cycle = LetsGoOfTheGil()
    cycle.me = cycle
    del cycle
    current_stacks()
print("done")
"""


def test_sampling_stacks_never_deadlocks_with_a_collection_and_new_threads():
    """sys._current_frames() froze the server when a garbage collection inside it ran a finaliser that let go
    of the GIL while another thread was starting: the stacks are now taken with the collector held off."""
    import subprocess
    from pathlib import Path

    try:
        done = subprocess.run([sys.executable, "-c", FINALISER_DURING_SAMPLING], cwd=Path(__file__).parents[1],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("sampling the stacks deadlocked") from None
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]
