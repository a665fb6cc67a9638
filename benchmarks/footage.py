"""Faces at meeting distances: every person found, in how many tracks, boxes that are no face, time per frame.

    .venv/bin/python -m benchmarks.footage [--seconds 10] [--fps 15] [--detectors haar,blazeface,...]

Two scenes, each with moving people on a textured scikit-image background with camera noise:
640x480 with faces of 45, 80 and 110 px (the meeting clip of issue #29), and 1280x720 with faces of 40,
60, 90 and 120 px. People are scikit-image's astronaut (her head with hair and shoulders, as a webcam
sees a person; every other one mirrored and tinted) and FER-2013 test faces (tight 48 px crops scaled up,
a new picture every second), so "the picture of each person" changes. A person counts as found in a frame
as a face does in benchmarks/detection.py (a box's centre inside the face, IoU >= 0.25); tracks are the ids
the pipeline's FaceTracker gives the boxes found on that person. Face-free natural pictures (coffee cup, cat, rocket, textures, the moon, coins, deep
field) at both sizes give false boxes per frame. Only one real person's photo is among the people: the
FER faces stand in for the others and are harder for every detector than faces with hair and context.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks import _common
from benchmarks.detection import matches

HEAD_FACE = (0.27, 0.22, 0.42)  # the face inside tests.video_helpers.astronaut_head: x, y, side (parts of the head)
SCENES = {"640x480": ((640, 480), (45, 80, 110)), "1280x720": ((1280, 720), (40, 60, 90, 120))}
FACE_FREE = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "moon", "coins", "hubble_deep_field")
DETECTORS = ("haar", "blazeface", "blazeface-full", "blazeface-multi", "blazeface-tiles", "blazeface-follow")


@dataclass
class Person:
    face: int  # face side in pixels
    kind: str  # "astronaut", "astronaut mirrored" or "FER"
    home: tuple[int, int]  # where the face's top-left corner rests
    period: float  # seconds of one sway


def people(width: int, height: int, faces: tuple[int, ...]) -> list[Person]:
    """People spread over the frame's width, alternating kinds."""
    kinds = ("astronaut", "FER", "astronaut mirrored")
    slot = width // len(faces)
    out = []
    for i, face in enumerate(faces):
        x = i * slot + (slot - face) // 2
        y = int(height * (0.25 + 0.3 * (i % 2)))
        out.append(Person(face, kinds[i % len(kinds)], (x, y), 4.0 + 1.3 * i))
    return out


def make_frames(size: tuple[int, int], faces: tuple[int, ...], seconds: float, fps: float,
                fer_faces: np.ndarray | None, seed: int = 0) -> tuple[list[np.ndarray], list[list[tuple]]]:
    """BGR frames and, per frame, the face box of each person."""
    from skimage import data

    from tests.video_helpers import astronaut_head

    width, height = size
    rng = np.random.default_rng(seed)
    background = cv2.resize(cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR), size)
    crowd = people(width, height, faces)
    heads = {}
    for p in crowd:
        side = int(p.face / HEAD_FACE[2])
        head = astronaut_head(side)
        if p.kind == "astronaut mirrored":
            head = np.clip(head[:, ::-1].astype(np.int16) + np.int16([-10, 5, 25]), 0, 255).astype(np.uint8)
        heads[id(p)] = head
    frames, truths = [], []
    for i in range(int(seconds * fps)):
        t = i / fps
        frame = background.copy()
        boxes = []
        for k, p in enumerate(crowd):
            dx = int(25 * np.sin(2 * np.pi * t / p.period))
            dy = int(8 * np.sin(2 * np.pi * t / (p.period * 1.7)))
            if p.kind == "FER" and fer_faces is not None:
                picture = fer_faces[(int(t) * len(crowd) + k) % len(fer_faces)]  # a new picture every second
                image, offset = cv2.cvtColor(cv2.resize(picture, (p.face, p.face)), cv2.COLOR_GRAY2BGR), (0, 0)
            else:
                image = heads[id(p)]
                offset = (int(HEAD_FACE[0] * image.shape[1]), int(HEAD_FACE[1] * image.shape[0]))
            x0, y0 = p.home[0] + dx - offset[0], p.home[1] + dy - offset[1]
            xa, ya = max(0, x0), max(0, y0)
            xb, yb = min(width, x0 + image.shape[1]), min(height, y0 + image.shape[0])
            frame[ya:yb, xa:xb] = image[ya - y0:yb - y0, xa - x0:xb - x0]
            boxes.append((x0 + offset[0], y0 + offset[1], p.face, p.face))
        noise = rng.normal(0, 4, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
        truths.append(boxes)
    return frames, truths


def measure(detector, frames: list[np.ndarray], truths: list[list[tuple]]) -> dict:
    """Found % per person, tracks per person, % of frames with a box on no face, mean detection + tracking ms per
    frame (boxes only: held boxes are the pipeline's, not counted here)."""
    from emotion_core.serving.faces import to_gray
    from emotion_core.serving.pipeline import find_faces
    from emotion_core.serving.tracker import FaceTracker, iou

    tracker = FaceTracker()
    persons = len(truths[0])
    found, tracks = np.zeros(persons), [set() for _ in range(persons)]
    frames_with_false, ms = 0, []
    for frame, boxes in zip(frames, truths):
        start = time.perf_counter()  # as EmotionPipeline runs them: the faces followed are trusted, then tracked
        faces = find_faces(detector, frame, to_gray(frame), tracker=tracker)
        _, ids = tracker.update([f.box for f in faces], np.zeros((len(faces), 7), np.float32))
        ms.append((time.perf_counter() - start) * 1000)
        matched = set()
        for k, truth in enumerate(boxes):
            best = max(range(len(faces)), key=lambda j: iou(faces[j].box, truth), default=None)
            if best is not None and matches(faces[best].box, truth):
                found[k] += 1
                tracks[k].add(ids[best])
                matched.add(best)
        frames_with_false += len(matched) < len(faces)
    n = len(frames)
    return {"found % per person": " / ".join(f"{100 * f / n:.0f}" for f in found),
            "tracks per person": " / ".join(str(len(t)) for t in tracks),
            "frames with a non-face box %": 100 * frames_with_false / n, "detect + track ms / frame": float(np.mean(ms))}


def face_free_boxes(detector, size: tuple[int, int]) -> float:
    """Boxes per picture on face-free natural pictures at `size`."""
    from skimage import data

    boxes = 0
    for name in FACE_FREE:
        image = getattr(data, name)()
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        frame = cv2.resize(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), size)
        boxes += len(detector.find(frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)))
    return boxes / len(FACE_FREE)


def fer_test_faces(data_root: Path, count: int = 60) -> np.ndarray | None:
    if not (data_root / "test").is_dir():
        return None
    from emotion_core.data.dataset import load_split

    split = load_split(data_root, "test", 48)
    pick = np.random.default_rng(0).choice(len(split.images), min(count, len(split.images)), replace=False)
    return split.images[pick]


def main() -> int:
    from emotion_core.serving.detect import make_detector

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--data", type=Path, default=_common.FER_ROOT, help="FER-2013 (its test faces stand in "
                        "for people; without it every person is the astronaut)")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    args = parser.parse_args()
    fer_faces = fer_test_faces(args.data)
    rows = []
    for scene, (size, faces) in SCENES.items():
        frames, truths = make_frames(size, faces, args.seconds, args.fps, fer_faces)
        kinds = " / ".join(f"{p.face} px {p.kind if fer_faces is not None or p.kind != 'FER' else 'astronaut'}"
                           for p in people(*size, faces))
        for kind in args.detectors.split(","):
            detector = make_detector(kind)
            detector.find(frames[0], cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY))  # warm-up
            rows.append({"scene": scene, "detector": kind, **measure(detector, frames, truths),
                         "face-free boxes / picture": face_free_boxes(detector, size)})
        print(f"{scene}: {kinds}")
    print(f"{args.seconds:g} s at {args.fps:g} fps per scene\n")
    _common.print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
