"""Crafted image files for the robustness tests."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid all-black 8-bit gray PNG: under 1 MB of file, width*height bytes once decoded."""
    rows_per_block = 256
    block = (b"\x00" + bytes(width)) * rows_per_block  # filter byte 0 + a row of zeros
    packer = zlib.compressobj(9)
    parts = []
    for start in range(0, height, rows_per_block):
        n = min(rows_per_block, height - start)
        parts.append(packer.compress(block if n == rows_per_block else block[: n * (width + 1)]))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
