"""The model card: written from scripts/model_card.md with every number taken from the run and its data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from tests.run_copies import copy_run

from emotion_core.evaluation.evaluate import evaluate_model_dir, write_reports
from emotion_core.runs import read_metrics

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def package_model():
    spec = importlib.util.spec_from_file_location("package_model", ROOT / "scripts" / "package_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_card_numbers_come_from_the_run_and_its_data(package_model, trained_run, tiny_data, tmp_path):
    out = tmp_path / "served"
    copy_run(trained_run, out)
    write_reports(out, evaluate_model_dir(out, tiny_data))
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "test_metrics.json").read_text())
    from emotion_core.data.dataset import quick_summary

    counts = quick_summary(tiny_data)
    values = package_model.card_values(out, config, metrics, read_metrics(trained_run), {1: (1.5, 2.0), 4: (3.0, 4.5)},
                                       ("blazeface", 4.8), counts, trained_run, "2 CPU cores, no GPU")
    package_model.write_card(out, values)
    card = (out / "MODEL_CARD.md").read_text()
    assert "$" not in card.replace("$ ", "")  # every placeholder filled
    assert "`model.tflite` (served; float32 weights)" in card  # read from the file
    assert "--int8-weights" not in card
    assert f"{sum(counts['train'].values()):,} training images" in card
    assert f"the {sum(counts['test'].values()):,} images of its test split" in card
    rarest = min(counts["train"], key=counts["train"].get)
    assert f"The rarest class is\n{rarest} ({counts['train'][rarest]:,} training images)" in card
    assert f"| {metrics['accuracy']:.4f} | {metrics['macro']['f1']:.4f} |" in card
    assert "1.50 / 2.00 ms for one face" in card and "Face detection (blazeface) adds 4.8 ms" in card
    assert f"MobileViT-{config['variant'].upper()}" in card and "Hardware: 2 CPU cores, no GPU." in card
    assert len([line for line in card.splitlines() if line.startswith("| **")]) == 7  # confusion matrix rows
    assert "Not recorded: write what was compared on the validation hold-out in MODEL_SELECTION.md" in card
    (out / "MODEL_SELECTION.md").write_text("- XS beat XXS on validation (0.62 vs 0.60).\n")
    package_model.write_card(out, package_model.card_values(
        out, config, metrics, [], {1: (1.5, 2.0), 4: (3.0, 4.5)}, ("haar", 20.0), counts, trained_run, "a GPU"))
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Model selection (validation hold-out only)\n- XS beat XXS on validation (0.62 vs 0.60).\n" in card


def test_the_reproduce_line_names_every_packaging_flag(package_model):
    assert package_model.package_flags({"flip_tta": True, "zoom_tta": 0.95}) == " --flip-tta --zoom-tta 0.95"
    assert package_model.package_flags({"flip_tta": True}, "int8") == " --flip-tta --int8-weights"


def test_a_placeholder_without_a_value_is_an_error(package_model, tmp_path):
    with pytest.raises(KeyError):
        package_model.write_card(tmp_path, {"variant": "XS"})
    assert not (tmp_path / "MODEL_CARD.md").exists()
