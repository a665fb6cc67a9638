"""Command line: `python -m emotion_core prepare|train|evaluate|export|predict ...`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _progress_printer(label: str):
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.time()
        if done == total or now - state["last"] > 1.0:
            state["last"] = now
            width = 30
            filled = int(width * done / max(total, 1))
            print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True,
                  file=sys.stderr)
            if done == total:
                print(file=sys.stderr)

    return report


def cmd_prepare(args: argparse.Namespace) -> int:
    """Scan, decode and cache the splits; print the summary."""
    from emotion_core.data import SPLITS, cross_split_duplicates, load_split

    summaries, loaded = {}, {}
    for split in SPLITS:
        data = load_split(args.data, split, args.image_size, args.cache_dir, use_cache=not args.no_cache,
                          progress=_progress_printer(f"{split:5s}"))
        loaded[split] = data
        summaries[split] = data.summary()
    summaries["train_test_duplicates"] = [list(p) for p in cross_split_duplicates(loaded["train"], loaded["test"])]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    for split in SPLITS:
        s = summaries[split]
        print(f"\n{split}: {s['images']} images at {s['image_size']}px{' (from cache)' if s['from_cache'] else ''}")
        for emotion, n in s["counts"].items():
            print(f"  {emotion:9s} {n:6d}")
        for key in ("unreadable", "ignored", "missing_classes"):
            if s[key]:
                print(f"  {key}: {len(s[key])}: {', '.join(s[key][:10])}{' ...' if len(s[key]) > 10 else ''}")
        if s["duplicate_groups"]:
            print(f"  duplicate groups: {len(s['duplicate_groups'])}")
    leaks = summaries["train_test_duplicates"]
    if leaks:
        print(f"\n{len(leaks)} test images also appear in train")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from emotion_core import options
    from emotion_core.train import TrainConfig, resume, train, train_created

    if args.resume:
        run_dir = resume(Path(args.resume))
    elif args.run_dir:
        run_dir = train_created(Path(args.run_dir))
    elif not args.data_root:
        print("error: --data is required (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    else:
        config = TrainConfig.from_dict(options.nest(options.values_from_args(args, TrainConfig)))
        run_dir = train(config, runs_dir=args.runs_dir, run_id=args.run_id)
    print(f"run directory: {run_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from emotion_core.evaluate import evaluate_model_dir

    report = evaluate_model_dir(Path(args.run), args.data, args.split, args.cache_dir, args.batch_size,
                                progress=_progress_printer(f"{args.split:5s}")).report
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.split}: {report['support']} images, accuracy {report['accuracy']:.4f}, "
          f"macro F1 {report['macro']['f1']:.4f}, weighted F1 {report['weighted']['f1']:.4f}")
    print(f"{'class':10s} {'precision':>9s} {'recall':>7s} {'f1':>7s} {'support':>8s}")
    for label, m in report["per_class"].items():
        print(f"{label:10s} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:7.3f} {m['support']:8d}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from emotion_core.export import export_all, load_keras_model

    run = Path(args.run)
    source = Path(args.model) if args.model else (run / "best.keras" if (run / "best.keras").exists() else run / "model.keras")
    model = load_keras_model(source)
    out = Path(args.out) if args.out else run
    out.mkdir(parents=True, exist_ok=True)
    for kind, path in export_all(model, out).items():
        print(f"{kind:12s} {path}")
    return 0


def image_inputs(paths: list[str]) -> list[str]:
    """The files given, with every folder replaced by its image files (recursive, sorted)."""
    from emotion_core.data import IMAGE_EXTENSIONS

    found: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            found.append(given)
    return found


def cmd_predict(args: argparse.Namespace) -> int:
    from emotion_core.pipeline import EmotionPipeline, read_image

    pipeline = EmotionPipeline.from_run(Path(args.run) if args.run else None, detector=args.detector,
                                        align=args.align)
    out_dir = Path(args.out)
    results_all = {}
    status = 0
    images = image_inputs(args.images)
    if not images:
        print("error: no image files found in the given folders", file=sys.stderr)
        return 2
    names = annotated_names(images)
    for image_path in images:
        try:
            frame = read_image(image_path)
        except ValueError as exc:
            print(f"{image_path}: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.cropped:  # the whole image is the face: nothing to draw
            result = pipeline.process_cropped(frame)
            results_all[image_path] = [result.to_dict()]
            if not args.json:
                print(f"{image_path}: {result.label} {result.probability:.2f}")
            continue
        results = pipeline.process(frame)
        results_all[image_path] = [r.to_dict() for r in results]
        out_dir.mkdir(parents=True, exist_ok=True)
        annotated_path = out_dir / names[image_path]
        import cv2
        cv2.imwrite(str(annotated_path), pipeline.annotate(frame, results))
        if not args.json:
            print(f"{image_path}: {len(results)} face(s) -> {annotated_path}")
            for i, r in enumerate(results):
                x, y, w, h = r.box
                print(f"  face {i}: box ({x}, {y}, {w}, {h})  {r.label} {r.probability:.2f}")
    if args.json:
        print(json.dumps(results_all, indent=2))
    return status


def annotated_names(paths: list[str]) -> dict[str, str]:
    """Output file name per input: `x_annotated.png`; `x_jpg_annotated.png` when two inputs share the stem x."""
    stems = [Path(p).stem for p in paths]
    return {p: (f"{Path(p).stem}_{Path(p).suffix.lstrip('.')}" if stems.count(Path(p).stem) > 1 else Path(p).stem)
            + "_annotated.png" for p in paths}


def build_parser() -> argparse.ArgumentParser:
    from emotion_core import options
    from emotion_core.data import DEFAULT_IMAGE_SIZE
    from emotion_core.detect import DEFAULT_DETECTOR, DETECTORS
    from emotion_core.pipeline import ALIGN_BY_DEFAULT
    from emotion_core.train import TrainConfig

    p = argparse.ArgumentParser(prog="python -m emotion_core", description="Facial emotion MobileViT: data, training, evaluation, export, prediction.")
    sub = p.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare", help="scan, decode and cache a data set; print its summary")
    prep.add_argument("--data", required=True, help="data root holding train/ and test/")
    prep.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    prep.add_argument("--cache-dir", default=None, help="where .npz caches go (default ~/.cache/emotion_dashboard)")
    prep.add_argument("--no-cache", action="store_true", help="decode again, ignoring and not writing the cache")
    prep.add_argument("--json", action="store_true", help="print the summary as JSON")
    prep.set_defaults(func=cmd_prepare)

    tr = sub.add_parser("train", help="train MobileViT; writes runs/<id>/")
    start = tr.add_mutually_exclusive_group()
    start.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped, interrupted or failed run")
    start.add_argument("--run-dir", metavar="RUN_DIR", help="train a run directory created by the Training page")
    options.add_arguments(tr, TrainConfig)
    tr.add_argument("--runs-dir", default=None, help="parent of run directories (default ./runs of the project)")
    tr.add_argument("--run-id", default=None)
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="confusion matrix and per-class metrics of a run on a split")
    ev.add_argument("--run", required=True, help="run directory (or models/default)")
    ev.add_argument("--data", required=True)
    ev.add_argument("--split", default="test", choices=["train", "test"])
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--cache-dir", default=None)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser("export", help="write model.keras, saved_model/ and model.tflite for a run")
    ex.add_argument("--run", required=True)
    ex.add_argument("--model", help=".keras file to export (default: the run's best.keras)")
    ex.add_argument("--out", help="output directory (default: the run directory)")
    ex.set_defaults(func=cmd_export)

    pr = sub.add_parser("predict", help="detect faces and classify emotions in images")
    pr.add_argument("images", nargs="+", help="image files and folders (searched recursively)")
    pr.add_argument("--run", help="run directory (default: models/default)")
    pr.add_argument("--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR,
                    help="; ".join(f"{k}: {v}" for k, v in DETECTORS.items()))
    pr.add_argument("--align", action=argparse.BooleanOptionalAction, default=ALIGN_BY_DEFAULT,
                    help="turn each face so the eyes are level (BlazeFace detectors)")
    pr.add_argument("--cropped", action="store_true",
                    help="each image is one face (data-set images, crops from other tools): no detection")
    pr.add_argument("--out", default="predictions", help="folder for annotated images")
    pr.add_argument("--json", action="store_true", help="print results as JSON")
    pr.set_defaults(func=cmd_predict)
    return p


def main(argv: list[str] | None = None) -> int:
    from emotion_core.data import DataError
    from emotion_core.export import ModelLoadError
    from emotion_core.runs import RunError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, ModelLoadError, RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, a vanished file: one line, no traceback
        from emotion_core.runs import describe_os_error

        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
