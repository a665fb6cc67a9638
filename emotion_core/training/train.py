"""Training on any Keras backend and the hardware present: batches, recipes, run directory, stop and resume.

`train(config)` writes `runs/<id>/` as it goes (see `emotion_core.runs`):
metrics.csv after every epoch, best.keras and last.keras atomically, and at
the end the test metrics, confusion matrix and exports. SIGTERM/SIGINT or a
STOP file stop it at the next batch, keeping the directory consistent;
`resume(run_dir)` continues from last.keras. A process killed outright leaves
the last finished epoch intact and is reported as interrupted. Each sitting records
its backend and devices in hardware.json (`emotion_core.training.hardware`); a run resumed on
other hardware continues from its last epoch.
"""

from __future__ import annotations

import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from emotion_core import runs
from emotion_core.data.augment import AugmentConfig
from emotion_core.data.dataset import DEFAULT_IMAGE_SIZE, load_split
from emotion_core.data.splits import hold_out
from emotion_core.labels import EMOTIONS, NUM_CLASSES
from emotion_core.model.variants import VARIANTS
from emotion_core.options import check_ranges, option
from emotion_core.run_schema import RunState
from emotion_core.training.distill import soft_targets, teacher_paths, teacher_probabilities
from emotion_core.training.hardware import DEVICES, DISTRIBUTIONS, HardwarePlan

if TYPE_CHECKING:
    from emotion_core.data.batches import TrainingBatches

LogFn = Callable[[str], None]


@dataclass
class TrainConfig:
    """Everything a run needs; stored as config.json in the run directory."""

    data_root: str = option(MISSING, "--data", "data root holding train/ and test/")
    variant: str = option("xxs", "--variant", "MobileViT size", label="Variant", choices=tuple(VARIANTS))
    image_size: int = option(DEFAULT_IMAGE_SIZE, "--image-size", "square input size in pixels", label="Input size",
                             minimum=32, maximum=256)
    strides: list[int] | None = option(None, "--strides", "five strides stem,layer2..5, e.g. 2,1,2,2,1 "
                                       "(default: planned from the input size)")
    epochs: int = option(30, "--epochs", "epochs to train", label="Epochs", minimum=1, maximum=1000)
    batch_size: int = option(64, "--batch-size", "images per step", label="Batch size", minimum=1, maximum=1024)
    learning_rate: float = option(1e-3, "--learning-rate", "peak learning rate", label="Learning rate",
                                  minimum=1e-9, maximum=1.0)
    schedule: str = option("cosine", "--schedule", "cosine (with warm-up) or constant", label="Schedule",
                           choices=("cosine", "constant"))
    warmup_epochs: int = option(1, "--warmup-epochs", "epochs of linear warm-up (cosine only)", minimum=0,
                                maximum=100)
    label_smoothing: float = option(0.0, "--label-smoothing", "label smoothing", label="Label smoothing",
                                    minimum=0.0, maximum=0.5)
    class_weights: bool = option(False, "--class-weights", "balanced class weights, n / (k * count), clipped to "
                                 "[0.2, 10]", label="Balanced class weights (disgust is rare)")
    val_fraction: float = option(0.1, "--val-fraction", "part of train held out for validation", minimum=0.0,
                                 maximum=0.5)
    patience: int = option(10, "--patience", "early stopping on validation accuracy, in epochs (0: off)",
                           label="Early-stopping patience", minimum=0, maximum=1000)
    dropout: float = option(0.1, "--dropout", "dropout before the classifier", minimum=0.0, maximum=0.9)
    weight_decay: float = option(0.0, "--weight-decay", "decoupled weight decay, AdamW (0: Adam)",
                                 label="Weight decay (AdamW)", minimum=0.0, maximum=1.0)
    ema: bool = option(False, "--ema", "validate and keep an exponential moving average of the weights "
                       "(momentum 0.999; for long schedules: early on the average lags far behind)",
                       label="Average the weights (EMA)")
    mixup: float = option(0.0, "--mixup", "mixup strength, the Beta(a, a) parameter (0: off; 0.2 is usual)",
                          label="Mixup", minimum=0.0, maximum=10.0)
    cutmix: float = option(0.0, "--cutmix", "cutmix strength, the Beta(a, a) parameter (0: off; 1 is usual)",
                           label="Cutmix", minimum=0.0, maximum=10.0)
    focal_gamma: float = option(0.0, "--focal-gamma", "focal loss gamma: weight hard examples such as disgust "
                                "and fear (0: cross-entropy; 2 is usual)", label="Focal loss gamma",
                                minimum=0.0, maximum=10.0)
    device: str = option("auto", "--device", "train on the GPU when there is one (auto), or insist on cpu or gpu",
                         choices=DEVICES)
    distribution: str = option("auto", "--distribution", "spread over devices: auto (all GPUs, or the cluster "
                               "in TF_CONFIG), none, mirrored, multi-worker", choices=DISTRIBUTIONS)
    mixed_precision: bool = option(False, "--mixed-precision", "bfloat16 compute, float32 weights (GPUs only)")
    seed: int = option(42, "--seed", "random seed (weights, order, augmentation; the validation hold-out is "
                       "the same for every seed)")
    augment: AugmentConfig = field(default_factory=AugmentConfig, metadata={"nested": AugmentConfig})
    cache_dir: str | None = option(None, "--cache-dir", "where decoded .npz caches go")
    max_train_images: int | None = option(None, "--max-train-images", "subsample train (quick trials, tests)",
                                          minimum=1)
    evaluate_test: bool = option(True, "--test", "evaluate the best model on the test split when training ends; "
                                 "comparing candidates, leave the test split for the one you ship",
                                 off_flag="--no-test")
    init_from: str | None = option(None, "--init-from", "a .keras model to start from (fine-tuning) instead of "
                                   "random weights")
    teacher: str | None = option(None, "--teacher", "distil from trained models: run directories or .keras files, "
                                 "comma-separated (their probabilities averaged, each with its serving TTA)")
    distill_weight: float = option(0.5, "--distill-weight", "share of the teachers' probabilities in each "
                                   "training target (with --teacher; the rest is the true label)",
                                   label="Distillation weight", minimum=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        check_ranges(self)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def balanced_class_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> dict[int, float]:
    """n / (k * count_c), clipped to [0.2, 10]; absent classes get 1."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    k = present.sum()
    weights = np.ones(num_classes)
    weights[present] = np.clip(len(labels) / (k * counts[present]), 0.2, 10.0)
    return {i: float(w) for i, w in enumerate(weights)}


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    import keras

    if config.schedule == "constant":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, config.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 10 if warmup else config.learning_rate,
        decay_steps=max(1, total - warmup), alpha=0.01,
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup,
    )


def start_run(config: TrainConfig, runs_dir: Path | None = None, run_id: str | None = None) -> Path:
    """Create the run directory with config.json and a 'created' status; returns its path."""
    from emotion_core.model.variants import check_strides, plan_strides

    runs_dir = Path(runs_dir) if runs_dir else runs.default_runs_dir()
    strides = list(config.strides) if config.strides else list(plan_strides(config.image_size))
    check_strides(config.image_size, tuple(strides))  # fail before any work
    config.strides = strides
    run_dir = runs.create_run_dir(runs_dir, run_id or runs.new_run_id(config.variant, runs_dir))
    runs.RunDir(run_dir).write_config({**config.to_dict(), "labels": list(EMOTIONS)})
    runs.write_status(run_dir, RunState.CREATED, pid=None, epoch=0, epochs=config.epochs, message="created")
    return run_dir


def train(config: TrainConfig, runs_dir: Path | None = None, run_id: str | None = None,
          log: LogFn = print) -> Path:
    """Start a new run and train it to the end (or a stop request); returns the run directory."""
    plan_hardware(config)  # a device or distribution that cannot start fails before any file is written
    if config.teacher:
        teacher_paths(config.teacher)  # so does a teacher that is not there
    run_dir = start_run(config, runs_dir, run_id)
    return run_training(run_dir, log=log)


def resume(run_dir: Path, log: LogFn = print) -> Path:
    """Continue a stopped, interrupted or failed run from last.keras (from the start if it has none)."""
    state = runs.read_status(run_dir)["state"]
    if state not in runs.RESUMABLE:
        raise runs.RunError(f"Run {Path(run_dir).name} is {state}; only stopped, interrupted or failed runs "
                            "can be resumed.")
    return run_training(Path(run_dir), log=log)


def train_created(run_dir: Path, log: LogFn = print) -> Path:
    """Train a run that `start_run` created (the Training page creates it, a background process trains it)."""
    state = runs.read_status(run_dir)["state"]
    if state != runs.RunState.CREATED:
        raise runs.RunError(f"Run {Path(run_dir).name} is {state}, not newly created; use --resume to continue it.")
    runs.write_status(run_dir, RunState.CREATED, pid=os.getpid(), message="starting the training process")
    return run_training(Path(run_dir), log=log)


def run_training(run_dir: Path, log: LogFn = print) -> Path:
    """Train the run in `run_dir` from where it stands, holding the machine's training lock."""
    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(runs.RunDir(run_dir).read_config())
    lock = runs.TrainingLock()
    if not lock.acquire(run_dir.name):
        holder = lock.holder() or {}
        message = (f"Another training is running on this machine (run {holder.get('run_id')}, "
                   f"pid {holder.get('pid')}). Wait for it or stop it first.")
        if runs.read_status(run_dir).get("state") == RunState.CREATED:
            runs.write_status(run_dir, RunState.FAILED, pid=None, message=message)
        raise runs.RunError(message)
    from emotion_core.training.callbacks import StopFlag

    stop = StopFlag(run_dir)
    try:
        runs.RunDir(run_dir).stop_file.unlink(missing_ok=True)
        stop.install()
        runs.write_status(run_dir, RunState.RUNNING, pid=os.getpid(), message="loading data")
        hardware = plan_hardware(config)
        log(f"training on {hardware.summary()}")
        _fit(run_dir, config, hardware, stop, log)
    except BaseException as exc:
        state = RunState.STOPPED if isinstance(exc, KeyboardInterrupt) else RunState.FAILED
        runs.write_status(run_dir, state, pid=None, message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        stop.restore()
        lock.release()
    return run_dir


def plan_hardware(config: TrainConfig) -> HardwarePlan:
    """The backend, devices and distribution this process will train `config` on (HardwareError if it cannot)."""
    from emotion_core.training.hardware import HardwareError, plan

    hardware = plan(config.device, config.distribution, config.mixed_precision)
    if config.batch_size % hardware.replicas:
        raise HardwareError(f"The batch size ({config.batch_size}) must be a multiple of the "
                            f"{hardware.replicas} devices it is split over.")
    return hardware


def _fit(run_dir: Path, config: TrainConfig, hardware: HardwarePlan, stop, log: LogFn) -> None:
    """The training process's work: seed, data, model (new, fine-tuned or resumed), fit, then the reports."""
    import keras

    from emotion_core.training.hardware import allow_multi_worker_fit, training_scope, use_compilation_cache

    keras.utils.set_random_seed(config.seed)
    if hardware.backend == "jax":
        log(f"XLA compilation cache: {use_compilation_cache()}")
    data = prepare_data(config, log, replicas=hardware.replicas)
    with training_scope(hardware):
        model, state = build_or_resume(run_dir, config, data.steps, log)
    if hardware.distribution == "multi-worker":
        allow_multi_worker_fit(model)
    runs.RunDir(run_dir).append_hardware({**hardware.to_dict(), "from_epoch": state["epochs_done"] + 1,
                                          "time": time.time()})
    data.train.start_at(state["epochs_done"])
    fit(run_dir, config, model, state, data, stop, log)


@dataclass
class PreparedData:
    """The training and validation batches of a run and what the fit needs to know about them."""

    train: "TrainingBatches"
    validation: "TrainingBatches | None"
    steps: int  # batches per epoch
    train_labels: np.ndarray  # (N,) class indices of the training part, for class weights


def _batch_workers() -> int:
    """Threads that build batches: half the cores, 1 to 8 (the other half runs the model on a CPU)."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def prepare_data(config: TrainConfig, log: LogFn = print, replicas: int = 1) -> PreparedData:
    """Load (or read the cache of) the train split, cap it, hold out validation, build the batches."""
    from emotion_core.data.batches import TrainingBatches

    log(f"loading {config.data_root} at {config.image_size}px")
    last_report = [0.0]

    def progress(done: int, total: int) -> None:
        if time.time() - last_report[0] > 5 or done == total:
            last_report[0] = time.time()
            log(f"  decoded {done}/{total} images")

    train_split = load_split(config.data_root, "train", config.image_size, config.cache_dir, progress=progress)
    images, labels = train_split.images, train_split.labels
    if config.max_train_images and len(labels) > config.max_train_images:
        keep = np.random.default_rng(config.seed).permutation(len(labels))[: config.max_train_images]
        images, labels = images[np.sort(keep)], labels[np.sort(keep)]
    train_idx, val_idx = hold_out(labels, config.val_fraction)
    log(f"train {len(train_idx)} images, validation {len(val_idx)}; skipped unreadable: {len(train_split.unreadable)}")
    workers = _batch_workers()
    targets = None
    if config.teacher:
        log(f"teachers label the {len(train_idx)} training images (weight {config.distill_weight})")
        teacher = teacher_probabilities(config.teacher, images[train_idx], labels[train_idx], log)
        targets = soft_targets(labels[train_idx], teacher, config.distill_weight)
    train = TrainingBatches(images[train_idx], labels[train_idx], config.batch_size, train=True, targets=targets,
                            augment=config.augment, mixup=config.mixup, cutmix=config.cutmix, seed=config.seed,
                            workers=workers, multiple=replicas)
    validation = TrainingBatches(images[val_idx], labels[val_idx], config.batch_size, workers=workers,
                                 multiple=replicas) if len(val_idx) >= replicas else None
    return PreparedData(train=train, validation=validation, steps=len(train),
                        train_labels=labels[train_idx])


def build_or_resume(run_dir: Path, config: TrainConfig, steps: int, log: LogFn = print):
    """(model, resume state): last.keras with its optimizer when the run has finished epochs; else a new
    MobileViT or the `init_from` model, compiled."""
    from emotion_core.model.mobilevit import build_mobilevit, compile_model
    from emotion_core.serving.model_files import load_keras_model

    files = runs.RunDir(run_dir)
    state = files.read_state()
    if state and files.last_model.is_file() and state.get("epochs_done", 0) > 0:
        model = load_keras_model(files.last_model, compile=True)
        runs.truncate_metrics(run_dir, state["epochs_done"])
        log(f"resuming after epoch {state['epochs_done']}")
        return model, state
    state = {"epochs_done": 0, "best_value": -1.0, "best_epoch": 0, "wait": 0}
    if config.init_from:
        model = load_keras_model(Path(config.init_from))
        if tuple(model.input_shape[1:]) != (config.image_size, config.image_size, 1):
            raise ValueError(f"{config.init_from} expects input {model.input_shape[1:]}, "
                             f"not {config.image_size}x{config.image_size}x1.")
        log(f"starting from {config.init_from}")
    else:
        model = build_mobilevit(config.variant, config.image_size, strides=tuple(config.strides),
                                dropout=config.dropout)
    compile_model(model, _learning_rate(config, steps), config.label_smoothing, weight_decay=config.weight_decay,
                  ema=config.ema, focal_gamma=config.focal_gamma)
    log(f"MobileViT-{config.variant.upper()}: {model.count_params():,} parameters, strides {config.strides}")
    return model, state


def fit(run_dir: Path, config: TrainConfig, model, state: dict, data: PreparedData, stop, log: LogFn = print) -> None:
    """Fit the remaining epochs with the run's callbacks; a stopped run says how to resume, a finished one is
    evaluated and exported."""
    import keras

    from emotion_core.training.callbacks import EarlyStopping, EpochRecorder, ProgressWriter, StopOnRequest

    weights = balanced_class_weights(data.train_labels) if config.class_weights else None
    stop_on_request = StopOnRequest(stop)
    # With EMA the averaged weights are validated and saved: the swap comes before the recorder.
    averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema else []
    callbacks = [stop_on_request, *averaging, ProgressWriter(run_dir, config.epochs, data.steps, state),
                 EpochRecorder(run_dir, config.epochs, state, stop_on_request, log),
                 EarlyStopping(config.patience, state, log)]
    if state["epochs_done"] < config.epochs and not (config.patience and state["wait"] >= config.patience):
        runs.write_status(run_dir, RunState.RUNNING, message="training")
        model.fit(data.train, validation_data=data.validation, epochs=config.epochs, initial_epoch=state["epochs_done"],
                  class_weight=weights, callbacks=callbacks, verbose=0, shuffle=False)
    if stop.is_set():
        runs.write_status(run_dir, RunState.STOPPED, pid=None,
                          message=f"stopped after epoch {state['epochs_done']}; resume to continue")
        log(f"stopped after epoch {state['epochs_done']}; resume with: python -m emotion_core train --resume {run_dir}")
        return
    finalize_run(run_dir, config, log)


def finalize_run(run_dir: Path, config: TrainConfig, log: LogFn = print) -> dict | None:
    """Evaluate best.keras on the test split (unless the config says not to), write the reports and exports;
    status completed. Returns the test report, None when the test split was left alone."""
    from emotion_core.evaluation.evaluate import evaluate_split, write_reports
    from emotion_core.serving.export import export_all
    from emotion_core.serving.model_files import load_keras_model

    files = runs.RunDir(run_dir)
    model = load_keras_model(files.best_model)
    report = None
    if config.evaluate_test:
        runs.write_status(run_dir, RunState.RUNNING, message="evaluating on the test split")
        evaluation = evaluate_split(lambda b: model(b, training=False), config.data_root, "test", config.image_size,
                                    config.cache_dir)
        write_reports(run_dir, evaluation)
        report = evaluation.report
        log(f"test accuracy {report['accuracy']:.4f}, macro F1 {report['macro']['f1']:.4f} on {report['support']} "
            "images")
    runs.write_status(run_dir, RunState.RUNNING, message="exporting")
    paths = export_all(model, run_dir)
    log("exported " + ", ".join(str(p) for p in paths.values()))
    if "tflite" not in paths:
        log(f"TFLite export needs the TensorFlow backend: python -m emotion_core export {run_dir}")
    best = files.read_state() or {}
    message = (f"test accuracy {report['accuracy']:.4f}" if report else
               f"best validation accuracy {best.get('best_value', 0):.4f} (epoch {best.get('best_epoch')}); "
               "test split not evaluated")
    runs.write_status(run_dir, RunState.COMPLETED, pid=None, message=message)
    return report
