"""Emotion dashboard: entry point, router and Home page. Run with `streamlit run Home.py`.

Every URL runs this script first: the pages live in `app_pages/` (not `pages/`,
which Streamlit would also serve directly, without the login) and are reached
only through `st.navigation` below, after the settings check and the login.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard import auth, settings

ICON = Path(__file__).resolve().parent / "dashboard" / "assets" / "icon.png"  # local: no font or CDN fetch


def home() -> None:
    from dashboard.resources import quick_counts
    from emotion_core.data.dataset import DataError
    from emotion_core.runs import default_runs_dir, list_runs, load_run

    st.title("Facial emotion dashboard")
    st.markdown(
        "Inspect a FER-2013-style data set, train **MobileViT** (XXS / XS / S) from the browser with live charts, "
        "judge models by their confusion matrices, and point a webcam at the served model."
    )
    col_data, col_runs, col_model = st.columns(3)
    with col_data:
        st.subheader("Data set")
        root = settings.default_data_root()
        if root is None:
            st.info("No data set found under the configured data roots "
                    f"({', '.join(str(r) for r in settings.data_roots())}).")
        else:
            try:
                counts = quick_counts(str(root))
                st.metric("Images", f"{sum(counts['train'].values()) + sum(counts['test'].values()):,}")
                st.caption(f"{root}: train {sum(counts['train'].values()):,}, test {sum(counts['test'].values()):,}")
            except DataError as exc:
                st.warning(str(exc))
    with col_runs:
        st.subheader("Runs")
        all_runs = list_runs(default_runs_dir())
        scored = [r for r in all_runs if r.test_accuracy is not None]
        st.metric("Training runs", len(all_runs))
        if scored:
            best = max(scored, key=lambda r: r.test_accuracy)
            st.caption(f"Best test accuracy {best.test_accuracy:.2%} ({best.run_id})")
        active = [r for r in all_runs if r.state == "running"]
        if active:
            st.caption(f"Training now: {active[0].run_id}")
        damaged = [r for r in all_runs if r.problems]
        if damaged:
            st.warning(f"{len(damaged)} run(s) with damaged files: " + ", ".join(
                f"{r.run_id} ({r.problems[0]})" for r in damaged[:3]))
    with col_model:
        st.subheader("Served model")
        model_dir = settings.model_dir()
        served = load_run(model_dir)
        if served.servable:
            variant = str(served.config.get("variant", "?")).upper()
            acc = served.test_accuracy
            st.metric(f"MobileViT-{variant}", f"{acc:.2%}" if acc is not None else "n/a",
                      help="test accuracy on the data set it was trained for")
            st.caption(str(model_dir))
        else:
            st.warning(f"No model in {model_dir}: train one on the Training page.")

    st.subheader("Pages")
    for page, text in PAGE_TEXT.items():
        if page in visible_pages():
            st.page_link(page, label=text[0], icon=text[1])
            st.caption(text[2])


PAGE_TEXT = {
    "app_pages/1_Dataset.py": ("Dataset", ":material/dataset:", "Counts per class, sample faces, pixel statistics, unreadable files."),
    "app_pages/2_Augmentation.py": ("Augmentation", ":material/tune:", "Preview flips, rotation and zoom on real samples."),
    "app_pages/3_Training.py": ("Training", ":material/model_training:", "Train MobileViT in the background with live charts."),
    "app_pages/4_Evaluation.py": ("Evaluation", ":material/grid_on:", "Confusion matrices, per-class metrics, mistakes, comparisons."),
    "app_pages/5_Live.py": ("Live", ":material/videocam:", "Your webcam through face detection and MobileViT."),
    "app_pages/6_Photo.py": ("Photo", ":material/photo_camera:", "Upload photos instead of using a webcam."),
    "app_pages/7_Video.py": ("Video", ":material/movie:", "Analyse a video file: emotions over time per person, "
                             "annotated video, CSV and JSON downloads."),
}


def visible_pages() -> list[str]:
    return [p for p in PAGE_TEXT if p != "app_pages/3_Training.py" or auth.training_visible()]


def main() -> None:
    """The router: settings check, login, then the page the URL names (every page passes here)."""
    st.set_page_config(page_title="Emotion dashboard", page_icon=str(ICON), layout="wide")
    try:
        settings.validate_settings()
    except settings.SettingsError as exc:
        logging.getLogger("emotion_dashboard").error("settings: %s", exc)
        st.error(f"The dashboard is not configured correctly, so it does not start: {exc}")
        st.stop()
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
    pages += [st.Page(p, title=PAGE_TEXT[p][0], icon=PAGE_TEXT[p][1]) for p in visible_pages()]
    # Resolve the URL's page first (so the login leads to it), show the menu only once logged in.
    requested = st.navigation(pages, position="sidebar" if auth.logged_in() else "hidden")
    auth.require_login()
    auth.admin_login_widget()
    requested.run()


main()
