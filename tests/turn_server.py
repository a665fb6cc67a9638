"""coturn (Debian's turnserver) on loopback for the tests that send Live video through a TURN relay only."""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from tests.browser_harness import free_port, stop_process

TURNSERVER = shutil.which("turnserver")


@contextmanager
def coturn(tmp: Path, secret: str):
    """turnserver on 127.0.0.1 with the TURN REST API secret; yields (port, log path)."""
    port, log = free_port(), tmp / "turnserver.log"
    proc = subprocess.Popen(
        [TURNSERVER or "turnserver", "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}", "--relay-ip=127.0.0.1",
         "--allow-loopback-peers", "--use-auth-secret", f"--static-auth-secret={secret}", "--realm=emotion.test",
         "--no-tls", "--no-dtls", "--no-cli", "--fingerprint", "--min-port=49200", "--max-port=49300",
         f"--log-file={log}", "--simple-log", "--verbose", f"--pidfile={tmp / 'turnserver.pid'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 20
        while not (log.exists() and "listener opened" in log.read_text(errors="replace")):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"turnserver did not start: {log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
            time.sleep(0.2)
        yield port, log
    finally:
        stop_process(proc, 10)


def relay_only_env(turn_port: int, app_secret: str) -> dict[str, str]:
    """The app's settings for this coturn: relay-only ICE, short-lived credentials from `app_secret`."""
    return {"EMOTION_ICE_SERVERS": "[]", "EMOTION_ICE_TRANSPORT_POLICY": "relay", "EMOTION_TURN_SECRET": app_secret,
            "EMOTION_TURN_URLS": f"turn:127.0.0.1:{turn_port}"}
