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
    from emotion_core.data.dataset import SPLITS, cross_split_duplicates, load_split

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
    from emotion_core.training.train import TrainConfig, resume, train, train_created

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
    from emotion_core.evaluation.evaluate import evaluate_model_dir

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
    from emotion_core.serving.export import export_all
    from emotion_core.serving.model_files import load_keras_model

    from emotion_core.runs import RunDir

    run = RunDir(args.run)
    source = Path(args.model) if args.model else (run.best_model if run.best_model.exists() else run.keras_model)
    model = load_keras_model(source)
    out = Path(args.out) if args.out else run.path
    out.mkdir(parents=True, exist_ok=True)
    for kind, path in export_all(model, out, int8_weights=args.int8_weights).items():
        print(f"{kind:12s} {path}")
    return 0


def media_inputs(paths: list[str]) -> list[str]:
    """The files given, with every folder replaced by its image and video files (recursive, sorted, hidden
    files and folders skipped)."""
    from emotion_core.data.dataset import IMAGE_EXTENSIONS
    from emotion_core.media.video import VIDEO_EXTENSIONS

    wanted = IMAGE_EXTENSIONS | set(VIDEO_EXTENSIONS)
    found: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            found.append(given)
    return found


def is_video(path: str) -> bool:
    from emotion_core.media.video import VIDEO_EXTENSIONS

    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def cmd_predict(args: argparse.Namespace) -> int:
    from emotion_core import atomic
    from emotion_core.media.face_table import CLI_COLUMNS, csv_text

    inputs = media_inputs(args.inputs)
    if not inputs:
        print("error: no image or video files found in the given folders", file=sys.stderr)
        return 2
    if args.cropped and any(map(is_video, inputs)):
        print("error: --cropped is for images that are face crops; videos are analysed with face detection "
              "(leave out --cropped or the videos)", file=sys.stderr)
        return 2
    from emotion_core.serving.pipeline import EmotionPipeline

    pipeline = EmotionPipeline.from_run(Path(args.run) if args.run else None, detector=args.detector,
                                        align=args.align)
    names = annotated_names(inputs)
    results: dict[str, object] = {}
    rows: list[tuple] = []
    status = 0
    for path in inputs:
        try:
            if is_video(path):
                results[path] = _predict_video(pipeline, path, Path(args.out) / names[path], args, rows)
            else:
                results[path] = _predict_image(pipeline, path, Path(args.out) / names[path], args, rows)
        except ValueError as exc:  # ImageRefused, VideoRefused: this input only
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
    if args.csv:
        atomic.write_bytes(args.csv, csv_text(rows, CLI_COLUMNS).encode())
        if not args.json:
            print(f"{len(rows)} face row(s) -> {args.csv}")
    if args.json:
        print(json.dumps(results, indent=2))
    return status


def _predict_image(pipeline, path: str, annotated: Path, args: argparse.Namespace, rows: list[tuple]) -> list[dict]:
    """One image: faces printed (unless --json), rows added, the annotated copy written; the faces as dicts."""
    import cv2

    from emotion_core.media.face_table import face_values
    from emotion_core.serving.pipeline import read_image

    frame = read_image(path)
    if args.cropped:  # the whole image is the face: nothing to draw
        faces = [pipeline.process_cropped(frame)]
        if not args.json:
            print(f"{path}: {faces[0].label} {faces[0].probability:.2f}")
    else:
        faces = pipeline.process(frame)
        annotated.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(annotated), pipeline.annotate(frame, faces, names=[str(i) for i in range(len(faces))]))
        if not args.json:
            print(f"{path}: {len(faces)} face(s) -> {annotated}")
            for i, r in enumerate(faces):
                x, y, w, h = r.box
                print(f"  face {i}: box ({x}, {y}, {w}, {h})  {r.label} {r.probability:.2f}")
    rows += [(path, None, None, *face_values(f)) for f in faces]
    return [f.to_dict() for f in faces]


def _predict_video(pipeline, path: str, annotated: Path, args: argparse.Namespace, rows: list[tuple]) -> dict:
    """One video: progress on stderr, a summary line, rows added, the annotated MP4 written; the analysis as a dict."""
    from emotion_core.media.video_analysis import analyse_video

    annotated.parent.mkdir(parents=True, exist_ok=True)
    report = _progress_printer(Path(path).name[:24])
    result = analyse_video(path, pipeline, every=args.every, annotated=annotated,
                           progress=lambda p: report(p.frames_done, max(p.frames_total, p.frames_done)))
    rows += [(path, *row) for row in result.rows]
    if result.problem:
        print(f"{path}: warning: {result.problem}", file=sys.stderr)
    if not args.json:
        tracks = result.tracks()
        people = "; ".join(f"track {t.track} {t.dominant} {t.share:.0%} of {t.frames}" for t in tracks[:5])
        print(f"{path}: {result.frames_read} frames, {result.frames_analysed} analysed in {result.seconds:.1f} s, "
              f"{len(tracks)} track(s){': ' + people if people else ''}"
              + (f" -> {result.annotated_path}" if result.annotated_path else ""))
    return result.to_json()


def annotated_names(paths: list[str]) -> dict[str, str]:
    """Output file name per input: `x_annotated.png` (`.mp4` for videos); `x_jpg_annotated.png` when two inputs
    share the stem x."""
    stems = [Path(p).stem for p in paths]
    return {p: (f"{Path(p).stem}_{Path(p).suffix.lstrip('.')}" if stems.count(Path(p).stem) > 1 else Path(p).stem)
            + ("_annotated.mp4" if is_video(p) else "_annotated.png") for p in paths}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from emotion_core import options
    from emotion_core.data.dataset import DEFAULT_IMAGE_SIZE
    from emotion_core.serving.detect import DEFAULT_DETECTOR, DETECTORS
    from emotion_core.serving.pipeline import ALIGN_BY_DEFAULT
    from emotion_core.training.train import TrainConfig

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
    ev.add_argument("--split", default="test", choices=["train", "test", "validation"],
                    help="validation: the run's hold-out of train, for comparing candidates (default test)")
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--cache-dir", default=None)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser("export", help="write model.keras, saved_model/ and model.tflite for a run")
    ex.add_argument("--run", required=True)
    ex.add_argument("--model", help=".keras file to export (default: the run's best.keras)")
    ex.add_argument("--out", help="output directory (default: the run directory)")
    ex.add_argument("--int8-weights", action="store_true",
                    help="store the TFLite file's weights as int8 (dynamic-range quantization: about a quarter "
                    "of the size, computed in float32; compare it on validation data before serving it)")
    ex.set_defaults(func=cmd_export)

    pr = sub.add_parser("predict", help="detect faces and classify emotions in images and videos")
    pr.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="image files, video files (mp4, mov, webm, avi, mkv) and folders (searched recursively)")
    pr.add_argument("--run", help="run directory (default: models/default)")
    pr.add_argument("--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR,
                    help="; ".join(f"{k}: {v}" for k, v in DETECTORS.items()))
    pr.add_argument("--align", action=argparse.BooleanOptionalAction, default=ALIGN_BY_DEFAULT,
                    help="turn each face so the eyes are level (BlazeFace detectors)")
    pr.add_argument("--cropped", action="store_true",
                    help="each image is one face (data-set images, crops from other tools): no detection")
    pr.add_argument("--every", type=positive_int, default=1, metavar="N",
                    help="videos: analyse every Nth frame (default 1: every frame)")
    pr.add_argument("--out", default="predictions", help="folder for annotated images and MP4 videos")
    pr.add_argument("--csv", metavar="FILE", help="write one row per face (per analysed frame for videos)")
    pr.add_argument("--json", action="store_true", help="print results as JSON")
    pr.set_defaults(func=cmd_predict)
    return p


def main(argv: list[str] | None = None) -> int:
    from emotion_core.data.dataset import DataError
    from emotion_core.runs import RunError
    from emotion_core.serving.model_files import ModelLoadError

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
