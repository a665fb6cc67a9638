"""Copy a finished run into models/default (the served model) and write its model card.

    .venv/bin/python scripts/package_model.py runs/<id> [--out models/default] [--flip-tta] [--zoom-tta F]
        [--int8-weights]

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
         "status", "model_selection")


def reproduce_command(config: dict) -> str:
    """The `train` command that rebuilds a run from its config.json, one flag per line."""
    from emotion_core.options import command_line
    from emotion_core.training.train import TrainConfig

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


def package_flags(serving: dict, weights: str = "float32") -> str:
    flags = " --flip-tta" if serving.get("flip_tta") else ""
    flags += f" --zoom-tta {serving['zoom_tta']}" if serving.get("zoom_tta") else ""
    return flags + (" --int8-weights" if weights == "int8" else "")


def evaluate_served(out: Path, config: dict) -> None:
    """Re-evaluate the model as served (TFLite, serving options) on the test split; rewrite its reports."""
    from emotion_core.evaluation.evaluate import evaluate_model_dir, write_reports

    data_root = Path(config["data_root"])
    write_reports(out, evaluate_model_dir(out, data_root if data_root.is_absolute() else ROOT / data_root))


def latency_per_face(model_dir: Path, repeats: int = 200) -> dict:
    import numpy as np

    from emotion_core.serving.inference import Classifier

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


CARD_TEMPLATE = Path(__file__).with_name("model_card.md")
WEIGHTS_TEXT = {"float32": "float32 weights",
                "int8": "weights stored as int8, computed in float32: `export --int8-weights`"}


def detection_ms(repeats: int = 30) -> tuple[str, float]:
    """The default face detector's median time on a 640x480 frame with one face."""
    import cv2
    import numpy as np
    from skimage import data

    from emotion_core.serving.detect import DEFAULT_DETECTOR, make_detector
    from emotion_core.serving.faces import to_gray
    from emotion_core.serving.pipeline import find_faces
    from emotion_core.serving.tracker import FaceTracker

    frame = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (480, 480))
    frame = cv2.copyMakeBorder(frame, 0, 0, 80, 80, cv2.BORDER_CONSTANT)  # 640x480, the astronaut in the middle
    detector, gray, times = make_detector(DEFAULT_DETECTOR), to_gray(frame), []
    tracker = FaceTracker()  # as a Live session runs it: a stream of frames
    for _ in range(repeats):
        start = time.perf_counter()
        faces = find_faces(detector, frame, gray, tracker=tracker)
        times.append((time.perf_counter() - start) * 1000)
        tracker.update([f.box for f in faces], np.zeros((len(faces), 7), np.float32))
    return DEFAULT_DETECTOR, float(np.median(times))


def card_values(out: Path, config: dict, metrics: dict, rows: list[dict], latency: dict, detection: tuple[str, float],
                counts: dict[str, dict[str, int]], source: Path, hardware: str) -> dict[str, str]:
    """Every number and table of the model card, computed from the run, its reports and its data set."""
    cm = json.loads(RunDir(out).confusion_matrix.read_text())
    labels = cm["labels"]
    best = max(rows, key=lambda r: r.get("val_accuracy", 0)) if rows else {}
    from emotion_core.serving.export import tflite_weights
    from emotion_core.serving.model_files import load_keras_model

    try:
        params = f"{load_keras_model(RunDir(out).keras_model).count_params():,}"
    except Exception:  # noqa: BLE001 - the card still gets written
        params = "(model.keras unreadable)"
    weights = tflite_weights(RunDir(out).tflite_model)
    selection = RunDir(out).model_selection  # written by whoever chose the model: what won, what was tried
    train_counts = counts["train"]
    rarest = min(train_counts, key=train_counts.get)
    return {
        "variant": config["variant"].upper(), "params": params, "size": str(config["image_size"]),
        "strides": str(tuple(config["strides"])), "labels": ", ".join(labels),
        "serving": tta_text(config.get("serving", {})),
        "data_name": "FER-2013 (Goodfellow et al., 2013)" if "fer2013" in str(config["data_root"]).lower()
        else f"`{config['data_root']}`",
        "train_images": f"{sum(train_counts.values()):,}", "test_images": f"{sum(counts['test'].values()):,}",
        "val_percent": f"{100 * config['val_fraction']:.0f}", "rarest": rarest, "rarest_count": f"{train_counts[rarest]:,}",
        "learning_rate": str(config["learning_rate"]), "warmup": str(config["warmup_epochs"]),
        "schedule": config["schedule"], "batch_size": str(config["batch_size"]), "epochs": str(config["epochs"]),
        "patience": str(config["patience"]), "best_epoch": str(int(best.get("epoch", 0))),
        "best_val": f"{best.get('val_accuracy', float('nan')):.4f}", "label_smoothing": str(config["label_smoothing"]),
        "class_weights": str(config["class_weights"]), "dropout": str(config["dropout"]),
        "augment": json.dumps(config.get("augment", {})), "hardware": hardware,
        "minutes": f"{sum(r.get('seconds', 0) for r in rows) / 60:.0f}", "epochs_run": str(len(rows)),
        "package_flags": package_flags(config.get("serving", {}), weights), "reproduce": reproduce_command(config),
        "test_support": f"{metrics['support']:,}", "accuracy": f"{metrics['accuracy']:.4f}",
        "macro_f1": f"{metrics['macro']['f1']:.4f}", "weighted_f1": f"{metrics['weighted']['f1']:.4f}",
        "per_class": "\n".join(f"| {e} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
                               for e, m in metrics["per_class"].items()),
        "label_header": " | ".join(labels), "label_rule": "---|" * len(labels),
        "cm_rows": "\n".join(f"| **{labels[i]}** | " + " | ".join(str(v) for v in row) + " |"
                             for i, row in enumerate(cm["matrix"])),
        "cores": str(os.cpu_count()), "one_face": f"{latency[1][0]:.2f} / {latency[1][1]:.2f} ms",
        "four_faces": f"{latency[4][0]:.2f} / {latency[4][1]:.2f} ms", "detector": detection[0],
        "detect_ms": f"{detection[1]:.1f}", "source": source.name,
        "tflite_weights": WEIGHTS_TEXT[weights],
        "selection": selection.read_text().strip() if selection.is_file() else
        "Not recorded: write what was compared on the validation hold-out in MODEL_SELECTION.md and package again.",
    }


def write_card(out: Path, values: dict[str, str]) -> None:
    """MODEL_CARD.md from scripts/model_card.md; a placeholder without a value is an error, never left in."""
    from string import Template

    (out / "MODEL_CARD.md").write_text(Template(CARD_TEMPLATE.read_text()).substitute(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--flip-tta", action="store_true", help="serve with horizontal-flip test-time augmentation")
    parser.add_argument("--hardware", default=f"{os.cpu_count()} CPU cores, no GPU",
                        help="what the run was trained on, for the model card (default: this machine)")
    parser.add_argument("--zoom-tta", type=float, default=0.0,
                        help="also average the central part of each face (e.g. 0.9; choose it on validation data)")
    parser.add_argument("--int8-weights", action="store_true",
                        help="serve a TFLite file with int8 weights, converted from the run's saved_model "
                        "(compare it on validation data first)")
    args = parser.parse_args()
    from dashboard.charts import confusion_heatmap
    from emotion_core.runs import read_metrics
    from emotion_core.serving.export import saved_model_to_tflite

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    source, served = RunDir(args.run), RunDir(out)
    in_place = args.run.resolve() == out.resolve()  # re-package the served model with other serving options
    for name in FILES if not in_place else ():
        if getattr(source, name).is_file():
            shutil.copy2(getattr(source, name), getattr(served, name))
    if args.int8_weights:
        saved_model_to_tflite(source.saved_model, served.tflite_model, int8_weights=True)
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
    from emotion_core.data.dataset import quick_summary

    data_root = Path(config["data_root"]) if Path(config["data_root"]).is_absolute() else ROOT / config["data_root"]
    values = card_values(out, config, metrics, read_metrics(args.run), latency_per_face(out), detection_ms(),
                         quick_summary(data_root), args.run, args.hardware)
    write_card(out, values)
    print(f"packaged {args.run} -> {out}: accuracy {metrics['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
