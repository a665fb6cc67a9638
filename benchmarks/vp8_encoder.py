"""Live: what the VP8 encoder's speed settings would save on the server, and what they cost in picture.

The annotated video goes back to each browser through aiortc's VP8 encoder (libvpx through PyAV). This
encodes a webcam-like clip (the astronaut's head drifting a pixel a frame, camera noise of --noise gray levels,
new every frame; 640x480 YUV 4:2:0) with aiortc's own options (`aiortc/codecs/vpx.py`: realtime deadline,
CBR at its starting 500 kbit/s, one thread at this size) and with other `cpu-used` (-6 is aiortc's;
-16 the fastest) and `noise-sensitivity` (aiortc: 4, a temporal denoiser) values. Columns: encoder CPU ms
per frame (all threads, best of --rounds), bitrate, and the decoded picture's PSNR on the luma plane.

    python benchmarks/vp8_encoder.py [--frames 150] [--noise 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import resource
from fractions import Fraction

from benchmarks import _common
import cv2
import numpy as np

AIORTC_OPTIONS = {"bufsize": "500000", "cpu-used": "-6", "deadline": "realtime", "lag-in-frames": "0",
                  "minrate": "500000", "maxrate": "500000", "noise-sensitivity": "4", "overshoot-pct": "15",
                  "partitions": "0", "static-thresh": "1", "undershoot-pct": "100"}
SETTINGS = [(-6, 4), (-6, 0), (-10, 4), (-10, 0), (-16, 4), (-16, 0)]  # (cpu-used, noise-sensitivity)


def cpu_seconds() -> float:
    """This process's CPU time, every thread included (the encoder may use its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def encode(clip: list[np.ndarray], cpu_used: int, noise_sensitivity: int) -> dict:
    """Encode `clip` (I420 arrays, (H*3/2, W)) at these settings; decode it back to measure the picture."""
    import av

    height, width = clip[0].shape[0] * 2 // 3, clip[0].shape[1]
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.bit_rate, encoder.gop_size, encoder.qmin, encoder.qmax = 500_000, 3000, 2, 56  # as aiortc
    encoder.time_base = Fraction(1, 15)
    encoder.options = {**AIORTC_OPTIONS, "cpu-used": str(cpu_used), "noise-sensitivity": str(noise_sensitivity)}
    encoder.thread_count = 1  # aiortc's choice up to 640x480
    decoder = av.CodecContext.create("libvpx", "r")
    spent, size, psnr = 0.0, 0, []
    for index, planes in enumerate(clip):
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = index
        start = cpu_seconds()
        packets = encoder.encode(frame)
        spent += cpu_seconds() - start
        for packet in packets:
            size += packet.size
            for decoded in decoder.decode(packet):
                luma = decoded.to_ndarray(format="yuv420p")[:height].astype(np.float64)
                mse = np.mean((luma - planes[:height]) ** 2)
                psnr.append(10 * np.log10(255**2 / max(mse, 1e-9)))
    return {"cpu-used": cpu_used, "noise-sensitivity": noise_sensitivity, "ms/frame": 1000 * spent / len(clip),
            "kbit/s at 15 fps": size * 8 * 15 / len(clip) / 1000,
            "PSNR luma dB": float(np.mean(psnr[10:]))}  # after the first frames' rate control settles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--noise", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = _common.video_helpers().moving_faces(args.frames)
    clip = [cv2.cvtColor(np.clip(f + rng.normal(0, args.noise, f.shape), 0, 255).astype(np.uint8),
                         cv2.COLOR_BGR2YUV_I420) for f in frames]  # (H, W, 3) -> (H*3/2, W)
    rounds = [[encode(clip, *setting) for setting in SETTINGS] for _ in range(args.rounds)]
    rows = [min(column, key=lambda row: row["ms/frame"]) for column in zip(*rounds)]
    print(f"{len(clip)} frames 640x480, camera noise {args.noise} gray levels; best of {args.rounds} rounds\n")
    _common.print_table(rows)


if __name__ == "__main__":
    main()
