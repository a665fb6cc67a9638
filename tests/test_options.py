"""Training options declared once: every TrainConfig field round-trips CLI -> config.json -> reproduce command."""

from __future__ import annotations

import json
import shlex

import pytest

from emotion_core import options
from emotion_core.cli import build_parser
from emotion_core.data.augment import AugmentConfig
from emotion_core.training.train import TrainConfig

# A value for every option, each different from its default.
CHANGED = {
    "data_root": "/data/my faces", "variant": "xs", "image_size": 64, "strides": [2, 2, 2, 2, 1], "epochs": 7,
    "batch_size": 32, "learning_rate": 0.0005, "schedule": "constant", "warmup_epochs": 3, "label_smoothing": 0.1,
    "class_weights": True, "val_fraction": 0.2, "patience": 4, "dropout": 0.2, "seed": 7,
    "augment.horizontal_flip": False, "augment.vertical_flip": True, "augment.rotation": 0.1,
    "augment.zoom": 0.2, "augment.translation": 0.05, "cache_dir": "/tmp/cache", "max_train_images": 500,
    "init_from": "/models/start.keras", "weight_decay": 0.05, "ema": True, "mixup": 0.2, "cutmix": 1.0,
    "focal_gamma": 2.0, "device": "cpu", "distribution": "none", "mixed_precision": True, "evaluate_test": False,
    "augment.erasing": 0.25, "teacher": "runs/a,runs/b", "distill_weight": 0.3,
}


def _parse(command: list[str]) -> TrainConfig:
    args = build_parser().parse_args(["train", *command])
    return TrainConfig.from_dict(options.nest(options.values_from_args(args, TrainConfig)))


def test_every_field_of_the_config_is_an_option():
    declared = {d.path for d in options.declared(TrainConfig)}
    fields = set(TrainConfig.__dataclass_fields__) - {"augment"}
    assert declared == fields | {f"augment.{f}" for f in AugmentConfig.__dataclass_fields__}
    assert declared == set(CHANGED)


def test_each_option_round_trips_through_cli_config_json_and_the_reproduce_command():
    default = TrainConfig(data_root="/d").to_dict()
    expected = TrainConfig.from_dict(options.nest(CHANGED))
    for path, value in CHANGED.items():
        key, *sub = path.split(".")
        assert (default[key][sub[0]] if sub else default[key]) != value, path  # the change is visible
    command = options.command_line(TrainConfig, expected.to_dict())
    parsed = _parse(shlex.split(" ".join(command)))
    assert parsed.to_dict() == expected.to_dict()
    stored = json.loads(json.dumps({**parsed.to_dict(), "labels": ["x"]}))  # as config.json holds it
    again = _parse(shlex.split(" ".join(options.command_line(TrainConfig, stored))))
    assert again.to_dict() == expected.to_dict()


def test_defaults_come_from_the_dataclass():
    assert _parse(["--data", "/d"]).to_dict() == TrainConfig(data_root="/d").to_dict()
    assert options.command_line(TrainConfig, {"data_root": "/d"}) == options.command_line(
        TrainConfig, TrainConfig(data_root="/d").to_dict())


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "epochs must be between 1 and 1000, got 0"),
    ({"learning_rate": 0.0}, "learning_rate must be between 1e-09 and 1"),
    ({"val_fraction": 0.9}, "val_fraction must be between 0 and 0.5"),
    ({"variant": "m"}, "variant must be one of xxs, xs, s"),
    ({"schedule": "step"}, "schedule must be one of cosine, constant"),
    ({"augment": {"zoom": 0.6}}, "zoom must be between 0 and 0.5, got 0.6"),
    ({"max_train_images": 0}, "max_train_images must be between 1 and -inf"),
])
def test_values_outside_the_declared_limits_are_refused(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        TrainConfig.from_dict({"data_root": "/d", **change})


def test_nest_builds_nested_tables():
    assert options.nest({"a.b.c": 1, "a.d": 2, "e": 3}) == {"a": {"b": {"c": 1}, "d": 2}, "e": 3}


def test_new_runs_and_resumes_have_their_own_verbs(tmp_path, capsys):
    from emotion_core import runs
    from emotion_core.cli import main
    from emotion_core.training.train import start_run

    run_dir = start_run(TrainConfig(data_root=str(tmp_path / "missing"), epochs=1), tmp_path / "runs", "new")
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "is created; only stopped, interrupted or failed runs can be resumed" in capsys.readouterr().err
    runs.write_status(run_dir, runs.RunState.COMPLETED)
    assert main(["train", "--run-dir", str(run_dir)]) == 2
    assert "is completed, not newly created; use --resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--resume", "a", "--run-dir", "b"])
