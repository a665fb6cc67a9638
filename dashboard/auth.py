"""Optional shared password and admin role from `.streamlit/secrets.toml` ([auth]).

Home.py is the only entry point (pages live in `app_pages/`, which Streamlit does
not serve on its own), so `require_login()` runs before any page, whatever URL a
visitor opens. Wrong passwords are throttled per client IP and per browser
session and logged (never the password).
"""

from __future__ import annotations

import hmac
import logging

import streamlit as st

from dashboard.login_throttle import LoginThrottle
from dashboard.settings import secret

LOG = logging.getLogger("emotion_dashboard.auth")
THROTTLE = LoginThrottle()  # one per server process, shared by every session


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())  # constant time


def _client_keys(kind: str) -> list[str]:
    """Throttle keys of this visitor: its IP address (when known) and its browser session."""
    keys = [f"{kind}:session:{_session_id()}"]
    ip = _client_ip()
    if ip:
        keys.append(f"{kind}:ip:{ip}")
    return keys


def _client_ip() -> str | None:
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context (tests, old Streamlit)
        return None
    return ip if isinstance(ip, str) and ip else None  # AppTest answers with a mock object


def _session_id() -> str:
    if "_auth_session_id" not in st.session_state:
        import secrets

        st.session_state["_auth_session_id"] = secrets.token_hex(8)
    return st.session_state["_auth_session_id"]


def check_password(kind: str, given: str, expected: str) -> tuple[bool, str | None]:
    """(accepted, message for the visitor); throttled, failures logged without the password."""
    keys = _client_keys(kind)
    wait = THROTTLE.wait_s(keys)
    if wait > 0:
        return False, f"Too many wrong passwords: try again in {wait:.0f} s."
    if _matches(given, expected):
        THROTTLE.succeeded(keys)
        return True, None
    failures = THROTTLE.failed(keys)
    LOG.warning("wrong %s password from %s (failure %d)", kind, _client_ip() or "unknown address", failures)
    wait = THROTTLE.wait_s(keys)
    return False, "Wrong password." + (f" Try again in {wait:.0f} s." if wait > 0 else "")


def logged_in() -> bool:
    """True when no team password is set, or this browser session entered it."""
    return secret("auth", "password", None) is None or bool(st.session_state.get("authenticated"))


def require_login() -> None:
    """Ask for the team password once per browser session; st.stop() until it is right."""
    if logged_in():
        return
    expected = secret("auth", "password", None)
    st.title("Emotion dashboard")
    with st.form("login"):
        given = st.text_input("Team password", type="password")
        submitted = st.form_submit_button("Enter")
    if submitted:
        _unlock("team", given, str(expected), "authenticated")
    st.stop()


def _unlock(kind: str, given: str, expected: str, state_key: str) -> None:
    """Check a submitted password: right -> mark this session and rerun; wrong -> the (throttled) message."""
    accepted, message = check_password(kind, given, expected)
    if accepted:
        st.session_state[state_key] = True
        st.rerun()
    st.error(message)


def is_admin() -> bool:
    """True when no admin password is set, or this session entered it."""
    admin = secret("auth", "admin_password", None)
    return admin is None or bool(st.session_state.get("admin"))


def training_visible() -> bool:
    return is_admin() or not secret("auth", "hide_training", False)


def admin_login_widget() -> None:
    """A small sidebar form that unlocks admin pages."""
    admin = secret("auth", "admin_password", None)
    if admin is None or st.session_state.get("admin"):
        return
    with st.sidebar.expander("Admin"):
        given = st.text_input("Admin password", type="password", key="admin_pw")
        if st.button("Unlock", key="admin_unlock"):
            _unlock("admin", given, str(admin), "admin")
