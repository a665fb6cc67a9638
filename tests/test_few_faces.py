"""The Video and Live pages say so when faces are found in few frames, and suggest the thorough detector."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.widgets import FEW_FACES, few_faces_notice
from emotion_core.serving.detect import THOROUGH_DETECTOR


@pytest.mark.parametrize("share", [0.0, FEW_FACES, 0.9, 1.0])
def test_no_notice_without_faces_or_with_faces_in_most_frames(share):
    assert few_faces_notice(share, "the analysed frames", "blazeface-follow") is None


def test_the_notice_names_the_share_and_the_thorough_detector():
    notice = few_faces_notice(FEW_FACES - 0.01, "the last 60 frames", "blazeface-follow")
    assert notice.startswith("A face was found in only 59% of the last 60 frames.") and THOROUGH_DETECTOR in notice
    already = few_faces_notice(0.2, "the analysed frames", THOROUGH_DETECTOR)
    assert THOROUGH_DETECTOR not in already and "light" in already  # nothing better to switch to


def test_live_processor_counts_the_recent_frames_with_a_face():
    from dashboard.live.processor import FACE_WINDOW, LiveProcessor
    from emotion_core.serving.faces import Detection
    from emotion_core.serving.pipeline import EmotionPipeline

    class Blinking:  # finds a face on two frames in ten
        kind = "blinking"
        calls = 0

        def find(self, frame, gray, channel_order="bgr"):
            self.calls += 1
            return [Detection((10, 10, 40, 40))] if self.calls % 10 in (1, 2) else []

    class Fixed:
        input_size, views = 16, 1

        def predict(self, batch, max_views=None):
            return np.full((len(batch), 7), 1 / 7, np.float32)

    processor = LiveProcessor(EmotionPipeline(Fixed(), Blinking(), align=False))
    assert processor.snapshot()["face_share"] == 0.0 and processor.snapshot()["recent_frames"] == 0
    shown = [bool(processor.analyse_bgr(np.zeros((120, 160, 3), np.uint8), record=False))
             for _ in range(FACE_WINDOW + 8)]
    snap = processor.snapshot()
    assert snap["recent_frames"] == FACE_WINDOW and snap["face_share"] == sum(shown[-FACE_WINDOW:]) / FACE_WINDOW
    assert snap["face_share"] == pytest.approx(0.5)  # found on two frames in ten, held three more
    assert few_faces_notice(snap["face_share"], "the last 60 frames", "blazeface-follow")
