"""The per-session frame processor behind the Live page (no Streamlit calls: it runs in WebRTC threads).

Results leave the video thread through a lock-protected snapshot that the page
polls; `SERVER_STATS` counts what the whole server produced.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from dashboard.live.capacity import Admission, CpuPerFrame, FairShare, admit
from dashboard.live.machine_sessions import MachineSessions
from emotion_core.labels import EMOTIONS
from emotion_core.media.recording import Recording
from emotion_core.serving.inference import Classifier
from emotion_core.serving.pipeline import EmotionPipeline, FaceResult, Timings


ACTIVE_WINDOW_S = 5.0  # a session that sent a frame this recently streams (for everyone's count)
KEEP_PLACE_S = 60.0  # a session whose frames paused this long, its video not ended, still streams (for itself)
FACE_WINDOW = 60  # frames (4 s at 15 fps) over which the page judges how often faces are found
CONNECT_GRACE_S = 30.0  # an admitted session holds its place this long while its video connects


class ServerStats:
    """Frames, faces and active sessions of this server process (and its model loads, counted by Classifier);
    `machine`: the Live sessions of the machine's other app processes, which admission counts too.

    A session admitted holds its place from then on: while its video connects (no frame yet, up to
    CONNECT_GRACE_S after the page's last run) and while it streams, until its video ends (`forget`) or its
    frames stop for KEEP_PLACE_S. Places held while connecting count for newcomers like streaming sessions.

    `snapshot()` is the hook for whoever watches the server from outside (the browser tests and the
    load benchmark start the app through `tests/serve_app.py`, which writes it to a file).
    """

    def __init__(self, machine: MachineSessions | None = None, clock: Callable[[], float] = time.time) -> None:
        self.machine = machine or MachineSessions()
        self.clock = clock
        self.lock = threading.Lock()
        self.frames = 0
        self.frames_with_faces = 0
        self.last_frame: dict[int, float] = {}  # session -> time of its last frame
        self.connecting: dict[int, float] = {}  # session -> when it was last admitted, no frame since
        self._last_labels: list[str] = []
        self.cpu = CpuPerFrame()
        self.fair = FairShare()

    def record(self, session: int, faces: int, labels: list[str], latency_ms: float = 0.0) -> None:
        """One processed frame of a session: counters, CPU meter and the fair share's latency input."""
        with self.lock:
            self.frames += 1
            self.frames_with_faces += faces > 0
            now = self.clock()
            self.last_frame[session] = now
            self.connecting.pop(session, None)
            self._last_labels = labels
            in_use = self._in_use(now)
        self.machine.publish(in_use)  # at most once a second unless the count changed
        self.cpu.frame()
        self.fair.observe(latency_ms)

    def admission(self, session: int) -> Admission:
        """May this session stream: yes while it holds a place; a newcomer while the measured capacity has
        room for one more on this machine (places held here and the other app processes' sessions count).
        An admitted session that is not streaming holds a place while its video connects."""
        elsewhere, cpu_ms, saturated = self.machine.others(), self.cpu.ms(), self.fair.saturated
        with self.lock:  # decided and reserved at once: two newcomers at the same moment cannot take one place
            now = self.clock()
            since_frame = now - self.last_frame.get(session, -1e9)
            streaming, connecting = since_frame <= ACTIVE_WINDOW_S, self._connecting(session, now)
            others = self._in_use(now) - (streaming or connecting)
            result = admit(since_frame <= KEEP_PLACE_S or connecting, others + elsewhere, cpu_ms, saturated=saturated)
            if result.admitted and not streaming:
                self.connecting[session] = now
            in_use = self._in_use(now)
        if result.admitted and not streaming:
            self.machine.publish(in_use)
        return result

    def forget(self, session: int) -> None:
        with self.lock:
            self.last_frame.pop(session, None)
            self.connecting.pop(session, None)
            in_use = self._in_use(self.clock())
        self.machine.publish(in_use)
        self.fair.forget(session)

    def active_sessions(self) -> int:
        with self.lock:
            return self._active(self.clock())

    def _active(self, now: float) -> int:
        """Sessions that sent a frame in the last ACTIVE_WINDOW_S seconds (a closed tab stops sending);
        sessions silent for KEEP_PLACE_S are forgotten. Caller holds the lock."""
        for sid in [s for s, t in self.last_frame.items() if now - t > KEEP_PLACE_S]:
            del self.last_frame[sid]
        return sum(now - t <= ACTIVE_WINDOW_S for t in self.last_frame.values())

    def _connecting(self, session: int, now: float) -> bool:
        """Whether this session was admitted less than CONNECT_GRACE_S ago and sent no frame since."""
        return now - self.connecting.get(session, -1e9) <= CONNECT_GRACE_S

    def _connecting_count(self, now: float) -> int:
        """Sessions holding a place while their video connects (expired places dropped). Caller holds the lock."""
        for sid in [s for s in self.connecting if not self._connecting(s, now)]:
            del self.connecting[sid]
        return len(self.connecting)

    def _in_use(self, now: float) -> int:
        """Places in use: sessions streaming and sessions connecting. Caller holds the lock."""
        return self._active(now) + self._connecting_count(now)

    def snapshot(self) -> dict:
        """The counters now, as JSON-ready values."""
        with self.lock:
            now = self.clock()
            return {"frames": self.frames, "frames_with_faces": self.frames_with_faces,
                    "sessions": self._active(now), "connecting": self._connecting_count(now),
                    "models_loaded": Classifier.loaded_from_runs, "last_labels": list(self._last_labels),
                    "time": now, "cpu_ms_per_frame": self.cpu.ms(), "fps_cap": self.fair.cap,
                    "tta_views": self.fair.views, "load": self.fair.load}


SERVER_STATS = ServerStats()


def mark_recording(image: np.ndarray) -> None:
    """A red dot and "REC" in the top-right corner of a BGR frame, drawn in place."""
    h, w = image.shape[:2]
    r = max(4, min(h, w) // 40)
    scale, thickness = r / 12, max(1, r // 4)
    (tw, th), _ = cv2.getTextSize("REC", cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x0 = w - 2 * r - r - tw - 2 * r  # dot, gap, text, margin
    cv2.circle(image, (x0 + r, 3 * r), r, (0, 0, 230), -1, cv2.LINE_AA)
    cv2.putText(image, "REC", (x0 + 3 * r, 3 * r + th // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 230),
                thickness, cv2.LINE_AA)


def frame_to_bgr(frame) -> np.ndarray:
    """An av.VideoFrame (the browser's YUV) as a BGR array (a named step for the stage profiler)."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)  # (H*3/2, W) -> (H, W, 3)
    return frame.to_ndarray(format="bgr24")


def bgr_to_frame(image: np.ndarray):
    """A BGR array as an av.VideoFrame for the encoder (a named step for the stage profiler): YUV 4:2:0, the
    VP8 encoder's own format, converted by OpenCV (the encoder's own conversion takes about 4x as long)."""
    import av

    h, w = image.shape[:2]
    if h % 2 or w % 2:
        return av.VideoFrame.from_ndarray(image, format="bgr24")  # 4:2:0 needs even sides; the encoder converts
    return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")  # (H*3/2, W)


class LiveProcessor:
    """Runs each video frame through the shared pipeline with this session's tracker."""

    def __init__(self, pipeline: EmotionPipeline, history: int = 120, smoothing: float = 0.4, detect_every: int = 1,
                 reuse_below: float = 0.0):
        self.pipeline = pipeline
        self.tracker = pipeline.new_tracker(alpha=smoothing, reuse_below=reuse_below)  # see FaceTracker
        self.detect_every = detect_every  # faces found on every Nth frame, followed in between
        self._lock = threading.Lock()
        self._tracking = threading.Lock()  # held while a frame goes through the tracker
        self._history: deque[dict[str, float]] = deque(maxlen=history)
        self._frame_times: deque[float] = deque(maxlen=30)
        self._latency: deque[float] = deque(maxlen=30)
        self._with_faces: deque[bool] = deque(maxlen=FACE_WINDOW)  # per recent frame: any face found?
        self._faces = 0
        self._frames = 0
        self._last_results: list[dict] = []
        self.recording: Recording | None = None  # the latest recording, running or stopped
        self._last_out = None  # the last annotated av.VideoFrame, shown again while over the fair share
        self._video = 0  # counts the videos ended (close): a frame begun in an ended video is not counted

    def process_bgr(self, image: np.ndarray) -> np.ndarray:
        """Annotate one BGR frame and record the results (thread-safe)."""
        results = self.analyse_bgr(image, record=False)
        out = self.pipeline.annotate(image, results)
        recording = self._running_recording()
        if recording is not None and recording.add(out.copy(), results):
            mark_recording(out)  # the viewer sees it; the recorded copy has no mark
        return out

    def analyse_bgr(self, image: np.ndarray, record: bool = True) -> list[FaceResult]:
        """The faces of one BGR frame, recorded in the snapshot and the server's counters (thread-safe);
        record: a running recording gets the frame annotated (the browser draws its own overlays)."""
        timings = Timings()
        with self._tracking:  # one frame at a time: two at once would race in the tracker (match, then update)
            with self._lock:
                tracker, detect, video = self.tracker, self._frames % self.detect_every == 0, self._video
            results = self.pipeline.process(image, "bgr", tracker=tracker, timings=timings, detect=detect,
                                            max_views=SERVER_STATS.fair.views)  # fewer TTA views on a busy server
            recording = self._running_recording() if record else None
            if recording is not None:
                recording.add(self.pipeline.annotate(image, results), results)
            now = time.time()
            with self._lock:
                self._frames += 1
                self._faces = len(results)
                self._with_faces.append(bool(results))
                self._frame_times.append(now)
                self._latency.append(timings.total_ms)
                self._last_results = [r.to_dict() for r in results]
                if results:
                    main = max(results, key=lambda r: r.box[2] * r.box[3])
                    self._history.append({e: float(p) for e, p in zip(EMOTIONS, main.probabilities)})
                if video == self._video:  # under the lock: close() cannot slip in between
                    SERVER_STATS.record(id(self), len(results), [r.label for r in results], timings.total_ms)
        return results

    def _running_recording(self) -> Recording | None:
        """The recording that takes frames now, if any."""
        recording = self.recording
        return recording if recording is not None and recording.recording else None

    def callback(self, frame):
        """streamlit-webrtc video_frame_callback: av.VideoFrame in, annotated av.VideoFrame out.

        Over the server's fair share (SERVER_STATS.fair) the last annotated frame goes out again: the
        video slows evenly for everyone instead of stalling for some."""
        if self._last_out is not None and not SERVER_STATS.fair.allow(id(self)):
            return self._last_out
        self._last_out = bgr_to_frame(self.process_bgr(frame_to_bgr(frame)))
        return self._last_out

    def snapshot(self) -> dict:
        """FPS, latency, face count, last results and probability history, the share of the last FACE_WINDOW
        frames with a face (`face_share`, of `recent_frames`), copied under the lock."""
        with self._lock:
            times = list(self._frame_times)
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            return {
                "frames": self._frames, "faces": self._faces, "fps": fps,
                "latency_ms": float(np.median(self._latency)) if self._latency else 0.0,
                "results": list(self._last_results), "history": list(self._history),
                "last_frame_age": time.time() - times[-1] if times else None,
                "face_share": sum(self._with_faces) / len(self._with_faces) if self._with_faces else 0.0,
                "recent_frames": len(self._with_faces),
            }

    def start_recording(self, folder: Path, max_seconds: float) -> Recording:
        """Record the annotated frames and faces from the next frame on, into `folder`."""
        self.stop_recording()
        self.recording = Recording(folder, max_seconds=max_seconds)
        return self.recording

    def stop_recording(self) -> Recording | None:
        """Stop the current recording (if any) and finish its video; the stopped recording stays readable."""
        if self.recording is not None:
            self.recording.stop()
        return self.recording

    def close(self) -> None:
        """The video ended: leave the server's active set (a frame still being analysed does not bring the
        session back; the next video does); a recording stops with it."""
        with self._lock:
            self._video += 1
            SERVER_STATS.forget(id(self))
        if self.recording is not None:
            self.recording.stop(timeout=0)  # the writer thread finishes the file on its own
