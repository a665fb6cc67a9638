#!/usr/bin/env bash
# Set up everything the tests need (venv, Debian chromium for browser tests, coturn for the TURN test, nginx for
# the scale-out test), then run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements-test.txt
if ! command -v chromium >/dev/null 2>&1 || ! command -v turnserver >/dev/null 2>&1 \
    || ! { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium, chromium-driver, coturn and nginx (apt) for the browser tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver coturn nginx >/dev/null
  else
    echo "chromium, coturn or nginx missing and cannot be installed: those browser tests will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
