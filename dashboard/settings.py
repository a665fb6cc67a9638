"""App settings from `.streamlit/secrets.toml` and the environment, with sensible defaults.

secrets.toml (all optional)::

    [data]
    roots = ["data", "/srv/datasets"]      # folders whose sub-folders may be browsed
    default = "data/fer2013"               # preselected data root

    [auth]
    password = "team password"             # asked once per browser session
    admin_password = "admin password"      # unlocks the Training page
    hide_training = true                   # hide Training from non-admins

    [webrtc]
    ice_servers = [{urls = ["stun:stun.example.org:3478"]},
                   {urls = ["turn:turn.example.org:3478"], username = "u", credential = "p"}]
    max_fps = 15                           # frames per second asked of each webcam
    max_width = 640                        # webcam resolution asked for (height follows 4:3)

Environment variables override: EMOTION_DATA_ROOTS (os.pathsep-separated),
EMOTION_DATA_DEFAULT, EMOTION_RUNS_DIR, EMOTION_MODEL_DIR, EMOTION_ICE_SERVERS (JSON),
EMOTION_LIVE_MAX_FPS, EMOTION_LIVE_MAX_WIDTH.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from emotion_core.runs import PROJECT_ROOT


def secret(section: str, key: str, default: Any = None) -> Any:
    """A value from st.secrets, or `default` when there is no secrets file or no such key."""
    import streamlit as st

    try:
        return st.secrets[section][key]
    except (KeyError, FileNotFoundError, AttributeError):
        return default
    except Exception:  # noqa: BLE001 - a malformed secrets.toml must not break every page
        return default


def _absolute(path: str | Path) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else PROJECT_ROOT / p).resolve()


def data_roots() -> list[Path]:
    """Folders under which data roots may be chosen (others are refused)."""
    env = os.environ.get("EMOTION_DATA_ROOTS")
    if env:
        raw = [p for p in env.split(os.pathsep) if p]
    else:
        raw = secret("data", "roots", None) or ["data", str(PROJECT_ROOT.parent / "shared" / "datasets")]
    return [_absolute(p) for p in raw]


def default_data_root() -> Path | None:
    """The preselected data root: setting, else the first allowed folder that holds train/ and test/."""
    configured = os.environ.get("EMOTION_DATA_DEFAULT") or secret("data", "default", None)
    if configured:
        return _absolute(configured)
    for root in data_roots():
        for candidate in [root, *sorted(p for p in root.glob("*") if p.is_dir())] if root.is_dir() else []:
            if (candidate / "train").is_dir() and (candidate / "test").is_dir():
                return candidate
    return None


def resolve_data_root(user_path: str) -> Path:
    """The resolved path if it lies inside a configured data root; ValueError otherwise."""
    if not user_path or not user_path.strip():
        raise ValueError("Enter a data root folder.")
    path = _absolute(user_path.strip())
    for root in data_roots():
        if path == root or root in path.parents:
            return path
    allowed = ", ".join(str(r) for r in data_roots())
    raise ValueError(f"{path} is outside the configured data roots ({allowed}); it cannot be browsed.")


def model_dir() -> Path:
    """The model served by default: EMOTION_MODEL_DIR or models/default."""
    from emotion_core.inference import default_model_dir

    return _absolute(default_model_dir())


def ice_servers() -> list[dict]:
    """ICE servers for WebRTC: EMOTION_ICE_SERVERS (JSON), else secrets [webrtc] ice_servers, else [] (loopback/LAN)."""
    env = os.environ.get("EMOTION_ICE_SERVERS")
    if env:
        try:
            servers = json.loads(env)
        except ValueError:
            servers = []
    else:
        servers = secret("webrtc", "ice_servers", []) or []
    return [dict(s) for s in servers if isinstance(s, dict) or hasattr(s, "keys")]


def rtc_configuration() -> dict:
    return {"iceServers": ice_servers()}


def _clamped_number(env: str, key: str, default: float, low: float, high: float) -> float:
    """A number from the environment or secrets [webrtc], clamped to [low, high]; default when unusable."""
    raw = os.environ.get(env) or secret("webrtc", key, None)
    try:
        value = float(raw) if raw is not None else default
    except (TypeError, ValueError):
        value = default
    return min(max(value, low), high)


def video_constraints() -> dict:
    """getUserMedia constraints for the Live page's webcam.

    Every frame costs the server a VP8 decode, the pipeline and a VP8 encode, so
    the browser is asked for at most `max_fps` (default 15: plenty for
    expressions, half of a webcam's 30) at up to `max_width` pixels (default 640).
    """
    fps = _clamped_number("EMOTION_LIVE_MAX_FPS", "max_fps", 15, 1, 60)
    width = int(_clamped_number("EMOTION_LIVE_MAX_WIDTH", "max_width", 640, 160, 1920))
    return {
        "video": {"width": {"ideal": width, "max": width}, "height": {"ideal": width * 3 // 4},
                  "frameRate": {"ideal": fps, "max": fps}},
        "audio": False,
    }
