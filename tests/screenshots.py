"""Screenshots of every page for the README: the real app, default model, fake camera.

    .venv/bin/python -m tests.screenshots [--out docs/screenshots]

Starts `streamlit run Home.py` on a free loopback port with the project's defaults,
loads the data set on the Dataset page, analyses a generated clip on the Video page, starts the
Live page's video and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    from playwright.sync_api import sync_playwright

    from tests.browser_harness import browser_available, face_frame, launch_browser, start_live_video, streamlit_server, wait_for_app, write_y4m

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if browser_available():
        print(browser_available(), file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, streamlit_server({"EMOTION_ICE_SERVERS": "[]"},
                                                                log_path=Path(tmp) / "server.log") as (url, _):
        y4m = write_y4m(Path(tmp) / "face.y4m", face_frame(640, 480))
        with sync_playwright() as p:
            browser = launch_browser(p, y4m)
            page = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900}).new_page()
            for name, slug in (("", "home"), ("Dataset", "dataset"), ("Augmentation", "augmentation"),
                               ("Training", "training"), ("Evaluation", "evaluation"), ("Photo", "photo")):
                page.goto(f"{url}/{name}")
                wait_for_app(page, 120_000)
                if slug == "dataset":
                    button = page.get_by_role("button", name="Load images and build the cache")
                    if button.count():
                        button.click()
                        page.get_by_text("Sample faces per class").wait_for(timeout=180_000)
                        wait_for_app(page, 120_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(args.out / f"{slug}.png"), full_page=True)
                print(f"saved {slug}.png")
            video_page_with_results(page, url, Path(tmp), args.out)
            start_live_video(page, url)
            page.get_by_text("Latency (median)").wait_for(timeout=120_000)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(args.out / "live_running.png"), full_page=True)
            print("saved live_running.png")
            browser.close()
    return 0


def video_page_with_results(page, url: str, tmp: Path, out: Path) -> None:
    """The Video page after analysing a short clip of two moving faces."""
    from tests.browser_harness import wait_for_app
    from tests.video_helpers import moving_faces, write_clip

    clip = write_clip(tmp / "two_people.mp4", moving_faces(90, faces=2, side=260))
    page.goto(f"{url}/Video")
    wait_for_app(page, 120_000)
    page.locator('input[type="file"]').set_input_files(str(clip))
    page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                           "b => b.innerText.trim() === 'Analyse' && !b.disabled)", timeout=30_000)
    page.get_by_role("button", name="Analyse", exact=True).click()
    page.get_by_role("button", name="Download CSV").wait_for(timeout=120_000)
    page.set_viewport_size({"width": 1280, "height": 2300})  # the page scrolls inside the app: show it all
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out / "video_results.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    print("saved video_results.png")


if __name__ == "__main__":
    sys.exit(main())
