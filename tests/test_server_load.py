"""What keeps one server fast for many Live sessions: no TensorFlow when serving, no per-rerun resets."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_serving_a_model_does_not_import_tensorflow():
    """The Live and Photo pages run the TFLite file through LiteRT: no TensorFlow, no Keras in the server."""
    code = ("import sys\n"
            "from emotion_core.serving.pipeline import EmotionPipeline\n"
            "p = EmotionPipeline.from_run()\n"
            "import numpy as np\n"
            "p.process(np.zeros((120, 160, 3), np.uint8), 'bgr')\n"
            "print(p.classifier.backend, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["tflite", "False", "False"]


def test_streamlit_no_longer_resets_keras_after_each_run(monkeypatch):
    import dashboard  # noqa: F401 - applies the patch
    from streamlit.runtime.scriptrunner import script_runner

    calls = []
    fake_keras = types.SimpleNamespace(backend=types.SimpleNamespace(clear_session=lambda: calls.append("keras")))
    fake_plt = types.SimpleNamespace(close=lambda which: calls.append(f"plt {which}"))
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", fake_plt)
    script_runner._clean_problem_modules()
    assert calls == ["plt all"]  # matplotlib is still cleaned up, keras is left alone


def test_no_full_garbage_collection_after_each_run():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
