"""Load test of the Live page: N simultaneous browser sessions with fake cameras against one server.

Loopback only, bounded in time. For each N (default 1, 2, 4, 8) it opens N headless
Chromium pages on the Live page, presses Start, lets them run --seconds, reads
each session's FPS and latency from its page, samples the server's memory,
then closes them and checks that the server dropped the sessions. One server
serves all rounds, so memory growth across rounds shows up in the table.

With --servers 2, two app processes on this machine serve the rounds behind nginx
(deploy/nginx/emotion.conf, as in the scale-out test), each page a newcomer with its
own cookies, both processes sharing one cache directory as on one machine (admission counts
both processes' sessions); server CPU, memory and frames are the two processes' sums.

With --clients python the visitors are Python clients instead (tests/webrtc_client.py LivePageClient): they
speak Streamlit's websocket protocol and the video component's signalling as the page does and send a
pre-encoded VP8 clip of the same camera, so the browsers' own work (camera, encoder, page) is off this
machine, as with colleagues on their own computers; what reaches the server is the same. Browser-drawn,
the latency column adds how far the boxes trail the picture (a frame leaving the visitor to its faces
arriving back).

A stage profiler runs inside the server (`dashboard/live/stage_profile.py`): the second
table gives the server's CPU milliseconds per processed frame in each stage
(VP8 decode and encode, colour conversion, detection, crops, classification,
tracker, annotation, WebRTC/RTP, Streamlit) for every round.

    python -m benchmarks.live_load [--sessions 1,2,4,8] [--seconds 60] [--model DIR] [--nice-browsers]
                                   [--camera still|noisy] [--reuse-below LEVELS] [--servers 1|2]
                                   [--no-stage-profile] [--drawn-by server|browser] [--clients chromium|python]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _common
import numpy as np


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def browser_cpu_seconds() -> float:
    """CPU time of every chromium process on the machine (the benchmark's browsers)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if "chrom" in comm.read_text():
                total += cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return total


def nice_browsers(niceness: int = 19) -> None:
    """Lower every thread of every chromium process to `niceness`, so that the browsers on this machine take
    only what the server leaves (as browsers on other machines would; niced work is not load to the fair
    share either)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if "chrom" not in comm.read_text():
                continue
            for task in (comm.parent / "task").iterdir():
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
        except (OSError, ValueError):
            continue


def metric(page, label: str, timeout_ms: int = 2000) -> str:
    """A metric's value on the page, "n/a" when it is not there within the timeout (the page's stats
    fragment redraws every second, so on a loaded machine a short timeout can miss a metric that is there)."""
    loc = page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')
    try:
        return loc.first.inner_text(timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - a page that lost its video shows no metric
        return "n/a"


# What a started page shows instead of a frame rate, most telling first (the Live page's own words).
NO_VIDEO_STATES = {"Try again in a minute": "told busy after Start", "No video for": "stalled",
                   "Still connecting after": "still connecting", "The video connection failed": "connection failed",
                   "Connecting (ICE": "connecting", "Press Start to send your webcam": "not started"}


def fps_or_state(page, component: str) -> str:
    """The page's FPS metric, or what it says instead (a session started but showing no video) and which
    button the video component shows."""
    fps = metric(page, "FPS", timeout_ms=15_000)
    if fps != "n/a":
        return fps
    state = "no video"
    try:
        state = next((s for text, s in NO_VIDEO_STATES.items() if page.get_by_text(text).count()), state)
        if not page.locator(component).count():
            return f"{state} (no video component on the page)"
        frame = page.locator(component).content_frame
        labels = [b.inner_text(timeout=2000) for b in frame.get_by_role("button").all()]
        said = " ".join(frame.locator("body").inner_text(timeout=2000).split())[:120]
        return f"{state} ({'/'.join(labels) or 'no button'}; the component says: {said})"
    except Exception:  # noqa: BLE001 - a page that is gone says nothing more
        return state


def stop_offered(frame) -> bool:
    """Whether the video component offers Stop (its Start took), for either component."""
    try:
        return any(b.is_visible() and b.is_enabled() for b in frame.get_by_role("button", name="Stop").all())
    except Exception:  # noqa: BLE001 - a component being re-rendered offers nothing yet
        return False


def press_start(frame, tries: int = 2, wait_s: float = 30.0) -> int:
    """Press the video component's Start until it offers Stop; the presses it took (0: it never took). Under
    load a press can be lost (the component still offers Start and the server never hears of it): a visitor
    would press again, and the table counts how often that was needed."""
    for presses in range(1, tries + 1):
        frame.get_by_role("button", name="Start").click(timeout=120_000)
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if stop_offered(frame):
                return presses
            time.sleep(0.5)
    return 0


@dataclass
class Servers:
    """The app server processes behind the URL and the stats file each writes (tests/serve_app.py)."""

    pids: list[int]
    stats: list[Path]

    def rss_mb(self) -> float:
        return sum(rss_mb(pid) for pid in self.pids)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def read_stats(self) -> dict:
        """The servers' counters added up (frames, sessions, stage CPU); per-server settings joined."""
        read = [_common.browser_harness().read_stats(path) for path in self.stats]
        total = {key: sum(s.get(key) or 0 for s in read) for key in ("frames", "sessions", "models_loaded")}
        total["stage_cpu_s"] = {}
        for s in read:
            for stage, seconds in s.get("stage_cpu_s", {}).items():
                total["stage_cpu_s"][stage] = total["stage_cpu_s"].get(stage, 0.0) + seconds
        for key in ("fps_cap", "tta_views"):
            values = [s.get(key) for s in read]
            total[key] = values[0] if len(values) == 1 else " / ".join(str(v) for v in values)
        return total


class MemorySampler:
    """The servers' resident memory every 2 s while a round's window runs (start, peak)."""

    def __init__(self, servers: Servers) -> None:
        self.servers, self.samples = servers, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.servers.rss_mb())
            self._stop.wait(2.0)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()


@dataclass
class Window:
    """What the servers and the clients did during a round's measuring window."""

    seconds: float
    server_cpu_s: float
    client_cpu_s: float
    stats0: dict
    stats1: dict
    memory: list[float]


def measure(servers: Servers, seconds: float, client_cpu_seconds) -> Window:
    """Sleep `seconds` while sampling memory; the servers' counters and CPU and the clients' CPU around it."""
    with MemorySampler(servers) as memory:
        stats0 = servers.read_stats()
        server0, client0, t0 = servers.cpu_seconds(), client_cpu_seconds(), time.time()
        time.sleep(seconds)
        elapsed = time.time() - t0
        return Window(elapsed, servers.cpu_seconds() - server0, client_cpu_seconds() - client0, stats0,
                      servers.read_stats(), memory.samples)


def round_row(n: int, started: int, refused: int, fps: list[str], latency: list[str], window: Window,
              servers: Servers, clients: str) -> tuple[dict, dict[str, float]]:
    """One row of the sessions table (and the stage profile) once the round's clients have gone."""
    time.sleep(8)  # longer than the 5 s activity window
    after = servers.read_stats()
    numeric = [float(f) for f in fps if f.replace(".", "", 1).isdigit()]
    frames = window.stats1.get("frames", 0) - window.stats0.get("frames", 0)
    row = {
        "sessions": n,
        "started": started,
        "refused (busy)": refused,
        "fps per session": ", ".join(fps),
        "mean fps": sum(numeric) / len(numeric) if numeric else float("nan"),
        "latency": ", ".join(latency),
        "server CPU %": 100 * window.server_cpu_s / window.seconds,
        f"{clients} CPU %": 100 * window.client_cpu_s / window.seconds,
        "server MB start": window.memory[0] if window.memory else float("nan"),
        "server MB peak": max(window.memory) if window.memory else float("nan"),
        "server MB after": servers.rss_mb(),
        "models loaded": window.stats1.get("models_loaded"),
        "active during": window.stats1.get("sessions"),
        "active after close": after.get("sessions"),
        "server CPU ms per frame": 1000 * window.server_cpu_s / frames if frames else float("nan"),
        "fair cap fps": window.stats1.get("fps_cap", float("nan")),
        "TTA views": window.stats1.get("tta_views"),
    }
    return row, stage_ms_per_frame(window.stats0, window.stats1, frames)


def run_round(playwright, url: str, y4m: Path, n: int, seconds: float, servers: Servers,
              niced: bool = False, drawn_by: str = "server") -> tuple[dict, dict[str, float]]:
    """A round of `n` headless Chromium pages with fake cameras (on this machine)."""
    harness = _common.browser_harness()
    launch_browser, wait_for_app = harness.launch_browser, harness.wait_for_app

    browser = launch_browser(playwright, y4m)
    if niced:
        nice_browsers()  # from the start: remote browsers never load the server's cores while pages open
    contexts = []
    try:
        # One browser context (cookie jar) for one server; behind nginx each page is a newcomer of its own.
        for _ in range(n if len(servers.pids) > 1 else 1):
            contexts.append(browser.new_context(permissions=["camera"], viewport={"width": 1200, "height": 1400}))
        pages = [contexts[i % len(contexts)].new_page() for i in range(n)]
        started, refused, pressed_again = [], 0, 0
        component = 'iframe[title*="live_overlay"]' if drawn_by == "browser" else 'iframe[title^="streamlit_webrtc"]'
        for page in pages:
            try:
                page.goto(f"{url}/Live")
                wait_for_app(page, 120_000)
                if drawn_by == "browser":
                    page.get_by_text("This browser (lighter for the server)").click(timeout=120_000)
                    wait_for_app(page, 120_000)
                busy, video = page.get_by_text("The server is busy"), page.locator(component)
                busy.or_(video).first.wait_for(timeout=120_000)  # refused, or the video component
                if busy.count():
                    refused += 1  # admission control said so on the page
                    continue
                presses = press_start(video.content_frame)
                pressed_again += presses != 1
                started.append(page)
            except Exception as exc:  # noqa: BLE001 - reported in the table, the round goes on
                print(f"  a session did not start: {type(exc).__name__}", file=sys.stderr)
            if niced:
                nice_browsers()  # the page's new processes and threads too
        deadline = time.time() + 120  # wait until every session shows video (slow machines take a while)
        while time.time() < deadline and any(metric(p, "FPS") == "n/a" for p in started):
            time.sleep(1)
        window = measure(servers, seconds, browser_cpu_seconds)
        fps = [fps_or_state(p, component) for p in started]
        latency = [metric(p, "Latency", timeout_ms=15_000) for p in started]
        for context in contexts:
            context.close()
    finally:
        browser.close()
    row, stages = round_row(n, len(started), refused, fps, latency, window, servers, "browsers")
    return {**row, "Start pressed again": pressed_again}, stages


def run_python_round(url: str, clip: list[bytes], n: int, seconds: float, servers: Servers,
                     drawn_by: str = "server") -> tuple[dict, dict[str, float]]:
    """A round of `n` Python visitors (tests/webrtc_client.py LivePageClient: Streamlit's websocket protocol,
    the video component's signalling, a pre-encoded webcam clip): the browsers' own work (camera, encoder,
    page) is not on this machine, only what reaches the server is the same. The FPS column is the rate of
    annotated frames (server-drawn) or faces messages (browser-drawn) each visitor received in the window."""
    import asyncio

    LivePageClient = _common.test_helpers("webrtc_client").LivePageClient

    async def play() -> tuple[int, int, list[str], list[str], Window]:
        clients, started, refused = [], [], 0
        for _ in range(n):
            client = LivePageClient(url, clip, drawn_by)
            clients.append(client)
            try:
                if await client.start():
                    started.append(client)
                else:
                    refused += 1
            except Exception as exc:  # noqa: BLE001 - reported in the table, the round goes on
                print(f"  a session did not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        deadline = time.time() + 120
        while time.time() < deadline and not all(c.arrivals for c in started):
            await asyncio.sleep(1)
        await asyncio.sleep(3)  # past the first frames' burst
        t0 = time.monotonic()
        window = await asyncio.get_running_loop().run_in_executor(None, measure, servers, seconds, time.process_time)
        t1 = time.monotonic()
        fps = [f"{c.rate(t0, t1):.1f}" for c in started]
        latency = [c.session.metric("Latency (median)") or "n/a" for c in started]
        if drawn_by == "browser":  # how old the picture is that the boxes belong to, when they arrive
            latency = [f"{lat} (boxes {1000 * c.box_lag(t0, t1):.0f} ms)" for lat, c in zip(latency, started)]
        for client in clients:
            try:
                await client.stop()
            except Exception:  # noqa: BLE001 - a refused or broken visitor; its page is gone either way
                pass
        return len(started), refused, fps, latency, window

    started, refused, fps, latency, window = asyncio.run(play())
    return round_row(n, started, refused, fps, latency, window, servers, "clients")


def stage_ms_per_frame(before: dict, after: dict, frames: int) -> dict[str, float]:
    """CPU ms per processed frame of each profiled stage between two readings of the counters."""
    if frames <= 0:
        return {}
    start, end = before.get("stage_cpu_s", {}), after.get("stage_cpu_s", {})
    return {stage: 1000 * (end[stage] - start.get(stage, 0.0)) / frames for stage in end}


def stage_table(rounds: list[tuple[int, dict[str, float]]]) -> list[dict]:
    """One row per stage, one column per round (ms per frame), largest stage first, a total row last."""
    stages = sorted({s for _, ms in rounds for s in ms}, key=lambda s: -max(ms.get(s, 0.0) for _, ms in rounds))
    names = [f"{n} session(s)" + (f" #{i + 1}" if [m for m, _ in rounds].count(n) > 1 else "")
             for i, (n, _) in enumerate(rounds)]  # a size run twice gets a column each
    rows = [{"stage": s, **{name: ms.get(s, 0.0) for name, (_, ms) in zip(names, rounds)}} for s in stages]
    rows.append({"stage": "total", **{name: sum(ms.values()) for name, (_, ms) in zip(names, rounds)}})
    return rows


PAGES = ["", "Dataset", "Augmentation", "Training", "Evaluation", "Photo", "Video", "Live"]


def visit_every_page(playwright, url: str) -> None:
    """Open each page once, as a visitor would before a meeting (the Augmentation page once imported TensorFlow)."""
    harness = _common.browser_harness()
    launch_browser, wait_for_app = harness.launch_browser, harness.wait_for_app

    browser = launch_browser(playwright)
    try:
        page = browser.new_page()
        for name in PAGES:
            page.goto(f"{url}/{name}")
            wait_for_app(page)
            page.wait_for_timeout(1500)
    finally:
        browser.close()


def visit_every_page_python(url: str) -> None:
    """visit_every_page through Streamlit's websocket protocol (tests/streamlit_client.py), no browser."""
    import asyncio

    StreamlitSession = _common.test_helpers("streamlit_client").StreamlitSession

    async def visit() -> None:
        for name in PAGES:
            async with StreamlitSession(url, name) as session:
                await session.wait_for(lambda s: s.script_runs >= 1, 120)
                await asyncio.sleep(1.5)

    asyncio.run(visit())


def main() -> int:
    harness = _common.browser_harness()
    browser_available, face_frame = harness.browser_available, harness.face_frame
    streamlit_server, write_y4m = harness.streamlit_server, harness.write_y4m
    from emotion_core.serving.inference import default_model_dir

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: models/default)")
    parser.add_argument("--server-log", type=Path, default=None, help="keep the server's log here")
    parser.add_argument("--camera", choices=("still", "noisy"), default="still",
                        help="the fake webcam: one still picture, or 2 s of it with camera noise (sigma 2 gray "
                        "levels; a still picture is the best case for faces keeping their classification)")
    parser.add_argument("--reuse-below", default=None,
                        help="the server's [live] reuse_below (EMOTION_REUSE_BELOW; 0: classify every frame)")
    parser.add_argument("--servers", type=int, choices=(1, 2), default=1,
                        help="app server processes on this machine (2: behind nginx, as deploy/nginx/emotion.conf)")
    parser.add_argument("--no-stage-profile", action="store_true",
                        help="no stage profiler in the server (its own 1-5 ms a frame out of the CPU columns)")
    parser.add_argument("--nice-browsers", action="store_true",
                        help="run the browsers at the lowest CPU priority (closer to browsers on other machines)")
    parser.add_argument("--drawn-by", choices=("server", "browser"), default="server",
                        help="who draws the overlays: the server (annotated video back) or the browser (the faces "
                             "over a data channel, no video back)")
    parser.add_argument("--clients", choices=("chromium", "python"), default="chromium",
                        help="the visitors: headless Chromium pages with fake cameras, or Python clients that speak "
                             "the page's protocols and send a pre-encoded clip (the browsers' own work off this "
                             "machine, as with visitors on their own computers)")
    args = parser.parse_args()
    reason = browser_available() if args.clients == "chromium" else None
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    if args.servers > 1:
        nginx_proxy = _common.test_helpers("nginx_proxy")
        if nginx_proxy.NGINX is None:
            print("cannot run --servers 2: nginx is not installed (apt-get install nginx)", file=sys.stderr)
            return 2
    model = args.model or default_model_dir()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        tmp_path = Path(tmp)
        frame = face_frame(640, 480)
        rng = np.random.default_rng(0)
        camera = [frame] if args.camera == "still" else [
            np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8) for _ in range(30)]
        y4m = write_y4m(tmp_path / "face.y4m", camera)
        env = {"EMOTION_MODEL_DIR": str(model), "EMOTION_ICE_SERVERS": "[]",
               "EMOTION_RUNS_DIR": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3",
               "EMOTION_STAGE_PROFILE": "0" if args.no_stage_profile else "1"}
        if args.reuse_below is not None:
            env["EMOTION_REUSE_BELOW"] = args.reuse_below
        rows, stages = [], []
        server_log = args.server_log or tmp_path / "server.log"
        urls, procs, logs, stats = [], [], [], []
        for index in range(args.servers):
            logs.append(server_log.with_name(f"{server_log.stem}-{index}{server_log.suffix}")
                        if args.servers > 1 else server_log)
            stats.append(tmp_path / f"live_stats-{index}.json")
            url, proc = stack.enter_context(streamlit_server(  # one machine: one cache dir, sessions counted
                {**env, "EMOTION_CACHE_DIR": str(tmp_path / "cache")}, log_path=logs[-1], stats_file=stats[-1]))
            urls.append(url)
            procs.append(proc)
        url = urls[0] if args.servers == 1 else stack.enter_context(
            nginx_proxy.nginx(tmp_path, [u.removeprefix("http://") for u in urls]))
        servers = Servers([proc.pid for proc in procs], stats)
        idle = servers.rss_mb()
        clip = _common.test_helpers("webrtc_client").vp8_clip(camera) if args.clients == "python" else None
        if clip is not None and args.nice_browsers:
            os.setpriority(os.PRIO_PROCESS, 0, 19)  # this thread and the client threads it starts
        with ExitStack() as browsers:
            p = None
            if args.clients == "chromium":
                from playwright.sync_api import sync_playwright

                p = browsers.enter_context(sync_playwright())
            for server_url in urls:
                if p:
                    visit_every_page(p, server_url)
                else:
                    visit_every_page_python(server_url)
            visited = servers.rss_mb()
            imports_tf = any("libtensorflow" in Path(f"/proc/{pid}/maps").read_text() for pid in servers.pids)
            for n in [int(s) for s in args.sessions.split(",")]:
                if p:
                    row, ms = run_round(p, url, y4m, n, args.seconds, servers, args.nice_browsers, args.drawn_by)
                else:
                    row, ms = run_python_round(url, clip, n, args.seconds, servers, args.drawn_by)
                rows.append(row)
                stages.append((n, ms))
                print(f"  {n} session(s) done", file=sys.stderr)
                exited = [(proc, log) for proc, log in zip(procs, logs) if proc.poll() is not None]
                for proc, log in exited:
                    lines = log.read_text(errors="replace").splitlines()
                    print(f"a server exited with {proc.returncode} during the round of {n}; its log ends:\n"
                          + "\n".join(lines[-40:]), file=sys.stderr)
                if exited:
                    break
    print(f"{args.servers} server process(es), idle before any session: {idle:.0f} MB; after visiting every page: "
          f"{visited:.0f} MB (TensorFlow loaded: {'yes' if imports_tf else 'no'}); model: {model}; "
          f"camera: {args.camera}; reuse below: {args.reuse_below or 'the default'}; overlays drawn by: "
          f"{args.drawn_by}; visitors: {args.clients}\n")
    _common.print_table(rows)
    if not args.no_stage_profile:
        print("\nserver CPU ms per processed frame, by stage (sampling profiler inside the server):\n")
        _common.print_table(stage_table(stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
