#!/usr/bin/env bash
# Create .venv, install the requirements and the project (editable); skipped when nothing changed.
# Usage: scripts/setup_env.sh [requirements file]   (default requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat "$req" requirements.txt pyproject.toml | sha256sum | cut -c1-16)-$(basename "$req")"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$req"
  # The project itself, editable: `import emotion_core` works from any folder, no sys.path edits.
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
