"""Training on the hardware present: plans and refusals, mirrored over two logical CPUs, the JAX backend,
the recipe options, and a run resumed on other hardware."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emotion_core import runs
from emotion_core.training.hardware import HardwareError, plan
from emotion_core.training.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def test_this_machine_plans_one_cpu_device():
    hardware = plan()
    assert (hardware.backend, hardware.device, hardware.distribution) == ("tensorflow", "cpu", "none")
    assert len(hardware.devices) == 1 and "CPU" in hardware.devices[0]
    assert "tensorflow backend, none over 1 CPU" in hardware.summary()


@pytest.mark.parametrize("request_, message", [
    ({"device": "gpu"}, "A GPU was asked for, but the tensorflow backend sees none"),
    ({"mixed_precision": True}, "Mixed precision speeds up GPUs only"),
    ({"distribution": "multi-worker"}, "multi-worker training needs TF_CONFIG"),
    ({"device": "tpu"}, "device must be one of auto, cpu, gpu"),
    ({"distribution": "ring"}, "distribution must be one of auto, none, mirrored, multi-worker"),
])
def test_requests_this_machine_cannot_start_are_refused_clearly(request_, message, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(HardwareError, match=message):
        plan(**request_)


def test_the_cpu_asked_for_on_a_gpu_machine_says_how_to_hide_the_gpus(monkeypatch):
    from emotion_core.training import hardware

    monkeypatch.setattr(hardware, "visible_devices", lambda kind: ["/device:GPU:0"] if kind == "gpu" else ["cpu"])
    with pytest.raises(HardwareError, match="hide them for this run with CUDA_VISIBLE_DEVICES="):
        plan(device="cpu")
    assert (plan().device, plan().devices) == ("gpu", ["/device:GPU:0"])


@pytest.mark.parametrize("tf_config", ['{"cluster": {}}', "not json", '{"cluster": {"worker": ["a:1"]}, '
                                       '"task": {"type": "worker", "index": 3}}'])
def test_a_bad_tf_config_is_refused(tf_config, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(HardwareError, match="TF_CONFIG is not a valid cluster description"):
        plan(distribution="auto")


def test_a_good_tf_config_starts_the_cluster_before_any_device_is_listed(monkeypatch):
    """TensorFlow takes a MultiWorkerMirroredStrategy only before its runtime starts, and listing the devices
    starts it: the strategy comes first."""
    from emotion_core.training import hardware

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    calls: list[str] = []
    monkeypatch.setattr(hardware, "multi_worker_strategy", lambda: calls.append("strategy"))
    monkeypatch.setattr(hardware, "visible_devices", lambda kind: calls.append(kind) or ([] if kind == "gpu" else
                        ["/job:worker/replica:0/task:0/device:CPU:0", "/job:worker/replica:0/task:1/device:CPU:0"]))
    planned = plan()
    assert planned.distribution == "multi-worker" and planned.replicas == 2
    assert calls[0] == "strategy"


def test_two_workers_train_one_model_together(tiny_data, tmp_path):
    """Two processes on loopback with TF_CONFIG (as two machines would be): both finish the run with the same
    trained weights and metrics, each step's gradients shared between them."""
    from tests.browser_harness import free_port

    from emotion_core.serving.model_files import load_keras_model

    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "EMOTION_CACHE_DIR": str(tmp_path / f"cache{index}"),  # one training lock per machine
               "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "emotion_core", "train", "--data", str(tiny_data), "--epochs", "1",
             "--batch-size", "28", "--runs-dir", str(tmp_path / f"worker{index}"), "--run-id", "pair", "--no-test"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        logs = [worker.communicate(timeout=300)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [w.returncode for w in workers] == [0, 0], "\n".join(log[-3000:] for log in logs)
    runs_ = [tmp_path / f"worker{index}" / "pair" for index in range(2)]
    sitting = json.loads((runs_[0] / "hardware.json").read_text())[0]
    assert sitting["distribution"] == "multi-worker" and len(sitting["devices"]) == 2
    assert all(runs.read_status(run)["state"] == "completed" for run in runs_)
    first, second = (load_keras_model(run / "model.keras") for run in runs_)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.trainable_weights, second.trainable_weights))
    # ...while each worker read its own half of every batch: BatchNorm's running statistics are its own
    assert not all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.non_trainable_weights,
                                                                         second.non_trainable_weights))
    accuracy = [[row["accuracy"] for row in runs.read_metrics(run)] for run in runs_]
    assert accuracy[0] == accuracy[1]  # the logged metrics are the cluster's, not one worker's


def test_a_run_that_cannot_start_writes_no_file(tiny_data, tmp_path):
    config = TrainConfig(data_root=str(tiny_data), epochs=1, device="gpu")
    with pytest.raises(HardwareError):
        train(config, runs_dir=tmp_path / "runs", log=lambda _: None)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_batch_that_does_not_split_over_the_devices_is_refused_before_any_file(tiny_data, tmp_path, monkeypatch):
    from emotion_core.training import hardware

    two = hardware.HardwarePlan("tensorflow", "gpu", "mirrored", ["/gpu:0", "/gpu:1"])
    monkeypatch.setattr(hardware, "plan", lambda *args: two)
    with pytest.raises(HardwareError, match=r"batch size \(7\) must be a multiple of the 2 devices"):
        train(TrainConfig(data_root=str(tiny_data), batch_size=7), runs_dir=tmp_path / "runs", log=lambda _: None)
    assert not (tmp_path / "runs").exists()


def test_recipe_options_reach_the_optimizer_and_loss():
    import keras

    from emotion_core.model.mobilevit import build_mobilevit, compile_model

    model = compile_model(build_mobilevit("xxs", 48), 1e-3, weight_decay=0.05, ema=True, focal_gamma=2.0)
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.optimizer.weight_decay == 0.05
    assert model.optimizer.use_ema
    assert isinstance(model.loss, keras.losses.CategoricalFocalCrossentropy) and model.loss.gamma == 2.0
    plain = compile_model(build_mobilevit("xxs", 48), 1e-3)
    assert type(plain.optimizer) is keras.optimizers.Adam and not plain.optimizer.use_ema
    assert type(plain.loss) is keras.losses.CategoricalCrossentropy


def _train_in_child(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run training code in a fresh interpreter (a backend or a device split is chosen once per process)."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=600)


RECIPES = ["--mixup", "0.2", "--cutmix", "1.0", "--erasing", "0.5", "--ema", "--weight-decay", "0.05",
           "--focal-gamma", "2", "--class-weights"]


def test_mirrored_training_on_two_logical_cpus_with_every_recipe(tiny_data, tmp_path):
    """The tf.distribute path CI can run: the CPU split in two, each recipe on, a few steps, then exported."""
    code = (
        "import tensorflow as tf\n"  # the CPU presented as two logical devices, before TensorFlow starts
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from emotion_core.cli import main\n"
        f"raise SystemExit(main(['train', '--data', {str(tiny_data)!r}, '--runs-dir', {str(tmp_path)!r}, "
        f"'--run-id', 'mirrored', '--variant', 'xxs', '--epochs', '1', '--batch-size', '8', "
        f"'--distribution', 'mirrored', '--no-test', *{RECIPES!r}]))\n")
    done = _train_in_child(code, {"EMOTION_CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    run = runs.RunDir(tmp_path / "mirrored")
    [sitting] = run.read_hardware()
    assert sitting["backend"] == "tensorflow" and sitting["distribution"] == "mirrored"
    assert len(sitting["devices"]) == 2 and sitting["from_epoch"] == 1
    assert runs.read_status(run.path)["state"] == "completed" and run.tflite_model.is_file()
    assert [row["epoch"] for row in runs.read_metrics(run.path)] == [1]
    config = run.read_config()
    assert (config["mixup"], config["ema"], config["augment"]["erasing"]) == (0.2, True, 0.5)


class _FakeJaxConfig:
    def __init__(self):
        self.updates = {}

    def update(self, name, value):
        self.updates[name] = value


@pytest.mark.parametrize("env, expected", [
    ({"EMOTION_CACHE_DIR": "{tmp}/cache"}, "{tmp}/cache/xla"),
    ({"EMOTION_CACHE_DIR": "{tmp}/cache", "JAX_COMPILATION_CACHE_DIR": "{tmp}/mine"}, "{tmp}/mine"),
])
def test_jax_keeps_compiled_steps_in_the_cache_dir_or_its_own_variable(env, expected, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from emotion_core.training.hardware import use_compilation_cache

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    fake = SimpleNamespace(config=_FakeJaxConfig())
    monkeypatch.setitem(sys.modules, "jax", fake)
    path = use_compilation_cache()
    assert path == Path(expected.format(tmp=tmp_path)) and path.is_dir()
    assert fake.config.updates == {"jax_compilation_cache_dir": str(path)}


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed here")
def test_a_run_stopped_on_jax_without_tensorflow_resumes_on_tensorflow(tiny_data, tmp_path):
    """A GPU machine may hold JAX and no TensorFlow: train there, stop, continue and export here."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ImportError('no TensorFlow on this machine')\n"
        "sys.meta_path.insert(0, _Block())\n")
    run = runs.RunDir(tmp_path / "jax")
    code = (  # four epochs asked for; a stop request after the second, as from the Training page
        "import emotion_core.training.callbacks as cb\n"
        "from emotion_core import runs\n"
        "from emotion_core.cli import main\n"
        "recorded = cb.EpochRecorder.on_epoch_end\n"
        "def stop_after_two(self, epoch, logs=None):\n"
        "    recorded(self, epoch, logs)\n"
        "    if epoch + 1 == 2:\n"
        f"        runs.request_stop({str(run.path)!r})\n"
        "cb.EpochRecorder.on_epoch_end = stop_after_two\n"
        f"raise SystemExit(main(['train', '--data', {str(tiny_data)!r}, '--runs-dir', {str(tmp_path)!r}, "
        "'--run-id', 'jax', '--variant', 'xxs', '--epochs', '4', '--batch-size', '16', '--no-test', "
        "'--mixup', '0.2', '--ema']))\n")
    env = {"KERAS_BACKEND": "jax", "EMOTION_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = _train_in_child(code, env, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert run.read_hardware()[0]["backend"] == "jax"
    assert any((tmp_path / "cache" / "xla").iterdir()), "the compiled steps were not kept"
    assert runs.read_status(run.path)["state"] == "stopped"
    assert [row["epoch"] for row in runs.read_metrics(run.path)] == [1, 2]

    # Resumed here on TensorFlow: the last two epochs, then the exports; the test split still left alone.
    resumed = _train_in_child(
        f"from emotion_core.cli import main\nraise SystemExit(main(['train', '--resume', {str(run.path)!r}]))\n",
        {"KERAS_BACKEND": "tensorflow", "EMOTION_CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert [(s["backend"], s["from_epoch"]) for s in run.read_hardware()] == [("jax", 1), ("tensorflow", 3)]
    assert [row["epoch"] for row in runs.read_metrics(run.path)] == [1, 2, 3, 4]
    assert runs.read_status(run.path)["state"] == "completed"
    assert "test split not evaluated" in runs.read_status(run.path)["message"]
    assert run.tflite_model.is_file() and not run.test_metrics.exists()


def test_a_mixed_precision_model_exports_as_float32(tmp_path):
    """A model trained in bfloat16 compute is saved and served in float32, with the same weights."""
    import keras
    import numpy as np

    from emotion_core.model.mobilevit import build_mobilevit
    from emotion_core.serving.export import float32_copy

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_mobilevit("xxs", 48)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
    assert mixed.get_layer("probs").dtype_policy.name == "float32"  # probabilities always float32
    plain = float32_copy(mixed)
    assert all(layer.dtype_policy.name == "float32" for layer in plain.layers)
    for a, b in zip(mixed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(mixed(x)), atol=0.05)  # bfloat16 rounding
    assert float32_copy(plain) is plain
