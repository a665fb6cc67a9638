"""Face finding and end-to-end accuracy per detector, on faces pasted into scenes, upright and rotated.

    .venv/bin/python benchmarks/detection.py [--faces 300] [--data ../shared/datasets/fer2013]

Faces are the served model's validation hold-out of FER-2013 train (its config's seed and
fraction), never the test split: the choices made from this table (default detector,
alignment) stay honest. Each 48 px face is upscaled to 160 px and pasted at a random place
of a 640x480 scene cut from scikit-image's sample pictures (no faces in them); the rotated
set turns each face by up to +-30 degrees first. A face counts as found when a box's
centre lies inside the pasted square and overlaps it by IoU >= 0.25; "right" = found and
labelled with its true class. A third set is the 48 px crops as they are (what users
upload from data sets) and a fourth the astronaut picture turned 0-45 degrees, full and
half size, normal and darkened (20 frames, one face each).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common
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


def paste(face48: np.ndarray, scene: np.ndarray, rng: np.random.Generator, angle: float) -> tuple[np.ndarray, tuple]:
    """The scene with the face (upscaled, turned by `angle`) pasted at a random place; (frame, box)."""
    face = cv2.resize(face48, (FACE_PX, FACE_PX), interpolation=cv2.INTER_LINEAR)
    if angle:
        turn = cv2.getRotationMatrix2D((FACE_PX / 2, FACE_PX / 2), angle, 1.0)
        face = cv2.warpAffine(face, turn, (FACE_PX, FACE_PX), borderMode=cv2.BORDER_REPLICATE)
    x = int(rng.integers(0, scene.shape[1] - FACE_PX))
    y = int(rng.integers(0, scene.shape[0] - FACE_PX))
    frame = scene.copy()
    frame[y:y + FACE_PX, x:x + FACE_PX] = face[..., None]
    return frame, (x, y, FACE_PX, FACE_PX)


def matches(box: tuple, truth: tuple) -> bool:
    from emotion_core.pipeline import iou

    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    inside = truth[0] <= cx <= truth[0] + truth[2] and truth[1] <= cy <= truth[1] + truth[3]
    return inside and iou(box, truth) >= 0.25


def validation_faces(data_root: Path, model_dir: Path, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` faces (N, 48, 48) and labels from the served model's validation hold-out of train."""
    import json

    from emotion_core.data import load_split
    from emotion_core.train import stratified_split

    config = json.loads((model_dir / "config.json").read_text())
    train = load_split(data_root, "train", 48)
    _, val = stratified_split(train.labels, config.get("val_fraction", 0.1), config.get("seed", 42))
    pick = np.random.default_rng(seed).choice(val, size=min(count, len(val)), replace=False)
    return train.images[pick], train.labels[pick]


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


def run(pipeline, frames: list[np.ndarray], truths: list[tuple], labels: np.ndarray) -> dict:
    found = right = false_boxes = 0
    start = time.perf_counter()
    for frame, truth, label in zip(frames, truths, labels):
        results = pipeline.process(frame)
        hit = next((r for r in results if matches(r.box, truth)), None)
        found += hit is not None
        right += hit is not None and hit.label == EMOTIONS[int(label)]
        false_boxes += sum(1 for r in results if r is not hit)
    n = len(frames)
    return {"found %": 100 * found / n, "right %": 100 * right / n, "right of found %": 100 * right / max(found, 1),
            "false boxes / frame": false_boxes / n, "ms / frame": (time.perf_counter() - start) * 1000 / n}


def main() -> int:
    from emotion_core.detect import make_detector
    from emotion_core.inference import Classifier, default_model_dir
    from emotion_core.pipeline import EmotionPipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--data", type=Path, default=_common.FER_ROOT)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: models/default)")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"FER-2013 not found at {args.data}: pass --data", file=sys.stderr)
        return 2
    model_dir = args.model or default_model_dir()
    classifier = Classifier.from_run(model_dir)
    faces, labels = validation_faces(args.data, model_dir, args.faces)
    rng = np.random.default_rng(1)
    backgrounds = scenes()
    sets = {}
    for name, max_angle in (("pasted upright", 0.0), ("pasted rotated +-30", 30.0)):
        frames, truths = [], []
        for face in faces:
            angle = float(rng.uniform(-max_angle, max_angle)) if max_angle else 0.0
            frame, truth = paste(face, backgrounds[int(rng.integers(len(backgrounds)))], rng, angle)
            frames.append(frame)
            truths.append(truth)
        sets[name] = (frames, truths, labels)
    sets["48 px crops as uploaded"] = ([cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in faces],
                                       [(0, 0, 48, 48)] * len(faces), labels)
    astronaut = astronaut_frames()
    rows = []
    for kind, align in (("haar", False), ("blazeface", False), ("blazeface", True), ("blazeface-full", False),
                        ("blazeface-full", True)):
        pipeline = EmotionPipeline(classifier, make_detector(kind), align=align)
        for set_name, (frames, truths, set_labels) in sets.items():
            rows.append({"detector": kind, "align": "on" if align else "off", "faces": set_name,
                         **run(pipeline, frames, truths, set_labels)})
        found = sum(1 for frame in astronaut if pipeline.process(frame))
        rows.append({"detector": kind, "align": "on" if align else "off", "faces": "astronaut turned/dark",
                     "found %": 100 * found / len(astronaut)})
    print(f"{len(faces)} validation faces of {args.data}, model {model_dir}\n")
    _common.print_table(rows, ["detector", "align", "faces", "found %", "right %", "right of found %",
                               "false boxes / frame", "ms / frame"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
