"""Optional shared password and admin role from `.streamlit/secrets.toml` ([auth])."""

from __future__ import annotations

import hmac

import streamlit as st

from dashboard.settings import secret


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())  # constant time


def password_required() -> bool:
    return bool(secret("auth", "password", ""))


def require_login() -> None:
    """Ask for the team password once per browser session; st.stop() until it is right."""
    expected = secret("auth", "password", "")
    if not expected or st.session_state.get("authenticated"):
        return
    st.title("Emotion dashboard")
    with st.form("login"):
        given = st.text_input("Team password", type="password")
        submitted = st.form_submit_button("Enter")
    if submitted:
        if _matches(given, str(expected)):
            st.session_state["authenticated"] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()


def is_admin() -> bool:
    """True when no admin password is set, or this session entered it."""
    admin = secret("auth", "admin_password", "")
    return not admin or bool(st.session_state.get("admin"))


def training_visible() -> bool:
    return is_admin() or not secret("auth", "hide_training", False)


def admin_login_widget() -> None:
    """A small sidebar form that unlocks admin pages."""
    admin = secret("auth", "admin_password", "")
    if not admin or st.session_state.get("admin"):
        return
    with st.sidebar.expander("Admin"):
        given = st.text_input("Admin password", type="password", key="admin_pw")
        if st.button("Unlock", key="admin_unlock"):
            if _matches(given, str(admin)):
                st.session_state["admin"] = True
                st.rerun()
            st.error("Wrong admin password.")
