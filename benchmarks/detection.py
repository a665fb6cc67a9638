"""Face finding and end-to-end accuracy per detector, on FER-2013 faces pasted into scenes.

    .venv/bin/python -m benchmarks.detection [--faces 300] [--faces-from test|validation] [--data DIR]

Each 48 px face is upscaled to 96, 160 or 240 px and pasted at a random place of a 640x480
scene cut from scikit-image's sample pictures (no faces in them); further sets turn the 160 px
faces by up to +-30 degrees or darken them to 40%. A face counts as found when a box's centre
lies inside the pasted square and overlaps it by IoU >= 0.25; "right" = found and labelled with
its true class. Also: the 48 px crops as they are (what users upload from data sets), the
astronaut picture turned 0-45 degrees, full and half size, normal and darkened (20 frames), and
the box jitter on a still webcam-sized frame with camera noise (30 frames), and group photos (20
pictures of 1280x720, six 120 px faces each). PyPI `fer` runs on the
same frames when importable (`pip install --no-deps fer --target /tmp/ferpkg`, then
PYTHONPATH=/tmp/ferpkg). Faces come from the test split by default; `--faces-from validation`
takes the served model's validation hold-out of train (its seed and fraction) for choosing
settings (detector, alignment, score threshold) without looking at the test split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks import _common
import cv2
import numpy as np

from emotion_core.labels import EMOTIONS

SCENES = ("coffee", "rocket", "hubble_deep_field", "brick", "grass", "gravel", "moon", "coins")
FACE_PX = 160


def scenes() -> list[np.ndarray]:
    """640x480 BGR backgrounds."""
    from skimage import data

    out = []
    for name in SCENES:
        image = getattr(data, name)()
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else cv2.cvtColor(image[..., :3],
                                                                                            cv2.COLOR_RGB2BGR)
        out.append(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA))
    return out


def paste(face48: np.ndarray, scene: np.ndarray, rng: np.random.Generator, angle: float = 0.0,
          size: int = FACE_PX, brightness: float = 1.0) -> tuple[np.ndarray, tuple]:
    """The scene with the face (upscaled to `size`, turned by `angle`, scaled in brightness) pasted at a random
    place; (frame, box)."""
    face = cv2.resize(face48, (size, size), interpolation=cv2.INTER_LINEAR)
    if angle:
        turn = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
        face = cv2.warpAffine(face, turn, (size, size), borderMode=cv2.BORDER_REPLICATE)
    x = int(rng.integers(0, scene.shape[1] - size))
    y = int(rng.integers(0, scene.shape[0] - size))
    frame = (scene * brightness).astype(np.uint8)
    frame[y:y + size, x:x + size] = (face * brightness).astype(np.uint8)[..., None]
    return frame, (x, y, size, size)


def matches(box: tuple, truth: tuple) -> bool:
    from emotion_core.serving.tracker import iou

    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    inside = truth[0] <= cx <= truth[0] + truth[2] and truth[1] <= cy <= truth[1] + truth[3]
    return inside and iou(box, truth) >= 0.25


def faces_from(data_root: Path, model_dir: Path, split: str, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` faces (N, 48, 48) and labels: the test split, or the served model's validation hold-out of train."""
    import json

    from emotion_core.data.dataset import load_split
    from emotion_core.data.splits import hold_out

    if split == "test":
        test = load_split(data_root, "test", 48)
        images, labels, pool = test.images, test.labels, np.arange(len(test.labels))
    else:
        config = json.loads((model_dir / "config.json").read_text())
        train = load_split(data_root, "train", 48)
        images, labels = train.images, train.labels
        _, pool = hold_out(labels, config.get("val_fraction", 0.1))
    pick = np.random.default_rng(seed).choice(pool, size=min(count, len(pool)), replace=False)
    return images[pick], labels[pick]


def validation_faces(data_root: Path, model_dir: Path, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return faces_from(data_root, model_dir, "validation", count, seed)


def astronaut_frames() -> list[np.ndarray]:
    from skimage import data

    base = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frames = []
    for angle in (0, 10, 20, 30, 45):
        turned = cv2.warpAffine(base, cv2.getRotationMatrix2D((256, 256), angle, 1.0), (512, 512))
        for scale in (1.0, 0.5):
            sized = cv2.resize(turned, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames += [sized, (sized * 0.35).astype(np.uint8)]
    return frames


def group_photos(faces: np.ndarray, backgrounds: list[np.ndarray], photos: int = 20, per_photo: int = 6,
                 size: int = 120, seed: int = 2) -> list[tuple[np.ndarray, list[tuple]]]:
    """1280x720 pictures of `per_photo` faces each (`size` px, on a grid of 3 x 2 places with some play), as a
    group photo: (frame, boxes)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(photos):
        frame = cv2.resize(backgrounds[k % len(backgrounds)], (1280, 720))
        boxes = []
        for place in range(per_photo):
            col, row = place % 3, place // 3
            x = 80 + col * 400 + int(rng.integers(0, 400 - size - 80))
            y = 60 + row * 330 + int(rng.integers(0, 330 - size - 60))
            face = cv2.resize(faces[(k * per_photo + place) % len(faces)], (size, size))
            frame[y:y + size, x:x + size] = face[..., None]
            boxes.append((x, y, size, size))
        out.append((frame, boxes))
    return out


def group_found(pipeline, photos: list[tuple[np.ndarray, list[tuple]]]) -> float:
    """% of the group photos' faces found."""
    found = total = 0
    for frame, boxes in photos:
        results = pipeline.process(frame)
        found += sum(any(matches(r.box, box) for r in results) for box in boxes)
        total += len(boxes)
    return 100 * found / total


def box_jitter(pipeline, frames: int = 30) -> float | str:
    """Largest frame-to-frame spread (max - min) of the face box's x, y, w, h on a still face with camera noise."""
    from skimage import data

    still = cv2.cvtColor(cv2.resize(data.astronaut(), (640, 640))[80:560], cv2.COLOR_RGB2BGR)  # 640x480
    rng = np.random.default_rng(3)
    boxes = []
    for _ in range(frames):
        results = pipeline.process(np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8))
        if results:
            boxes.append(results[0].box)
    if len(boxes) < frames:
        return f"face lost in {frames - len(boxes)} frames"
    return float((np.max(boxes, axis=0) - np.min(boxes, axis=0)).max())


def run(pipeline, frames: list[np.ndarray], truths: list[tuple], labels: np.ndarray) -> dict:
    """Found / right / false boxes / detection and total ms per frame of one pipeline on one set."""
    from emotion_core.serving.pipeline import Timings

    found = right = false_boxes = 0
    detect_ms, total_ms = [], []
    for frame, truth, label in zip(frames, truths, labels):
        timings = Timings()
        results = pipeline.process(frame, timings=timings)
        detect_ms.append(timings.detect_ms)
        total_ms.append(timings.total_ms)
        hit = next((r for r in results if matches(r.box, truth)), None)
        found += hit is not None
        right += hit is not None and hit.label == EMOTIONS[int(label)]
        false_boxes += sum(1 for r in results if r is not hit)
    n = len(frames)
    return {"found %": 100 * found / n, "right %": 100 * right / n, "right of found %": 100 * right / max(found, 1),
            "false boxes / frame": false_boxes / n, "detect ms": float(np.median(detect_ms)),
            "total ms": float(np.median(total_ms))}


class FerPipeline:
    """PyPI `fer` (its Haar detector and mini-Xception) behind `process`, for the same frames."""

    def __init__(self):
        from fer.fer import FER  # type: ignore[import-not-found]

        self.fer = FER(mtcnn=False)

    def process(self, frame: np.ndarray, timings=None):
        from types import SimpleNamespace

        start = time.perf_counter()
        found = self.fer.detect_emotions(frame)
        if timings is not None:
            timings.total_ms = (time.perf_counter() - start) * 1000
            timings.detect_ms = float("nan")  # fer does not time its stages apart
        return [SimpleNamespace(box=tuple(f["box"]), label=max(f["emotions"], key=f["emotions"].get)) for f in found]


def main() -> int:
    from emotion_core.serving.detect import make_detector
    from emotion_core.serving.inference import Classifier, default_model_dir
    from emotion_core.serving.pipeline import EmotionPipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--faces-from", choices=["test", "validation"], default="test")
    parser.add_argument("--data", type=Path, default=_common.FER_ROOT)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: models/default)")
    args = parser.parse_args()
    if not (args.data / "test").is_dir():
        print(f"FER-2013 not found at {args.data}: pass --data", file=sys.stderr)
        return 2
    model_dir = args.model or default_model_dir()
    classifier = Classifier.from_run(model_dir)
    faces, labels = faces_from(args.data, model_dir, args.faces_from, args.faces)
    rng = np.random.default_rng(1)
    backgrounds = scenes()
    sets = {}
    for name, size, max_angle, brightness in (("160 px", 160, 0.0, 1.0), ("96 px", 96, 0.0, 1.0),
                                              ("240 px", 240, 0.0, 1.0), ("160 px turned +-30", 160, 30.0, 1.0),
                                              ("160 px darkened", 160, 0.0, 0.4)):
        frames, truths = [], []
        for face in faces:
            angle = float(rng.uniform(-max_angle, max_angle)) if max_angle else 0.0
            frame, truth = paste(face, backgrounds[int(rng.integers(len(backgrounds)))], rng, angle, size, brightness)
            frames.append(frame)
            truths.append(truth)
        sets[name] = (frames, truths, labels)
    sets["48 px crops as uploaded"] = ([cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in faces],
                                       [(0, 0, 48, 48)] * len(faces), labels)
    astronaut = astronaut_frames()
    groups = group_photos(faces, backgrounds)
    candidates = [(f"{kind}{'' if align else ', no align'}",
                   lambda kind=kind, align=align: EmotionPipeline(classifier, make_detector(kind), align=align))
                  for kind, align in (("haar", False), ("blazeface", True), ("blazeface", False),
                                      ("blazeface-full", True), ("blazeface-multi", True), ("blazeface-tiles", True))]
    candidates.append(("fer (PyPI)", FerPipeline))
    rows = []
    for name, build in candidates:
        try:
            pipeline = build()
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
            rows.append({"detector": name, "faces": f"not available ({type(exc).__name__})"})
            continue
        for set_name, (frames, truths, set_labels) in sets.items():
            rows.append({"detector": name, "faces": set_name, **run(pipeline, frames, truths, set_labels)})
        found = sum(1 for frame in astronaut if pipeline.process(frame))
        rows.append({"detector": name, "faces": "astronaut turned/dark", "found %": 100 * found / len(astronaut),
                     "box jitter px": box_jitter(pipeline)})
        rows.append({"detector": name, "faces": "group photos, 6 x 120 px", "found %": group_found(pipeline, groups)})
    print(f"{len(faces)} {args.faces_from} faces of {args.data}, model {model_dir}\n")
    _common.print_table(rows, ["detector", "faces", "found %", "right %", "right of found %",
                               "false boxes / frame", "detect ms", "total ms", "box jitter px"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
