"""Live video through a TURN relay only: coturn on loopback with short-lived credentials (use-auth-secret)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser_harness import browser_available, face_frame, launch_browser, read_stats, start_live_video, streamlit_server, write_y4m
from tests.turn_server import TURNSERVER, coturn, relay_only_env

pytestmark = [
    pytest.mark.skipif(browser_available() is not None, reason=str(browser_available())),
    pytest.mark.skipif(TURNSERVER is None, reason="coturn not installed (apt-get install coturn)"),
]


def _server_env(tiny_data, trained_run, tmp: Path, turn_port: int, app_secret: str) -> dict[str, str]:
    return {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_DATA_ROOTS": str(tiny_data.parent),
            "EMOTION_RUNS_DIR": str(tmp / "runs"), "EMOTION_CACHE_DIR": str(tmp / "cache"),
            "TF_CPP_MIN_LOG_LEVEL": "3", **relay_only_env(turn_port, app_secret)}


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
