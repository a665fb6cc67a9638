"""Per-frame latency of the live pipeline at 640x480 with 1 and 4 faces, per variant.

Stages: detect (the default detector; with --run also each of --detectors), classify (all faces in one TFLite
batch), annotate, total; median and p95 over --frames frames of one stream (a tracker, as a Live session has).
Variants use random weights (latency does
not depend on them) unless --run names a trained model. When the PyPI `fer`
package is importable (`pip install --no-deps fer`), its FER detector runs on
the same frames in an extra row.

    python -m benchmarks.live_latency [--variants xxs,xs,s] [--frames 50] [--run DIR [--detectors a,b]]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import _common
import numpy as np


def _stats(values: list[float]) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 95))


def time_pipeline(pipeline, frame: np.ndarray, frames: int) -> dict[str, tuple[float, float]]:
    """Stage times over `frames` frames of one stream (a tracker, as each Live session has)."""
    from emotion_core.serving.pipeline import Timings

    tracker = pipeline.new_tracker()
    detect, classify, annotate, total = [], [], [], []
    for i in range(frames + 3):
        t = Timings()
        start = time.perf_counter()
        results = pipeline.process(frame, timings=t, tracker=tracker)
        mid = time.perf_counter()
        pipeline.annotate(frame, results)
        end = time.perf_counter()
        if i >= 3:  # warm-up frames left out
            detect.append(t.detect_ms)
            classify.append(t.classify_ms)
            annotate.append((end - mid) * 1000)
            total.append((end - start) * 1000)
    faces = len(pipeline.process(frame))
    return {"faces found": faces, "detect": _stats(detect), "classify": _stats(classify),
            "annotate": _stats(annotate), "total": _stats(total)}


def pipeline_for(variant: str, size: int, workdir: Path):
    from emotion_core.model.mobilevit import build_mobilevit
    from emotion_core.serving.export import export_tflite
    from emotion_core.serving.inference import Classifier
    from emotion_core.serving.pipeline import EmotionPipeline

    path = workdir / f"{variant}-{size}.tflite"
    export_tflite(build_mobilevit(variant, size), path)
    return EmotionPipeline(Classifier.from_tflite(path))


def time_fer(frame: np.ndarray, frames: int) -> dict | str:
    try:
        from fer.fer import FER  # type: ignore[import-not-found]
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return f"fer not available ({type(exc).__name__})"
    try:
        detector = FER(mtcnn=False)
        detector.detect_emotions(frame)
        times = []
        for _ in range(frames):
            start = time.perf_counter()
            found = detector.detect_emotions(frame)
            times.append((time.perf_counter() - start) * 1000)
        return {"faces found": len(found), "total": _stats(times)}
    except Exception as exc:  # noqa: BLE001
        return f"fer failed ({type(exc).__name__}: {exc})"


def main() -> None:
    harness = _common.browser_harness()
    face_frame = harness.face_frame
    from emotion_core.serving.detect import DEFAULT_DETECTOR
    from emotion_core.serving.pipeline import EmotionPipeline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default="xxs,xs,s")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--run", help="a trained run directory instead of random-weight variants")
    parser.add_argument("--detectors", default=f"{DEFAULT_DETECTOR},blazeface",
                        help="with --run: the face detectors to time it with (default: the default, then BlazeFace)")
    args = parser.parse_args()

    frames = {1: face_frame(640, 480, 1), 4: face_frame(640, 480, 4)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = ([(f"run {Path(args.run).name} + {kind}", EmotionPipeline.from_run(Path(args.run), detector=kind))
                   for kind in args.detectors.split(",")] if args.run else
                  [(f"{v.upper()} @{args.size}", pipeline_for(v, args.size, Path(tmp))) for v in args.variants.split(",")])
        for name, pipeline in models:
            for n, frame in frames.items():
                r = time_pipeline(pipeline, frame, args.frames)
                row = {"model": name, "faces": n, "found": r["faces found"]}
                for stage in ("detect", "classify", "annotate", "total"):
                    row[f"{stage} ms (med/p95)"] = f"{r[stage][0]:.1f} / {r[stage][1]:.1f}"
                row["fps"] = 1000 / r["total"][0]
                rows.append(row)
    for n, frame in frames.items():
        r = time_fer(frame, max(5, args.frames // 5))
        if isinstance(r, str):
            rows.append({"model": "fer (PyPI)", "faces": n, "found": r})
        else:
            rows.append({"model": "fer (PyPI)", "faces": n, "found": r["faces found"],
                         "total ms (med/p95)": f"{r['total'][0]:.1f} / {r['total'][1]:.1f}", "fps": 1000 / r["total"][0]})
    columns = ["model", "faces", "found", "detect ms (med/p95)", "classify ms (med/p95)", "annotate ms (med/p95)",
               "total ms (med/p95)", "fps"]
    _common.print_table(rows, columns)
    print("\nTarget: total under 33 ms per 640x480 frame with one face for XXS on 2 CPU cores.")


if __name__ == "__main__":
    main()
