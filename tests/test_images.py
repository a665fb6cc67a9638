"""Decompression bombs and other oversized images are refused before any pixel is decoded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.data import dataset as data_module
from emotion_core.data.images import MAX_PIXELS, ImageRefused, check_image_bytes, header_size
from emotion_core.serving import pipeline as pipeline_module
from tests.images_helpers import png_bomb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bomb() -> bytes:
    return png_bomb(30_000, 30_000)


@pytest.fixture
def imdecode_calls(monkeypatch) -> list:
    calls = []
    real = cv2.imdecode

    def counting(buffer, flags):
        calls.append(len(buffer))
        return real(buffer, flags)

    monkeypatch.setattr(cv2, "imdecode", counting)
    return calls


def test_bomb_header_is_read_without_decoding(bomb):
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageRefused, match="a decompression bomb"):
        header_size(bomb)
    with pytest.raises(ImageRefused, match=r"bomb.png is too large \(a decompression bomb; limit 40,000,000"):
        check_image_bytes(bomb, "bomb.png")


def test_pillows_warning_size_counts_as_a_bomb_even_under_a_higher_limit():
    """Above ~89 Mpx Pillow warns: that is refused too, whatever max_pixels a caller passes."""
    with pytest.raises(ImageRefused, match="decompression bomb"):
        check_image_bytes(png_bomb(10_000, 9_500), "big.png", max_pixels=500_000_000)


def test_the_pixel_limit_is_inclusive_and_tiny_images_pass():
    assert check_image_bytes(png_bomb(1000, 40), "x.png", max_pixels=40_000) == (1000, 40)
    with pytest.raises(ImageRefused, match="1000x41 pixels; limit 40,000 pixels"):
        check_image_bytes(png_bomb(1000, 41), "x.png", max_pixels=40_000)
    assert check_image_bytes(png_bomb(1, 1), "dot.png") == (1, 1)
    with pytest.raises(ImageRefused, match="empty.png is empty"):
        check_image_bytes(b"", "empty.png")
    with pytest.raises(ImageRefused, match="zero.png is not a readable image"):
        check_image_bytes(png_bomb(0, 5), "zero.png")


def test_upload_bomb_refused_before_decoding(bomb, imdecode_calls):
    with pytest.raises(ImageRefused, match="too large"):
        pipeline_module.decode_image_bytes(bomb, "bomb.png")
    assert imdecode_calls == []


def test_dataset_bomb_is_skipped_before_decoding(bomb, imdecode_calls):
    assert data_module.decode_gray(bomb, 48) is None
    assert imdecode_calls == []


@pytest.mark.parametrize("width, height", [(9000, 9000), (MAX_PIXELS // 1000 + 1, 1000)])
def test_images_over_the_pixel_limit_are_refused_below_pillows_own_limit(width, height, imdecode_calls):
    small_file = png_bomb(width, height)
    with pytest.raises(ImageRefused, match=f"{width}x{height}"):
        check_image_bytes(small_file, "big.png")
    assert data_module.decode_gray(small_file, 48) is None
    assert imdecode_calls == []


def test_unknown_header_is_refused_even_if_opencv_could_guess(imdecode_calls):
    hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + bytes([128, 128, 128, 129]) * 4
    assert cv2.imdecode(np.frombuffer(hdr, np.uint8), cv2.IMREAD_COLOR) is not None  # Radiance HDR: OpenCV only
    imdecode_calls.clear()
    with pytest.raises(ImageRefused, match="not a readable image"):
        pipeline_module.decode_image_bytes(hdr, "x.hdr")
    assert imdecode_calls == []


def test_a_normal_photo_still_decodes():
    photo = cv2.imencode(".jpg", np.full((480, 640, 3), 120, np.uint8))[1].tobytes()
    assert pipeline_module.decode_image_bytes(photo).shape == (480, 640, 3)
    assert data_module.decode_gray(photo, 48).shape == (48, 48)


def test_dataset_with_a_bomb_lists_it_as_unreadable(tiny_data, tmp_path, bomb):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    (root / "train" / "happy" / "bomb.png").write_bytes(bomb)
    split = data_module.load_split(root, "train", 48, cache_dir=tmp_path / "cache")
    assert "train/happy/bomb.png" in split.unreadable
    assert len(split.labels) == 56


def test_peak_memory_with_a_bomb_upload_stays_small(tmp_path, bomb):
    """In a fresh process: decoding the bomb through every entry point costs well under 100 MB."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    script = f"""
import resource
from emotion_core.data.dataset import decode_gray
from emotion_core.serving.pipeline import decode_image_bytes, read_image
data = open({str(path)!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for call in (lambda: decode_image_bytes(data, "bomb.png"), lambda: read_image({str(path)!r})):
    try:
        call()
    except ValueError:
        pass
assert decode_gray(data, 48) is None
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) < 100, f"peak grew by {out.stdout.strip()} MB"
