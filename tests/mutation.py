"""Mutation testing of the engine's pure modules and the dashboard's access checks; prints a score per module.

    .venv/bin/python -m tests.mutation [--max-children 2]

mutmut (installed into .venv on first use) plants one small change at a time
(`<` for `<=`, a constant off by one, a dropped argument...) in the modules listed
under [tool.mutmut] in pyproject.toml and runs the fast tests that reach the
changed function. A mutant the tests notice is "killed"; one they do not notice
"survived". Not part of CI's pass/fail; results stay in mutants/ (ignored by git),
and `.venv/bin/mutmut browse` shows each survivor.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"
VERSION = "3.8.1"


def scores(results: str) -> dict[str, Counter]:
    """{module: Counter(status)} from `mutmut results --all true` lines like `  pkg.mod.x_fn__mutmut_3: killed`."""
    by_module: dict[str, Counter] = defaultdict(Counter)
    for line in results.splitlines():
        match = re.match(r"\s*([\w.]+)\.x[ǁ_]\w*__mutmut_\d+: (\w[\w ]*)$", line)
        if match:
            by_module[match.group(1)][match.group(2).strip()] += 1
    return by_module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=2, help="parallel test processes (default 2)")
    args = parser.parse_args()
    if not MUTMUT.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"mutmut=={VERSION}"], check=True)
    subprocess.run([str(MUTMUT), "run", "--max-children", str(args.max_children)], cwd=ROOT, check=False)
    out = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True).stdout
    table = scores(out)
    print(f"\n{'module':32s} {'mutants':>8s} {'killed':>7s} {'survived':>9s} {'other':>6s} {'score':>7s}")
    total = Counter()
    for module in sorted(table):
        c = table[module]
        total.update(c)
        n, killed, survived = sum(c.values()), c["killed"], c["survived"]
        print(f"{module:32s} {n:8d} {killed:7d} {survived:9d} {n - killed - survived:6d} {killed / max(n, 1):7.1%}")
    n = sum(total.values())
    print(f"{'all':32s} {n:8d} {total['killed']:7d} {total['survived']:9d} "
          f"{n - total['killed'] - total['survived']:6d} {total['killed'] / max(n, 1):7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
