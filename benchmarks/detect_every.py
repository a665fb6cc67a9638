"""Live: detect faces on every Nth frame and follow them in between; server time per frame and what users see.

The Live page's processor (served model, its TTA, the default detector, annotation) on a 640x480 clip of
the astronaut's head moving --speed pixels a frame (right, then back). Per N: mean server time per frame
(the CPU a session costs), the agreement of labels with detecting every frame, and the overlap (IoU) of the
box shown with the box detection finds on that frame.

    python -m benchmarks.detect_every [--every 1,2,3,5] [--frames 300] [--speed 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

from benchmarks import _common
import numpy as np


def clip(frames: int, speed: int, side: int = 200) -> list[np.ndarray]:
    head = _common.video_helpers().astronaut_head(side)
    room = 640 - side - 20
    out = []
    for i in range(frames):
        x = 10 + room - abs((i * speed) % (2 * room) - room)  # right, then back
        frame = np.full((480, 640, 3), 50, np.uint8)
        frame[140:140 + side, x:x + side] = head
        out.append(frame)
    return out


def run(pipeline, frames: list[np.ndarray], every: int) -> tuple[list[float], list[dict]]:
    from dashboard.live.processor import LiveProcessor

    processor = LiveProcessor(pipeline, detect_every=every)
    times, shown = [], []
    for frame in frames:
        start = time.perf_counter()
        processor.process_bgr(frame)
        times.append((time.perf_counter() - start) * 1000)
        results = processor.snapshot()["results"]
        shown.append(results[0] if results else None)
    processor.close()
    return times[5:], shown


def main() -> None:
    from emotion_core.serving.pipeline import EmotionPipeline
    from emotion_core.serving.tracker import iou

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", default="1,2,3,5")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--speed", type=int, default=4, help="pixels the head moves per frame")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median round counts")
    args = parser.parse_args()
    pipeline = EmotionPipeline.from_run()
    frames = clip(args.frames, args.speed)
    choices = sorted({1, *map(int, args.every.split(","))})
    means: dict[int, list[float]] = {n: [] for n in choices}
    shown: dict[int, list[dict]] = {}
    for _ in range(args.rounds):  # interleaved rounds: a slow spell of the machine hits every N alike
        for every in choices:
            times, shown[every] = run(pipeline, frames, every)
            means[every].append(float(np.mean(times)))
    cost = {n: float(np.median(m)) for n, m in means.items()}
    rows = []
    for every in choices:
        pairs = [(a, b) for a, b in zip(shown[every], shown[1]) if a and b]
        rows.append({
            "detect every": every, "ms per frame (mean)": f"{cost[every]:.1f}",
            "vs every frame": f"{cost[every] / cost[1]:.2f}x",
            "frames with a face": f"{sum(s is not None for s in shown[every]) / len(shown[every]):.1%}",
            "same label": f"{np.mean([a['label'] == b['label'] for a, b in pairs]):.1%}",
            "box IoU (mean)": f"{np.mean([iou(a['box'], b['box']) for a, b in pairs]):.2f}",
        })
    _common.print_table(rows)
    print(f"\n{args.frames} frames, head moving {args.speed} px a frame, median of {args.rounds} interleaved rounds; "
          "labels and boxes compared with detecting every frame.")


if __name__ == "__main__":
    main()
