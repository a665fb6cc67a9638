"""Training throughput (images/s) per MobileViT variant and input size, on random data, on the device
training would use (the GPU when there is one) with the Keras backend of KERAS_BACKEND.

    python -m benchmarks.train_throughput [--variants xxs,xs,s] [--sizes 48,64] [--steps 10] [--batch-size 64]
    KERAS_BACKEND=jax python -m benchmarks.train_throughput --variants xs --sizes 64 --batch-size 128
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks import _common  # noqa: F401  (TF log level)
import numpy as np


def measure(variant: str, size: int, batch: int, steps: int) -> dict:
    import keras

    from emotion_core.model.mobilevit import build_mobilevit, compile_model
    from emotion_core.model.variants import plan_strides
    from emotion_core.training.hardware import plan

    hardware = plan()

    model = compile_model(build_mobilevit(variant, size))
    x = np.random.default_rng(0).random((batch * steps, size, size, 1)).astype("float32") * 255
    y = keras.utils.to_categorical(np.random.default_rng(1).integers(0, 7, batch * steps), 7)
    model.fit(x[: batch * 2], y[: batch * 2], batch_size=batch, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    return {"device": f"{hardware.device} ({hardware.devices[0]})", "backend": hardware.backend,
            "variant": variant.upper(), "input": size, "strides": str(plan_strides(size)),
            "params": f"{model.count_params():,}", "batch": batch, "images/s": len(x) / seconds,
            "ms/step": seconds / steps * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default="xxs,xs,s")
    parser.add_argument("--sizes", default="48,64")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one configuration, JSON out
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.batch_size, args.steps)))
        return
    # Each configuration runs in a fresh process: a model measured after another in the same
    # process ran up to 2x slower here, which would distort the ratios.
    rows = []
    for v in args.variants.split(","):
        for s in args.sizes.split(","):
            out = subprocess.run([sys.executable, __file__, "--one", v, s, "--batch-size", str(args.batch_size),
                                  "--steps", str(args.steps)], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]["images/s"]
    for r in rows:
        r["vs first"] = f"{r['images/s'] / base:.2f}x"
    _common.print_table(rows)


if __name__ == "__main__":
    main()
