"""Shared bits for benchmark scripts: quiet TensorFlow, the browser harness, table printing."""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
FER_ROOT = ROOT.parent / "shared" / "datasets" / "fer2013"


def test_helpers(name: str) -> ModuleType:
    """tests/<name>.py: the tests' own helpers, imported from the `tests` package (run benchmarks from the
    project root as `python -m benchmarks.NAME`)."""
    return importlib.import_module(f"tests.{name}")


def browser_harness() -> ModuleType:
    """tests/browser_harness.py (app server, Chromium, fake camera)."""
    return test_helpers("browser_harness")


def video_helpers() -> ModuleType:
    """tests/video_helpers.py (the astronaut's head, moving clips)."""
    return test_helpers("video_helpers")


def cpu_description() -> str:
    """The CPU a table was measured on: model name, widest vector ISA, logical cores (from /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"),
                                        ("asimd", "NEON")) if flag in flags), "unknown ISA")
    return f"{model}, {isa}, {os.cpu_count()} logical cores"


def print_table(rows: list[dict], columns: list[str] | None = None) -> None:
    """Print rows as an aligned text table, headed by the CPU it was measured on."""
    print(f"CPU: {cpu_description()}")
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
