"""What the Live page says about its WebRTC connection, and what the server log records.

A connection that never comes up (a wrong TURN password, a blocked port) used
to show only the component's spinner forever. `ConnectionWatch` turns the
component state and the server-side ICE state into one line for the visitor,
and logs every change of phase once (no Streamlit calls here: tested alone).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

LOG = logging.getLogger("emotion_dashboard.webrtc")
SLOW_AFTER_S = 10.0  # connecting longer than this: say what to check


@dataclass(frozen=True)
class ConnectionStatus:
    phase: str  # idle | connecting | slow | failed | streaming | stalled
    message: str
    level: str  # caption | info | warning | error


class ConnectionWatch:
    """One per browser session: feed it what the page sees every second."""

    def __init__(self, session: str = "", relay_only: bool = False, clock=time.monotonic):
        self.session = session
        self.relay_only = relay_only
        self._clock = clock
        self._since: float | None = None
        self._phase = "idle"

    def observe(self, started: bool, ice_state: str | None, last_frame_age: float | None) -> ConnectionStatus:
        """started: the visitor pressed Start (signalling or playing); ice_state: the server's
        RTCPeerConnection.iceConnectionState (None before an offer arrived); last_frame_age: seconds since
        the last processed frame (None: none yet)."""
        now = self._clock()
        if not started:
            self._since = None
            return self._enter(ConnectionStatus("idle", "Press Start to send your webcam to the server.", "caption"))
        if self._since is None:
            self._since = now
        waited = now - self._since
        if last_frame_age is not None and last_frame_age <= 3:
            return self._enter(ConnectionStatus("streaming", "", "caption"))
        if ice_state in ("failed", "closed"):
            return self._enter(ConnectionStatus(
                "failed", f"The video connection failed (ICE {ice_state}). {self._advice()}", "error"))
        if last_frame_age is not None:
            return self._enter(ConnectionStatus(
                "stalled", f"No video for {last_frame_age:.0f} s (ICE {ice_state or 'unknown'}).", "warning"))
        if waited > SLOW_AFTER_S:
            return self._enter(ConnectionStatus(
                "slow", f"Still connecting after {waited:.0f} s (ICE {ice_state or 'no answer yet'}). "
                        f"{self._advice()}", "warning"))
        return self._enter(ConnectionStatus("connecting", f"Connecting (ICE {ice_state or 'starting'})...", "info"))

    def _advice(self) -> str:
        if self.relay_only:
            return ("This server allows only TURN-relayed video: check [webrtc] turn_secret / turn_urls "
                    "(or the TURN server's credentials) and that the TURN port is reachable.")
        return ("Across networks the browser and the server need a STUN/TURN server: see [webrtc] in "
                "secrets.toml and the README's deployment section.")

    def _enter(self, status: ConnectionStatus) -> ConnectionStatus:
        if status.phase != self._phase:
            level = {"failed": logging.ERROR, "slow": logging.WARNING, "stalled": logging.WARNING}.get(
                status.phase, logging.INFO)
            LOG.log(level, "live session %s: %s -> %s %s", self.session, self._phase, status.phase, status.message)
            self._phase = status.phase
        return status


def server_ice_state(ctx) -> str | None:
    """The server-side ICE connection state of a streamlit-webrtc context, or None."""
    worker = ctx._get_worker() if hasattr(ctx, "_get_worker") else None  # no public accessor in 0.79
    pc = getattr(worker, "pc", None)
    return getattr(pc, "iceConnectionState", None)
