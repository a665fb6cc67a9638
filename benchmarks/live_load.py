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

A stage profiler runs inside the server (`dashboard/stage_profile.py`): the second
table gives the server's CPU milliseconds per processed frame in each stage
(VP8 decode and encode, colour conversion, detection, crops, classification,
tracker, annotation, WebRTC/RTP, Streamlit) for every round.

    python benchmarks/live_load.py [--sessions 1,2,4,8] [--seconds 60] [--model DIR] [--nice-browsers]
                                   [--camera still|noisy] [--reuse-below LEVELS] [--servers 1|2]
                                   [--no-stage-profile]
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

import _common
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


def metric(page, label: str) -> str:
    loc = page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')
    try:
        return loc.first.inner_text(timeout=2000)
    except Exception:  # noqa: BLE001 - a page that lost its video shows no metric
        return "n/a"


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


def run_round(playwright, url: str, y4m: Path, n: int, seconds: float, servers: Servers,
              niced: bool = False, drawn_by: str = "server") -> tuple[dict, dict[str, float]]:
    harness = _common.browser_harness()
    launch_browser, wait_for_app = harness.launch_browser, harness.wait_for_app

    browser = launch_browser(playwright, y4m)
    if niced:
        nice_browsers()  # from the start: remote browsers never load the server's cores while pages open
    memory: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            memory.append(servers.rss_mb())
            stop.wait(2.0)

    sampler = threading.Thread(target=sample, daemon=True)
    contexts = []
    try:
        # One browser context (cookie jar) for one server; behind nginx each page is a newcomer of its own.
        for _ in range(n if len(servers.pids) > 1 else 1):
            contexts.append(browser.new_context(permissions=["camera"], viewport={"width": 1200, "height": 1400}))
        pages = [contexts[i % len(contexts)].new_page() for i in range(n)]
        started, refused = [], 0
        for page in pages:
            try:
                page.goto(f"{url}/Live")
                wait_for_app(page, 120_000)
                if drawn_by == "browser":
                    page.get_by_text("This browser (lighter for the server)").click(timeout=120_000)
                    wait_for_app(page, 120_000)
                component = 'iframe[title*="live_overlay"]' if drawn_by == "browser" else 'iframe[title^="streamlit_webrtc"]'
                busy, video = page.get_by_text("The server is busy"), page.locator(component)
                busy.or_(video).first.wait_for(timeout=120_000)  # refused, or the video component
                if busy.count():
                    refused += 1  # admission control said so on the page
                    continue
                video.content_frame.get_by_role("button", name="Start").click(timeout=120_000)
                started.append(page)
            except Exception as exc:  # noqa: BLE001 - reported in the table, the round goes on
                print(f"  a session did not start: {type(exc).__name__}", file=sys.stderr)
            if niced:
                nice_browsers()  # the page's new processes and threads too
        deadline = time.time() + 120  # wait until every session shows video (slow machines take a while)
        while time.time() < deadline and any(metric(p, "FPS") == "n/a" for p in started):
            time.sleep(1)
        sampler.start()
        stats0 = servers.read_stats()
        server_cpu0, browser_cpu0, t0 = servers.cpu_seconds(), browser_cpu_seconds(), time.time()
        time.sleep(seconds)
        elapsed = time.time() - t0
        stats1 = servers.read_stats()
        server_cpu_s = servers.cpu_seconds() - server_cpu0
        server_cpu = 100 * server_cpu_s / elapsed
        browser_cpu = 100 * (browser_cpu_seconds() - browser_cpu0) / elapsed
        fps = [metric(p, "FPS") for p in started]
        latency = [metric(p, "Latency") for p in started]
        for context in contexts:
            context.close()
    finally:
        browser.close()
        stop.set()
    time.sleep(8)  # longer than the 5 s activity window
    after = servers.read_stats()
    numeric = [float(f) for f in fps if f.replace(".", "", 1).isdigit()]
    frames = stats1.get("frames", 0) - stats0.get("frames", 0)
    row = {
        "sessions": n,
        "started": len(started),
        "refused (busy)": refused,
        "fps per session": ", ".join(fps),
        "mean fps": sum(numeric) / len(numeric) if numeric else float("nan"),
        "latency": ", ".join(latency),
        "server CPU %": server_cpu,
        "browsers CPU %": browser_cpu,
        "server MB start": memory[0] if memory else float("nan"),
        "server MB peak": max(memory) if memory else float("nan"),
        "server MB after": servers.rss_mb(),
        "models loaded": stats1.get("models_loaded"),
        "active during": stats1.get("sessions"),
        "active after close": after.get("sessions"),
        "server CPU ms per frame": 1000 * server_cpu_s / frames if frames else float("nan"),
        "fair cap fps": stats1.get("fps_cap", float("nan")),
        "TTA views": stats1.get("tta_views"),
    }
    return row, stage_ms_per_frame(stats0, stats1, frames)


def stage_ms_per_frame(before: dict, after: dict, frames: int) -> dict[str, float]:
    """CPU ms per processed frame of each profiled stage between two readings of the counters."""
    if frames <= 0:
        return {}
    start, end = before.get("stage_cpu_s", {}), after.get("stage_cpu_s", {})
    return {stage: 1000 * (end[stage] - start.get(stage, 0.0)) / frames for stage in end}


def stage_table(rounds: list[tuple[int, dict[str, float]]]) -> list[dict]:
    """One row per stage, one column per round (ms per frame), largest stage first, a total row last."""
    stages = sorted({s for _, ms in rounds for s in ms}, key=lambda s: -max(ms.get(s, 0.0) for _, ms in rounds))
    rows = [{"stage": s, **{f"{n} session(s)": ms.get(s, 0.0) for n, ms in rounds}} for s in stages]
    rows.append({"stage": "total", **{f"{n} session(s)": sum(ms.values()) for n, ms in rounds}})
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


def main() -> int:
    from playwright.sync_api import sync_playwright

    harness = _common.browser_harness()
    browser_available, face_frame = harness.browser_available, harness.face_frame
    streamlit_server, write_y4m = harness.streamlit_server, harness.write_y4m
    from emotion_core.inference import default_model_dir

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
    args = parser.parse_args()
    reason = browser_available()
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
        with sync_playwright() as p:
            for server_url in urls:
                visit_every_page(p, server_url)
            visited = servers.rss_mb()
            imports_tf = any("libtensorflow" in Path(f"/proc/{pid}/maps").read_text() for pid in servers.pids)
            for n in [int(s) for s in args.sessions.split(",")]:
                row, ms = run_round(p, url, y4m, n, args.seconds, servers, args.nice_browsers, args.drawn_by)
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
          f"{args.drawn_by}\n")
    _common.print_table(rows)
    if not args.no_stage_profile:
        print("\nserver CPU ms per processed frame, by stage (sampling profiler inside the server):\n")
        _common.print_table(stage_table(stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
