"""Data loading: scan `<root>/{train,test}/<emotion>/`, decode to gray, resize, cache.

Layout users bring::

    <root>/train/<emotion>/*.png|jpg|jpeg|bmp
    <root>/test/<emotion>/*

Class folders are matched case-insensitively to the 7 FER-2013 emotions
(`labels.EMOTIONS`, also 'anger' etc.). Unreadable images are skipped and
listed, never fatal; layout mistakes raise `DataError` naming the path.
Decoded splits are cached as `.npz` (allow_pickle=False) keyed by the file
list, file sizes and mtimes and the image size, so a changed folder rebuilds.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from emotion_core import atomic
from emotion_core.data.images import ImageRefused, check_image_bytes
from emotion_core.labels import EMOTIONS, canonical_emotion
from emotion_core.paths import default_cache_dir

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
SPLITS = ("train", "test")
DEFAULT_IMAGE_SIZE = 48
CACHE_VERSION = 1
_CHUNK = 256  # files per decoding task

ProgressFn = Callable[[int, int], None]  # (done, total)


class DataError(ValueError):
    """The data set layout is wrong; the message names the offending path."""


@dataclass(frozen=True)
class ImageFile:
    """One image file of a split with its label index."""

    path: Path
    label: int


@dataclass
class SplitScan:
    """The files of one split, found without decoding anything."""

    split: str
    root: Path
    files: list[ImageFile]
    ignored: list[Path] = field(default_factory=list)  # non-image files and stray entries
    missing_classes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {e: 0 for e in EMOTIONS}
        for f in self.files:
            counts[EMOTIONS[f.label]] += 1
        return counts


@dataclass
class SplitData:
    """A decoded split: images (N, S, S) uint8 gray, labels (N,) int64."""

    split: str
    images: np.ndarray
    labels: np.ndarray
    paths: list[str]  # relative to the data root, aligned with images
    unreadable: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)  # groups of byte-identical files
    ignored: list[str] = field(default_factory=list)
    missing_classes: list[str] = field(default_factory=list)
    image_size: int = DEFAULT_IMAGE_SIZE
    from_cache: bool = False

    def counts(self) -> dict[str, int]:
        bincount = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {e: int(bincount[i]) for i, e in enumerate(EMOTIONS)}

    def summary(self) -> dict:
        """JSON-ready summary: counts per class, skipped files, duplicates."""
        return {
            "split": self.split,
            "images": int(len(self.labels)),
            "image_size": self.image_size,
            "counts": self.counts(),
            "unreadable": list(self.unreadable),
            "duplicate_groups": [list(g) for g in self.duplicates],
            "ignored": list(self.ignored),
            "missing_classes": list(self.missing_classes),
            "from_cache": self.from_cache,
        }


def scan_split(root: str | os.PathLike, split: str) -> SplitScan:
    """List the image files of `<root>/<split>/<emotion>/`; DataError on a bad layout or an unreadable folder."""
    try:
        return _scan_split(Path(root), split)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        where = getattr(exc, "filename", None) or root
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DataError(f"Cannot read {where}: {reason}.") from None


def _scan_split(root: Path, split: str) -> SplitScan:
    if not root.is_dir():
        raise DataError(f"Data root {root} does not exist or is not a folder.")
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(
            f"Missing split folder {split_dir}: expected {root}/{split}/<emotion>/ "
            f"with one folder per emotion ({', '.join(EMOTIONS)})."
        )
    files: list[ImageFile] = []
    ignored: list[Path] = []
    seen: dict[str, Path] = {}
    for child in sorted(split_dir.iterdir()):
        if child.name.startswith("."):
            continue
        if not child.is_dir():
            ignored.append(child)
            continue
        emotion = canonical_emotion(child.name)
        if emotion is None:
            raise DataError(
                f"Unknown class folder {child}: folder names must be one of "
                f"{', '.join(EMOTIONS)} (case-insensitive; 'anger' is accepted for angry)."
            )
        if emotion in seen:
            raise DataError(f"Class folders {seen[emotion]} and {child} both mean '{emotion}'.")
        seen[emotion] = child
        label = EMOTIONS.index(emotion)
        class_files = []
        for entry in sorted(child.iterdir()):
            if entry.name.startswith("."):
                continue  # hidden, e.g. macOS "._x.png" metadata next to each image of an unzipped set
            if entry.is_file() and entry.suffix.lower() in IMAGE_EXTENSIONS:
                class_files.append(ImageFile(entry, label))
            else:
                ignored.append(entry)
        if not class_files:
            raise DataError(
                f"Class folder {child} is empty: it holds no .png, .jpg, .jpeg or .bmp images."
            )
        files.extend(class_files)
    if not seen:
        raise DataError(f"Split folder {split_dir} has no emotion folders ({', '.join(EMOTIONS)}).")
    missing = [e for e in EMOTIONS if e not in seen]
    return SplitScan(split, root, files, ignored, missing)


def decode_gray(data: bytes, size: int) -> np.ndarray | None:
    """Decode image bytes to a (size, size) uint8 gray array; None if not a decodable image.

    Unknown headers and images over `images.MAX_PIXELS` are refused before decoding.
    """
    try:
        check_image_bytes(data)
    except ImageRefused:
        return None
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        return None
    if image is None or image.size == 0:
        return None
    return resize_square(image, size)


def read_gray_inside(root: Path, relative: str, size: int) -> np.ndarray | None:
    """Decode `root/relative` as gray (size, size); None when unreadable or when it resolves outside `root`."""
    try:
        root = Path(root).resolve()
        path = (root / relative).resolve()
        if root not in path.parents or not path.is_file():
            return None
        return decode_gray(path.read_bytes(), size)
    except (OSError, RuntimeError, ValueError):  # RuntimeError: symlink loop (Python 3.11)
        return None


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D image to (size, size): area filter when shrinking, linear when growing."""
    if image.shape[:2] == (size, size):
        return image
    shrinking = image.shape[0] > size or image.shape[1] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _decode_chunk(files: list[ImageFile], size: int) -> list[tuple[np.ndarray | None, str]]:
    """Decode files; return (image or None, md5 of the bytes) per file."""
    out = []
    for f in files:
        try:
            data = f.path.read_bytes()
        except OSError:
            out.append((None, ""))
            continue
        out.append((decode_gray(data, size), hashlib.md5(data).hexdigest()))
    return out


def cache_key(scan: SplitScan, size: int) -> str:
    """Hash of the file list, sizes, mtimes and image size: any change rebuilds the cache."""
    h = hashlib.sha256(f"v{CACHE_VERSION}:{scan.split}:{size}\n".encode())
    for f in scan.files:
        try:
            st = f.path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:  # vanished since the scan: it will be listed as unreadable
            size, mtime = -1, -1
        rel = f.path.relative_to(scan.root).as_posix()
        h.update(f"{rel}\t{f.label}\t{size}\t{mtime}\n".encode())
    return h.hexdigest()[:24]


def _cache_path(cache_dir: Path, scan: SplitScan, size: int) -> Path:
    return cache_dir / f"{scan.split}-{size}px-{cache_key(scan, size)}.npz"


def _save_cache(path: Path, data: SplitData) -> None:
    """Write the cache atomically (temp file then rename); a failure only costs the cache."""
    groups = [(i, p) for i, g in enumerate(data.duplicates) for p in g]
    arrays = {
        "images": data.images,
        "labels": data.labels,
        "paths": np.array(data.paths, dtype=str),
        "unreadable": np.array(data.unreadable, dtype=str),
        "ignored": np.array(data.ignored, dtype=str),
        "missing_classes": np.array(data.missing_classes, dtype=str),
        "dup_group": np.array([g for g, _ in groups], dtype=np.int64),
        "dup_path": np.array([p for _, p in groups], dtype=str),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError:
        pass


def _load_cache(path: Path, split: str, size: int) -> SplitData | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            groups: dict[int, list[str]] = defaultdict(list)
            for g, p in zip(z["dup_group"].tolist(), z["dup_path"].tolist()):
                groups[g].append(p)
            return SplitData(
                split=split,
                images=z["images"],
                labels=z["labels"],
                paths=z["paths"].tolist(),
                unreadable=z["unreadable"].tolist(),
                duplicates=[groups[k] for k in sorted(groups)],
                ignored=z["ignored"].tolist(),
                missing_classes=z["missing_classes"].tolist(),
                image_size=size,
                from_cache=True,
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # a broken cache file is rebuilt, never fatal


def load_split(
    root: str | os.PathLike,
    split: str,
    image_size: int = DEFAULT_IMAGE_SIZE,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> SplitData:
    """Decode one split to gray (image_size, image_size) arrays, using the `.npz` cache."""
    if image_size < 8:
        raise DataError(f"Image size {image_size} is too small (need at least 8 pixels).")
    scan = scan_split(root, split)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_file = _cache_path(cache_dir, scan, image_size)
    if use_cache and cache_file.is_file():
        cached = _load_cache(cache_file, split, image_size)
        if cached is not None:
            if progress:
                progress(len(scan.files), len(scan.files))
            return cached

    chunks = [scan.files[i : i + _CHUNK] for i in range(0, len(scan.files), _CHUNK)]
    workers = workers or min(8, (os.cpu_count() or 2) + 2)
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    unreadable: list[str] = []
    by_hash: dict[str, list[str]] = defaultdict(list)
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:  # cv2 releases the GIL
        for chunk, decoded in zip(chunks, pool.map(lambda c: _decode_chunk(c, image_size), chunks)):
            for f, (image, digest) in zip(chunk, decoded):
                rel = f.path.relative_to(scan.root).as_posix()
                if image is None:
                    unreadable.append(rel)
                    continue
                images.append(image)
                labels.append(f.label)
                paths.append(rel)
                by_hash[digest].append(rel)
            done += len(chunk)
            if progress:
                progress(done, len(scan.files))

    stacked = (np.stack(images) if images else np.zeros((0, image_size, image_size), np.uint8))
    data = SplitData(
        split=split,
        images=stacked,  # (N, S, S) uint8
        labels=np.asarray(labels, dtype=np.int64),
        paths=paths,
        unreadable=unreadable,
        duplicates=[g for g in by_hash.values() if len(g) > 1],
        ignored=[p.relative_to(scan.root).as_posix() for p in scan.ignored],
        missing_classes=scan.missing_classes,
        image_size=image_size,
    )
    if not images:
        raise DataError(f"No readable image in {scan.root / split}: all {len(unreadable)} files failed to decode.")
    if use_cache:
        _save_cache(cache_file, data)
    return data


def pixel_stats(data: SplitData) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Per class: a row of intensity statistics and a normalised 256-bin histogram (classes without images left out)."""
    rows, histograms = [], {}
    for label, emotion in enumerate(EMOTIONS):
        images = data.images[data.labels == label]
        if len(images) == 0:
            continue
        rows.append({"emotion": emotion, "images": len(images), "mean": float(images.mean()),
                     "std": float(images.std()), "dark (<32) %": float((images < 32).mean() * 100),
                     "bright (>223) %": float((images > 223).mean() * 100)})
        histograms[emotion] = np.bincount(images.ravel(), minlength=256) / images.size
    return rows, histograms


def quick_summary(root: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Counts per split and class from file names alone (no decoding); raises DataError."""
    return {split: scan_split(root, split).counts() for split in SPLITS}


def cross_split_duplicates(a: SplitData, b: SplitData) -> list[tuple[str, str]]:
    """Pairs of pixel-identical decoded images across two splits (train/test leakage)."""
    def digests(d: SplitData) -> dict[str, str]:
        return {hashlib.md5(img.tobytes()).hexdigest(): p for img, p in zip(d.images, d.paths)}
    da, db = digests(a), digests(b)
    return [(da[k], db[k]) for k in da.keys() & db.keys()]
