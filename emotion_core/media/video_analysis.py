"""One video through the emotion pipeline: a row per face per analysed frame, a summary per track.

`analyse_video` is the one video analysis of the project: the Video page runs it
in a background thread, `predict` runs it for video files. Frames are decoded one
at a time (`VideoReader`), each person keeps a track id (one `FaceTracker` per
video), and the annotated MP4 is written as the frames go, so memory does not grow
with the video's length beyond the rows themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from emotion_core.labels import EMOTIONS
from emotion_core.media.face_table import VIDEO_COLUMNS, csv_text, face_values
from emotion_core.media.video import MAX_ANALYSIS_SIDE, Mp4Writer, VideoInfo, VideoReader
from emotion_core.serving.pipeline import EmotionPipeline

# Positions in a row (VIDEO_COLUMNS order).
_TIME, _TRACK, _LABEL = (VIDEO_COLUMNS.index(c) for c in ("time_s", "track", "label"))
_PROBS = slice(len(VIDEO_COLUMNS) - len(EMOTIONS), None)  # the 7 probabilities at the end of a row


@dataclass
class VideoProgress:
    """Frames decoded so far of about `frames_total` (0: unknown), after `elapsed_s` seconds."""

    frames_done: int
    frames_total: int
    elapsed_s: float

    @property
    def fps(self) -> float:
        return self.frames_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total else None

    @property
    def eta_s(self) -> float | None:
        if not self.frames_total or not self.fps:
            return None
        return max(0.0, (self.frames_total - self.frames_done) / self.fps)


@dataclass
class TrackSummary:
    """One person: frames seen (analysed frames with this track), the share of those frames each emotion
    was the top label (`shares`), the dominant one and its share, mean probabilities."""

    track: int
    frames: int
    first_s: float
    last_s: float
    dominant: str
    share: float
    shares: dict[str, float]
    mean: dict[str, float]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class VideoAnalysis:
    """Everything one analysis produced; `rows` are tuples in VIDEO_COLUMNS order."""

    source: str
    info: VideoInfo
    settings: dict
    rows: list[tuple] = field(default_factory=list)
    frames_read: int = 0
    frames_analysed: int = 0
    seconds: float = 0.0
    problem: str | None = None
    cancelled: bool = False
    annotated_path: Path | None = None

    def tracks(self) -> list[TrackSummary]:
        """A summary per track, the most often seen first."""
        by_track: dict[int, list[tuple]] = {}
        for row in self.rows:
            by_track.setdefault(row[_TRACK], []).append(row)
        summaries = []
        for track, rows in by_track.items():
            labels = [r[_LABEL] for r in rows]
            shares = {e: labels.count(e) / len(rows) for e in EMOTIONS}
            dominant = max(EMOTIONS, key=shares.__getitem__)
            mean = np.mean([r[_PROBS] for r in rows], axis=0)  # (7,)
            summaries.append(TrackSummary(track, len(rows), rows[0][_TIME], rows[-1][_TIME], dominant, shares[dominant],
                                          shares, {e: round(float(p), 4) for e, p in zip(EMOTIONS, mean)}))
        return sorted(summaries, key=lambda s: (-s.frames, s.track))

    @property
    def face_coverage(self) -> float:
        """The share of analysed frames with at least one face (0 when none was analysed)."""
        frames = {row[0] for row in self.rows}
        return len(frames) / self.frames_analysed if self.frames_analysed else 0.0

    def people_series(self) -> dict[int, tuple[np.ndarray, list[str]]]:
        """Per track: times (N,) and top labels, in frame order (every person's emotion over time at once)."""
        out: dict[int, tuple[list[float], list[str]]] = {}
        for row in self.rows:
            times, labels = out.setdefault(row[_TRACK], ([], []))
            times.append(row[_TIME])
            labels.append(row[_LABEL])
        return {track: (np.array(times, np.float64), labels) for track, (times, labels) in out.items()}

    def track_series(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (N,) and probabilities (N, 7) of one track, in frame order."""
        rows = [r for r in self.rows if r[_TRACK] == track]
        return (np.array([r[_TIME] for r in rows], np.float64),
                np.array([r[_PROBS] for r in rows], np.float32).reshape(len(rows), len(EMOTIONS)))

    def row_dicts(self) -> list[dict]:
        return [dict(zip(VIDEO_COLUMNS, row)) for row in self.rows]

    def csv(self) -> str:
        return csv_text(self.rows, VIDEO_COLUMNS)

    def to_json(self) -> dict:
        """The rows plus what produced them: source, video facts, settings, counts, any problem."""
        return {"source": self.source, "video": self.info.to_dict(), "settings": self.settings,
                "frames_read": self.frames_read, "frames_analysed": self.frames_analysed,
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled, "problem": self.problem,
                "tracks": [t.to_dict() for t in self.tracks()], "faces": self.row_dicts()}


def analyse_video(path: str | Path, pipeline: EmotionPipeline, every: int = 1, annotated: str | Path | None = None,
                  progress: Callable[[VideoProgress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  max_side: int = MAX_ANALYSIS_SIDE) -> VideoAnalysis:
    """Analyse every `every`-th frame of a video file; VideoRefused if it cannot be opened as a video.

    annotated: where to write the annotated H.264 MP4 (None: no video written).
    progress: called after each analysed frame. should_stop: polled per frame; True ends the analysis early
    (`cancelled`). Boxes in the rows are in the video's pixels (upright), whatever `max_side` scaled.
    """
    reader = VideoReader(path, every=every, max_side=max_side)
    settings = {"every": every, "detector": pipeline.detector.kind, "align": pipeline.align,
                "model_input": pipeline.classifier.input_size, "max_side": max_side,
                "annotated": annotated is not None}
    result = VideoAnalysis(str(path), reader.info, settings)
    tracker = pipeline.new_tracker(alpha=1.0)  # ids only: the rows keep each frame's own probabilities
    writer = Mp4Writer(annotated, fps=reader.info.fps / every) if annotated is not None else None
    start = time.perf_counter()
    try:
        for frame in reader:
            faces = pipeline.process(frame.image, "bgr", tracker=tracker)
            result.rows += [(frame.index, round(frame.time_s, 4), *face_values(f, frame.scale)) for f in faces]
            result.frames_analysed += 1
            if writer is not None:
                writer.write(pipeline.annotate(frame.image, faces), frame.time_s)
            if progress is not None:
                progress(VideoProgress(reader.frames_read, reader.info.frames, time.perf_counter() - start))
            if should_stop is not None and should_stop():
                result.cancelled = True
                break
    finally:
        if writer is not None:
            writer.close()
    result.frames_read = reader.frames_read
    result.problem = reader.problem
    result.seconds = time.perf_counter() - start
    if writer is not None and writer.frames:
        result.annotated_path = Path(annotated)
    return result
