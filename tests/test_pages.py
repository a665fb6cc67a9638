"""AppTest for Home and every page, with good and bad inputs."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from emotion_core.serving.detect import DEFAULT_DETECTOR
from tests.run_copies import copy_run

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240


@pytest.fixture
def app_env(monkeypatch, tiny_data, trained_run, tmp_path):
    """Data roots = the tiny data set's parent, served model = the trained tiny run, fresh runs dir."""
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(tiny_data.parent))
    monkeypatch.setenv("EMOTION_DATA_DEFAULT", str(tiny_data))
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(trained_run))
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)
    return {"data": tiny_data, "run": trained_run}


@pytest.fixture(autouse=True)
def fresh_server_stats(monkeypatch):
    """Each test starts with a server that has measured nothing (the frames other tests processed in this
    process would otherwise set the Live page's admission)."""
    from dashboard.live import processor as live

    monkeypatch.setattr(live, "SERVER_STATS", live.ServerStats())


@pytest.fixture
def no_webrtc_session(monkeypatch):
    import streamlit_webrtc.component

    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / name), default_timeout=TIMEOUT)


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + [e.value for e in at.title]
    parts += [str(m.value) + str(m.label) for m in at.metric]
    return "\n".join(str(p) for p in parts)


def test_home_shows_state_at_a_glance(app_env):
    at = page("Home.py").run()
    assert not at.exception
    body = texts(at)
    assert "Facial emotion dashboard" in body
    assert "77" in body  # 56 train + 21 test images
    assert "MobileViT-XXS" in body


def test_no_page_imports_tensorflow_into_the_server(app_env):
    """Every page, a photo classified and an augmentation preview included, runs without TensorFlow or Keras."""
    import subprocess
    import sys

    code = f"""
import sys
import cv2
import streamlit_webrtc.component
from skimage import data
from streamlit.testing.v1 import AppTest
streamlit_webrtc.component.get_this_session_info = lambda: None
scripts = ["Home.py"] + sorted("app_pages/" + p for p in __import__("os").listdir("app_pages") if p.endswith(".py"))
for script in scripts:
    at = AppTest.from_file(script, default_timeout=120).run()
    assert not at.exception, (script, at.exception)
    if script.endswith("Photo.py"):
        png = cv2.imencode(".png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))[1].tobytes()
        at.get("file_uploader")[0].upload("a.png", png, "image/png").run()
        assert any("Face 1:" in m.value for m in at.markdown), "no face classified"
    if script.endswith("Augmentation.py"):
        assert len(at.get("image")) == 4, "no preview"
    leaked = [m for m in ("tensorflow", "keras") if m in sys.modules]
    assert not leaked, (script, leaked)
print("ok", len(scripts))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "ok 8"


def test_home_without_data_or_model(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(tmp_path / "empty"))
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(tmp_path / "no_model"))
    monkeypatch.delenv("EMOTION_DATA_DEFAULT", raising=False)
    at = page("Home.py").run()
    assert not at.exception
    assert any("No data set found" in i.value for i in at.info)
    assert any("No model" in w.value for w in at.warning)


def test_dataset_page_counts_and_loading(app_env):
    at = page("app_pages/1_Dataset.py").run()
    assert not at.exception
    assert "56" in texts(at) and "21" in texts(at)
    at.button[0].click().run()
    assert not at.exception
    assert "Every image file decoded." in [s.value for s in at.success]
    assert len(at.dataframe) >= 1


def test_dataset_page_lists_unreadable_files(app_env):
    (app_env["data"] / "train" / "sad" / "broken.jpg").write_bytes(b"garbage")
    try:
        at = page("app_pages/1_Dataset.py").run()
        at.button[0].click().run()
        assert not at.exception
        assert any("unreadable" in w.value for w in at.warning)
    finally:
        (app_env["data"] / "train" / "sad" / "broken.jpg").unlink()


def test_dataset_page_refuses_paths_outside_roots(app_env):
    at = page("app_pages/1_Dataset.py").run()
    at.text_input[0].set_value("/etc").run()
    assert not at.exception
    assert any("outside the configured data roots" in e.value for e in at.error)


def test_dataset_page_empty_data_root(app_env, tmp_path):
    empty = app_env["data"].parent / "empty_root"
    empty.mkdir(exist_ok=True)
    at = page("app_pages/1_Dataset.py").run()
    at.text_input[0].set_value(str(empty)).run()
    assert not at.exception
    assert any("Missing split folder" in e.value for e in at.error)


def test_augmentation_page(app_env):
    at = page("app_pages/2_Augmentation.py").run()
    assert not at.exception
    assert len(at.get("image")) == 4  # one row (original + augmented copies) per chosen image
    at.sidebar.slider[0].set_value(0.2).run()
    assert not at.exception
    erasing = next(s for s in at.sidebar.slider if s.label.startswith("Random erasing"))
    erasing.set_value(1.0).run()
    assert not at.exception and len(at.get("image")) == 4


def test_training_page_lists_runs_and_refuses_second_start(app_env, monkeypatch):
    from emotion_core import runs

    runs_dir = runs.default_runs_dir()
    runs_dir.mkdir(parents=True, exist_ok=True)
    copy_run(app_env["run"], runs_dir / "tiny-copy")
    lock = runs.TrainingLock()
    assert lock.acquire("someone-else")
    try:
        at = page("app_pages/3_Training.py").run()
        assert not at.exception
        assert any("only one at a time" in i.value for i in at.info)
        assert "completed" in texts(at)
    finally:
        lock.release()


def test_training_page_starts_background_run_and_stop(app_env, monkeypatch):
    from dashboard import training
    from emotion_core import runs

    launched = {}

    def fake_spawn(run_dir, verb):
        launched["run_dir"], launched["verb"] = run_dir, verb

        class P:
            pid = 999999

        return P()

    monkeypatch.setattr(training, "_spawn", fake_spawn)
    at = page("app_pages/3_Training.py").run()
    at.number_input[0].set_value(1)  # epochs
    at.button[0].click().run()
    assert not at.exception, at.exception
    run_dir = launched["run_dir"]
    assert (run_dir / "config.json").is_file()
    assert runs.read_json(run_dir / "config.json")["epochs"] == 1
    assert launched["verb"] == "--run-dir"  # a new run is trained, not "resumed"
    status = runs.read_status(run_dir)  # the page wrote nothing after creating it: the child owns status.json
    assert (status["state"], status["pid"]) == ("created", None)


def training_form(monkeypatch):
    """(the Training page, run; {'run_dir': ...} once its button started a run): no training process starts."""
    from dashboard import training

    launched = {}
    monkeypatch.setattr(training, "_spawn", lambda run_dir, verb: launched.update(run_dir=run_dir))
    return page("app_pages/3_Training.py").run(), launched


def test_training_page_fine_tunes_from_the_served_model_with_recipes(app_env, monkeypatch):
    """Start from a trained model: its weights, variant and input size, whatever the form said; recipes kept."""
    from emotion_core import runs

    at, launched = training_form(monkeypatch)
    start = at.selectbox(key="train_start_from")
    served = next(o for o in start.options if o.startswith("default"))
    start.set_value(served)
    at.selectbox[1].set_value("s")  # variant: overridden by the starting model's
    by_label = {n.label: n for n in at.number_input}
    by_label["Epochs"].set_value(1)
    by_label["Mixup"].set_value(0.2)
    by_label["Random erasing"].set_value(0.25)
    next(c for c in at.checkbox if c.label.startswith("Average the weights")).check()
    at.button[0].click().run()
    assert not at.exception, at.exception
    config = runs.RunDir(launched["run_dir"]).read_config()
    assert config["init_from"] == str(app_env["run"] / "model.keras")
    assert (config["variant"], config["image_size"], config["strides"]) == ("xxs", 48, [2, 1, 2, 2, 1])
    assert (config["epochs"], config["mixup"], config["ema"], config["augment"]["erasing"]) == (1, 0.2, True, 0.25)


def test_training_page_distils_from_the_chosen_teachers(app_env, monkeypatch):
    from emotion_core import runs

    at, launched = training_form(monkeypatch)
    teachers = at.multiselect(key="train_teachers")
    served = next(o for o in teachers.options if o.startswith("default"))
    teachers.select(served)
    {n.label: n for n in at.number_input}["Distillation weight"].set_value(0.7)
    at.button[0].click().run()
    assert not at.exception, at.exception
    config = runs.RunDir(launched["run_dir"]).read_config()
    assert (config["teacher"], config["distill_weight"]) == (str(app_env["run"]), 0.7)
    assert config["init_from"] is None  # distillation alone: a new model


def test_evaluation_page(app_env):
    at = page("app_pages/4_Evaluation.py").run()
    assert not at.exception
    assert any("Accuracy" in m.label for m in at.metric)
    at.toggle[0].set_value(True).run()
    assert not at.exception


def test_evaluation_page_without_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(tmp_path / "none"))
    at = page("app_pages/4_Evaluation.py").run()
    assert not at.exception
    assert any("No evaluated run" in i.value for i in at.info)


def test_live_page_renders(app_env, no_webrtc_session):
    at = page("app_pages/5_Live.py").run()
    assert not at.exception, at.exception
    assert "Live" in texts(at)
    assert "Press Start" in texts(at) and "Waiting for video" not in texts(at)  # nothing to wait for yet
    processor = at.session_state[f"live_processor::{app_env['run']}::{DEFAULT_DETECTOR}"]
    assert processor.pipeline.classifier.num_threads == 1  # the cores go to the sessions, not a 2nd thread a face
    from emotion_core.serving.pipeline import REUSE_BELOW

    assert processor.tracker.reuse_below == REUSE_BELOW > 0  # still faces keep their classification


class _FakePeer:
    """Stands in for dashboard.live.overlay_peer.OverlayPeer in the page's session state."""

    closed, ice_state = False, "checking"

    def close(self) -> None:
        self.closed = True


def test_live_page_lets_the_browser_draw_and_ends_its_peer_when_switched_back(app_env, no_webrtc_session):
    at = page("app_pages/5_Live.py").run()
    at.radio(key="live_drawn_by").set_value("This browser (lighter for the server)").run()
    assert not at.exception, at.exception
    peer = _FakePeer()
    at.session_state["live_overlay::peer"] = peer  # what an answered offer leaves
    at.run()
    assert any("Connecting (ICE checking)" in i.value for i in at.info)  # the messages follow the browser's peer
    at.radio(key="live_drawn_by").set_value("The server (annotated video back)").run()
    assert not at.exception and peer.closed and "live_overlay::peer" not in at.session_state


def test_live_page_starts_with_the_overlays_the_server_is_set_to(app_env, no_webrtc_session, monkeypatch):
    monkeypatch.setenv("EMOTION_LIVE_OVERLAYS", "browser")  # [live] overlays: a busy team server's choice
    at = page("app_pages/5_Live.py").run()
    assert not at.exception, at.exception
    assert at.radio(key="live_drawn_by").value == "This browser (lighter for the server)"
    at.radio(key="live_drawn_by").set_value("The server (annotated video back)").run()  # still the visitor's choice
    assert not at.exception and at.radio(key="live_drawn_by").value == "The server (annotated video back)"


def test_live_page_tells_a_newcomer_the_server_is_busy(app_env, no_webrtc_session, monkeypatch):
    from dashboard.live import processor as live

    stats = live.ServerStats()
    monkeypatch.setattr(stats.cpu, "ms", lambda: 1000.0)  # measured: room for one session
    stats.record(12345, 1, ["happy"])  # ...and a colleague is streaming
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    at = page("app_pages/5_Live.py").run()
    assert not at.exception, at.exception
    assert any("The server is busy: 1 colleague is using" in w.value for w in at.warning)
    assert "Press Start" not in texts(at)  # no video component for the newcomer
    stats.forget(12345)  # the colleague leaves
    at.button(key="live_try_again").click().run()
    assert not at.exception and "Press Start" in texts(at)
    assert "0 of about 1 live sessions in use" in texts(at)


def test_live_page_keeps_the_video_of_a_visitor_admitted_while_it_connects(app_env, no_webrtc_session,
                                                                          monkeypatch):
    """Pressing Start reruns the page before the first frame arrives; a colleague who started streaming
    meanwhile and filled the server must not take the video away from the visitor who was let in."""
    from dashboard.live import processor as live

    stats = live.ServerStats()
    monkeypatch.setattr(stats.cpu, "ms", lambda: 1e6)  # measured: room for one session on any machine
    monkeypatch.setattr(live, "SERVER_STATS", stats)
    at = page("app_pages/5_Live.py").run()
    assert not at.exception and "Press Start" in texts(at)
    stats.record(12345, 1, ["happy"])  # a colleague whose page was let in before this one's place counted
    at.run()  # the rerun that Start causes
    assert not at.exception, at.exception
    assert not at.warning and "Press Start" in texts(at)


def test_a_streaming_session_is_told_what_a_busy_server_holds_back(app_env, no_webrtc_session, monkeypatch):
    from dashboard.live import processor as live
    from dashboard.live.connection import ConnectionStatus, ConnectionWatch

    from emotion_core.serving.inference import Classifier

    monkeypatch.setattr(ConnectionWatch, "observe", lambda self, *a: ConnectionStatus("streaming", "", "caption"))
    monkeypatch.setattr(Classifier, "views", property(lambda self: 4))  # served with 4-view TTA, as models/default
    at = page("app_pages/5_Live.py").run()
    assert not at.exception and not at.info  # the cap is above the webcam's 15 fps: nothing to say
    live.SERVER_STATS.fair.views = 2  # first the served model's extra TTA views go...
    at.run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == [
        "The server is busy: each face is read from 2 of its 4 views (a little less accurate), the same for everyone."]
    live.SERVER_STATS.fair.views, live.SERVER_STATS.fair.cap = 1, 7.4  # ...then frames
    at.run()
    assert [i.value for i in at.info] == [
        "The server is busy: each face is read from 1 of its 4 views (a little less accurate) and 7 of the "
        "webcam's 15 frames per second are analysed, the same for everyone."]


def test_live_page_without_model(monkeypatch, tmp_path, no_webrtc_session):
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(tmp_path / "none"))
    at = page("app_pages/5_Live.py").run()
    assert not at.exception
    assert any("No trained model" in w.value for w in at.warning)


def test_live_page_with_corrupt_model(monkeypatch, tmp_path, no_webrtc_session):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.tflite").write_bytes(b"not a flatbuffer")
    (broken / "model.keras").write_bytes(b"not a zip")
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(broken))
    at = page("app_pages/5_Live.py").run()
    assert not at.exception
    assert any("cannot be served" in e.value for e in at.error)


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def test_photo_page_upload_face_and_corrupt(app_env):
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    at = page("app_pages/6_Photo.py").run()
    assert not at.exception
    uploader = at.get("file_uploader")[0]
    uploader.upload("astronaut.png", _png(face), "image/png")
    uploader.upload("corrupt.jpg", b"\xff\xd8\xff garbage", "image/jpeg")
    uploader.upload("empty.png", b"", "image/png").run()
    assert not at.exception, at.exception
    assert any("Face 1:" in m.value for m in at.markdown)
    errors = [e.value for e in at.error]
    assert any("corrupt.jpg is not a readable image" in e for e in errors)
    assert any("empty.png is empty" in e for e in errors)


def test_photo_page_pre_cropped_faces_and_detector_choice(app_env):
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[81:175, 178:272]
    at = page("app_pages/6_Photo.py").run()
    assert [s.value for s in at.selectbox if s.label == "Face detector"] == [DEFAULT_DETECTOR]
    uploader = at.get("file_uploader")[0]
    uploader.upload("crop1.png", _png(face), "image/png")
    uploader.upload("crop2.png", _png(cv2.resize(face, (48, 48))), "image/png").run()
    at.toggle[0].set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == ["crop1.png", "crop2.png"]
    assert set(table.columns) >= {"label", "probability", "happy", "sad"}
    next(s for s in at.selectbox if s.label == "Face detector").set_value("haar").run()
    at.toggle[0].set_value(False).run()
    assert not at.exception and any("No face found" in w.value for w in at.warning)  # Haar misses the small crop


def test_photo_page_refuses_a_decompression_bomb(app_env):
    from tests.images_helpers import png_bomb

    at = page("app_pages/6_Photo.py").run()
    at.get("file_uploader")[0].upload("bomb.png", png_bomb(30_000, 30_000), "image/png").run()
    assert not at.exception
    assert any("bomb.png is too large" in e.value for e in at.error)


def test_evaluation_shows_images_only_from_inside_the_data_roots(app_env, tmp_path, monkeypatch):
    """A run's recorded data_root is not trusted: outside the configured roots its images are not read."""
    import json

    outside = tmp_path / "outside"
    shutil.copytree(app_env["data"], outside)
    model = tmp_path / "model"
    copy_run(app_env["run"], model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "data_root": str(outside)}))
    monkeypatch.setenv("EMOTION_MODEL_DIR", str(model))
    monkeypatch.setenv("EMOTION_DATA_ROOTS", str(app_env["data"]))  # tmp_path's parent would hold `outside`
    at = page("app_pages/4_Evaluation.py").run()
    assert not at.exception
    assert any("outside the configured data roots" in c.value for c in at.caption)
    assert not at.get("image")

    monkeypatch.setenv("EMOTION_MODEL_DIR", str(app_env["run"]))  # the trained run's data lies inside
    at = page("app_pages/4_Evaluation.py").run()
    assert not any("outside the configured data roots" in c.value for c in at.caption)
    assert len(at.get("image")) == 1  # the misclassified gallery


def test_photo_page_downloads_annotated_images_and_the_faces_table(app_env, monkeypatch):
    import csv
    import json

    from skimage import data

    from tests.download_helpers import capture_downloads
    from emotion_core.media.face_table import PHOTO_COLUMNS

    downloaded = capture_downloads(monkeypatch)
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    at = page("app_pages/6_Photo.py").run()
    uploader = at.get("file_uploader")[0]
    uploader.upload("one.png", _png(face), "image/png")
    uploader.upload("two.png", _png(face[:, ::-1]), "image/png").run()
    assert not at.exception, at.exception
    for index, original in enumerate((face, face[:, ::-1])):
        png = cv2.imdecode(np.frombuffer(downloaded(at, "Download annotated image", index), np.uint8), cv2.IMREAD_COLOR)
        assert png.shape == face.shape and 0.5 < np.abs(png.astype(int) - original).mean() < 20  # boxes drawn
    rows = list(csv.DictReader(io.StringIO(downloaded(at, "Download faces (CSV)").decode())))
    assert tuple(rows[0]) == PHOTO_COLUMNS and [r["file"] for r in rows] == ["one.png", "two.png"]
    assert [r["face"] for r in rows] == ["1", "1"] and all(r["label"] for r in rows)
    as_json = json.loads(downloaded(at, "Download faces (JSON)"))
    assert [r["file"] for r in as_json] == ["one.png", "two.png"] and as_json[0]["x"] == int(rows[0]["x"])
    at.toggle[0].set_value(True).run()  # pre-cropped: one row per image, downloads too
    rows = list(csv.DictReader(io.StringIO(downloaded(at, "Download faces (CSV)").decode())))
    assert [(r["file"], r["x"], r["y"]) for r in rows] == [("one.png", "0", "0"), ("two.png", "0", "0")]


def test_live_page_records_and_offers_the_downloads(app_env, no_webrtc_session, monkeypatch):
    import csv

    from tests.browser_harness import face_frame
    from tests.download_helpers import capture_downloads
    from emotion_core.media.face_table import VIDEO_COLUMNS

    downloaded = capture_downloads(monkeypatch)
    at = page("app_pages/5_Live.py").run()
    assert not at.get("download_button")  # nothing recorded, nothing offered
    at.button(key="live_record").click().run()
    processor = at.session_state[f"live_processor::{app_env['run']}::{DEFAULT_DETECTOR}"]
    for _ in range(3):  # frames arriving from the webcam thread
        processor.process_bgr(face_frame(320, 240))
    at.run()
    assert any("● Recording" in e.value and "of at most 10:00 (3 frames)" in e.value for e in at.error)
    at.button(key="live_record_stop").click().run()
    assert not at.exception, at.exception
    rows = list(csv.DictReader(io.StringIO(downloaded(at, "Download recording (CSV)").decode())))
    assert tuple(rows[0]) == VIDEO_COLUMNS and [r["frame"] for r in rows] == ["0", "1", "2"]
    assert downloaded(at, "Download recording (MP4)")[4:8] == b"ftyp"
    folder = processor.recording.folder
    at.button(key="live_record").click().run()  # a second recording replaces the first one's files
    assert not folder.exists() and processor.recording.recording
    processor.stop_recording()


def test_live_recording_stops_at_the_limit(app_env, no_webrtc_session, monkeypatch):
    from tests.browser_harness import face_frame

    monkeypatch.setenv("EMOTION_MAX_RECORDING_MINUTES", "0.001")  # 60 ms
    at = page("app_pages/5_Live.py").run()
    at.button(key="live_record").click().run()
    processor = at.session_state[f"live_processor::{app_env['run']}::{DEFAULT_DETECTOR}"]
    processor.process_bgr(face_frame(320, 240))
    import time

    time.sleep(0.1)
    processor.process_bgr(face_frame(320, 240))
    assert processor.recording.limit_reached and not processor.recording.recording
    at.run()
    assert any("stopped at the limit" in w.value for w in at.warning) and at.get("download_button")


def test_changing_the_detector_does_not_load_the_model_again(app_env):
    from emotion_core.serving.inference import Classifier

    at = page("app_pages/6_Photo.py").run()
    loads = Classifier.loaded_from_runs
    for kind in ("haar", "blazeface-full", "blazeface", DEFAULT_DETECTOR):
        next(s for s in at.selectbox if s.label == "Face detector").set_value(kind).run()
        assert not at.exception, at.exception
    assert Classifier.loaded_from_runs == loads
