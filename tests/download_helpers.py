"""The bytes behind an AppTest download button (AppTest keeps media files in a storage it does not expose)."""

from __future__ import annotations

from typing import Callable

import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest


def capture_downloads(monkeypatch) -> Callable[[AppTest, str], bytes]:
    """Patch AppTest to keep its media storages; returns `downloaded(at, label, index=0)` -> the bytes of the
    index-th button with that label, from the latest run."""
    storages: list[MemoryMediaFileStorage] = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            storages.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Kept)

    def downloaded(at: AppTest, label: str, index: int = 0) -> bytes:
        button = [b for b in at.get("download_button") if b.proto.label == label][index]
        return storages[-1].get_file(button.proto.url.rsplit("/", 1)[1]).content

    return downloaded
