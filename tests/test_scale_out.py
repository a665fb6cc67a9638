"""Two app servers behind nginx (deploy/nginx/emotion.conf, run as shipped) on loopback: two browsers land
on different servers, each stays on its own, and both get annotated live video."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from tests.browser_harness import (browser_available, face_frame, launch_browser, read_stats, start_live_video,
                           streamlit_server, write_y4m)
from tests.nginx_proxy import NGINX, nginx

pytestmark = [
    pytest.mark.skipif(browser_available() is not None, reason=str(browser_available())),
    pytest.mark.skipif(NGINX is None, reason="nginx not installed (apt-get install nginx)"),
]


def test_two_browsers_land_on_different_servers_and_both_get_annotated_video(tiny_data, trained_run, tmp_path):
    from playwright.sync_api import sync_playwright

    shared_runs = tmp_path / "shared-runs"  # runs and models on storage every server sees
    env = {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_DATA_ROOTS": str(tiny_data.parent),
           "EMOTION_RUNS_DIR": str(shared_runs), "EMOTION_ICE_SERVERS": "[]", "TF_CPP_MIN_LOG_LEVEL": "3"}
    stats = [tmp_path / "a.json", tmp_path / "b.json"]
    y4m = write_y4m(tmp_path / "face.y4m", face_frame(640, 480))
    with ExitStack() as stack:
        servers = []
        for name, stats_file in zip("ab", stats):
            url, _proc = stack.enter_context(streamlit_server(
                {**env, "EMOTION_CACHE_DIR": str(tmp_path / f"cache-{name}")},
                log_path=tmp_path / f"server-{name}.log", stats_file=stats_file))
            servers.append(url.removeprefix("http://"))
        proxy = stack.enter_context(nginx(tmp_path, servers))
        p = stack.enter_context(sync_playwright())
        browser = launch_browser(p, y4m)
        stack.callback(browser.close)
        colleagues = [browser.new_context(permissions=["camera"]) for _ in range(2)]  # two people, two cookie jars
        pages = []
        for context in colleagues:
            page = context.new_page()
            start_live_video(page, proxy)
            pages.append(page)

        routes = [{c["name"]: c["value"] for c in context.cookies()}.get("emotion_server") for context in colleagues]
        assert sorted(routes) == ["a", "b"], routes  # round-robin for newcomers, then the cookie

        deadline, seen = time.time() + 120, [{}, {}]
        while time.time() < deadline and not all(s.get("frames_with_faces", 0) >= 5 for s in seen):
            seen = [read_stats(f) for f in stats]
            time.sleep(1)
        assert all(s.get("frames_with_faces", 0) >= 5 for s in seen), f"annotated frames per server: {seen}"
        assert [s.get("sessions") for s in seen] == [1, 1], seen  # one colleague on each server
        for page in pages:
            page.frame_locator('iframe[title^="streamlit_webrtc"]').locator("video").wait_for(timeout=30_000)

        for context in colleagues:
            context.close()  # nginx logs a websocket when it closes
        time.sleep(1)
        routed = [line.split(" ", 2) for line in (tmp_path / "nginx-access.log").read_text().splitlines()]
        by_cookie = {"a": servers[0], "b": servers[1]}
        followed = [(cookie, upstream, request) for cookie, upstream, request in routed if cookie in by_cookie]
        assert sum("/_stcore/stream" in request for _, _, request in followed) >= 2, routed  # both websockets
        # every request that carried a cookie went to the server it names, websockets included
        assert all(upstream == by_cookie[cookie] for cookie, upstream, _ in followed), followed
