"""The result columns every download shares: values, rounding, numbering and CSV text."""

from __future__ import annotations

import numpy as np

from emotion_core.media.face_table import (
    CLI_COLUMNS,
    FACE_COLUMNS,
    PHOTO_COLUMNS,
    VIDEO_COLUMNS,
    csv_text,
    face_values,
    photo_rows,
)
from emotion_core.labels import EMOTIONS
from emotion_core.serving.pipeline import FaceResult

PROBS = np.array([0.012345, 0.0, 0.1, 0.654321, 0.2, 0.03, 0.003334], np.float32)


def test_columns():
    assert FACE_COLUMNS == ("track", "x", "y", "w", "h", "label", "probability", *EMOTIONS)
    assert VIDEO_COLUMNS == ("frame", "time_s", *FACE_COLUMNS)
    assert PHOTO_COLUMNS == ("file", "face", "x", "y", "w", "h", "label", "probability", *EMOTIONS)
    assert CLI_COLUMNS == ("source", *VIDEO_COLUMNS)


def test_face_values_round_and_map_boxes_back():
    face = FaceResult.from_probs((10, 21, 33, 45), PROBS, track_id=3)
    assert face_values(face) == (3, 10, 21, 33, 45, "happy", 0.6543, 0.0123, 0.0, 0.1, 0.6543, 0.2, 0.03, 0.0033)
    halved = face_values(face, scale=0.5)  # the frame was analysed at half size
    assert halved[:5] == (3, 20, 42, 66, 90) and all(isinstance(v, int) for v in halved[1:5])
    assert face_values(face, scale=3.0)[1:5] == (3, 7, 11, 15)  # 10/3 -> 3, 21/3 = 7, 33/3 = 11, 45/3 = 15
    assert face_values(FaceResult.from_probs((1, 2, 3, 4), PROBS))[0] is None  # no tracker, no track


def test_photo_rows_number_faces_from_one_without_a_track():
    faces = [FaceResult.from_probs((0, 0, 10, 10), PROBS, 7), FaceResult.from_probs((5, 5, 8, 8), np.roll(PROBS, -2), 9)]
    rows = photo_rows("group.jpg", faces)
    assert [tuple(r) for r in rows] == [PHOTO_COLUMNS] * 2
    assert [(r["file"], r["face"], r["x"], r["w"], r["label"]) for r in rows] == [
        ("group.jpg", 1, 0, 10, "happy"), ("group.jpg", 2, 5, 8, "disgust")]
    assert rows[1]["probability"] == 0.6543 and (rows[1]["angry"], rows[1]["sad"]) == (0.1, 0.0123)
    assert photo_rows("empty.png", []) == []


def test_csv_text_from_dicts_and_sequences():
    text = csv_text([{"a": 1, "b": "x, y"}, {"a": None}, (3, 4.5)], ("a", "b"))
    assert text == 'a,b\n1,"x, y"\n,\n3,4.5\n'
    assert csv_text([], ("only",)) == "only\n"
