"""The server must survive any page order: WebRTC's SRTP library after TensorFlow used to segfault."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_webrtc_after_tensorflow_through_dashboard():
    code = ("import dashboard, tensorflow, numpy as np\n"
            "import streamlit_webrtc.component, aiortc\n"
            "print('alive')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "alive" in out.stdout
