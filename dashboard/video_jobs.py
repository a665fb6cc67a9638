"""A video analysis running in a background thread for one browser session (no Streamlit calls inside).

The page starts a `VideoJob`, polls `snapshot()` while it runs (reruns and widget
changes do not touch it) and shows `result` when it is done.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from emotion_core.media.video import VideoRefused
from emotion_core.media.video_analysis import VideoAnalysis, VideoProgress, analyse_video
from emotion_core.serving.pipeline import EmotionPipeline

log = logging.getLogger("emotion_dashboard")


@dataclass
class JobSnapshot:
    running: bool
    progress: VideoProgress | None
    result: VideoAnalysis | None
    error: str | None


class VideoJob:
    """Analyses one saved video file; `cancel()` stops it after the current frame (results so far kept)."""

    def __init__(self, pipeline: EmotionPipeline, source: Path, name: str, every: int = 1,
                 annotated: Path | None = None):
        self.name = name
        self.folder = source.parent
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._progress: VideoProgress | None = None
        self._result: VideoAnalysis | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, args=(pipeline, source, every, annotated),
                                        name=f"video-job-{name}", daemon=True)

    def start(self) -> "VideoJob":
        self._thread.start()
        return self

    def _run(self, pipeline: EmotionPipeline, source: Path, every: int, annotated: Path | None) -> None:
        try:
            result = analyse_video(source, pipeline, every=every, annotated=annotated, progress=self._set_progress,
                                   should_stop=self._cancel.is_set)
            result.source = self.name  # the user's file name, not the temporary path
            with self._lock:
                self._result = result
        except VideoRefused as exc:
            with self._lock:
                self._error = str(exc)
        except Exception as exc:  # the page shows it; the session goes on
            log.exception("video analysis of %s failed", self.name)
            with self._lock:
                self._error = f"The analysis of {self.name} failed: {exc}"

    def _set_progress(self, progress: VideoProgress) -> None:
        with self._lock:
            self._progress = progress

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(self._thread.is_alive(), self._progress, self._result, self._error)
