"""End-to-end in headless Chromium: the Live page annotates a fake camera; every page renders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.browser_harness import browser_available, face_frame, launch_browser, read_stats, start_live_video, streamlit_server, wait_for_app, write_y4m
from tests.polling import wait_until

pytestmark = pytest.mark.skipif(browser_available() is not None, reason=str(browser_available()))

# URL path -> the title heading the page shows once its script has run.
PAGES = {"": "Facial emotion dashboard", "Dataset": "Dataset", "Augmentation": "Augmentation", "Training": "Training",
         "Evaluation": "Evaluation", "Live": "Live", "Photo": "Photo", "Video": "Video"}
SCREENSHOTS = Path(__import__("os").environ.get("EMOTION_SCREENSHOT_DIR", "")) if __import__("os").environ.get(
    "EMOTION_SCREENSHOT_DIR") else None


@pytest.fixture(scope="module")
def server(tiny_data, trained_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    stats = tmp / "live_stats.json"
    env = {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_DATA_ROOTS": str(tiny_data.parent),
           "EMOTION_DATA_DEFAULT": str(tiny_data), "EMOTION_RUNS_DIR": str(trained_run.parent),
           "EMOTION_CACHE_DIR": str(tmp / "cache"), "EMOTION_ICE_SERVERS": "[]", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with streamlit_server(env, log_path=tmp / "streamlit.log", stats_file=stats) as (url, proc):
        yield {"url": url, "stats": stats, "tmp": tmp, "log": tmp / "streamlit.log"}


def _saturated_pixels(png: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return int(((hsv[..., 1] > 120) & (hsv[..., 2] > 80)).sum())


def test_live_page_annotates_fake_camera(server):
    from playwright.sync_api import sync_playwright

    y4m = write_y4m(server["tmp"] / "face.y4m", face_frame(640, 480), gray=True)  # gray in: colour = overlay
    with sync_playwright() as p:
        browser = launch_browser(p, y4m)
        try:
            context = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 1400})
            page = context.new_page()
            start_live_video(page, server["url"])
            stats = _wait_for_stats(server["stats"], lambda s: s.get("frames_with_faces", 0) >= 5)
            assert stats.get("frames_with_faces", 0) >= 5, f"server annotated too few frames: {stats}"
            assert len(stats["last_labels"]) == 1
            video = page.frame_locator('iframe[title^="streamlit_webrtc"]').locator("video")
            video.wait_for(timeout=30_000)
            page.wait_for_timeout(2000)
            shot = video.screenshot()
            if SCREENSHOTS:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "live_running.png"), full_page=True)
            assert _saturated_pixels(shot) > 200, "no coloured overlay in the returned video"
        finally:
            browser.close()


def _wait_for_stats(path: Path, condition, timeout: float = 120) -> dict:
    """The server's live counters once `condition(stats)` holds, or the last ones read at the timeout."""
    wait_until(lambda: condition(read_stats(path)), timeout, every=0.5)
    return read_stats(path)


def test_live_page_can_leave_the_overlays_to_the_browser(server):
    """Overlays drawn by the browser: the faces come over the data channel and are drawn on the local video;
    Stop ends the server's session."""
    from playwright.sync_api import sync_playwright

    y4m = write_y4m(server["tmp"] / "face_overlay.y4m", face_frame(640, 480), gray=True)  # colour = overlay
    before = read_stats(server["stats"]).get("frames_with_faces", 0)  # an earlier test's frames
    with sync_playwright() as p:
        browser = launch_browser(p, y4m)
        try:
            page = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 1400}).new_page()
            page.goto(f"{server['url']}/Live")
            wait_for_app(page)
            page.get_by_text("This browser (lighter for the server)").click()
            wait_for_app(page)
            component = page.frame_locator('iframe[title*="live_overlay"]')
            component.get_by_role("button", name="Start").click(timeout=60_000)
            component.locator("body[data-faces='1']").wait_for(timeout=120_000)
            page.wait_for_function("() => [...document.querySelectorAll('iframe')].some(f => f.title.includes("
                                   "'live_overlay') && +f.contentDocument.body.dataset.received >= 5)", timeout=60_000)
            assert page.locator('iframe[title^="streamlit_webrtc"]').count() == 0  # no video comes back
            stats = _wait_for_stats(server["stats"], lambda s: s.get("frames_with_faces", 0) >= before + 5
                                    and s.get("sessions", 0) >= 1)  # this session's own frames, while it streams
            assert stats["sessions"] >= 1 and len(stats["last_labels"]) == 1, stats  # an earlier test's may linger
            page.get_by_text("FPS").first.wait_for(timeout=30_000)  # the page's stats follow the peer
            assert _saturated_pixels(component.locator("#stage").screenshot()) > 200, "no overlay drawn"
            component.get_by_role("button", name="Stop").click()
            stats = _wait_for_stats(server["stats"], lambda s: s.get("sessions") == 0, timeout=30)
            assert stats["sessions"] == 0, "Stop left the session streaming on the server"
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()


def downloaded_csv(page, button: str) -> list[dict]:
    """Click a download button and parse the CSV file the browser saved."""
    import csv
    import io

    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name=button, exact=True).click()
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))


def test_live_page_records_and_downloads_the_table(server):
    from playwright.sync_api import sync_playwright

    from emotion_core.media.face_table import VIDEO_COLUMNS

    y4m = write_y4m(server["tmp"] / "face_rec.y4m", face_frame(640, 480))
    with sync_playwright() as p:
        browser = launch_browser(p, y4m)
        try:
            page = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 1400},
                                       accept_downloads=True).new_page()
            start_live_video(page, server["url"])
            page.get_by_text("FPS").first.wait_for(timeout=120_000)  # frames are coming back annotated
            page.get_by_role("button", name="Record").click()
            page.get_by_text("● Recording").wait_for(timeout=20_000)
            page.wait_for_timeout(3000)
            page.get_by_role("button", name="Stop recording").click()
            page.get_by_role("button", name="Download recording (MP4)").wait_for(timeout=60_000)
            rows = downloaded_csv(page, "Download recording (CSV)")
            assert tuple(rows[0]) == VIDEO_COLUMNS and len(rows) >= 10, len(rows)
            assert float(rows[-1]["time_s"]) > 1.5 and {r["track"] for r in rows} == {"0"}
        finally:
            browser.close()


def test_video_page_analyses_an_upload_and_downloads_the_table(server):
    from playwright.sync_api import sync_playwright

    from emotion_core.media.face_table import VIDEO_COLUMNS
    from tests.video_helpers import moving_faces, write_clip

    clip = write_clip(server["tmp"] / "meeting.mp4", moving_faces(45, faces=2, side=260))
    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1400}, accept_downloads=True).new_page()
            page.goto(f"{server['url']}/Video")
            wait_for_app(page)
            page.locator('input[type="file"]').set_input_files(str(clip))
            analyse = page.get_by_role("button", name="Analyse", exact=True)
            page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                                   "b => b.innerText.trim() === 'Analyse' && !b.disabled)", timeout=30_000)
            analyse.click()
            page.get_by_role("button", name="Download CSV").wait_for(timeout=120_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            rows = downloaded_csv(page, "Download CSV")
            assert tuple(rows[0]) == VIDEO_COLUMNS and len(rows) == 90 and {r["track"] for r in rows} == {"0", "1"}
            assert page.locator("video").count() == 1  # the annotated video plays in the page
        finally:
            browser.close()


def test_every_page_renders_without_exception(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            for name, title in PAGES.items():
                page.goto(f"{server['url']}/{name}")
                wait_for_app(page)
                page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=90_000)
                wait_for_app(page)
                exceptions = page.locator('[data-testid="stException"]')
                assert exceptions.count() == 0, f"{name or 'Home'}: {exceptions.first.inner_text()}"
                assert "Traceback" not in page.inner_text("body")
                if SCREENSHOTS:
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOTS / f"{(name or 'home').lower()}.png"), full_page=True)
        finally:
            browser.close()


def test_training_notice_goes_away_when_the_training_ends_without_a_reload(server):
    from playwright.sync_api import sync_playwright

    from emotion_core.runs import TrainingLock

    lock = TrainingLock(server["tmp"] / "cache" / "training.lock")  # the server's machine-wide lock
    assert lock.acquire("someone-elses-run")
    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{server['url']}/Training")
            wait_for_app(page)
            notice = page.get_by_text("A training is running (run someone-elses-run)")
            notice.wait_for(timeout=60_000)
            assert page.get_by_role("button", name="Start training").is_disabled()
            lock.release()
            notice.wait_for(state="detached", timeout=20_000)  # the live view noticed and refreshed the page
            assert page.get_by_role("button", name="Start training").is_enabled()
        finally:
            lock.release()
            browser.close()
