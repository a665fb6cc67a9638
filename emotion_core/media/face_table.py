"""Faces as table rows: the columns every download and the CLI share, CSV text."""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

from emotion_core.labels import EMOTIONS
from emotion_core.serving.pipeline import FaceResult

# One face; a video row puts frame and time_s in front, a photo row the file name and face number.
FACE_COLUMNS: tuple[str, ...] = ("track", "x", "y", "w", "h", "label", "probability", *EMOTIONS)
VIDEO_COLUMNS: tuple[str, ...] = ("frame", "time_s", *FACE_COLUMNS)
PHOTO_COLUMNS: tuple[str, ...] = ("file", "face", *FACE_COLUMNS[1:])
CLI_COLUMNS: tuple[str, ...] = ("source", *VIDEO_COLUMNS)  # images leave frame, time_s and track empty


def face_values(result: FaceResult, scale: float = 1.0) -> tuple:
    """FACE_COLUMNS values of one face; the box divided by `scale` (frame scaled by it before analysis)."""
    box = tuple(int(round(v / scale)) for v in result.box)
    return (result.track_id, *box, result.label, round(float(result.probability), 4),
            *(round(float(p), 4) for p in result.probabilities))


def photo_rows(name: str, results: Sequence[FaceResult]) -> list[dict]:
    """PHOTO_COLUMNS rows for the faces of one image (face numbers from 1, largest first)."""
    return [dict(zip(PHOTO_COLUMNS, (name, i + 1, *face_values(r)[1:]))) for i, r in enumerate(results)]


def csv_text(rows: Iterable[dict | Sequence], columns: Sequence[str]) -> str:
    """CSV with a header line; rows are dicts keyed by column or sequences in column order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c) for c in columns] if isinstance(row, dict) else row)
    return out.getvalue()
