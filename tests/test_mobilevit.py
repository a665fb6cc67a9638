"""MobileViT: paper parameter counts, shapes at small inputs, stride plans, reload."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.model.mobilevit import build_mobilevit
from emotion_core.model.variants import VARIANTS, block_maps, check_strides, plan_strides

PAPER_PARAMS = {"xxs": 1.3e6, "xs": 2.3e6, "s": 5.6e6}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_parameter_count_matches_paper(variant):
    model = build_mobilevit(variant, 256, input_channels=3, num_classes=1000, strides=(2, 2, 2, 2, 2))
    assert model.count_params() == pytest.approx(PAPER_PARAMS[variant], rel=0.05)


@pytest.mark.parametrize("size", [48, 64, 80, 96, 128])
def test_grayscale_small_inputs_build_and_run(size):
    model = build_mobilevit("xxs", size)
    out = np.asarray(model(np.random.rand(2, size, size, 1).astype("float32") * 255, training=False))
    assert out.shape == (2, 7)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_stride_plans_documented_values():
    assert plan_strides(48) == (2, 1, 2, 2, 1) and block_maps(48, plan_strides(48)) == (12, 6, 6)
    assert plan_strides(64) == (2, 2, 2, 2, 1)
    assert plan_strides(256) == (2, 2, 2, 2, 2)  # the paper's plan
    for size in range(48, 400, 16):
        maps = block_maps(size, plan_strides(size))
        assert maps is not None and all(m % 2 == 0 for m in maps)


@pytest.mark.parametrize("size", [24, 40, 50, 72])
def test_unsupported_sizes_are_refused_clearly(size):
    with pytest.raises(ValueError, match="multiple of 16"):
        plan_strides(size)


def test_bad_explicit_strides_refused():
    with pytest.raises(ValueError, match="not|do not fit"):
        check_strides(48, (2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="five values"):
        check_strides(48, (2, 2))
    with pytest.raises(ValueError, match="Unknown variant"):
        build_mobilevit("xl", 48)


def test_keras_file_reloads_without_custom_objects(tmp_path):
    import subprocess
    import sys

    model = build_mobilevit("xxs", 48)
    x = np.random.default_rng(0).random((3, 48, 48, 1)).astype("float32") * 255
    expected = np.asarray(model(x, training=False))
    path = tmp_path / "m.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    # A fresh interpreter that never imports emotion_core: built-in layers only.
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        "import numpy as np, keras, sys\n"
        f"m = keras.saving.load_model(r'{path}', safe_mode=True)\n"
        f"np.save(r'{tmp_path / 'y.npy'}', np.asarray(m(np.load(r'{tmp_path / 'x.npy'}'), training=False)))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    assert np.allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)
