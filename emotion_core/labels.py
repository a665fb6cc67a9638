"""The fixed label order of the 7 FER-2013 emotions and folder-name matching."""

from __future__ import annotations

# Label index i is EMOTIONS[i]. This order is part of every saved model's
# contract (config.json stores it too): alphabetical, as FER-2013 folders sort.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES: int = len(EMOTIONS)

# Folder names some data sets use instead of the canonical ones.
ALIASES: dict[str, str] = {"anger": "angry", "disgusted": "disgust", "fearful": "fear",
                           "happiness": "happy", "sadness": "sad", "surprised": "surprise"}


def canonical_emotion(folder_name: str) -> str | None:
    """Map a class folder name to its canonical emotion (case-insensitive), or None."""
    name = folder_name.strip().lower()
    name = ALIASES.get(name, name)
    return name if name in EMOTIONS else None
