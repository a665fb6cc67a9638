"""Data loading: layout, label matching, bad input, cache."""

from __future__ import annotations

import os
import shutil
import time

import cv2
import numpy as np
import pytest

from emotion_core.data.dataset import (
    DataError,
    cache_key,
    cross_split_duplicates,
    decode_gray,
    load_split,
    quick_summary,
    read_gray_inside,
    resize_square,
    scan_split,
)
from emotion_core.data.synthetic import make_dataset
from emotion_core.labels import EMOTIONS, canonical_emotion


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


def test_read_gray_inside_stays_inside_the_root(data, tmp_path):
    inside = read_gray_inside(data, "train/happy/happy_0000.png", 32)
    expected = cv2.resize(cv2.imread(str(data / "train/happy/happy_0000.png"), cv2.IMREAD_GRAYSCALE), (32, 32),
                          interpolation=cv2.INTER_AREA)
    assert inside is not None and np.array_equal(inside, expected)
    sibling = data.parent / (data.name + "_evil")  # shares the root's name as a prefix
    shutil.copytree(data / "train", sibling / "train")
    assert read_gray_inside(data, f"../{sibling.name}/train/happy/happy_0000.png", 32) is None
    (data / "link.png").symlink_to(sibling / "train/happy/happy_0000.png")
    assert read_gray_inside(data, "link.png", 32) is None  # a link leading outside
    (data / "inner.png").symlink_to(data / "train/happy/happy_0000.png")
    assert np.array_equal(read_gray_inside(data, "inner.png", 32), expected)  # a link that stays inside
    assert read_gray_inside(data, "train/happy/missing.png", 32) is None
    assert read_gray_inside(data, "train/happy", 32) is None  # a folder
    assert read_gray_inside(data, "x" * 5000, 32) is None  # name too long: no OSError escapes
    (data / "loop").symlink_to(data / "loop")
    assert read_gray_inside(data, "loop", 32) is None


def test_resize_square_uses_area_when_shrinking_and_linear_when_growing():
    image = np.random.default_rng(5).integers(0, 256, (60, 40), dtype=np.uint8)
    assert np.array_equal(resize_square(image, 48), cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA))
    assert np.array_equal(resize_square(image, 80), cv2.resize(image, (80, 80), interpolation=cv2.INTER_LINEAR))
    small = image[:30, :30]
    assert np.array_equal(resize_square(small, 48), cv2.resize(small, (48, 48), interpolation=cv2.INTER_LINEAR))
    square = image[:40, :40]
    assert resize_square(square, 40) is square  # already the right size: untouched


def test_decode_gray_refuses_what_is_not_an_image():
    assert decode_gray(b"", 48) is None
    assert decode_gray(b"GIF89a" + b"\0" * 30, 48) is None
    ok, png = cv2.imencode(".png", np.full((10, 20), 77, np.uint8))
    assert np.array_equal(decode_gray(png.tobytes(), 16), np.full((16, 16), 77, np.uint8))


def test_summary_lists_everything_that_was_skipped(data, tmp_path):
    shutil.rmtree(data / "train" / "disgust")
    (data / "train" / "sad" / "broken.png").write_bytes(b"\x89PNG broken")
    (data / "train" / "notes.txt").write_text("x")
    src = next((data / "train" / "happy").glob("*.png"))
    shutil.copy(src, data / "train" / "happy" / "zz_copy.png")
    summary = load_split(data, "train", 40, cache_dir=tmp_path / "c").summary()
    assert summary == {
        "split": "train", "images": 19, "image_size": 40,
        "counts": {**{e: 3 for e in EMOTIONS}, "disgust": 0, "happy": 4},
        "unreadable": ["train/sad/broken.png"], "duplicate_groups": [[f"train/happy/{src.name}", "train/happy/zz_copy.png"]],
        "ignored": ["train/notes.txt"], "missing_classes": ["disgust"], "from_cache": False,
    }
    cached = load_split(data, "train", 40, cache_dir=tmp_path / "c")
    assert cached.summary() == {**summary, "from_cache": True}  # the cache keeps every list
    assert np.array_equal(cached.labels, load_split(data, "train", 40, use_cache=False).labels)


def test_the_cache_file_is_named_by_split_size_and_key(data, tmp_path):
    load_split(data, "test", 40, cache_dir=tmp_path / "c")
    key = cache_key(scan_split(data, "test"), 40)
    assert [p.name for p in (tmp_path / "c").iterdir()] == [f"test-40px-{key}.npz"]
    assert len(key) == 24
    load_split(data, "test", 40, cache_dir=tmp_path / "none", use_cache=False)
    assert not (tmp_path / "none").exists()  # use_cache=False writes nothing


def test_cache_key_covers_split_size_label_and_name(data):
    scan = scan_split(data, "train")
    base = cache_key(scan, 48)
    assert cache_key(scan, 48) == base and cache_key(scan, 64) != base
    assert cache_key(scan_split(data, "test"), 48) != base
    relabelled = type(scan)(scan.split, scan.root, [type(f)(f.path, (f.label + 1) % 7) for f in scan.files])
    assert cache_key(relabelled, 48) != base
    renamed = data / "train" / "happy" / "happy_0000.png"
    renamed.rename(renamed.with_name("happy_renamed.png"))
    assert cache_key(scan_split(data, "train"), 48) != base
    vanished = scan_split(data, "train")
    (data / "train" / "happy" / "happy_renamed.png").unlink()
    assert cache_key(vanished, 48) != cache_key(scan_split(data, "train"), 48)


def test_an_unwritable_cache_only_costs_the_cache(data, tmp_path):
    (tmp_path / "file").write_text("x")
    split = load_split(data, "test", 48, cache_dir=tmp_path / "file" / "cache")
    assert len(split.labels) == 14 and not split.from_cache


def test_a_split_where_nothing_decodes_is_an_error(data, tmp_path):
    for f in (data / "test").rglob("*.png"):
        f.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"No readable image in .*test: all 14 files failed to decode"):
        load_split(data, "test", 48, cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="Image size 7 is too small"):
        load_split(data, "train", 7, cache_dir=tmp_path / "c")


def test_scan_ignores_hidden_entries_and_lists_strays(data):
    (data / "train" / ".DS_Store").write_text("x")
    (data / "train" / "happy" / "._happy_0000.png").write_bytes(b"\0\5\26\7 AppleDouble")  # macOS metadata
    (data / "train" / "happy" / "notes.md").write_text("x")
    (data / "train" / "stray.png").write_bytes(b"x")
    scan = scan_split(data, "train")
    assert sorted(p.name for p in scan.ignored) == ["notes.md", "stray.png"]
    assert len(scan.files) == 21 and scan.missing_classes == []
    assert scan.counts() == {e: 3 for e in EMOTIONS}
    assert [f.label for f in scan.files] == sorted(f.label for f in scan.files)  # class by class, in label order


def test_a_split_without_emotion_folders_is_an_error(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match=f"Split folder {tmp_path / 'train'} has no emotion folders"):
        scan_split(tmp_path, "train")


def test_cross_split_duplicates_pairs_identical_pixels(data, tmp_path):
    shutil.copy(data / "train/happy/happy_0000.png", data / "test/happy/leak.png")
    train = load_split(data, "train", 48, cache_dir=tmp_path / "c")
    test = load_split(data, "test", 48, cache_dir=tmp_path / "c")
    assert cross_split_duplicates(train, test) == [("train/happy/happy_0000.png", "test/happy/leak.png")]


def test_pixel_stats_per_class():
    from emotion_core.data.dataset import SplitData, pixel_stats

    images = np.zeros((3, 2, 2), np.uint8)
    images[0] = [[0, 255], [255, 255]]  # angry: 1 dark, 3 bright
    images[1] = 100
    images[2] = 200  # both happy
    rows, histograms = pixel_stats(SplitData("train", images, np.array([0, 3, 3]), ["a", "b", "c"]))
    assert rows == [
        {"emotion": "angry", "images": 1, "mean": 191.25, "std": pytest.approx(110.418, abs=1e-3),
         "dark (<32) %": 25.0, "bright (>223) %": 75.0},
        {"emotion": "happy", "images": 2, "mean": 150.0, "std": 50.0, "dark (<32) %": 0.0, "bright (>223) %": 0.0},
    ]
    assert set(histograms) == {"angry", "happy"} and histograms["happy"][100] == 0.5 and histograms["happy"].sum() == 1
