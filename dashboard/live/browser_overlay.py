"""The Live page's browser-overlay component: shown, its offers answered, its peer ended with the session."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from dashboard.live.overlay_peer import OverlayPeer
from dashboard.live.processor import LiveProcessor
from dashboard.session_files import session_folder

_component = components.declare_component("live_overlay", path=str(Path(__file__).parent / "overlay_component"))
KEY = "live_overlay"


def current_peer() -> OverlayPeer | None:
    """This browser session's overlay peer (None before Start, after Stop or a failed answer)."""
    return st.session_state.get(f"{KEY}::peer")


def close_peer() -> None:
    """End this session's overlay peer, if any (the visitor switched to server-drawn overlays)."""
    peer = st.session_state.pop(f"{KEY}::peer", None)
    if peer is not None:
        peer.close()


def _on_message(processor: LiveProcessor, rtc_configuration: dict) -> None:
    """The component sent an offer (Start) or a stop: answer the offer with a new peer, or end the peer."""
    value = st.session_state.get(KEY) or {}
    if not isinstance(value, dict):
        return
    close_peer()
    if "offer" not in value:
        return
    peer = OverlayPeer(processor, rtc_configuration)
    try:
        answer = {**peer.answer(value["offer"]), "id": value.get("id")}
        st.session_state[f"{KEY}::peer"] = peer
        session_folder().on_close(peer.close)
    except Exception as exc:  # a malformed offer, ICE gathering that never ends
        peer.close()
        answer = {"error": f"The server could not answer the browser's connection request: {exc}",
                  "id": value.get("id")}
    st.session_state[f"{KEY}::answer"] = answer


def browser_overlay(processor: LiveProcessor, rtc_configuration: dict, constraints: dict) -> OverlayPeer | None:
    """The webcam preview with the faces drawn by the browser; returns the session's peer (None: not started)."""
    _component(rtc_configuration=rtc_configuration, constraints=constraints,
               answer=st.session_state.get(f"{KEY}::answer"), key=KEY, default=None,
               on_change=partial(_on_message, processor, rtc_configuration))
    return current_peer()
