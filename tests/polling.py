"""Waiting in tests for something another thread or process does."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    """Poll `predicate()` until it is true or `timeout` seconds have passed; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
