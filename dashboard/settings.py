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
    ice_transport_policy = "relay"         # "all" (default) or "relay": only the TURN relay
    turn_secret = "coturn static-auth-secret"  # short-lived TURN credentials per session
    turn_urls = ["turn:turn.example.org:3478"]
    turn_ttl_s = 3600

    [live]
    max_recording_minutes = 10             # a Live recording stops itself after this long
    detect_every = 1                       # find faces on every Nth frame, follow them in between (1-10)
    reuse_below = 3.0                      # a face whose picture changed less (gray levels, in any cell of
                                           # an 8x8 grid) keeps its last classification, up to 3 frames in
                                           # a row (0: off)
    overlays = "server"                    # who draws the boxes when the page opens: "server" (annotated
                                           # video back) or "browser" (boxes over the data channel, lighter
                                           # for the server); each visitor can still switch

    [detector]
    kind = "blazeface"                     # "blazeface" (default), "blazeface-full" or "haar"
    align = true                           # turn each face so the eyes are level (BlazeFace only)

Environment variables override: EMOTION_DATA_ROOTS (os.pathsep-separated),
EMOTION_DATA_DEFAULT, EMOTION_RUNS_DIR, EMOTION_MODEL_DIR, EMOTION_ICE_SERVERS (JSON),
EMOTION_LIVE_MAX_FPS, EMOTION_LIVE_MAX_WIDTH, EMOTION_ICE_TRANSPORT_POLICY, EMOTION_TURN_SECRET,
EMOTION_TURN_URLS (comma-separated), EMOTION_TURN_TTL_S, EMOTION_DETECTOR, EMOTION_ALIGN_FACES (true/false),
EMOTION_MAX_RECORDING_MINUTES, EMOTION_DETECT_EVERY, EMOTION_REUSE_BELOW, EMOTION_LIVE_OVERLAYS.
`validate_settings()` checks them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

from emotion_core.runs import PROJECT_ROOT


class SettingsError(RuntimeError):
    """The settings cannot be used as written (unparseable secrets.toml, wrong types); the app stops."""


def secret(section: str, key: str, default: Any = None) -> Any:
    """A value from st.secrets, or `default` when there is no secrets file or no such key.

    A secrets file that exists but does not parse raises SettingsError: falling back
    to defaults would silently switch the password off.
    """
    import streamlit as st

    try:
        return st.secrets[section][key]
    except FileNotFoundError as exc:  # Streamlit's "secret not found" errors subclass it
        if getattr(exc, "error_id", None) == "no-secrets-found":
            return default
        raise SettingsError(f"The secrets file cannot be read: {exc}") from None
    except (KeyError, AttributeError):
        return default


def validate_settings() -> None:
    """Check every setting a visitor depends on; SettingsError naming the first problem.

    `[auth]` with a password that is not a non-empty string never means "open":
    remove the key to run without a password.
    """
    for key in ("password", "admin_password"):
        value = secret("auth", key, None)
        if value is not None and (not isinstance(value, str) or not value):
            got = "an empty string" if value == "" else f"a {type(value).__name__}"
            raise SettingsError(f"[auth] {key} must be a non-empty string in secrets.toml (got {got}); "
                                "remove the key to run without it.")
    hide = secret("auth", "hide_training", False)
    if not isinstance(hide, bool):
        raise SettingsError(f"[auth] hide_training must be true or false, got {hide!r}.")
    ice_servers()
    ice_transport_policy()
    turn_credentials()
    detector_kind()
    align_faces()
    max_recording_seconds()
    detect_every()
    reuse_below()
    overlays_drawn_by()


def detector_kind() -> str:
    """The face detector pages start with: EMOTION_DETECTOR or [detector] kind (see detect.DETECTORS)."""
    from emotion_core.serving.detect import DEFAULT_DETECTOR, DETECTORS

    kind = os.environ.get("EMOTION_DETECTOR") or secret("detector", "kind", DEFAULT_DETECTOR)
    if kind not in DETECTORS:
        raise SettingsError(f"[detector] kind (or EMOTION_DETECTOR) must be one of {', '.join(DETECTORS)}; "
                            f"got {kind!r:.40}.")
    return kind


def align_faces() -> bool:
    """Whether face crops are turned so the eyes are level: EMOTION_ALIGN_FACES or [detector] align."""
    from emotion_core.serving.pipeline import ALIGN_BY_DEFAULT

    raw = os.environ.get("EMOTION_ALIGN_FACES")
    value: Any = secret("detector", "align", ALIGN_BY_DEFAULT) if raw is None else \
        {"true": True, "1": True, "false": False, "0": False}.get(raw.strip().lower(), raw)
    if not isinstance(value, bool):
        raise SettingsError(f"[detector] align (or EMOTION_ALIGN_FACES) must be true or false; got {value!r:.40}.")
    return value


def max_recording_seconds() -> float:
    """How long a Live recording may run: EMOTION_MAX_RECORDING_MINUTES or [live] max_recording_minutes
    (default 10), in seconds."""
    from emotion_core.media.recording import DEFAULT_MAX_SECONDS

    raw = os.environ.get("EMOTION_MAX_RECORDING_MINUTES") or secret("live", "max_recording_minutes", None)
    if raw is None:
        return DEFAULT_MAX_SECONDS
    try:
        minutes = float(raw)
    except (TypeError, ValueError):
        minutes = float("nan")
    if not 0 < minutes <= 24 * 60:
        raise SettingsError(f"[live] max_recording_minutes (or EMOTION_MAX_RECORDING_MINUTES) must be a number of "
                            f"minutes above 0 and at most 1440; got {raw!r:.40}.")
    return minutes * 60


def detect_every() -> int:
    """Live: find faces on every Nth frame and classify the followed faces in between (EMOTION_DETECT_EVERY or
    [live] detect_every, 1 to 10, default 1)."""
    raw = os.environ.get("EMOTION_DETECT_EVERY") or secret("live", "detect_every", None)
    if raw is None:
        return 1
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    if value is None or not 1 <= value <= 10:
        raise SettingsError(f"[live] detect_every (or EMOTION_DETECT_EVERY) must be a whole number from 1 to 10; "
                            f"got {raw!r:.40}.")
    return value


def reuse_below() -> float:
    """Live: gray levels a face's crop may change (`pipeline.crop_change`) and keep its last classification
    (EMOTION_REUSE_BELOW or [live] reuse_below, 0 to 50, 0 off; default `pipeline.REUSE_BELOW`)."""
    from emotion_core.serving.pipeline import REUSE_BELOW

    raw = os.environ.get("EMOTION_REUSE_BELOW") or secret("live", "reuse_below", None)
    if raw is None:
        return REUSE_BELOW
    try:
        value = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 <= value <= 50:
        raise SettingsError(f"[live] reuse_below (or EMOTION_REUSE_BELOW) must be a number of gray levels from 0 "
                            f"to 50 (0: classify every frame); got {raw!r:.40}.")
    return value


OVERLAYS = ("server", "browser")


def overlays_drawn_by() -> str:
    """Live: who draws the faces when the page opens, "server" (default) or "browser" (EMOTION_LIVE_OVERLAYS or
    [live] overlays); the visitor can switch."""
    raw = os.environ.get("EMOTION_LIVE_OVERLAYS") or secret("live", "overlays", OVERLAYS[0])
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value not in OVERLAYS:
        raise SettingsError(f'[live] overlays (or EMOTION_LIVE_OVERLAYS) must be "server" or "browser"; '
                            f"got {raw!r:.40}.")
    return value


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
    try:
        path = _absolute(user_path.strip())
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop (RuntimeError on Python 3.11)
        raise ValueError(f"{user_path.strip()[:200]} cannot be used as a folder: "
                         f"{getattr(exc, 'strerror', None) or exc}.") from None
    for root in data_roots():
        if path == root or root in path.parents:
            return path
    allowed = ", ".join(str(r) for r in data_roots())
    raise ValueError(f"{path} is outside the configured data roots ({allowed}); it cannot be browsed.")


def model_dir() -> Path:
    """The model served by default: EMOTION_MODEL_DIR or models/default."""
    from emotion_core.serving.inference import default_model_dir

    return _absolute(default_model_dir())


def ice_servers() -> list[dict]:
    """ICE servers for WebRTC: EMOTION_ICE_SERVERS (JSON), else secrets [webrtc] ice_servers, else [] (loopback/LAN).

    Short-lived TURN credentials ([webrtc] turn_secret) are added by `rtc_configuration`.
    A malformed list is a SettingsError, never a silent [].
    """
    env = os.environ.get("EMOTION_ICE_SERVERS")
    if env:
        try:
            servers = json.loads(env)
        except ValueError as exc:
            raise SettingsError(f"EMOTION_ICE_SERVERS is not valid JSON ({exc}); expected a list like "
                                '[{"urls": ["stun:host:3478"]}].') from None
        origin = "EMOTION_ICE_SERVERS"
    else:
        servers = secret("webrtc", "ice_servers", []) or []
        origin = "[webrtc] ice_servers"
    if not isinstance(servers, list):
        raise SettingsError(f"{origin} must be a list of servers, got {type(servers).__name__}.")
    checked = []
    for i, server in enumerate(servers):
        if not (isinstance(server, dict) or hasattr(server, "keys")):
            raise SettingsError(f"{origin}[{i}] must be a table with urls, got {server!r}.")
        server = dict(server)
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not isinstance(urls, list) or not all(
                isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns") for u in urls):
            raise SettingsError(f"{origin}[{i}].urls must list stun:/turn: URLs, got {server.get('urls')!r}.")
        if any(u.startswith("turn") for u in urls) and not (server.get("username") and server.get("credential")):
            raise SettingsError(f"{origin}[{i}] is a TURN server without username and credential.")
        checked.append({**server, "urls": urls})
    return checked


def ice_transport_policy() -> str:
    """"all" (default) or "relay" (browsers use only the TURN relay: tests a TURN set-up, hides client IPs)."""
    policy = os.environ.get("EMOTION_ICE_TRANSPORT_POLICY") or secret("webrtc", "ice_transport_policy", "all")
    if policy not in ("all", "relay"):
        raise SettingsError(f'[webrtc] ice_transport_policy must be "all" or "relay", got {policy!r}.')
    return policy


def turn_credentials(now: float | None = None) -> dict | None:
    """A TURN server entry with credentials valid for up to [webrtc] turn_ttl_s, or None when not configured.

    coturn's `use-auth-secret` scheme (the TURN REST API): username "<expiry>:emotion",
    credential base64(HMAC-SHA1(secret, username)). Each browser session gets its own,
    so the static secret never reaches a browser.
    """
    shared = os.environ.get("EMOTION_TURN_SECRET") or secret("webrtc", "turn_secret", None)
    if shared is None:
        return None
    urls = secret("webrtc", "turn_urls", None)
    env_urls = os.environ.get("EMOTION_TURN_URLS")
    urls = [u for u in env_urls.split(",") if u] if env_urls else urls
    ttl = _clamped_number("EMOTION_TURN_TTL_S", "turn_ttl_s", 3600, 60, 86400)
    if not isinstance(shared, str) or not shared:
        raise SettingsError("[webrtc] turn_secret must be a non-empty string (coturn's static-auth-secret).")
    if not urls or not isinstance(urls, list) or not all(isinstance(u, str) and u.startswith("turn") for u in urls):
        raise SettingsError("[webrtc] turn_urls must list turn: URLs (e.g. [\"turn:turn.example.org:3478\"]) "
                            "when turn_secret is set.")
    # The expiry moves in steps of ttl/2, so reruns within a step give the same credential (the page's
    # WebRTC arguments stay unchanged) and every credential handed out is valid for ttl/2 to ttl seconds.
    step = max(1, int(ttl) // 2)
    now = time.time() if now is None else now
    username = f"{(int(now) // step + 2) * step}:emotion"
    digest = hmac.new(shared.encode(), username.encode(), hashlib.sha1).digest()
    return {"urls": list(urls), "username": username, "credential": base64.b64encode(digest).decode()}


def rtc_configuration() -> dict:
    """The RTCPeerConnection configuration the browser gets (a fresh TURN credential each call)."""
    servers = ice_servers()
    turn = turn_credentials()
    if turn is not None:
        servers.append(turn)
    return {"iceServers": servers, "iceTransportPolicy": ice_transport_policy()}


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
