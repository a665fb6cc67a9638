"""Back-off for wrong passwords, per client key (IP address, browser session). No Streamlit here.

The first `free_failures` wrong passwords cost nothing; after that each key is
locked for 2, 4, 8 ... seconds (capped at `max_lock_s`) after every further
failure. While a key is locked no password is checked for it at all, so
guessing is limited to a handful of tries per minute whatever the client does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0


class LoginThrottle:
    """Counts failures per key; thread-safe; forgets keys idle for `forget_after_s`."""

    def __init__(self, free_failures: int = 5, max_lock_s: float = 300.0, forget_after_s: float = 3600.0,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.free_failures = free_failures
        self.max_lock_s = max_lock_s
        self.forget_after_s = forget_after_s
        self.max_keys = max_keys
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_s(self, keys: Iterable[str]) -> float:
        """Seconds until any of `keys` may try again (0: try now)."""
        now = self._clock()
        with self._lock:
            return max([self._records[k].locked_until - now for k in keys if k in self._records] + [0.0])

    def failed(self, keys: Iterable[str]) -> int:
        """Record one wrong password for every key; the largest failure count among them."""
        now = self._clock()
        worst = 0
        with self._lock:
            self._forget_idle(now)
            for key in keys:
                record = self._records.setdefault(key, _Record())
                record.failures += 1
                record.last_seen = now
                extra = record.failures - self.free_failures
                if extra > 0:
                    record.locked_until = now + min(self.max_lock_s, 2.0 ** extra)
                worst = max(worst, record.failures)
        return worst

    def succeeded(self, keys: Iterable[str]) -> None:
        """A right password clears the keys' history."""
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def _forget_idle(self, now: float) -> None:
        stale = [k for k, r in self._records.items()
                 if now - r.last_seen > self.forget_after_s and r.locked_until <= now]
        for key in stale:
            del self._records[key]
        if len(self._records) >= self.max_keys:  # bounded memory under a flood of new keys
            oldest = sorted(self._records, key=lambda k: self._records[k].last_seen)
            for key in oldest[: len(self._records) - self.max_keys + 1]:
                del self._records[key]
