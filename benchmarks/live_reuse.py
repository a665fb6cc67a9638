"""Live: keep a face's last classification while its crop barely changes; server time and what users see.

The Live page's processor (served model with its TTA, annotation) over clips with camera noise (Gaussian,
--noise gray levels, new every frame), for each --reuse threshold (gray levels a face's crop may change,
`pipeline.crop_change`; 0: every face classified on every frame):

- still: the astronaut's head not moving (BlazeFace finds it);
- moving: the head moving 4 px a frame (BlazeFace);
- FER faces: FER-2013 test faces, each shown --hold frames at one place (a box where the face is drawn, so
  every face is read; the first frames of a face are where a stale label would show); accuracy of the label
  shown on each face's last frame;
- FER blends: one test face turning into another of another emotion over --blend frames, in place; frames
  until the shown label is the new face's label as it is without reuse (the lag a user would see).

Columns: mean ms per frame (median of interleaved rounds), share of faces classified, labels equal to
the run without reuse, FER accuracy, extra lag. Needs ../shared/datasets/fer2013 for the FER rows.

    python -m benchmarks.live_reuse [--reuse 0,1,2,3] [--noise 2] [--faces 300]
"""

from __future__ import annotations

import argparse
import time

from benchmarks import _common
import numpy as np
from benchmarks.detect_every import clip as head_clip

FRAME = (480, 640)
FACE_BOX = (220, 130, 200, 200)  # where a FER face is drawn (x, y, w, h)


class FixedBox:
    """A detector that reports one face at FACE_BOX (FER faces are drawn there)."""

    kind = "fixed"

    def find(self, frame, gray, channel_order="bgr"):
        from emotion_core.serving.faces import Detection

        return [Detection(FACE_BOX)]


def with_noise(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) if sigma else f for f in frames]


def fer_frame(face: np.ndarray) -> np.ndarray:
    """A (48, 48) gray FER face drawn at FACE_BOX on a gray BGR frame."""
    import cv2

    x, y, w, h = FACE_BOX
    frame = np.full((*FRAME, 3), 50, np.uint8)
    frame[y:y + h, x:x + w] = cv2.cvtColor(cv2.resize(face, (w, h), interpolation=cv2.INTER_LINEAR),
                                           cv2.COLOR_GRAY2BGR)
    return frame


class CountingPipeline:
    """An EmotionPipeline that counts the faces it classifies."""

    def __new__(cls, pipeline):
        from emotion_core.serving.pipeline import EmotionPipeline

        class Counting(EmotionPipeline):
            classified = 0

            def classify_crops(self, crops, max_views=None):
                self.classified += len(crops)
                return super().classify_crops(crops, max_views)

        return Counting(pipeline.classifier, pipeline.detector, pipeline.margin, pipeline.align)


def run(pipeline, frames: list[np.ndarray], reuse: float) -> tuple[float, list[str | None], float]:
    """(mean ms per frame after 5 frames, label shown per frame, share of faces classified)."""
    from dashboard.live.processor import LiveProcessor

    counting = CountingPipeline(pipeline)
    processor = LiveProcessor(counting, reuse_below=reuse)
    times, labels, faces = [], [], 0
    for frame in frames:
        start = time.perf_counter()
        processor.process_bgr(frame)
        times.append((time.perf_counter() - start) * 1000)
        results = processor.snapshot()["results"]
        labels.append(results[0]["label"] if results else None)
        faces += len(results)
    processor.close()
    return float(np.mean(times[5:])), labels, counting.classified / max(1, faces)


def fer_faces(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    from emotion_core.data.dataset import load_split

    if not (_common.FER_ROOT / "test").is_dir():
        return None
    split = load_split(_common.FER_ROOT, "test", 48)
    pick = np.random.default_rng(seed).permutation(len(split.labels))[:count]
    return split.images[pick], split.labels[pick]


def blends(images: np.ndarray, labels: np.ndarray, steps: int, hold: int) -> tuple[list[np.ndarray], list[int]]:
    """Frames of face i held, then blended into face i+1 (another emotion) over `steps` frames, and so on;
    the frame index where each blend ends."""
    frames, ends = [], []
    order = [0]
    for j in range(1, len(labels)):
        if labels[j] != labels[order[-1]]:
            order.append(j)
    for a, b in zip(order, order[1:]):
        frames += [fer_frame(images[a])] * hold
        for t in np.linspace(0, 1, steps):
            frames.append(fer_frame(np.clip((1 - t) * images[a] + t * images[b], 0, 255).astype(np.uint8)))
        ends.append(len(frames) - 1)
    return frames, ends


def lags(labels: list[str | None], reference: list[str | None], ends: list[int], hold: int) -> float:
    """Mean frames, over blends, by which the shown label reaches its final value later than the reference."""
    out = []
    for end in ends:
        window = range(end - 20, min(len(labels), end + hold))
        final = reference[window[-1]]
        settle = lambda shown: next((i for i in window if all(shown[k] == final for k in range(i, window[-1] + 1))),
                                    window[-1])  # noqa: E731
        out.append(settle(labels) - settle(reference))
    return float(np.mean(out)) if out else float("nan")


def change_table(images: np.ndarray, noise: float, size: int, margin: float) -> list[dict]:
    """What a change measure reads, median and the end that matters (95th percentile of noise, 5th of
    changes), for camera noise alone, a local change (the mouth region 25 levels brighter) and one frame of
    a 15-frame blend into another face: the mean over the crop against the largest grid cell's change."""
    import cv2

    from emotion_core.serving.tracker import crop_change
    from emotion_core.serving.pipeline import crop_face

    rng = np.random.default_rng(0)

    def crop(face: np.ndarray) -> np.ndarray:
        frame = with_noise([fer_frame(face)], noise, int(rng.integers(1 << 30)))[0]
        return crop_face(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), FACE_BOX, size, margin)

    measures = {"mean over the crop": lambda a, b: float(cv2.absdiff(a, b).mean()),
                "largest grid cell (served)": crop_change}
    reads: dict[str, dict[str, list[float]]] = {m: {"noise": [], "mouth": [], "blend": []} for m in measures}
    half = len(images) // 2
    for a, b in zip(images[:half], images[half:]):
        mouth = a.copy()
        mouth[32:44, 14:34] = np.clip(mouth[32:44, 14:34].astype(int) + 25, 0, 255)  # 48-pixel face
        step = np.clip(a * (14 / 15) + b / 15, 0, 255).astype(np.uint8)
        before, again, opened, blended = crop(a), crop(a), crop(mouth), crop(step)
        for name, measure in measures.items():
            reads[name]["noise"].append(measure(before, again))
            reads[name]["mouth"].append(measure(before, opened))
            reads[name]["blend"].append(measure(before, blended))
    def spread(values: list[float], end: float) -> str:
        return f"{np.median(values):.2f} / {np.percentile(values, end):.2f}"

    return [{"measure": name, "noise (median / 95%)": spread(r["noise"], 95),
             "mouth +25 (median / 5%)": spread(r["mouth"], 5), "blend step (median / 5%)": spread(r["blend"], 5)}
            for name, r in reads.items()]


def main() -> None:
    from emotion_core.labels import EMOTIONS
    from emotion_core.serving.pipeline import EmotionPipeline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", default="1,3,6")
    parser.add_argument("--noise", type=float, default=2.0, help="camera noise, standard deviation in gray levels")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--faces", type=int, default=300, help="FER-2013 test faces")
    parser.add_argument("--hold", type=int, default=6, help="frames each FER face is shown")
    parser.add_argument("--blend", type=int, default=15, help="frames a blend between two faces takes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    thresholds = sorted({0.0, *map(float, args.reuse.split(","))})
    served = EmotionPipeline.from_run()
    fixed = EmotionPipeline(served.classifier, FixedBox(), served.margin, align=False)
    clips = {"still": (served, with_noise(head_clip(args.frames, 0), args.noise, 1)),
             "moving 4 px/frame": (served, with_noise(head_clip(args.frames, 4), args.noise, 2))}
    fer = fer_faces(args.faces)
    truth: list[str] = []
    ends: list[int] = []
    if fer is not None:
        images, labels = fer
        frames = [fer_frame(face) for face in images for _ in range(args.hold)]
        clips["FER faces"] = (fixed, with_noise(frames, args.noise, 3))
        truth = [EMOTIONS[k] for k in labels]
        blend_frames, ends = blends(images[:120], labels[:120], args.blend, args.hold * 3)
        clips["FER blends"] = (fixed, with_noise(blend_frames, args.noise, 4))
    else:
        print("FER-2013 not found beside the project: FER rows left out.")
    rows = []
    for name, (pipeline, frames) in clips.items():
        ms: dict[float, list[float]] = {t: [] for t in thresholds}
        shown: dict[float, list] = {}
        share: dict[float, float] = {}
        for _ in range(args.rounds if name in ("still", "moving 4 px/frame") else 1):
            for t in thresholds:
                cost, shown[t], share[t] = run(pipeline, frames, t)
                ms[t].append(cost)
        base = float(np.median(ms[0.0]))
        for t in thresholds:
            row = {"clip": name, "reuse below": t, "ms per frame": f"{np.median(ms[t]):.1f}",
                   "vs no reuse": f"{np.median(ms[t]) / base:.2f}x", "faces classified": f"{share[t]:.0%}",
                   "same label": f"{np.mean([a == b for a, b in zip(shown[t], shown[0.0])]):.1%}"}
            if name == "FER faces":
                last = shown[t][args.hold - 1::args.hold]
                row["FER accuracy"] = f"{np.mean([a == b for a, b in zip(last, truth)]):.2%}"
            if name == "FER blends":
                row["extra lag (frames)"] = f"{lags(shown[t], shown[0.0], ends, args.hold * 3):.2f}"
            rows.append(row)
    _common.print_table(rows, ["clip", "reuse below", "ms per frame", "vs no reuse", "faces classified",
                               "same label", "FER accuracy", "extra lag (frames)"])
    if fer is not None:
        print("\nwhat a change measure reads (gray levels), 200 FER test faces:\n")
        _common.print_table(change_table(fer[0][:200], args.noise, served.classifier.input_size, served.margin))
    print(f"\ncamera noise sigma {args.noise} gray levels; {args.frames} frames per head clip (median of "
          f"{args.rounds} interleaved rounds); {len(truth)} FER test faces held {args.hold} frames each; "
          f"blends over {args.blend} frames.")


if __name__ == "__main__":
    main()
