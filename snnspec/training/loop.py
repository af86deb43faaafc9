"""Training and evaluation: the loop, losses, regularisers, metrics, checkpoints, resume.

A run folder holds everything needed to inspect, resume, rescore or rerun an experiment::

    resolved.yaml          the final spec (after --set) as trained; sha256 = `snnspec resolve`
    spec.yaml              the trained model: normalised spec with `params: params.safetensors`
    params.safetensors     the selected epoch's parameters (`snnspec run DIR` uses them)
    manifest.json          hashes (spec, data, split, params), seed, overrides, the full
                           environment (snnspec/bundle/environment.py), wall time, status,
                           the selection and the test metrics
    metrics.jsonl          one JSON object per epoch: training and validation metrics, never
                           test metrics, and timings (:func:`.throughput.is_timing`):
                           train_time_seconds, step_time (median seconds per optimizer
                           step, :class:`.throughput.EpochTimer`), samples_per_second,
                           eval_time_seconds
    results.json           the selected epoch, why it was selected, whether early stopping
                           ended the run, and its test metrics (`snnspec evaluate DIR`)
    split.json             the indices of the train, validation and test samples in their
                           source, and each part's sha256
    checkpoints/           epoch-NNNN.safetensors every epoch and best.safetensors (the
                           selected epoch): parameters and optimizer state, written atomically
    curves.png             loss and accuracy per epoch (when matplotlib is installed)

Honest selection: the kept epoch is the best by a validation metric (``train.selection``,
default ``val_loss``) when the data have a validation split, else the last epoch; early
stopping watches the same metric. The test set is scored once, at the end, for the selected
parameters, so it never influences which parameters are kept (:func:`select_epoch`).

Determinism: the split, the encoding, the order of an epoch's batches (a function of
``(seed, epoch)`` only) and every step's key (``fold_in(fold_in(key, epoch), step)``) are
seeded, so two runs of one spec give bitwise identical metrics and parameters on one
machine (on another CPU type or number of CPUs XLA's code differs, and so do the last bits),
and a resumed run continues exactly where the last checkpoint left off. An epoch's last
incomplete batch is skipped (a different few samples every epoch); evaluation pads its last
batch and masks the padding out.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree

from .._errors import Hint, InputError, ParamsError
from .._io import sha256_file, sha256_text, write_atomic, write_text_atomic
from ..bundle import (
    BEST,
    CHECKPOINTS,
    CURVES,
    MANIFEST,
    METRICS,
    PARAMS,
    RESOLVED,
    RESULTS,
    SPEC,
    SPLIT,
    TENSORBOARD,
)
from ..spec.loader import load_json_file
from ..spec.overrides import resolved_text
from .batches import Prefetch, Spare, gather
from .data import Dataset, Samples, epoch_order, has_validation, load_data, train_seed
from .parallel import Placement
from .throughput import EpochTimer
from .tracking import TrackedRun, Tracker, check_trackers

if TYPE_CHECKING:
    import optax

    from ..model.model import StatefulModel
    from ..spec.model import ModelSpec
    from ..spec.train import TrainSpec
    from .custom import LossFunction

CHECKPOINT_FORMAT = "snnspec-checkpoint-1"
_EPOCH_FILE = re.compile(r"epoch-(\d{4,})\.safetensors")

Callback = Callable[[int, dict[str, Any]], None]
"""Called after each epoch's checkpoint and metrics are on disk with (epoch, record)."""
Params = PyTree
"""What training updates: the model's floating-point arrays, every other leaf None
(``eqx.partition(model, eqx.is_inexact_array)``); ``Task.model`` puts the model back."""

_COMPILED: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_COMPILED_MAX = 8


@dataclass(frozen=True)
class RunResult:
    """What a finished run reports: its folder, per-epoch records and final test metrics."""

    directory: Path
    records: list[dict[str, Any]]
    results: dict[str, Any]


class Task:
    """The model split into trainable arrays and static rest, with jitted step functions."""

    def __init__(self, spec: ModelSpec, model: StatefulModel, data: Dataset) -> None:
        import equinox as eqx
        import jax

        train = _train_of(spec)
        plan = model.plan
        names = plan.layer_names
        self.spec, self.train = spec, train
        self.burnin = spec.time.burnin if train.burnin is None else train.burnin
        if self.burnin >= data.steps:
            raise spec.error(
                ("train", "burnin"),
                f"burn-in ({self.burnin}) must be smaller than the {data.steps} steps of the data",
                InputError,
            )
        loss = train.loss
        self.readout = names.index(loss.layer) if loss.layer else plan.final_layer_ids[0]
        classes = plan.layer_output_shapes[self.readout]
        if classes != (data.num_classes,):
            raise spec.error(
                ("train", "loss"),
                f"the data has {data.num_classes} classes but the readout layer "
                f"'{names[self.readout]}' has output shape {list(classes)}; give it "
                f"{data.num_classes} neurons",
                InputError,
            )
        from ..model.cost import with_synops

        # every weighted layer's SynOps probe (snnspec.model.cost): `train_synops` and the
        # synops regulariser read them; they hold no arrays
        model, self.probes = with_synops(model)
        self.regularized = [
            [names.index(n) for n in r.layers]
            if r.type != "synops"
            else [self.probes[i] for i in (map(names.index, r.layers) if r.layers else self.probes)]
            for r in train.regularizers
        ]
        self.spiking = [
            i
            for i, layer in enumerate(plan.layers)
            if layer.spiking and "spike_rate" in train.metrics
        ]
        ids = [self.readout, *[i for ids in self.regularized for i in ids], *self.spiking]
        self.recorded = list(dict.fromkeys([*ids, *self.probes.values()]))
        self.layer_names = names
        recording = model.with_outputs(self.recorded)
        self.params, self.static = eqx.partition(recording, eqx.is_inexact_array)
        self.seed = train_seed(spec)
        self.num_classes = data.num_classes
        self.steps_per_epoch = len(data.y_train) // train.batch_size
        if self.steps_per_epoch == 0:
            raise spec.error(
                ("train", "batch_size"),
                f"batch_size {train.batch_size} is larger than the {len(data.y_train)} "
                "training samples",
                InputError,
            )
        self.custom: LossFunction | None = None
        if loss.type == "custom":
            from .custom import check_loss, resolve_loss

            self.custom = resolve_loss(spec)
            steps = data.steps - self.burnin
            check_loss(spec, self.custom, train.batch_size, steps, data.num_classes)
        # One spec, data shape and batch count (and custom loss function) always trace to the
        # same program: reuse its jitted steps within the process, e.g. when resuming.
        digest = sha256_text(resolved_text(spec))
        key = (digest, data.steps, data.num_classes, self.steps_per_epoch, self.custom)
        # The static part is the first instance's (equal up to how the spec was written).
        if key not in _COMPILED:
            self.optimizer, self.schedule = build_optimizer(train, self.steps_per_epoch)
            _COMPILED[key] = (
                self.optimizer,
                self.schedule,
                # jax.jit, not eqx.filter_jit: the step takes arrays only, and filter_jit
                # waits for each call to finish, so the host could not dispatch the next
                # step (nor gather its batch) while one runs
                jax.jit(self._train_step),
                eqx.filter_jit(self._eval_step),
                self.static,
                jax.tree_util.tree_structure(self.params),
            )
            while len(_COMPILED) > _COMPILED_MAX:
                _COMPILED.pop(next(iter(_COMPILED)))
        cached = _COMPILED[key]
        self.optimizer, self.schedule, self.train_step, self.eval_step, self.static = cached[:5]
        self.params = jax.tree_util.tree_unflatten(
            cached[5], jax.tree_util.tree_leaves(self.params)
        )

    # --- the model's forward pass, readout and losses ----------------------------------

    def _outputs(
        self,
        params: Params,
        x: Array,
        key: PRNGKeyArray,
        inference: bool,
        indices: Array | None = None,
        dtype: str | None = None,
    ) -> dict[int, Array]:
        """The recorded layers' outputs; ``dtype`` (default the spec's) is the neuron state's
        and inputs' dtype, ``indices`` the samples' places in the batch (their keys)."""
        import dataclasses

        import equinox as eqx

        from ..model.model import simulate_batch

        model = eqx.nn.inference_mode(eqx.combine(params, self.static), value=inference)
        if dtype is not None:
            model = dataclasses.replace(model, dtype=dtype)
        outputs = simulate_batch(model, (x,), key, self.burnin, indices)
        return dict(zip(self.recorded, outputs, strict=True))

    def _task_loss(self, out: Array, y: Array) -> tuple[Array, Array]:
        """Per-sample loss and correctness of the readout ``out`` (B, T, classes)."""
        import jax
        import jax.numpy as jnp
        import optax

        loss = self.train.loss
        out = out.astype(jnp.float32)
        if loss.type == "cross_entropy":
            scores = out.sum(1) if loss.readout == "spike_count" else out.max(1)
            scores = scores * loss.scale
            per_sample = optax.softmax_cross_entropy_with_integer_labels(scores, y)
        elif loss.type == "mse_rate":
            scores = out.mean(1)
            onehot = jax.nn.one_hot(y, self.num_classes, dtype=scores.dtype)
            target = onehot * loss.on_rate + (1 - onehot) * loss.off_rate
            per_sample = jnp.mean((scores - target) ** 2, axis=-1)
        else:  # custom: __init__ resolved the function and checked its shapes
            per_sample, scores = self.custom(out, y)  # pyright: ignore[reportOptionalCall]
        correct = (jnp.argmax(scores, axis=-1) == y).astype(jnp.float32)
        return per_sample, correct

    def _penalty(self, outputs: dict[int, Array]) -> Array:
        import jax.numpy as jnp

        total = jnp.zeros((), jnp.float32)
        for regularizer, ids in zip(self.train.regularizers, self.regularized, strict=True):
            if regularizer.type == "synops":  # ids are probes: SynOps per sample per step
                synops = jnp.mean(sum(jnp.mean(outputs[i].astype(jnp.float32), 1) for i in ids))
                excess = jnp.maximum(synops - regularizer.target, 0.0) / regularizer.target
                total = total + regularizer.weight * excess**2
                continue
            for i in ids:
                out = outputs[i].astype(jnp.float32)
                if regularizer.type == "sparsity":
                    total = total + regularizer.weight * jnp.mean(out)
                elif regularizer.per_neuron:
                    rates = jnp.mean(out, axis=(0, 1))
                    total = total + regularizer.weight * jnp.mean((rates - regularizer.target) ** 2)
                else:
                    total = total + regularizer.weight * (jnp.mean(out) - regularizer.target) ** 2
        return total

    def _train_step(
        self, params: Params, opt_state: optax.OptState, x: Array, y: Array, key: PRNGKeyArray
    ) -> tuple[Params, optax.OptState, Array, Array, Array]:
        """One update; returns the loss, the number correct and the batch's mean SynOps per
        sample per step (all weighted layers)."""
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        from .step import compute_copy, gradients

        precision = self.train.precision
        dtype = "bfloat16" if precision == "bfloat16" else None

        def objective(
            p: Params, x: Array, y: Array, indices: Array | None
        ) -> tuple[Array, tuple[Array, Array]]:
            outputs = self._outputs(compute_copy(p, precision), x, key, False, indices, dtype)
            per_sample, correct = self._task_loss(outputs[self.readout], y)
            synops = sum(
                (jnp.mean(outputs[i].astype(jnp.float32)) for i in self.probes.values()),
                jnp.zeros((), jnp.float32),
            )
            return jnp.mean(per_sample) + self._penalty(outputs), (jnp.sum(correct), synops)

        loss, (correct, synops), grads = gradients(
            objective, params, x, y, self.train.accumulate_steps
        )
        # optax's adam raises its float decays to the int32 step count, which JAX's strict
        # dtype promotion rejects; our own arithmetic stays under the caller's setting
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return eqx.apply_updates(params, updates), opt_state, loss, correct, synops

    def _eval_step(
        self, params: Params, x: Array, y: Array, mask: Array, key: PRNGKeyArray
    ) -> tuple[Array, Array, list[Array]]:
        import jax.numpy as jnp

        outputs = self._outputs(params, x, key, inference=True)
        per_sample, correct = self._task_loss(outputs[self.readout], y)
        rates = [
            jnp.sum(
                jnp.mean(outputs[i].astype(jnp.float32), axis=tuple(range(1, outputs[i].ndim)))
                * mask
            )
            for i in self.spiking
        ]
        return jnp.sum(per_sample * mask), jnp.sum(correct * mask), rates

    # --- epochs ------------------------------------------------------------------------

    def step_key(self, epoch: int, step: int) -> PRNGKeyArray:
        import jax

        root = jax.random.PRNGKey(self.seed)
        return jax.random.fold_in(jax.random.fold_in(root, epoch), step)

    def batches(self, data: Dataset, epoch: int) -> list[np.ndarray]:
        """Index batches of ``epoch`` (its order depends on (seed, epoch) only)."""
        order = epoch_order(len(data.y_train), self.seed, epoch)
        size = self.train.batch_size
        return [order[b * size : (b + 1) * size] for b in range(self.steps_per_epoch)]

    def evaluate(
        self,
        params: Params,
        x: Samples,
        y: np.ndarray,
        prefix: str = "test",
        placement: Placement | None = None,
    ) -> dict[str, Any]:
        """``<prefix>_loss``, ``_accuracy`` (and ``_spike_rate``) over all samples of one
        part of the data (``val`` or ``test``), padded batches masked. With a ``placement``
        (``params`` placed by it) every batch is sharded and this process reads its rows."""
        import jax

        where = placement or Placement()
        size = self.train.batch_size
        key = where.replicate(jax.random.PRNGKey(self.seed))
        loss_sum = correct_sum = 0.0
        rate_sums = [0.0] * len(self.spiking)
        for start in range(0, len(y), size):
            rows = where.rows(np.arange(start, start + size))
            present = rows[rows < len(y)]
            xb, yb = x[present], y[present]
            mask = np.zeros(len(rows), np.float32)
            mask[: len(present)] = 1.0
            if len(present) < len(rows):
                pad = len(rows) - len(present)
                xb = np.concatenate([xb, np.zeros((pad, *xb.shape[1:]), xb.dtype)])
                yb = np.concatenate([yb, np.zeros(pad, yb.dtype)])
            loss, correct, rates = self.eval_step(params, *where.batch(xb, yb, mask), key)
            loss_sum += float(loss)
            correct_sum += float(correct)
            rate_sums = [total + float(r) for total, r in zip(rate_sums, rates, strict=True)]
        count = max(len(y), 1)
        result: dict[str, Any] = {
            f"{prefix}_loss": loss_sum / count,
            f"{prefix}_accuracy": correct_sum / count,
        }
        if self.spiking:
            result[f"{prefix}_spike_rate"] = {
                self.layer_names[i]: total / count
                for i, total in zip(self.spiking, rate_sums, strict=True)
            }
        return result

    def model(self, params: Params) -> StatefulModel:
        import equinox as eqx

        return eqx.combine(params, self.static)


def build_optimizer(
    train: TrainSpec, steps_per_epoch: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax transformation of ``train.optimizer`` and its learning-rate schedule."""
    import jax
    import optax

    spec = train.optimizer
    total = train.epochs * steps_per_epoch
    warmup = spec.warmup_epochs * steps_per_epoch
    if spec.schedule == "cosine":
        schedule = optax.cosine_decay_schedule(spec.learning_rate, max(total - warmup, 1))
    elif spec.schedule == "exponential":
        schedule = optax.exponential_decay(
            spec.learning_rate, steps_per_epoch, spec.decay_rate, staircase=True
        )
    else:
        schedule = optax.constant_schedule(spec.learning_rate)
    if warmup:
        ramp = optax.linear_schedule(0.0, spec.learning_rate, warmup)
        schedule = optax.join_schedules([ramp, schedule], [warmup])

    def weights_only(params: Any) -> Any:
        def is_weight(path: Any, leaf: Any) -> bool:
            return bool(path) and getattr(path[-1], "name", None) == "weight"

        return jax.tree_util.tree_map_with_path(is_weight, params)

    if spec.type == "adam":
        core = optax.adam(schedule)
    elif spec.type == "adamw":
        core = optax.adamw(schedule, weight_decay=spec.weight_decay, mask=weights_only)
    else:
        core = optax.sgd(schedule, momentum=spec.momentum or None)
    parts = []
    if spec.clip_value is not None:
        parts.append(optax.clip(spec.clip_value))
    if spec.clip_norm is not None:
        parts.append(optax.clip_by_global_norm(spec.clip_norm))
    return optax.chain(*parts, core), schedule


# --- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(
    path: Path, task: Task, params: Params, opt_state: optax.OptState, epoch: int
) -> None:
    """Parameters (``params/<key>``) and optimizer state (``opt/<n>``) in one safetensors."""
    import jax
    from safetensors.numpy import save_file

    from ..model.params import parameter_arrays

    arrays = {f"params/{k}": v for k, v in parameter_arrays(task.model(params)).items()}
    for n, leaf in enumerate(jax.tree_util.tree_leaves(opt_state)):
        arrays[f"opt/{n:05d}"] = np.asarray(leaf)
    arrays = {k: np.array(v, order="C") for k, v in arrays.items()}  # keeps 0-d arrays 0-d
    metadata = {"format": CHECKPOINT_FORMAT, "epoch": str(epoch)}
    write_atomic(path, lambda tmp: save_file(arrays, str(tmp), metadata=metadata))


def load_checkpoint(path: Path, task: Task) -> tuple[Params, optax.OptState, int]:
    """``(params, opt_state, epoch)`` from a checkpoint written by :func:`save_checkpoint`."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from safetensors import safe_open

    from ..model.params import apply_params

    try:
        with safe_open(str(path), framework="numpy") as handle:  # pyright: ignore[reportArgumentType]
            metadata = handle.metadata() or {}
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:
        raise ParamsError(f"cannot read checkpoint: {error}", file=str(path)) from None
    if metadata.get("format") != CHECKPOINT_FORMAT or "epoch" not in metadata:
        raise ParamsError("not an snnspec training checkpoint", file=str(path))
    params_arrays = {k.removeprefix("params/"): v for k, v in arrays.items() if k[:7] == "params/"}
    model = apply_params(task.model(task.params), params_arrays, source=str(path))
    params = eqx.filter(model, eqx.is_inexact_array)
    template = task.optimizer.init(params)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    stored = [arrays.get(f"opt/{n:05d}") for n in range(len(leaves))]
    for n, (leaf, value) in enumerate(zip(leaves, stored, strict=True)):
        if value is None or value.shape != np.shape(leaf) or value.dtype != np.asarray(leaf).dtype:
            raise ParamsError(
                f"optimizer state entry {n} does not fit this spec's optimizer; the checkpoint "
                "was written by a different recipe",
                file=str(path),
            )
    opt_state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in stored])
    return params, opt_state, int(metadata["epoch"])


def latest_checkpoint(directory: Path) -> tuple[int, Path] | None:
    """The newest ``checkpoints/epoch-NNNN.safetensors`` of a run folder, if any."""
    found = [
        (int(match.group(1)), path)
        for path in (directory / CHECKPOINTS).glob("epoch-*.safetensors")
        if (match := _EPOCH_FILE.fullmatch(path.name))
    ]
    return max(found) if found else None


# --- selection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The epoch a run keeps, the metric and value that chose it, why, and whether early
    stopping ends the run after the records it was computed from."""

    epoch: int
    metric: str | None
    value: float | None
    reason: str
    stop: bool = False

    def record(self) -> dict[str, Any]:
        """``results.json``'s ``selected``."""
        return {
            "epoch": self.epoch,
            "metric": self.metric,
            "value": self.value,
            "reason": self.reason,
        }


def select_epoch(
    records: Sequence[dict[str, Any]],
    metric: str | None,
    patience: int | None = None,
    min_delta: float = 0.0,
) -> Selection:
    """The epoch to keep, from per-epoch ``records`` in epoch order (a pure function).

    With a ``metric`` (a validation metric; None when there is no validation split, which
    keeps the last epoch): the best epoch, the lowest for a ``*_loss``, the highest for an
    ``*_accuracy``; on a tie the earliest; NaN never beats a number. ``stop`` (early
    stopping) is true once ``patience`` epochs in a row have not beaten, by more than
    ``min_delta``, the value of the last epoch that did (the first epoch always does).
    """
    if not records:
        raise InputError("no epoch was trained; nothing to report")
    if metric is None:
        return Selection(records[-1]["epoch"], None, None, "last epoch: no validation split")
    sign = -1.0 if metric.endswith("_loss") else 1.0
    best, best_score, reference, wait = records[0], math.nan, math.nan, 0
    for record in records:
        score = sign * float(record[metric])
        if not math.isnan(score) and (math.isnan(best_score) or score > best_score):
            best, best_score = record, score
        if not math.isnan(score) and (math.isnan(reference) or score > reference + min_delta):
            reference, wait = score, 0
        else:
            wait += 1
    how = "lowest" if sign < 0 else "highest"
    reason = (
        f"{how} {metric}" if not math.isnan(best_score) else f"first epoch: every {metric} is NaN"
    )
    stop = patience is not None and wait >= patience
    return Selection(best["epoch"], metric, float(best[metric]), reason, stop)


def selection_of(
    train: TrainSpec, records: Sequence[dict[str, Any]], validation: bool
) -> Selection:
    """:func:`select_epoch` with the spec's selection metric and early stopping."""
    if not validation:
        return select_epoch(records, None)
    metric = train.selection_metric
    stopping = train.early_stopping
    if stopping is None:
        return select_epoch(records, metric)
    return select_epoch(records, metric, stopping.patience, stopping.min_delta)


# --- the run --------------------------------------------------------------------------------


def train(
    spec: ModelSpec,
    directory: str | Path,
    *,
    resume: bool = False,
    overrides: Sequence[str] = (),
    source: str | None = None,
    data_root: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    callbacks: Sequence[Callback] = (),
    force: bool = False,
    devices: str | int | None = None,
) -> RunResult:
    """Train ``spec`` into ``directory``; see the module docstring for what is written.

    With ``resume`` the newest checkpoint in ``directory`` is restored (the spec must hash
    the same as the run's, or differ only in a larger ``train.epochs``: an extension, see
    :mod:`.extend`) and training continues from the epoch after it. Each of
    ``callbacks`` is called after each epoch's checkpoint and metrics are on disk (a
    :class:`~.tracking.Tracker` also when the run starts and ends). A callback that raises
    stops the run as Ctrl-C does: the manifest says ``interrupted`` (and which callback, in
    ``interrupted_by``), ``resume`` continues it, and the exception propagates. ``directory``
    must be new or empty; ``force`` replaces an earlier run in it (see :mod:`._folders`).

    ``devices`` (a count or ``"all"``) shards every batch over a device mesh (see
    :mod:`.parallel`); with several JAX processes (``jax.distributed``) each reads its rows
    of every batch, and only process 0 writes ``directory`` and calls ``callbacks``.
    """
    import jax

    directory = Path(directory)
    train_spec = _train_of(spec)
    placement = Placement.of(spec, devices)
    primary = placement.primary
    if not primary:  # process 0 writes, tracks and reports; the others compute along
        callbacks, echo = (), _quiet
    trackers = check_trackers(callbacks)
    started = time.perf_counter()
    root = data_root or spec.base_dir
    text = resolved_text(spec)
    digest = sha256_text(text)
    if primary:
        manifest = _start_manifest(
            directory, spec, digest, resume, force, overrides, source, root, echo
        )
    else:  # process 0 checks and writes the folder; the others only read a resumed run's
        resumed = resume and (directory / MANIFEST).is_file()
        manifest = read_manifest(directory) if resumed else {}
    from .custom import check_unchanged

    code = check_unchanged(spec, manifest.get("custom_code"), file=str(directory / MANIFEST))
    if code:
        manifest["custom_code"] = code
    if not primary:  # a preprocessing cache is built by process 0 before the others read it
        placement.barrier("snnspec-data-loaded")
    data = load_data(spec, root)
    if primary:
        placement.barrier("snnspec-data-loaded")
    if manifest.get("data_sha256", data.sha256) != data.sha256:
        raise InputError(
            f"the data differ from the run's (sha256 {manifest['data_sha256'][:12]}..., now "
            f"{data.sha256[:12]}...); the data file changed, so the run cannot be resumed",
            file=str(directory / MANIFEST),
        )
    manifest["data_sha256"] = data.sha256
    validation = has_validation(spec)
    manifest["data"] = {
        "train_samples": len(data.y_train),
        **({"val_samples": len(data.y_val)} if validation else {}),
        "test_samples": len(data.y_test),
        "steps": data.steps,
        "classes": data.num_classes,
        **({"cache": data.cache} if data.cache is not None else {}),
    }
    model = _initial_model(spec, root)
    task = Task(spec, model, data)
    params = task.params
    opt_state = task.optimizer.init(params)
    first_epoch, records = 1, []
    latest = latest_checkpoint(directory) if resume else None
    if latest is not None:
        params, opt_state, done = load_checkpoint(latest[1], task)
        records = [r for r in _read_records(directory) if r["epoch"] <= done]
        first_epoch = done + 1
        echo(f"resuming {directory} after epoch {done}")
    elif resume:
        echo(f"no checkpoint in {directory}; starting from epoch 1")
    params, opt_state = placement.replicate((params, opt_state))
    if not primary:
        state = (params, opt_state, first_epoch, records)
        return _follow(directory, spec, task, data, placement, *state)
    if force:  # an earlier run (checked above), removed only now that the new one can start
        _remove_run(directory)
    write_text_atomic(directory / RESOLVED, text)
    _write_json(directory / SPLIT, data.split_record(task.seed))
    manifest.update(split=SPLIT, split_sha256=sha256_file(directory / SPLIT))
    _write_records(directory, records)
    prior_seconds = float(manifest.get("wall_time_seconds", 0.0)) if latest else 0.0
    manifest.update(status="running", epochs_completed=first_epoch - 1)
    manifest.pop("interrupted_by", None)
    # the latest session's mesh ("devices" holds the environment's device list)
    manifest["placement"] = {"devices": placement.devices, "processes": placement.processes}
    _write_json(directory / MANIFEST, manifest)
    # Selection and early stopping are functions of the records: a resumed run recomputes them.
    selection = selection_of(train_spec, records, validation) if records else None
    if selection is not None and _epoch_file(directory, selection.epoch).is_file():
        _copy_best(directory, selection.epoch)  # in case the run stopped before copying it
    parts = f"{len(data.y_train)} train / " + (
        f"{len(data.y_val)} validation / " if validation else ""
    )
    echo(
        f"training {spec.name}: {parts}{len(data.y_test)} test samples, {data.steps} steps, "
        f"{train_spec.epochs} epochs on {placement.describe(jax.default_backend())} -> "
        f"{directory}"
    )
    if latest is None:  # a fresh start: the initial spike rates, a warning per dead layer
        from .activity import activity_batch, check_activity

        batch = activity_batch(spec, model.plan, data)
        check_activity(spec, model, batch, echo, lambda line: echo(f"warning: {line}"))

    def wall_time() -> float:
        return prior_seconds + time.perf_counter() - started

    epoch = first_epoch - 1
    last_epoch = epoch if selection is not None and selection.stop else train_spec.epochs
    spare = Spare()  # the batches' memory, reused from epoch to epoch
    calling: str | None = None  # the callback running, whose exception stops the run
    opened: list[Tracker] = []  # the trackers started, to close
    try:
        with _Progress(enabled=progress, echo=echo) as bar:
            tracking = manifest.setdefault("tracking", {}) if trackers else {}
            for tracker in trackers:
                calling = tracker.name
                tracker.start(
                    TrackedRun(
                        directory=directory,
                        spec=spec,
                        spec_sha256=digest,
                        seed=manifest["seed"],
                        overrides=tuple(manifest["overrides"]),
                        records=tuple(records),
                        state=tracking.setdefault(tracker.name, {}),
                    )
                )
                opened.append(tracker)
            calling = None
            if trackers:
                _write_json(directory / MANIFEST, manifest)
            for epoch in range(first_epoch, last_epoch + 1):
                bar.start(f"epoch {epoch}/{train_spec.epochs}", task.steps_per_epoch)
                params, opt_state, record = _epoch(
                    task, data, placement, params, opt_state, epoch, validation, bar.advance, spare
                )
                # Metrics first: a run stopped before the checkpoint redoes this epoch.
                records.append(record)
                _write_records(directory, records)
                checkpoint = _epoch_file(directory, epoch)
                save_checkpoint(checkpoint, task, params, opt_state, epoch)
                selection = selection_of(train_spec, records, validation)
                if selection.epoch == epoch:
                    _copy_best(directory, epoch)  # before pruning can remove the epoch's file
                _prune(directory, train_spec.keep_checkpoints)
                manifest.update(epochs_completed=epoch, wall_time_seconds=wall_time())
                _write_json(directory / MANIFEST, manifest)
                bar.log(_summary(record))
                for callback in callbacks:
                    calling = getattr(callback, "name", None) or getattr(
                        callback, "__qualname__", type(callback).__qualname__
                    )
                    callback(epoch, record)
                calling = None
                if trackers:  # the epoch each tracker has logged
                    _write_json(directory / MANIFEST, manifest)
                if selection.stop:
                    break
    except BaseException as error:
        if calling is None and not isinstance(error, KeyboardInterrupt):
            _close(opened, "failed")
            raise
        manifest.update(status="interrupted", wall_time_seconds=wall_time())
        if calling is not None:
            manifest["interrupted_by"] = f"callback {calling}: {type(error).__name__}: {error}"
        _write_json(directory / MANIFEST, manifest)
        _plot_curves(directory, records, echo, None)
        _close(opened, "interrupted")
        done = latest_checkpoint(directory)
        where = f"the last checkpoint is epoch {done[0]}" if done else "no epoch finished"
        stop = "interrupted" if calling is None else f"stopped by callback {calling}"
        echo(
            f"{stop} in epoch {epoch}; {where}. Continue with `snnspec train {directory} --resume`"
        )
        raise
    selection = selection_of(train_spec, records, validation)
    try:
        results = _finish(
            directory, spec, task, data, records, selection, manifest, wall_time, echo, placement
        )
    except BaseException:
        _close(opened, "failed")
        raise
    _close(opened, "completed", results)
    _plot_curves(directory, records, echo, selection.epoch)
    stopped = ", stopped early" if results["early_stopped"] else ""
    echo(
        f"done: test accuracy {results['test_accuracy']:.4f} of epoch {selection.epoch} "
        f"({selection.reason}) after {results['epochs_completed']} epochs{stopped}; "
        f"{wall_time():.1f} s"
    )
    return RunResult(directory, records, results)


def evaluate_run(directory: str | Path, checkpoint: str = "final") -> dict[str, Any]:
    """Rescore a run folder's test set with its selected parameters (``final``:
    params.safetensors; ``best``: the selected epoch's checkpoint) or ``epoch-N``'s."""
    from ..model.params import read_params
    from ..spec.load import load

    directory = Path(directory)
    manifest = read_manifest(directory)
    if checkpoint == "final":
        unfinished_run(directory, manifest)
        source = directory / PARAMS
    else:
        epoch = re.fullmatch(r"epoch-(\d+)", checkpoint)
        if checkpoint != "best" and epoch is None:
            raise InputError(
                f"`checkpoint` must be final, best or epoch-N, got {checkpoint!r}",
                hint=Hint(options=("checkpoint",)),
            )
        source = _epoch_file(directory, int(epoch[1])) if epoch else directory / CHECKPOINTS / BEST
        if not source.is_file():
            raise InputError(f"no checkpoint {source}; see {directory / CHECKPOINTS}")
    spec = load(directory / RESOLVED)
    root = data_root_of(directory, manifest)
    data = load_data(spec, root)
    if manifest.get("data_sha256") not in (None, data.sha256):
        raise InputError(
            "the test data differ from the run's (data sha256 mismatch); the data source changed",
            file=str(directory / MANIFEST),
        )
    model = _initial_model(spec, root)
    task = Task(spec, model, data)
    if checkpoint != "final":
        task_params, _, _ = load_checkpoint(source, task)
        return {"checkpoint": str(source), **task.evaluate(task_params, data.x_test, data.y_test)}
    arrays = read_params(source)
    import equinox as eqx

    from ..model.params import apply_params

    trained = apply_params(task.model(task.params), arrays, source=str(source))
    params = eqx.filter(trained, eqx.is_inexact_array)
    return {"checkpoint": str(source), **task.evaluate(params, data.x_test, data.y_test)}


def data_root_of(directory: Path, manifest: dict[str, Any]) -> Path:
    """The folder a run's data paths are relative to: the recorded one while it exists (on
    the machine that trained), else the run folder itself (a run folder sent elsewhere, with
    its data file placed relative to it). The data's sha256 is checked either way."""
    recorded = manifest.get("data_root")
    if isinstance(recorded, str) and Path(recorded).is_dir():
        return Path(recorded)
    return directory


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a training run folder; a clear error for anything else."""
    from ..bundle.folders import made_by

    path = directory / MANIFEST
    if not directory.exists():
        raise InputError(
            f"{directory}: no such run folder; create one with `snnspec train SPEC -o DIR`"
        )
    maker = made_by(directory)
    if maker is not None and maker != "train":
        raise InputError(
            f"{directory} was made by `snnspec {maker}`, not `snnspec train`: it holds no "
            f"training run (`snnspec run {directory}` runs it)"
        )
    if not (directory / RESOLVED).is_file() or not path.is_file():
        raise InputError(
            f"{directory} is not a training run folder (no {RESOLVED} and {MANIFEST}); "
            "create one with `snnspec train SPEC -o DIR`"
        )
    manifest = load_json_file(path)
    if not isinstance(manifest, dict):
        raise InputError("not an snnspec run manifest", file=str(path))
    return manifest


def unfinished_run(directory: Path, manifest: Any) -> None:
    """Raise what to do with a training run that has not finished (no trained model yet)."""
    if not isinstance(manifest, dict) or manifest.get("status") not in ("running", "interrupted"):
        return
    stopped = (
        "training was interrupted"
        if manifest["status"] == "interrupted"
        else "training is still running or was stopped without a trace"
    )
    latest = latest_checkpoint(directory)
    if latest is None:
        raise InputError(
            f"{directory}: {stopped} before its first epoch finished, so there is no checkpoint "
            f"to score; start it again with `snnspec train {directory} --resume`"
        )
    raise InputError(
        f"{directory}: {stopped} after epoch {latest[0]}; continue with `snnspec train "
        f"{directory} --resume`, or score the last checkpoint with `snnspec evaluate "
        f"{directory} --checkpoint {latest[1].stem}`"
    )


# --- helpers --------------------------------------------------------------------------------


def _train_of(spec: ModelSpec) -> TrainSpec:
    if spec.train is None:
        raise spec.error((), "the spec has no `train:` section; add one to train it")
    return spec.train


def _initial_model(spec: ModelSpec, root: Path) -> StatefulModel:
    """The model before training: the spec's params file (its initial parameters) is read
    relative to ``root``, the spec's folder (also when the spec is a run folder's copy)."""
    from ..model.compile import compile as compile_spec

    if spec.params is None:
        return compile_spec(spec)
    without = spec.model_copy(update={"params": None, "params_partial": False})
    return compile_spec(without, params=root / spec.params, partial_params=spec.params_partial)


def _start_manifest(
    directory: Path,
    spec: ModelSpec,
    digest: str,
    resume: bool,
    force: bool,
    overrides: Sequence[str],
    source: str | None,
    root: Path,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    from ..bundle.environment import differences, manifest_fields, recorded
    from ..bundle.folders import TRAIN, check_output_folder
    from ..spec.compose import spec_files

    if resume and force:
        raise InputError(
            "`resume=True` continues the run in the folder, `force=True` replaces it; pick one",
            hint=Hint(options=("resume", "force")),
        )
    earlier = check_output_folder(directory, TRAIN, force=force, resume=resume)
    if earlier and resume:
        manifest = read_manifest(directory)
        if manifest.get("resolved_spec_sha256") != digest:  # more epochs, or refused
            from .extend import extension, extension_note

            latest = latest_checkpoint(directory)
            record = extension(directory, manifest, spec, digest, latest[0] if latest else 0)
            if record is not None:
                echo(extension_note(spec, record))
                manifest.setdefault("extensions", []).append(record)
            # else: the same values in an older version's words, rewritten in this one's
            manifest.setdefault("original_resolved_spec_sha256", manifest["resolved_spec_sha256"])
            manifest["resolved_spec_sha256"] = digest
        before, _ = recorded(manifest)
        manifest.update(manifest_fields())
        if differences(before, manifest["environment"], float64=spec.dtype == "float64"):
            manifest.setdefault("earlier_environments", []).append(before)
        manifest["resumed"] = int(manifest.get("resumed", 0)) + 1
        return manifest
    return {
        "snnspec_run": 1,
        "made_by": TRAIN,
        "name": spec.name,
        "source": source,
        "overrides": list(overrides),
        "resolved_spec": RESOLVED,
        "resolved_spec_sha256": digest,
        "data_root": str(root.resolve()),
        "seed": train_seed(spec),
        "model_seed": spec.seed,
        "spec_files": spec_files(spec.document),
        **manifest_fields(),
    }


def _finish(
    directory: Path,
    spec: ModelSpec,
    task: Task,
    data: Dataset,
    records: list[dict[str, Any]],
    selection: Selection,
    manifest: dict[str, Any],
    wall_time: Callable[[], float],
    echo: Callable[[str], Any],
    placement: Placement,
) -> dict[str, Any]:
    """Write the selected model (spec.yaml + params), score it on the test set (the only time
    the test set is used), write results.json and the final manifest."""
    from ..model.params import save_params
    from ..spec.dump import dumps, normalized_data

    model, scores = _test_scores(directory, task, data, selection, placement, echo)
    completed = records[-1]["epoch"]
    results = {
        "epoch": selection.epoch,
        "selected": selection.record(),
        "epochs_completed": completed,
        "early_stopped": selection.stop and completed < _train_of(spec).epochs,
        **scores,
        "test_samples": len(data.y_test),
    }
    save_params(model, directory / PARAMS)
    normalized = normalized_data(spec)
    normalized.update(params=PARAMS, params_partial=False)  # the trained file has every array
    write_text_atomic(directory / SPEC, dumps(normalized))
    _write_json(directory / RESULTS, results)
    manifest.update(
        status="completed",
        spec=SPEC,
        spec_sha256=sha256_file(directory / SPEC),
        params=PARAMS,
        params_sha256=sha256_file(directory / PARAMS),
        wall_time_seconds=wall_time(),
        results=results,
    )
    _write_json(directory / MANIFEST, manifest)
    return results


def _test_scores(
    directory: Path,
    task: Task,
    data: Dataset,
    selection: Selection,
    placement: Placement,
    echo: Callable[[str], Any],
    kept: Params | None = None,
) -> tuple[StatefulModel, dict[str, Any]]:
    """The selected model (``kept``, else read from ``best.safetensors``; clamped) and its
    test metrics."""
    import equinox as eqx

    from ..model.params import clamp_parameters

    if kept is None:
        best = directory / CHECKPOINTS / BEST
        kept, _, epoch = load_checkpoint(best, task)
        if epoch != selection.epoch:
            raise InputError(
                f"holds epoch {epoch}, but the selected epoch is {selection.epoch}; the run "
                "folder was changed by hand: train it again",
                file=str(best),
            )
    model, clamped = clamp_parameters(task.model(kept))
    if clamped:
        echo(
            f"note: {', '.join(clamped)}: trained values past the range the neurons clamp them "
            "to are saved as the range's end (the model computes the same)"
        )
    params = placement.replicate(eqx.filter(model, eqx.is_inexact_array))
    return model, task.evaluate(params, data.x_test, data.y_test, "test", placement)


def _epoch(
    task: Task,
    data: Dataset,
    placement: Placement,
    params: Params,
    opt_state: optax.OptState,
    epoch: int,
    validation: bool,
    advance: Callable[[float, float, float], None],
    spare: Spare,
) -> tuple[Params, optax.OptState, dict[str, Any]]:
    """Train one epoch (and score the validation set): the new parameters, optimizer state
    and the epoch's record. ``advance(loss, accuracy, samples_per_second)`` follows the steps;
    ``spare`` keeps the run's batch memory from epoch to epoch.

    The host never waits for the step it has just dispatched: a step's loss, number correct
    and SynOps are read (into the sums, in step order, as Python floats) only once the next
    step is dispatched, so the device always has a step queued while the host reads results,
    gathers batches and derives keys. The next batches are gathered and put on the device
    by a thread (:class:`.batches.Prefetch`) meanwhile.
    """
    import jax

    batches = task.batches(data, epoch)

    def take(index: np.ndarray) -> tuple[np.ndarray, tuple[Array, Array]]:
        rows = placement.rows(index)  # by index: this process reads only its rows
        # aligned, so that the CPU backend uses the batch in place (no copy in the step)
        local = gather(data.x_train, rows, spare), data.y_train[rows]
        # on the device (sharded over the mesh, if any) before the step asks for it
        placed = placement.batch(*local) if placement.mesh is not None else jax.device_put(local)
        return local[0], placed

    timer = EpochTimer()
    totals = [0.0, 0.0, 0.0]  # loss, number correct, SynOps: summed in step order
    seen = 0
    # the dispatched steps not read yet: results, samples, gathered batch, new parameters
    pending: deque[tuple[list[Array], int, np.ndarray, Params]] = deque()

    def read() -> None:
        """Wait for the oldest dispatched step and add its results to the sums."""
        nonlocal seen
        values, samples, gathered, stepped = pending.popleft()
        for k, value in enumerate(values):
            totals[k] += float(value)
        jax.block_until_ready(stepped)  # the step has ended on every device of the mesh:
        spare.put(gathered)  # nothing reads its batch any more
        seen += samples
        timer.step(samples)
        advance(totals[0] / len(timer.steps), totals[1] / seen, timer.samples_per_second)

    with Prefetch(take, batches) as loader:  # the next batches are read during the step
        for step, (index, (gathered, (x, y))) in enumerate(zip(batches, loader, strict=True)):
            key = placement.replicate(task.step_key(epoch, step))
            params, opt_state, *values = task.train_step(params, opt_state, x, y, key)
            pending.append((values, len(index), gathered, params))
            if len(pending) > 1:
                read()
        while pending:
            read()
    loss_total, correct_total, synops_total = totals
    timing = {
        **timer.fields(),
        "data_load_time": loader.load_time,
        "data_wait_time": loader.wait_time,
    }
    eval_start = time.perf_counter()
    # Never the test set: it is scored once, for the selected epoch, at the end.
    scores = task.evaluate(params, data.x_val, data.y_val, "val", placement) if validation else {}
    record: dict[str, Any] = {
        "epoch": epoch,
        "train_loss": loss_total / len(batches),
        "train_accuracy": correct_total / seen,
        **({"train_synops": synops_total / len(batches)} if task.probes else {}),
        **scores,
        "learning_rate": float(np.asarray(task.schedule(epoch * task.steps_per_epoch - 1))),
        **timing,
        "eval_time_seconds": time.perf_counter() - eval_start,
    }
    return params, opt_state, record


def _follow(
    directory: Path,
    spec: ModelSpec,
    task: Task,
    data: Dataset,
    placement: Placement,
    params: Params,
    opt_state: optax.OptState,
    first: int,
    records: list[dict[str, Any]],
) -> RunResult:
    """A process other than 0 of a distributed run: the same epochs (every step is a
    collective computation of all processes), selection and test scoring as process 0,
    writing nothing. Its records equal process 0's (the metrics are global). The selected
    parameters are kept in memory (read from the folder only when a resumed run selects an
    epoch from before the resume)."""
    train_spec = _train_of(spec)
    validation = has_validation(spec)
    selection = selection_of(train_spec, records, validation) if records else None
    last = first - 1 if selection is not None and selection.stop else train_spec.epochs
    kept = None
    spare = Spare()
    for epoch in range(first, last + 1):
        params, opt_state, record = _epoch(
            task, data, placement, params, opt_state, epoch, validation, _no_progress, spare
        )
        records.append(record)
        selection = selection_of(train_spec, records, validation)
        if selection.epoch == epoch:
            kept = params
        if selection.stop:
            break
    selection = selection_of(train_spec, records, validation)
    _, scores = _test_scores(directory, task, data, selection, placement, _quiet, kept)
    return RunResult(directory, records, {"epoch": selection.epoch, **scores})


def _quiet(_: str) -> None:
    pass


def _no_progress(loss: float, accuracy: float, samples_per_second: float) -> None:
    pass


def _remove_run(directory: Path) -> None:
    """Delete the files an earlier run wrote into ``directory`` (``--force``); others stay.

    The manifest goes last, so a folder left half-cleared is still recognised as a run. The
    MLflow store (``mlflow.db``, ``mlartifacts/``) stays: the earlier run stays in it as an
    earlier MLflow run, and the new manifest names the new one.
    """
    checkpoints = directory / CHECKPOINTS
    for path in checkpoints.glob("*.safetensors"):
        if path.name == BEST or _EPOCH_FILE.fullmatch(path.name):
            path.unlink()
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
    if (directory / TENSORBOARD).is_dir():  # its curves would mix with the new run's
        shutil.rmtree(directory / TENSORBOARD)
    for name in (RESOLVED, SPEC, PARAMS, METRICS, RESULTS, SPLIT, CURVES, MANIFEST):
        (directory / name).unlink(missing_ok=True)


def _close(trackers: Sequence[Tracker], status: str, results: dict[str, Any] | None = None) -> None:
    for tracker in trackers:
        tracker.close(status, results)


def _epoch_file(directory: Path, epoch: int) -> Path:
    return directory / CHECKPOINTS / f"epoch-{epoch:04d}.safetensors"


def _copy_best(directory: Path, epoch: int) -> None:
    source = _epoch_file(directory, epoch)
    write_atomic(directory / CHECKPOINTS / BEST, lambda tmp: shutil.copyfile(source, tmp))


def _prune(directory: Path, keep: int | None) -> None:
    if keep is None:
        return
    found = sorted(
        (int(m.group(1)), p)
        for p in (directory / CHECKPOINTS).glob("epoch-*.safetensors")
        if (m := _EPOCH_FILE.fullmatch(p.name))
    )
    for _, path in found[:-keep]:
        path.unlink(missing_ok=True)


def _read_records(directory: Path) -> list[dict[str, Any]]:
    path = directory / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _write_records(directory: Path, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(record) + "\n" for record in records)
    write_text_atomic(directory / METRICS, text)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _summary(record: dict[str, Any]) -> str:
    validation = (
        f"val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.4f}  "
        if "val_loss" in record
        else ""
    )
    return (
        f"epoch {record['epoch']:>3}  train loss {record['train_loss']:.4f}  "
        f"train acc {record['train_accuracy']:.4f}  {validation}"
        f"({record['train_time_seconds']:.1f} s, {record['samples_per_second']:.0f} samples/s)"
    )


def _plot_curves(
    directory: Path, records: list[dict[str, Any]], echo: Callable[[str], Any], selected: int | None
) -> None:
    if not records:
        return
    from .._errors import SpecError
    from .plots import plot_training

    try:
        plot_training(directory / CURVES, records, selected)
    except SpecError as error:  # matplotlib missing: the run is still complete
        echo(f"note: no {CURVES}: {error.message}")


class _Progress:
    """A rich progress bar over an epoch's batches showing the epoch, running loss and
    accuracy and samples per second, on a terminal; else each epoch's summary line only."""

    def __init__(self, enabled: bool, echo: Callable[[str], Any]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.enabled,
            transient=True,
        )
        self.task: Any = None
        self.echo = echo

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def start(self, description: str, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        # No batch has ended yet: no loss or accuracy to show (not "nan" and "0.000").
        metrics = "loss —  acc —  — samples/s"
        self.task = self.progress.add_task(description, total=total, metrics=metrics)

    def advance(self, loss: float, accuracy: float, samples_per_second: float) -> None:
        metrics = f"loss {loss:.4f}  acc {accuracy:.3f}  {samples_per_second:.0f} samples/s"
        self.progress.update(self.task, advance=1, metrics=metrics)

    def log(self, line: str) -> None:
        if self.enabled:
            self.progress.console.print(line, highlight=False, markup=False)
        else:
            self.echo(line)
