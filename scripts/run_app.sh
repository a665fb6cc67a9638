#!/usr/bin/env bash
# Set up .venv if needed, then start the dashboard: streamlit run Home.py
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements.txt
exec .venv/bin/streamlit run Home.py "$@"
