"""Helpers to drive the real app in headless Chromium: server, fake camera, browser.

Used by the browser tests and `benchmarks/live_load.py`. Loopback only; the
browser is Debian's chromium (never a downloaded one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from emotion_core.runs import PROJECT_ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]


def browser_available() -> str | None:
    """None when Chromium and Playwright are usable, else the reason they are not."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return f"chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_y4m(path: Path, frame_bgr: np.ndarray | list[np.ndarray], gray: bool = False) -> Path:
    """A Y4M (I420) at 15 fps of one BGR frame or a list of them, which Chromium's fake camera loops forever."""
    frames = [frame_bgr] if isinstance(frame_bgr, np.ndarray) and frame_bgr.ndim == 3 else list(frame_bgr)
    h, w = frames[0].shape[:2]
    w, h = w - w % 2, h - h % 2
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            yuv = cv2.cvtColor(np.ascontiguousarray(frame[:h, :w]), cv2.COLOR_BGR2YUV_I420)  # (h * 3 / 2, w)
            if gray:
                yuv[h:] = 128  # chroma planes neutral: a gray picture
            fh.write(b"FRAME\n")
            fh.write(yuv.tobytes())
    return path


def face_frame(width: int = 640, height: int = 480, faces: int = 1) -> np.ndarray:
    """A BGR frame with scikit-image's astronaut (one face) or a grid of her head (several faces), unstretched."""
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    if faces > 1:
        astronaut = astronaut[20:260, 110:350]  # head and shoulders, 240x240
    frame = np.full((height, width, 3), 60, np.uint8)
    cols = 1 if faces == 1 else 2
    rows = (faces + cols - 1) // cols
    side = min(width // cols, height // rows)
    tile = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    for i in range(faces):
        r, c = divmod(i, cols)
        y0 = r * side + (height - rows * side) // 2
        x0 = c * side + (width - cols * side) // 2
        frame[y0 : y0 + side, x0 : x0 + side] = tile
    return frame


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """Terminate, then kill if it has not ended within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, port: int | None = None,
                     log_path: Path | None = None, timeout: float = 90,
                     args: list[str] | None = None,
                     stats_file: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run Home.py [args]` on a free loopback port; yields (base URL, process).

    stats_file: the server's live counters are written there (JSON, see `tests/serve_app.py`)."""
    port = port or free_port()
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    launcher = ([str(Path(__file__).with_name("serve_app.py")), str(stats_file)] if stats_file
                else ["-m", "streamlit"])
    cmd = [sys.executable, *launcher, "run", str(PROJECT_ROOT / "Home.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", *(args or [])]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode} (log: {log_path})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s")
            time.sleep(0.5)
        yield url, proc
    finally:
        stop_process(proc, 20)
        if log_path:
            log.close()  # type: ignore[union-attr]


def read_stats(path: Path) -> dict:
    """The live counters a server started with `stats_file` writes (see `tests/serve_app.py`); {} until there."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def launch_browser(playwright, camera_y4m: Path | None = None):
    """Headless Debian chromium with a fake camera fed from `camera_y4m`."""
    args = list(CHROMIUM_FLAGS)
    if camera_y4m:
        args.append(f"--use-file-for-fake-video-capture={camera_y4m}")
    return playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                      headless=True, args=args)


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit finished running the page script."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
        "|| !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout_ms)
    page.wait_for_timeout(500)


def start_live_video(page, base_url: str, timeout_ms: int = 90_000) -> None:
    """Open the Live page and press the WebRTC component's Start button."""
    page.goto(f"{base_url}/Live")
    wait_for_app(page, timeout_ms)
    frame = page.frame_locator('iframe[title^="streamlit_webrtc"]')
    frame.get_by_role("button", name="Start").click(timeout=timeout_ms)
