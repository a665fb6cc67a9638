"""Data loading: layout, label matching, bad input, cache."""

from __future__ import annotations

import os
import shutil
import time

import cv2
import numpy as np
import pytest

from emotion_core.data import DataError, load_split, quick_summary, scan_split
from emotion_core.labels import EMOTIONS, canonical_emotion
from emotion_core.synthetic import make_dataset


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "d", per_class_train=3, per_class_test=2, seed=3)


def test_label_order_and_aliases():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    assert canonical_emotion("Anger") == "angry"
    assert canonical_emotion("HAPPY") == "happy"
    assert canonical_emotion("bored") is None


def test_load_split_shapes_labels_and_counts(data, tmp_path):
    split = load_split(data, "train", 48, cache_dir=tmp_path / "c")
    assert split.images.shape == (21, 48, 48) and split.images.dtype == np.uint8
    assert split.counts() == {e: 3 for e in EMOTIONS}
    first = split.paths[0]
    assert first.startswith("train/angry/") and split.labels[0] == 0
    assert split.unreadable == [] and not split.from_cache


def test_resize_to_configured_size(data, tmp_path):
    split = load_split(data, "test", 64, cache_dir=tmp_path / "c")
    assert split.images.shape == (14, 64, 64)


def test_case_insensitive_and_anger_alias(data, tmp_path):
    os.rename(data / "train" / "angry", data / "train" / "Anger")
    os.rename(data / "train" / "happy", data / "train" / "HAPPY")
    split = load_split(data, "train", 48, cache_dir=tmp_path / "c")
    assert split.counts()["angry"] == 3 and split.counts()["happy"] == 3


def test_missing_split_names_path(data):
    shutil.rmtree(data / "test")
    with pytest.raises(DataError, match=r"Missing split folder .*test"):
        scan_split(data, "test")


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        scan_split(tmp_path / "nope", "train")


def test_unknown_class_folder(data):
    (data / "train" / "bored").mkdir()
    with pytest.raises(DataError, match=r"Unknown class folder .*bored"):
        scan_split(data, "train")


def test_empty_class_folder(data):
    shutil.rmtree(data / "train" / "sad")
    (data / "train" / "sad").mkdir()
    (data / "train" / "sad" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"Class folder .*sad is empty"):
        scan_split(data, "train")


def test_two_folders_same_class(data):
    shutil.copytree(data / "train" / "angry", data / "train" / "anger")
    with pytest.raises(DataError, match="both mean 'angry'"):
        scan_split(data, "train")


def test_corrupt_zero_byte_and_non_image_files_are_skipped_and_listed(data, tmp_path):
    (data / "train" / "fear" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (data / "train" / "fear" / "empty.jpg").write_bytes(b"")
    (data / "train" / "fear" / "text.jpg").write_text("not an image")
    (data / "train" / "fear" / "readme.txt").write_text("ignored")
    good = cv2.imread(str(next((data / "train" / "fear").glob("fear_*.png"))))
    encoded = cv2.imencode(".jpg", good)[1].tobytes()
    (data / "train" / "fear" / "truncated.jpg").write_bytes(encoded[: len(encoded) // 3])
    split = load_split(data, "train", 48, cache_dir=tmp_path / "c")
    assert {"train/fear/corrupt.png", "train/fear/empty.jpg", "train/fear/text.jpg"} <= set(split.unreadable)
    assert "train/fear/readme.txt" in split.ignored
    readable = split.counts()["fear"]
    assert readable in (3, 4)  # a truncated JPEG may still decode partially; it never crashes
    assert len(split.labels) == len(split.images) == len(split.paths)


def test_color_and_odd_sized_images_become_gray_squares(data, tmp_path):
    color = np.random.default_rng(0).integers(0, 255, (100, 37, 3), dtype=np.uint8)
    cv2.imwrite(str(data / "train" / "sad" / "color.bmp"), color)
    rgba = np.random.default_rng(1).integers(0, 255, (20, 30, 4), dtype=np.uint8)
    cv2.imwrite(str(data / "train" / "sad" / "alpha.png"), rgba)
    split = load_split(data, "train", 48, cache_dir=tmp_path / "c")
    assert split.counts()["sad"] == 5 and split.images.shape[1:] == (48, 48)


def test_duplicates_reported(data, tmp_path):
    src = next((data / "train" / "happy").glob("*.png"))
    shutil.copy(src, data / "train" / "happy" / "copy.png")
    split = load_split(data, "train", 48, cache_dir=tmp_path / "c")
    assert any(f"train/happy/{src.name}" in g and "train/happy/copy.png" in g for g in split.duplicates)


def test_cache_is_used_and_rebuilt_on_change(data, tmp_path):
    cache = tmp_path / "c"
    first = load_split(data, "train", 48, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as z:  # loads without pickle
        assert z["images"].shape == first.images.shape
    second = load_split(data, "train", 48, cache_dir=cache)
    assert second.from_cache and np.array_equal(second.images, first.images) and second.paths == first.paths
    # Changing a file (new mtime and size) invalidates the cache.
    target = data / "train" / "neutral" / "neutral_0000.png"
    cv2.imwrite(str(target), np.zeros((48, 48), np.uint8))
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = load_split(data, "train", 48, cache_dir=cache)
    assert not third.from_cache
    assert third.images[third.paths.index("train/neutral/neutral_0000.png")].max() == 0


def test_corrupt_cache_file_is_rebuilt(data, tmp_path):
    cache = tmp_path / "c"
    load_split(data, "test", 48, cache_dir=cache)
    for f in cache.glob("*.npz"):
        f.write_bytes(b"broken")
    again = load_split(data, "test", 48, cache_dir=cache)
    assert not again.from_cache and len(again.labels) == 14


def test_progress_reported(data, tmp_path):
    calls = []
    load_split(data, "train", 48, cache_dir=tmp_path / "c", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (21, 21)


def test_quick_summary_counts_without_decoding(data):
    summary = quick_summary(data)
    assert summary["train"]["surprise"] == 3 and summary["test"]["disgust"] == 2


def test_summary_is_json_ready(data, tmp_path):
    import json

    s = load_split(data, "train", 48, cache_dir=tmp_path / "c").summary()
    assert json.loads(json.dumps(s))["images"] == 21
