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
from pathlib import Path
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
    """HardwareError unless TF_CONFIG describes a cluster this process is a worker of."""
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


_MULTI_WORKER: list = []  # this process's MultiWorkerMirroredStrategy, made once


def multi_worker_strategy():
    """This process's `MultiWorkerMirroredStrategy` (TF_CONFIG's cluster). TensorFlow accepts it only before
    its runtime starts, so `plan` makes it before it lists any device; later calls return the same one."""
    if not _MULTI_WORKER:
        import tensorflow as tf

        try:
            _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
        except RuntimeError as exc:  # "Collective ops must be configured at program startup"
            raise HardwareError(f"Multi-worker training must start before TensorFlow runs anything in this "
                                f"process ({exc}); start it from the command line.") from None
    return _MULTI_WORKER[0]


def plan(device: str = "auto", distribution: str = "auto", mixed_precision: bool = False) -> HardwarePlan:
    """What this machine will run for the request, or HardwareError saying why it cannot."""
    if device not in DEVICES:
        raise HardwareError(f"device must be one of {', '.join(DEVICES)}, got {device!r}.")
    if distribution not in DISTRIBUTIONS:
        raise HardwareError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}.")
    name = backend()
    if distribution == "multi-worker" or (distribution == "auto" and name == "tensorflow"
                                          and os.environ.get("TF_CONFIG")):
        if name != "tensorflow":
            raise HardwareError(f"Multi-worker training runs on the TensorFlow backend (TF_CONFIG); this process "
                                f"uses {name}. Set KERAS_BACKEND=tensorflow or train on one machine.")
        _check_tf_config()
        distribution = "multi-worker"
        multi_worker_strategy()  # before any device is listed (that starts TensorFlow's runtime); from here on
        # the devices listed are every worker's
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
        distribution = "mirrored" if len(devices) > 1 and name in ("tensorflow", "jax") else "none"
    if distribution == "mirrored" and name not in ("tensorflow", "jax"):
        raise HardwareError(f"Mirrored training needs the TensorFlow or JAX backend, not {name}.")
    if distribution == "none":
        devices = devices[:1]
    return HardwarePlan(name, chosen, distribution, devices, mixed_precision)


def use_compilation_cache() -> Path:
    """JAX: keep the compiled XLA programs on disk, so a resumed run, or the next run of the same model and
    batch shape, loads its train and validation steps instead of compiling them again."""
    import jax

    from emotion_core.paths import xla_cache_dir

    path = xla_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    return path


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

    strategy = (multi_worker_strategy() if hardware.distribution == "multi-worker"
                else tf.distribute.MirroredStrategy(devices=hardware.devices))
    with strategy.scope():
        yield


def allow_multi_worker_fit(model) -> None:
    """Let `model.fit` start under MultiWorkerMirroredStrategy on Keras 3.

    Before its first step Keras builds the model symbolically from one batch, which it first averages across
    the replicas with `strategy.reduce`; across workers that call fails ("Attempt to convert a value
    (PerReplica ...)", keras-team/keras#20585). The build needs only the batch's shapes and dtypes, so this
    model takes them from this worker's own replica instead.
    """
    import tensorflow as tf
    from keras import tree

    strategy = multi_worker_strategy()

    def local(value):
        return strategy.experimental_local_results(value)[0] if isinstance(value, tf.distribute.DistributedValues) \
            else value

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local, next(batches))  # as Keras does: one batch for shapes
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = symbolic_build
    _average_scalars_across_workers()


def _average_scalars_across_workers() -> None:
    """Keras 3 averages each step's logs across workers along axis 0, which scalars (loss, metrics) lack
    ("Invalid reduction dimension 0 for input with 0 dimensions"); scalars are averaged whole here."""
    from keras import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "scalars_whole", False):
        return
    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not trainer._collective_all_reduce_multi_worker(strategy):
            return keras_reduce(values, strategy, reduction)

        def mean(value):
            rank = strategy.experimental_local_results(value)[0].shape.rank
            return strategy.reduce("MEAN", value, axis=None if rank == 0 else 0)

        return tree.map_structure(mean, values)

    reduce_per_replica.scalars_whole = True
    trainer.reduce_per_replica = reduce_per_replica
