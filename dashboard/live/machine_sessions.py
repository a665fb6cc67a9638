"""Live sessions of every app process on this machine, so that admission counts the machine's sessions.

Several app processes may share one machine (one process's Python threads use little more than one core).
Each process writes how many Live sessions it streams or has let in to connect to `<pid>.json` in a folder
they all see, `EMOTION_CACHE_DIR/live` (processes on one machine share that cache directory by default);
admission adds the other processes' counts to its own. A count that is old, or whose process is gone, counts nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from emotion_core.paths import default_cache_dir

PUBLISH_EVERY_S = 1.0  # an unchanged count is rewritten this often, so that it stays fresh
FRESH_S = 10.0  # a count older than this is from a process that stopped streaming (or hangs)

log = logging.getLogger("emotion_dashboard.live")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class MachineSessions:
    """This process's count of Live sessions (streaming or connecting), published; the other processes', read."""

    def __init__(self, folder: Path | None = None, pid: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._folder, self.pid, self.clock = folder, pid or os.getpid(), clock
        self._published: tuple[int | None, float] = (None, float("-inf"))  # (count, when)
        self._warned = False
        self._lock = threading.Lock()  # every session's video thread publishes

    @property
    def folder(self) -> Path:
        return self._folder or default_cache_dir() / "live"

    def publish(self, sessions: int) -> None:
        """Write this process's count when it changed or once every PUBLISH_EVERY_S. A folder that cannot be
        written leaves the other processes counting this one as empty (logged once), never stops a frame."""
        with self._lock:
            now = self.clock()
            count, then = self._published
            if count == sessions and now - then < PUBLISH_EVERY_S:
                return
            self._published = (sessions, now)
            target = self.folder / f"{self.pid}.json"
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                tmp.write_text(json.dumps({"pid": self.pid, "sessions": sessions, "time": now}))
                os.replace(tmp, target)  # readers see the old count or the new one, never half
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    log.warning("Cannot share the Live session count with other app processes in %s: %s",
                                target.parent, exc.strerror or exc)

    def others(self) -> int:
        """Sessions in this machine's other app processes (fresh counts of live processes)."""
        now, total = self.clock(), 0
        try:
            paths = list(self.folder.glob("*.json"))
        except OSError:
            return 0
        for path in paths:
            try:
                pid = int(path.stem)
                entry = json.loads(path.read_text())
                sessions, then = int(entry["sessions"]), float(entry["time"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # vanished while listed, or not one of ours
            if pid == self.pid:
                continue
            if not process_alive(pid):
                with contextlib.suppress(OSError):
                    path.unlink()  # a process that died without cleaning up
                continue
            if now - then <= FRESH_S:
                total += max(0, sessions)
        return total
