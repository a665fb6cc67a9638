"""The hardware a training run uses: Keras backend, devices, and how the work is spread over them.

Distribution goes through the backends' own engines, nothing home-made:
- TensorFlow: `tf.distribute.MirroredStrategy` over the visible GPUs (or the logical CPU devices when
  there is no GPU, which is how the tests run it), `MultiWorkerMirroredStrategy` from `TF_CONFIG`.
- JAX: `keras.distribution.DataParallel` over the local devices.
`plan(device, distribution)` checks a request against the machine and says what will run, or raises
`HardwareError` with a clear message before the run writes any file.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Iterator

DEVICES = ("auto", "cpu", "gpu")
DISTRIBUTIONS = ("auto", "none", "mirrored", "multi-worker")


class HardwareError(ValueError):
    """A device or distribution that cannot start here."""


@dataclass(frozen=True)
class HardwarePlan:
    """What a training sitting runs on; recorded in the run's hardware.json."""

    backend: str  # "tensorflow", "jax" or "torch"
    device: str  # "cpu" or "gpu"
    distribution: str  # "none", "mirrored" or "multi-worker"
    devices: list[str] = field(default_factory=list)  # the devices the model's replicas run on
    mixed_precision: bool = False

    @property
    def replicas(self) -> int:
        """Copies of the model that split each batch (1 without distribution)."""
        return len(self.devices) if self.distribution != "none" else 1

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        precision = ", mixed precision" if self.mixed_precision else ""
        return (f"{self.backend} backend, {self.distribution} over {len(self.devices)} {self.device.upper()} "
                f"device(s){precision}: {', '.join(self.devices)}")


def backend() -> str:
    import keras

    return keras.backend.backend()


def _tf_devices(kind: str) -> list[str]:
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices(kind)]


def _jax_devices(kind: str) -> list[str]:
    import jax

    try:
        return [str(d) for d in jax.devices(kind)]
    except RuntimeError:  # no such platform
        return []


def visible_devices(kind: str) -> list[str]:
    """Names of the logical CPU or GPU devices the backend sees."""
    name = backend()
    if name == "tensorflow":
        return _tf_devices(kind.upper())
    if name == "jax":
        return _jax_devices(kind.lower())
    import torch

    if kind.lower() == "gpu":
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"]


def _check_tf_config() -> None:
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        raise HardwareError("multi-worker training needs TF_CONFIG (the cluster's workers and this task's index); "
                            "it is not set.")
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
        if task["type"] not in config["cluster"] or not isinstance(workers, list) or not 0 <= index < len(workers):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise HardwareError('TF_CONFIG is not a valid cluster description: expected {"cluster": {"worker": '
                            '["host:port", ...]}, "task": {"type": "worker", "index": N}} with N among the '
                            'workers.') from None


def plan(device: str = "auto", distribution: str = "auto", mixed_precision: bool = False) -> HardwarePlan:
    """What this machine will run for the request, or HardwareError saying why it cannot."""
    if device not in DEVICES:
        raise HardwareError(f"device must be one of {', '.join(DEVICES)}, got {device!r}.")
    if distribution not in DISTRIBUTIONS:
        raise HardwareError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}.")
    name = backend()
    gpus = visible_devices("gpu")
    if device == "gpu" and not gpus:
        raise HardwareError(f"A GPU was asked for, but the {name} backend sees none on this machine "
                            "(check the driver and the CUDA build of the framework, or use --device cpu).")
    if device == "cpu" and gpus:  # the backends would still place the model on a visible GPU
        raise HardwareError(f"The CPU was asked for, but the {name} backend sees {len(gpus)} GPU(s) and would use "
                            "them: hide them for this run with CUDA_VISIBLE_DEVICES= (empty).")
    chosen = "gpu" if gpus else "cpu"
    devices = gpus if chosen == "gpu" else visible_devices("cpu")
    if mixed_precision and chosen != "gpu":
        raise HardwareError("Mixed precision speeds up GPUs only; on a CPU it is slower. Leave it off here.")
    if distribution == "auto":
        distribution = ("multi-worker" if name == "tensorflow" and os.environ.get("TF_CONFIG")
                        else "mirrored" if len(devices) > 1 and name in ("tensorflow", "jax") else "none")
    if distribution == "multi-worker":
        if name != "tensorflow":
            raise HardwareError(f"Multi-worker training runs on the TensorFlow backend (TF_CONFIG); this process "
                                f"uses {name}. Set KERAS_BACKEND=tensorflow or train on one machine.")
        _check_tf_config()
    if distribution == "mirrored" and name not in ("tensorflow", "jax"):
        raise HardwareError(f"Mirrored training needs the TensorFlow or JAX backend, not {name}.")
    if distribution == "none":
        devices = devices[:1]
    return HardwarePlan(name, chosen, distribution, devices, mixed_precision)


@contextlib.contextmanager
def training_scope(hardware: HardwarePlan) -> Iterator[None]:
    """Build, load and compile the model inside this: it places the variables for the plan's distribution."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if hardware.mixed_precision else "float32")
    if hardware.backend == "jax":
        if hardware.distribution == "mirrored":
            import jax

            wanted = set(hardware.devices)
            keras.distribution.set_distribution(keras.distribution.DataParallel(
                devices=[d for d in jax.devices(hardware.device) if str(d) in wanted]))
        yield
        return
    if hardware.backend != "tensorflow" or hardware.distribution == "none":
        yield
        return
    import tensorflow as tf

    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if hardware.distribution == "multi-worker"
                else tf.distribute.MirroredStrategy(devices=hardware.devices))
    with strategy.scope():
        yield

