"""Plant each bug from issue #13's list, one at a time, and check that the tests catch it; prints a table.

    .venv/bin/python -m tests.planted_bugs [--only NAME]

Each bug is a one-line edit of the product code; the named tests run against
it (in this working tree), then the file is restored. Not part of CI: it shows
that the suite fails for the bugs it is meant to catch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name: (file, original text, planted text, tests that must fail)
BUGS = {
    "crop ignores the margin": ("emotion_core/serving/pipeline.py", "side = max(w, h) * (1 + 2 * margin)", "side = max(w, h)",
                                "tests/test_geometry.py"),
    "crop pads with black": ("emotion_core/serving/pipeline.py", 'np.pad(crop, pad, mode="edge")',
                             'np.pad(crop, pad, mode="constant")', "tests/test_geometry.py"),
    "boxes not scaled back": ("emotion_core/serving/detect.py", "fw, fh = int(round(bw / scale)), int(round(bh / scale))",
                              "fw, fh = int(bw), int(bh)", "tests/test_geometry.py"),
    "boxes not clipped": ("emotion_core/serving/detect.py", "boxes.append((fx, fy, min(fw, w - fx), min(fh, h - fy)))",
                          "boxes.append((fx, fy, fw, fh))", "tests/test_geometry.py"),
    "flip TTA mirrors vertically": ("emotion_core/serving/inference.py", "views.append(batch[:, :, ::-1])",
                                    "views.append(batch[:, ::-1])", "tests/test_predictions_depend_on_input.py"),
    "run-file writes not atomic": ("emotion_core/atomic.py", "        os.replace(tmp, path)\n",
                                   "        path.write_bytes(tmp.read_bytes())  # copied in place\n",
                                   "tests/test_run_control.py::test_readers_never_see_half_a_file"),
    "write_status drops fields": ("emotion_core/runs.py",
                                  'status = read_json(path, {}) or {}', "status = {}",
                                  "tests/test_runs.py::test_write_status_keeps_earlier_fields_and_stamps_the_time"),
    "cache key ignores mtime": ("emotion_core/data/dataset.py", "size, mtime = st.st_size, st.st_mtime_ns",
                                "size, mtime = st.st_size, 0",
                                "tests/test_run_control.py::test_cache_key_changes_when_a_file_changes_at_the_same_size"),
    "password accepts a prefix": ("dashboard/auth.py", "return hmac.compare_digest(given.encode(), expected.encode())",
                                  "return expected.startswith(given)", "tests/test_access.py"),
    "resume from fresh weights": ("emotion_core/training/train.py",
                                  'model = load_keras_model(files.last_model, compile=True)',
                                  'model = build_mobilevit(config.variant, config.image_size, '
                                  'strides=tuple(config.strides), dropout=config.dropout); '
                                  'compile_model(model, _learning_rate(config, steps), config.label_smoothing)',
                                  "tests/test_run_control.py::test_resume_continues_from_last_keras_and_a_kill_"
                                  "before_the_metrics_row_loses_no_epoch"),
    "--init-from ignored": ("emotion_core/training/train.py", "    if config.init_from:", "    if False:",
                            "tests/test_run_control.py::test_init_from_starts_from_the_source_model"),
    "data root checked by prefix": ("dashboard/settings.py", "if path == root or root in path.parents:",
                                    "if str(path).startswith(str(root)):", "tests/test_os_errors.py"),
    "early stopping never fires": ("emotion_core/training/callbacks.py",
                                   'if self.patience and self.state["wait"] >= self.patience:',
                                   "if False:", "tests/test_run_control.py::test_early_stopping_fires_after_patience_epochs_without_improvement"),
    "tracker smoothing off": ("emotion_core/serving/pipeline.py",
                              "smoothed[i] = self.alpha * smoothed[i] + (1 - self.alpha) * track.probs",
                              "smoothed[i] = smoothed[i]",
                              "tests/test_pipeline_units.py tests/test_predictions_depend_on_input.py"),
    "to_gray ignores RGB order": ("emotion_core/serving/faces.py", 'rgb_first = channel_order.lower() == "rgb"',
                                  "rgb_first = False", "tests/test_geometry.py"),
    "torn metrics line kept": ("emotion_core/runs.py", "        lines = lines[:-1]  #", "        lines = lines[:]  #",
                               "tests/test_run_files.py::test_read_metrics_drops_a_torn_last_line"),
}


def plant_and_test(name: str) -> tuple[str, str]:
    file, original, planted, tests = BUGS[name]
    path = ROOT / file
    source = path.read_text()
    if source.count(original) != 1:
        return "not planted", f"the line to change is not in {file} exactly once"
    try:
        path.write_text(source.replace(original, planted))
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()],
                                cwd=ROOT, capture_output=True, text=True, timeout=900)
    finally:
        path.write_text(source)
    failed = [line.split(" - ")[0].removeprefix("FAILED ") for line in result.stdout.splitlines()
              if line.startswith("FAILED")]
    return ("caught" if result.returncode == 1 and failed else "MISSED"), (failed[0] if failed else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="plant just this bug (a name from the table)")
    args = parser.parse_args()
    names = [args.only] if args.only else list(BUGS)
    rows = [(name, *plant_and_test(name)) for name in names]
    width = max(len(n) for n in names)
    print(f"{'planted bug':{width}s}  result       first failing test")
    for name, verdict, test in rows:
        print(f"{name:{width}s}  {verdict:11s}  {test}")
    return 0 if all(v == "caught" for _, v, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
