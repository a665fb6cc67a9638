"""One adjustment to Streamlit's script runner, applied when the dashboard package is imported.

After every script run (every fragment rerun too) Streamlit calls
`keras.backend.clear_session()` whenever keras is imported, for apps that build
models inside the script. This app never does (training runs in its own
process; served models are `st.cache_resource` objects), so the reset is pure
cost: time holding the GIL plus a full garbage collection on every rerun. With
a few Live sessions, each rerunning its stats fragment every second, that
starves the video threads. Matplotlib's cleanup, the other half of that
function, is kept.
"""

from __future__ import annotations

import sys


def _clean_problem_modules_without_keras() -> None:
    """Streamlit's post-run cleanup minus the Keras session reset."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001 - as Streamlit does: cleanup must not crash the app
            pass


def skip_keras_session_reset() -> bool:
    """Replace Streamlit's post-run cleanup; True when it is in place (idempotent)."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return False
    if not hasattr(script_runner, "_clean_problem_modules"):
        return False  # a Streamlit without this hook: nothing to undo
    script_runner._clean_problem_modules = _clean_problem_modules_without_keras
    return True
