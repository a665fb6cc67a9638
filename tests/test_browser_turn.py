"""Live video through a TURN relay only: coturn on loopback with short-lived credentials (use-auth-secret)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from browser_harness import (browser_available, face_frame, free_port, launch_browser, read_stats, start_live_video,
                           stop_process, streamlit_server, write_y4m)

pytestmark = [
    pytest.mark.skipif(browser_available() is not None, reason=str(browser_available())),
    pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn not installed (apt-get install coturn)"),
]


@contextmanager
def coturn(tmp: Path, secret: str):
    """turnserver on 127.0.0.1 with the TURN REST API secret; yields (port, log path)."""
    port, log = free_port(), tmp / "turnserver.log"
    proc = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}", "--relay-ip=127.0.0.1",
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


def _server_env(tiny_data, trained_run, tmp: Path, turn_port: int, app_secret: str) -> dict[str, str]:
    return {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_DATA_ROOTS": str(tiny_data.parent),
            "EMOTION_RUNS_DIR": str(tmp / "runs"), "EMOTION_CACHE_DIR": str(tmp / "cache"),
            "EMOTION_ICE_SERVERS": "[]",
            "EMOTION_ICE_TRANSPORT_POLICY": "relay", "EMOTION_TURN_SECRET": app_secret,
            "EMOTION_TURN_URLS": f"turn:127.0.0.1:{turn_port}", "TF_CPP_MIN_LOG_LEVEL": "3"}


@contextmanager
def live_page_behind_coturn(tiny_data, trained_run, tmp: Path, turn_secret: str, app_secret: str):
    """coturn with `turn_secret`, the app with `app_secret` and relay-only policy, a browser on its Live page
    with Start pressed; yields (page, coturn's log path)."""
    from playwright.sync_api import sync_playwright

    y4m = write_y4m(tmp / "face.y4m", face_frame(640, 480), gray=True)
    with coturn(tmp, turn_secret) as (port, turn_log), \
            streamlit_server(_server_env(tiny_data, trained_run, tmp, port, app_secret),
                             log_path=tmp / "streamlit.log", stats_file=tmp / "live_stats.json") as (url, _proc), \
            sync_playwright() as p:
        browser = launch_browser(p, y4m)
        try:
            page = browser.new_context(permissions=["camera"]).new_page()
            start_live_video(page, url)
            yield page, turn_log
        finally:
            browser.close()


def test_annotated_video_arrives_through_the_relay(tiny_data, trained_run, tmp_path):
    with live_page_behind_coturn(tiny_data, trained_run, tmp_path, "north-wind", "north-wind") as (page, turn_log):
        stats, deadline = {}, time.time() + 120
        while time.time() < deadline and stats.get("frames_with_faces", 0) < 5:
            stats = read_stats(tmp_path / "live_stats.json")
            time.sleep(1)
        assert stats.get("frames_with_faces", 0) >= 5, f"no annotated video through the relay: {stats}"
        page.frame_locator('iframe[title^="streamlit_webrtc"]').locator("video").wait_for(timeout=30_000)
        log = turn_log.read_text(errors="replace")
    assert "ALLOCATE processed, success" in log, log[-3000:]
    assert "CREATE_PERMISSION processed, success" in log  # the server's address was let through the relay
    assert ":emotion" in log  # the short-lived user name the app handed out
    assert "north-wind" not in (tmp_path / "streamlit.log").read_text()


def test_a_wrong_turn_secret_is_explained_on_the_page_and_logged(tiny_data, trained_run, tmp_path):
    with live_page_behind_coturn(tiny_data, trained_run, tmp_path, "north-wind", "south-wind") as (page, turn_log):
        page.get_by_text("only TURN-relayed video").wait_for(timeout=60_000)
        log = turn_log.read_text(errors="replace")
    assert "ALLOCATE processed, success" not in log
    assert "live session" in (tmp_path / "streamlit.log").read_text()
