"""Video files end to end: frames per second of `analyse_video`, against PyPI `fer` on the same clip.

    .venv/bin/python -m benchmarks.video [--seconds 60] [--memory-minutes 10] [--fer-frames 0]

Builds a 640x480 30 fps H.264 clip of real faces: scikit-image's astronaut drifting and zooming
(her face 60-130 px wide), and FER-2013 test faces (160 px, a new one every 2 s) when the data set
is beside the project. Then, on that clip, all in this process (2 cores here):
  decode only         PyAV decoding, the floor under everything else
  analyse             decode + detect + classify (the served model, TTA included) + rows
  analyse + MP4       the same plus drawing and H.264-encoding the annotated video
  fer (PyPI)          decode + `FER(mtcnn=False).detect_emotions` per frame, when `fer` imports
                      (`pip install --no-deps fer --target /tmp/ferpkg`, then PYTHONPATH=/tmp/ferpkg)
"x real time" is frames per second over the clip's 30 fps. Memory: peak resident size of a fresh
process analysing a 1-minute and a `--memory-minutes` clip (every 10th frame, no MP4).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import _common
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 30


def fer_faces(limit: int = 200) -> list[np.ndarray]:
    """FER-2013 test faces (48x48 gray), a few per class; empty when the data set is absent."""
    root = _common.FER_ROOT / "test"
    if not root.is_dir():
        return []
    files = sorted(p for d in sorted(root.iterdir()) if d.is_dir() for p in sorted(d.iterdir())[:limit // 7])
    return [img for img in (cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files) if img is not None]


FER_SQUARE = (WIDTH - 200, HEIGHT - 220, 160, 160)  # x, y, w, h of the FER-2013 face: lower right, clear of the edges


def astronaut_square(t: float) -> tuple[int, int, int, int]:
    """Where the astronaut's head-and-shoulders square is at time t: x, y, side, side."""
    side = int(260 + 120 * np.sin(t / 3))  # zooming: 140..380 px
    x = max(0, min(WIDTH - side, int((WIDTH // 2 - side // 2) + 120 * np.sin(t / 5))))
    y = max(0, min(HEIGHT - side, 40 + int(20 * np.sin(t))))
    return x, y, side, side


def build_clip(path: Path, seconds: float) -> Path:
    """The benchmark clip (see the module docstring)."""
    from skimage import data

    from emotion_core.media.video import Mp4Writer

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[:300, 80:380]  # head and shoulders
    faces = fer_faces()
    background = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT))
    fx, fy, fw, fh = FER_SQUARE
    with Mp4Writer(path, fps=FPS) as writer:
        for i in range(int(seconds * FPS)):
            t = i / FPS
            frame = background.copy()
            x, y, side, _ = astronaut_square(t)
            frame[y:y + side, x:x + side] = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
            if faces:
                face = cv2.resize(faces[int(t // 2) % len(faces)], (fw, fh), interpolation=cv2.INTER_CUBIC)
                frame[fy:fy + fh, fx:fx + fw] = face[..., None]
            writer.write(frame, t)
    return path


def found_in(boxes_by_frame: dict[int, list], square_of) -> int:
    """Frames where some box's centre lies inside the frame's square (square_of(frame index))."""
    hits = 0
    for index, boxes in boxes_by_frame.items():
        x, y, w, h = square_of(index)
        hits += any(x <= bx + bw / 2 <= x + w and y <= by + bh / 2 <= y + h for bx, by, bw, bh in boxes)
    return hits


def count_found(row: dict, boxes_by_frame: dict[int, list], frames: int) -> None:
    """Add the share of frames where the astronaut and the FER face were found to a table row."""
    row["astronaut found"] = f"{found_in(boxes_by_frame, lambda i: astronaut_square(i / FPS)) / frames:.1%}"
    if fer_faces(7):
        row["FER face found"] = f"{found_in(boxes_by_frame, lambda i: FER_SQUARE) / frames:.1%}"


def peak_mb() -> float:
    """This process's peak resident size (VmHWM: ru_maxrss would carry the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(clip: Path) -> None:
    """Child process: analyse every 10th frame of `clip`, print the peak resident size in MB."""
    from emotion_core.media.video_analysis import analyse_video
    from emotion_core.serving.pipeline import EmotionPipeline

    result = analyse_video(clip, EmotionPipeline.from_run(), every=10)
    print(f"{peak_mb():.1f} {result.frames_read} {len(result.rows)}")


def timed(name: str, frames_of, frames_total: int) -> dict:
    start = time.perf_counter()
    frames = frames_of()
    seconds = time.perf_counter() - start
    fps = frames / seconds if seconds else float("nan")
    return {"run": name, "frames": frames, "seconds": seconds, "frames/s": fps, "x real time": fps / FPS,
            "of clip": f"{frames / frames_total:.0%}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--memory-minutes", type=float, default=10, help="0 skips the memory comparison")
    parser.add_argument("--fer-frames", type=int, default=0, help="frames given to fer (0 = the whole clip)")
    parser.add_argument("--memory-probe", metavar="CLIP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(Path(args.memory_probe))
        return 0

    from emotion_core.media.video import VideoReader
    from emotion_core.media.video_analysis import analyse_video
    from emotion_core.serving.detect import make_detector
    from emotion_core.serving.pipeline import EmotionPipeline

    work = Path(tempfile.mkdtemp(prefix="video-bench-"))
    clip = build_clip(work / "clip.mp4", args.seconds)
    total = int(args.seconds * FPS)
    pipeline = EmotionPipeline.from_run()
    pipeline.process(np.zeros((HEIGHT, WIDTH, 3), np.uint8))  # load and warm up outside the timings
    boxes: dict[str, dict[int, list]] = {}

    def decode_only() -> int:
        return sum(1 for _ in VideoReader(clip))

    def analyse(annotated: Path | None, with_pipeline=pipeline, key: str = "ours") -> int:
        result = analyse_video(clip, with_pipeline, annotated=annotated)
        boxes[key] = {}
        for row in result.rows:  # VIDEO_COLUMNS: frame, time_s, track, x, y, w, h, ...
            boxes[key].setdefault(row[0], []).append(row[3:7])
        return result.frames_analysed

    rows = [timed("decode only", decode_only, total),
            timed(f"analyse ({pipeline.detector.kind})", lambda: analyse(None), total),
            timed("analyse + MP4", lambda: analyse(work / "annotated.mp4"), total)]
    count_found(rows[1], boxes["ours"], total)
    if pipeline.detector.kind != "blazeface":  # the detector served before, on the same clip
        before = EmotionPipeline(pipeline.classifier, make_detector("blazeface"), align=pipeline.align)
        rows.append(timed("analyse (blazeface)", lambda: analyse(None, before, "before"), total))
        count_found(rows[-1], boxes["before"], total)
    try:
        from fer.fer import FER  # type: ignore[import-not-found]

        detector = FER(mtcnn=False)
        limit = args.fer_frames or total

        def fer_run() -> int:
            boxes["fer"] = {}
            for frame in VideoReader(clip):
                boxes["fer"][frame.index] = [tuple(f["box"]) for f in detector.detect_emotions(frame.image)]
                if len(boxes["fer"]) >= limit:
                    break
            return len(boxes["fer"])

        rows.append(timed("fer (PyPI)", fer_run, total))
        count_found(rows[-1], boxes["fer"], len(boxes["fer"]))
        for row in rows[1:-1]:
            row["vs fer"] = row["frames/s"] / rows[-1]["frames/s"]
    except ImportError as exc:
        print(f"fer not importable ({exc}): its row is left out")
    print(f"clip: {args.seconds:.0f} s, {WIDTH}x{HEIGHT}, {FPS} fps, {total} frames, "
          f"FER-2013 faces {'in' if fer_faces(7) else 'absent'}; {clip.stat().st_size / 1e6:.1f} MB")
    _common.print_table(rows, ["run", "frames", "seconds", "frames/s", "x real time", "vs fer", "astronaut found",
                               "FER face found", "of clip"])

    if args.memory_minutes:
        mem_rows = []
        for minutes in (1, args.memory_minutes):
            long_clip = build_clip(work / f"clip_{minutes:g}min.mp4", minutes * 60)
            out = subprocess.run([sys.executable, "-m", "benchmarks.video", "--memory-probe", str(long_clip)],
                                 capture_output=True, text=True, check=True, cwd=_common.ROOT).stdout.split()
            mem_rows.append({"clip": f"{minutes:g} min", "frames read": int(out[1]), "face rows": int(out[2]),
                             "peak MB": float(out[0])})
            long_clip.unlink()
        print()
        _common.print_table(mem_rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
