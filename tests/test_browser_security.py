"""A freshly started server with a password, tried in Chromium as an outsider would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_harness import browser_available, launch_browser, streamlit_server, wait_for_app

pytestmark = pytest.mark.skipif(browser_available() is not None, reason=str(browser_available()))

PAGES = ["Dataset", "Augmentation", "Training", "Evaluation", "Live", "Photo", "Video"]


def _env(tiny_data, trained_run, tmp: Path) -> dict[str, str]:
    return {"EMOTION_MODEL_DIR": str(trained_run), "EMOTION_DATA_ROOTS": str(tiny_data.parent),
            "EMOTION_DATA_DEFAULT": str(tiny_data), "EMOTION_RUNS_DIR": str(tmp / "runs"),
            "EMOTION_CACHE_DIR": str(tmp / "cache"), "EMOTION_ICE_SERVERS": "[]", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def guarded_server(tiny_data, trained_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guarded")
    secrets = tmp / "secrets.toml"
    secrets.write_text('[auth]\npassword = "team-s3cret"\n')
    with streamlit_server(_env(tiny_data, trained_run, tmp), log_path=tmp / "streamlit.log",
                          args=["--secrets.files", str(secrets)]) as (url, _proc):
        yield url


def _headings(page) -> list[str]:
    return [h.strip() for h in page.locator("h1").all_inner_texts()]


def test_every_page_url_shows_only_the_login_on_a_fresh_server(guarded_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            for name in ["", *PAGES]:
                page = browser.new_page()  # a fresh visitor each time
                page.goto(f"{guarded_server}/{name}")
                wait_for_app(page)
                page.get_by_label("Team password").wait_for(timeout=60_000)
                body = page.inner_text("body")
                assert _headings(page) == ["Emotion dashboard"], (name, _headings(page))
                for leaked in ("Start training", "Upload", "Confusion", "Data root", "Facial emotion dashboard"):
                    assert leaked not in body, (name, leaked)
                page.close()
        finally:
            browser.close()


def test_after_login_the_requested_page_and_every_other_one_open(guarded_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{guarded_server}/Training")
            wait_for_app(page)
            page.get_by_label("Team password").fill("team-s3cret-wrong")
            page.get_by_role("button", name="Enter").click()
            page.get_by_text("Wrong password").wait_for(timeout=30_000)
            page.get_by_label("Team password").fill("team-s3cret")
            page.get_by_role("button", name="Enter").click()
            page.get_by_role("heading", name="Training", exact=True).wait_for(timeout=90_000)
            for name in PAGES:  # the sidebar keeps the session (a new URL would be a new session)
                page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True).click()
                page.get_by_role("heading", name=name, exact=True).first.wait_for(timeout=90_000)
                wait_for_app(page)
                assert page.locator('[data-testid="stException"]').count() == 0, name
            icon = page.evaluate("() => document.querySelector('link[rel~=\"icon\"]')?.href || ''")
            assert icon.startswith(guarded_server), f"the favicon is fetched from elsewhere: {icon}"
        finally:
            browser.close()


def test_unparseable_secrets_stop_the_app_with_a_message(tiny_data, trained_run, tmp_path):
    from playwright.sync_api import sync_playwright

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\npassword = "unterminated\n')
    with streamlit_server(_env(tiny_data, trained_run, tmp_path), log_path=tmp_path / "streamlit.log",
                          args=["--secrets.files", str(secrets)]) as (url, _proc):
        with sync_playwright() as p:
            browser = launch_browser(p)
            try:
                page = browser.new_page()
                for name in ("", "Training"):
                    page.goto(f"{url}/{name}")
                    wait_for_app(page)
                    page.get_by_text("not configured correctly").wait_for(timeout=60_000)
                    assert "Start training" not in page.inner_text("body")
                    assert "Facial emotion dashboard" not in page.inner_text("body")
            finally:
                browser.close()
    assert "settings:" in (tmp_path / "streamlit.log").read_text()
