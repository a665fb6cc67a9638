"""Optional: the real FER-2013 under ../shared loads with the expected counts."""

from pathlib import Path

import pytest

FER = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013"


@pytest.mark.skipif(not (FER / "test").is_dir(), reason="../shared/datasets/fer2013 not present")
def test_fer2013_test_split_loads(tmp_path):
    from emotion_core.data.dataset import load_split, quick_summary

    counts = quick_summary(FER)
    assert sum(counts["train"].values()) == 28709 and counts["train"]["disgust"] == 436
    test = load_split(FER, "test", 48, cache_dir=tmp_path)
    assert test.images.shape == (3589, 48, 48) and not test.unreadable
