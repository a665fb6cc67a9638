"""`streamlit run` for the browser tests and benchmarks, with the live server's counters written to a file.

    python tests/serve_app.py STATS_FILE run Home.py [streamlit options...]

The app itself writes nothing of the kind: this wrapper starts Streamlit in its own process and a
thread that writes `dashboard.live.processor.SERVER_STATS.snapshot()` to STATS_FILE (JSON) every half second,
so a test can see frames, faces, sessions and model loads from outside. With EMOTION_STAGE_PROFILE=1 in
the environment a `dashboard.live.stage_profile.StageProfiler` runs too and the file gains `stage_cpu_s`
(CPU seconds per stage so far; benchmarks/live_load.py turns them into milliseconds per frame).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


def write_stats_forever(path: Path, every_s: float = 0.5) -> None:
    from dashboard.live.processor import SERVER_STATS
    from dashboard.live.stage_profile import StageProfiler
    from emotion_core import atomic

    profiler = StageProfiler().start() if os.environ.get("EMOTION_STAGE_PROFILE") == "1" else None
    while True:
        stats = SERVER_STATS.snapshot()
        if profiler is not None:
            stats["stage_cpu_s"] = profiler.totals()
        atomic.write_bytes(path, json.dumps(stats).encode())
        time.sleep(every_s)


def main() -> int:
    from streamlit.web import cli

    stats_file, streamlit_args = Path(sys.argv[1]), sys.argv[2:]
    threading.Thread(target=write_stats_forever, args=(stats_file,), name="stats-file", daemon=True).start()
    sys.argv = ["streamlit", *streamlit_args]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
