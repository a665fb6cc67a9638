"""`predict` on folders, images and videos: CSV rows, JSON, annotated MP4, a summary line per input."""

from __future__ import annotations

import csv
import json

import cv2
import pytest

from emotion_core.cli import main
from emotion_core.media.face_table import CLI_COLUMNS
from emotion_core.media.video import VideoReader
from tests.video_helpers import astronaut_head, moving_faces, write_clip


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    write_clip(root / "sub" / "clip.mp4", moving_faces(12))
    cv2.imwrite(str(root / "face.png"), cv2.copyMakeBorder(astronaut_head(240), 100, 100, 150, 150,
                                                           cv2.BORDER_CONSTANT, value=(60, 60, 60)))
    (root / ".hidden.mp4").write_bytes(b"not looked at")
    (root / "notes.txt").write_text("not media")
    return root


def test_folder_of_images_and_videos_to_csv_and_annotated_files(folder, tmp_path, capsys):
    out, table = tmp_path / "out", tmp_path / "faces.csv"
    assert main(["predict", str(folder), "--every", "3", "--out", str(out), "--csv", str(table)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"{folder / 'face.png'}: 1 face(s) -> ")
    assert printed[2].startswith(f"{folder / 'sub' / 'clip.mp4'}: 12 frames, 4 analysed in ")
    assert "1 track(s): track 0 " in printed[2] and printed[2].endswith(str(out / "clip_annotated.mp4"))
    assert printed[-1] == f"5 face row(s) -> {table}"
    rows = list(csv.DictReader(table.open()))
    assert tuple(rows[0]) == CLI_COLUMNS
    assert rows[0]["source"] == str(folder / "face.png") and rows[0]["frame"] == rows[0]["track"] == ""
    assert [(r["frame"], r["track"]) for r in rows[1:]] == [("0", "0"), ("3", "0"), ("6", "0"), ("9", "0")]
    assert float(rows[2]["time_s"]) == pytest.approx(0.1, abs=1e-3)
    assert sorted(p.name for p in out.iterdir()) == ["clip_annotated.mp4", "face_annotated.png"]
    assert sum(1 for _ in VideoReader(out / "clip_annotated.mp4")) == 4


def test_json_for_videos_and_a_bad_video_among_good_inputs(folder, tmp_path, capsys):
    (folder / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 100)
    code = main(["predict", str(folder / "sub" / "clip.mp4"), str(folder / "broken.mov"), "--json",
                 "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1 and "broken.mov is not a readable video" in captured.err and "Traceback" not in captured.err
    payload = json.loads(captured.out)
    video = payload[str(folder / "sub" / "clip.mp4")]
    assert video["frames_read"] == 12 and len(video["faces"]) == 12 and video["tracks"][0]["frames"] == 12
    assert video["settings"]["every"] == 1 and video["video"]["width"] == 640


def test_cropped_videos_and_bad_every_are_refused(folder, capsys):
    assert main(["predict", str(folder), "--cropped"]) == 2
    assert "--cropped is for images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", str(folder), "--every", "0"])
    assert "must be 1 or more" in capsys.readouterr().err
