"""The pydantic models of the ``train:`` section: recipe, loss, regularisers and data.

Like the layer specs these are frozen, refuse unknown keys and bound every number, so a
training recipe is validated (and located in the file) before anything runs. This module
imports no JAX: ``snnspec validate`` checks the section without it. The checks that need the
graph (a named layer exists, the readout fits the task) live in :func:`check_train`.
"""

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .._errors import suggest
from .layers.base import Bool, Count, Float, Name, SpecModel

if TYPE_CHECKING:
    from ..graph.plan import GraphPlan
    from .model import ModelSpec

Probability = Annotated[Float, Field(ge=0.0, le=1.0)]
Fraction = Annotated[Float, Field(gt=0.0, lt=1.0)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)]
NonNegative = Annotated[Float, Field(ge=0.0, le=1e6)]
TestFraction = Annotated[
    Fraction, Field(description="Share of all samples held out as the test set.")
]
ValidationFraction = Annotated[
    Fraction | None,
    Field(
        description="Share of the samples held out for validation by the seeded split (from "
        "the non-test part, or from the training files where the test set has files of its "
        "own); model selection and early stopping use it. Default: no validation split."
    ),
]


# --- optimizer ----------------------------------------------------------------------------


class OptimizerSpec(SpecModel):
    """An optax optimizer chosen by name, with its learning-rate schedule and clipping."""

    type: Literal["adam", "adamw", "sgd"] = Field(
        default="adam", description="optax.adam, optax.adamw or optax.sgd."
    )
    learning_rate: Annotated[Float, Field(gt=0.0, le=10.0)] = Field(
        default=1e-3, description="Peak learning rate."
    )
    schedule: Literal["constant", "cosine", "exponential"] = Field(
        default="constant",
        description="constant; cosine: decays to 0 over all steps; exponential: multiplied "
        "by decay_rate once per epoch.",
    )
    decay_rate: Annotated[Float, Field(gt=0.0, le=1.0)] = Field(
        default=0.9, description="Per-epoch factor of the exponential schedule."
    )
    warmup_epochs: Annotated[int, Field(ge=0, le=10_000, strict=True)] = Field(
        default=0, description="Epochs of linear warm-up from 0 before the schedule."
    )
    weight_decay: NonNegative = Field(
        default=1e-4, description="adamw only: decoupled weight decay of `*.weight` arrays."
    )
    momentum: Annotated[Float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0, description="sgd only: momentum (0 = plain SGD)."
    )
    clip_norm: Annotated[Float, Field(gt=0.0, le=1e6)] | None = Field(
        default=None, description="Clip gradients to this global L2 norm."
    )
    clip_value: Annotated[Float, Field(gt=0.0, le=1e6)] | None = Field(
        default=None, description="Clip every gradient entry to [-clip_value, clip_value]."
    )


# --- loss ---------------------------------------------------------------------------------


class CrossEntropyLossSpec(SpecModel):
    """Softmax cross-entropy of a readout of one layer against integer labels.

    ``spike_count``: logits are the spike counts over the (post burn-in) steps of a spiking
    layer. ``max_membrane``: logits are the maximum over time of a non-spiking readout
    (``simple_li``: its membrane potential). The prediction is the logits' argmax.
    """

    type: Literal["cross_entropy"] = "cross_entropy"
    readout: Literal["spike_count", "max_membrane"] = Field(
        default="max_membrane", description="How a layer's outputs become class logits."
    )
    layer: Name | None = Field(
        default=None, description="The readout layer; default: the first final layer."
    )
    scale: Annotated[Float, Field(gt=0.0, le=1e6)] = Field(
        default=1.0, description="Logits are multiplied by this (a softmax temperature)."
    )


class MSERateLossSpec(SpecModel):
    """Mean squared error between a spiking layer's firing rates and target rates.

    The correct class's neuron should fire at ``on_rate`` spikes per step, the others at
    ``off_rate``; the prediction is the neuron with the highest rate.
    """

    type: Literal["mse_rate"] = "mse_rate"
    layer: Name | None = Field(
        default=None, description="The readout layer; default: the first final layer."
    )
    on_rate: Probability = Field(default=0.5, description="Target rate of the correct class.")
    off_rate: Probability = Field(default=0.02, description="Target rate of the other classes.")


IMPORTABLE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)
"""``package.module:function``: a function of a module Python can import."""
REGISTERED = re.compile(r"[A-Za-z_]\w*", re.ASCII)
"""A name given to ``snnspec.register_loss`` in the running process."""


class CustomLossSpec(SpecModel):
    """A loss written in Python: ``function(outputs, labels) -> (losses, scores)``.

    ``outputs`` is the readout layer's (post burn-in) outputs, float32 of shape (batch,
    time, classes); ``labels`` the integer classes, shape (batch,). The function returns
    the per-sample losses, shape (batch,) (training minimises their batch mean plus the
    regularisers), and the class scores, shape (batch, classes), whose argmax is the
    prediction. It must be a JAX function (traced under jit and differentiated).
    """

    type: Literal["custom"] = "custom"
    function: Annotated[str, Field(strict=True, min_length=1, max_length=256)] = Field(
        description="`package.module:function` (importable: installed or on PYTHONPATH), "
        "or a name given to snnspec.register_loss in the same process; never a file path "
        "or code."
    )
    layer: Name = Field(description="The readout layer whose outputs the function receives.")

    @field_validator("function")
    @classmethod
    def _reference(cls, function: str) -> str:
        if IMPORTABLE.fullmatch(function) or REGISTERED.fullmatch(function):
            return function
        if "/" in function or "\\" in function or function.endswith(".py"):
            found = "a file path is never accepted"
        elif ":" not in function and IMPORTABLE.fullmatch(f"{function}:x"):
            found = "a module needs its function after a colon"
        else:
            found = "code is never accepted"
        raise ValueError(
            f"{found}; name an importable function as package.module:function (the module "
            "installed or on PYTHONPATH), or a name registered with snnspec.register_loss"
        )


Loss = Annotated[
    CrossEntropyLossSpec | MSERateLossSpec | CustomLossSpec, Field(discriminator="type")
]


# --- regularisers -------------------------------------------------------------------------


class FiringRateRegularizerSpec(SpecModel):
    """``weight · (rate - target)²`` for each listed layer (rate in spikes per step).

    The rate is the layer's mean over neurons and time (``per_neuron: true``: each neuron's
    own rate, the squared deviations averaged), averaged over the batch.
    """

    type: Literal["firing_rate"] = "firing_rate"
    layers: tuple[Name, ...] = Field(min_length=1, max_length=10_000)
    target: Probability = Field(default=0.05, description="Target spikes per neuron per step.")
    weight: NonNegative = 1.0
    per_neuron: Bool = False


class SparsityRegularizerSpec(SpecModel):
    """``weight · mean activity`` of each listed layer: an L1 penalty on spikes."""

    type: Literal["sparsity"] = "sparsity"
    layers: tuple[Name, ...] = Field(min_length=1, max_length=10_000)
    weight: NonNegative = 1e-3


class SynOpsRegularizerSpec(SpecModel):
    """``weight · (max(S - target, 0) / target)²``: a budget of synaptic operations.

    S is the SynOps per sample per step of the listed weighted layers (``linear``/``conv``;
    default: all of them), summed, averaged over the batch (see docs/cost.md). At or below
    ``target`` there is no penalty; above it, the squared relative excess.
    """

    type: Literal["synops"] = "synops"
    target: Annotated[Float, Field(gt=0.0, le=1e15)] = Field(
        description="SynOps per sample per step allowed without penalty."
    )
    weight: NonNegative = 1.0
    layers: tuple[Name, ...] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="Weighted layers whose SynOps count; default: every linear and conv.",
    )


Regularizer = Annotated[
    FiringRateRegularizerSpec | SparsityRegularizerSpec | SynOpsRegularizerSpec,
    Field(discriminator="type"),
]


# --- encoders -----------------------------------------------------------------------------


class RateEncoderSpec(SpecModel):
    """Rate coding: intensity x in [0, 1] fires with probability ``x·max_rate`` per step.

    ``bernoulli`` emits 0 or 1 per step; ``poisson`` emits a Poisson count with mean
    ``x·max_rate`` (possibly more than one spike per step).
    """

    type: Literal["rate"] = "rate"
    max_rate: Probability = Field(default=1.0, description="Spike probability at x = 1.")
    distribution: Literal["bernoulli", "poisson"] = "bernoulli"


class LatencyEncoderSpec(SpecModel):
    """Latency coding: one spike per feature, earlier for larger x.

    ``linear``: at step round((1 - x)·(T - 1)); ``log``: at round(tau·ln(x / (x - threshold)))
    clipped to T - 1. Features with x < threshold never fire.
    """

    type: Literal["latency"] = "latency"
    mode: Literal["linear", "log"] = "linear"
    threshold: Annotated[Float, Field(ge=0.0, lt=1.0)] = 0.01
    tau: Annotated[Float, Field(gt=0.0, le=1e6)] = Field(
        default=5.0, description="log mode: time constant in steps."
    )


class DeltaEncoderSpec(SpecModel):
    """Delta (level-crossing) coding: a spike each time the signal rises by ``threshold``.

    A static sample is presented as a ramp from 0 to x over the T steps, so a feature fires
    floor(x / threshold) times, spread over time. A sequence (npz with a time axis) is coded
    as it is; ``off_spikes: true`` also emits -1 when the signal falls by ``threshold``.
    """

    type: Literal["delta"] = "delta"
    threshold: Annotated[Float, Field(gt=0.0, le=1e6)] = 0.1
    off_spikes: Bool = False


Encoder = Annotated[
    RateEncoderSpec | LatencyEncoderSpec | DeltaEncoderSpec, Field(discriminator="type")
]


# --- data ---------------------------------------------------------------------------------


class SyntheticDataSpec(SpecModel):
    """A built-in seeded spiking classification task (no files, no dependencies).

    Every class has a prototype: for each of ``segments`` equal time windows, a random subset
    of the input channels fires at ``rate_high`` and the rest at ``rate_low``. Classes share
    channel budgets, so telling them apart needs *when* channels fire, not only how often
    (with ``segments: 1`` it is a pure rate task). Samples are Bernoulli draws of their
    class's prototype; ``time.steps`` gives T and the spec's single input gives the channels.
    """

    type: Literal["synthetic"] = "synthetic"
    num_samples: Annotated[int, Field(ge=4, le=1_000_000, strict=True)] = 512
    num_classes: Annotated[int, Field(ge=2, le=10_000, strict=True)] = 4
    segments: Annotated[int, Field(ge=1, le=1_000, strict=True)] = 4
    rate_high: Probability = 0.3
    rate_low: Probability = 0.02
    active_fraction: Fraction = Field(
        default=0.25, description="Share of channels firing at rate_high in each segment."
    )
    test_fraction: TestFraction = 0.25
    validation_fraction: ValidationFraction = None


class DigitsDataSpec(SpecModel):
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes; no download).

    Pixels are scaled to [0, 1] and encoded over ``time.steps`` steps. The spec's input
    must hold 64 values (shape [64], [8, 8] or [1, 8, 8]). Needs ``snnspec[data]``.
    """

    type: Literal["digits"] = "digits"
    encoder: Encoder = Field(default_factory=RateEncoderSpec)  # pyright: ignore[reportInvalidTypeForm]
    test_fraction: TestFraction = 0.25
    validation_fraction: ValidationFraction = None


class NpzDataSpec(SpecModel):
    """Arrays from an ``.npz`` file (never pickled): samples and integer labels.

    ``inputs`` is (N, T, *shape) spikes used as they are, or (N, *shape) values in [0, 1]
    that ``encoder`` turns into spikes over ``time.steps``. ``labels`` is (N,) integers in
    [0, num_classes). The path is relative to the spec file. ``test_path`` names a second
    file in the same format that is the test set as a whole (the official split of a data
    set); then ``test_fraction`` does not apply.
    """

    type: Literal["npz"] = "npz"
    path: Annotated[str, Field(strict=True, min_length=1, max_length=4096)]
    inputs: Name = Field(default="inputs", description="Key of the sample array.")
    labels: Name = Field(default="labels", description="Key of the label array.")
    encoder: Encoder | None = None  # pyright: ignore[reportInvalidTypeForm]
    test_path: Annotated[str, Field(strict=True, min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="A second npz file (same keys and shapes), used whole as the test set; "
        "relative to the spec file.",
    )
    test_fraction: Fraction | None = Field(
        default=None,
        description="Share of all samples held out as the test set; default 0.25 without "
        "test_path, refused with it.",
    )
    validation_fraction: ValidationFraction = None

    @model_validator(mode="before")
    @classmethod
    def _default_test_fraction(cls, data: Any) -> Any:
        """0.25 unless the test set comes from ``test_path`` (refused together: check_train)."""
        if isinstance(data, dict) and "test_fraction" not in data and data.get("test_path") is None:
            return {**data, "test_fraction": 0.25}
        return data


Seconds = Annotated[Float, Field(gt=0.0, le=1e6)]

HEIDELBERG_UNITS = 700
"""Input channels of SHD and SSC (the cochlea model's units)."""
HEIDELBERG_CLASSES = {"shd": 20, "ssc": 35}
"""Classes of each Heidelberg data set (labels 0 to N-1)."""


class CropTimeSpec(SpecModel):
    """tonic's ``CropTime``: events before ``min`` seconds are dropped and the time grid
    starts there. Its end is the grid's end (``min + max_duration``, or ``min`` plus
    ``time.steps`` windows), so there is no ``max``."""

    min: Annotated[Float, Field(ge=0.0, le=1e6)] = Field(
        description="Seconds from the recording's start where the time grid begins; earlier "
        "events are dropped."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_max(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max" in data:
            raise ValueError(
                "max does not apply: the crop ends where the time grid ends (min + "
                "max_duration, or min + time.steps · time_window); set max_duration instead"
            )
        return data


class DenoiseSpec(SpecModel):
    """tonic's ``Denoise``: an event is dropped unless one of its 4 neighbouring pixels had an
    event less than ``filter_time`` before it (at the sensor's resolution, before
    downsampling)."""

    filter_time: Seconds = Field(
        description="Seconds: the longest time since a neighbouring pixel's last event for an "
        "event to be kept."
    )


class AbstractEventDataSpec(SpecModel):
    """Recorded spike events binned to frames on a fixed grid from the recording's time zero.

    ``root`` is the folder holding the files as distributed, unpacked (or tonic's download
    layout below it), relative to the spec file; ``download: true`` lets tonic fetch what is
    missing. ``time.steps`` bins cover
    ``[0, max_duration)``, or are ``time_window`` seconds wide (give exactly one); later
    events are dropped.
    """

    root: Annotated[str, Field(strict=True, min_length=1, max_length=4096)] = Field(
        description="Folder of the data files as distributed (unpacked); relative to the spec file."
    )
    max_duration: Seconds | None = Field(
        default=None,
        description="Seconds binned into time.steps equal bins from time 0; events at or after "
        "it are dropped. Exclusive with time_window.",
    )
    time_window: Seconds | None = Field(
        default=None,
        description="Width of one time bin in seconds (time.steps bins from time 0; later "
        "events are dropped). Exclusive with max_duration.",
    )
    values: Literal["counts", "binary"] = Field(
        default="counts",
        description="counts: events per bin and channel; binary: 1 where there is any.",
    )
    download: Bool = Field(
        default=False,
        description="Let tonic download and unpack a missing file or folder into its layout "
        "below root (needs snnspec[datasets] and a network); default: nothing is downloaded "
        "and a missing file is an error.",
    )
    crop_time: CropTimeSpec | None = Field(
        default=None,
        description="Start the time grid at crop_time.min seconds (earlier events are "
        "dropped); default: at the recording's time zero.",
    )

    @model_validator(mode="after")
    def _one_time_grid(self) -> "AbstractEventDataSpec":
        if (self.max_duration is None) == (self.time_window is None):
            raise ValueError(
                "give exactly one of max_duration (seconds binned into time.steps bins) and "
                "time_window (seconds per bin)"
            )
        return self


class AbstractHeidelbergDataSpec(AbstractEventDataSpec):
    """The Heidelberg spiking data sets (Cramer et al. 2020), read from their HDF5 files.

    Each sample's events are binned on the fixed time grid; unit u (of 700) goes to channel
    ``u * channels // 700``. The samples have shape ``[channels]``, which must be the spec's
    input shape. Needs ``snnspec[datasets]``.
    """

    channels: Annotated[int, Field(ge=1, le=HEIDELBERG_UNITS, strict=True)] = Field(
        default=HEIDELBERG_UNITS,
        description="Channels after binning the 700 units: unit u goes to u * channels // 700.",
    )

    @model_validator(mode="before")
    @classmethod
    def _official_splits(cls, data: Any) -> Any:
        """A fraction that would replace an official split is refused by name."""
        name = cls.model_fields["type"].default
        official = {"test_fraction": f"{name}_test.h5"}
        if name == "ssc":
            official["validation_fraction"] = "ssc_valid.h5"
        for key, file in official.items():
            if isinstance(data, dict) and key in data:
                raise ValueError(
                    f"{key} does not apply: {name.upper()}'s {key.split('_')[0]} set is the "
                    f"official {file}; remove {key}"
                )
        return data


class ShdDataSpec(AbstractHeidelbergDataSpec):
    """Spiking Heidelberg Digits: ``shd_train.h5`` and ``shd_test.h5`` (20 classes).

    The test set is ``shd_test.h5``; SHD has no official validation split, so
    ``validation_fraction`` carves one from the training file by the seeded split.
    """

    type: Literal["shd"] = "shd"
    validation_fraction: ValidationFraction = None


class SscDataSpec(AbstractHeidelbergDataSpec):
    """Spiking Speech Commands: ``ssc_train.h5``, ``ssc_valid.h5`` and ``ssc_test.h5``
    (35 classes), with the official validation and test splits."""

    type: Literal["ssc"] = "ssc"


class AbstractCameraDataSpec(AbstractEventDataSpec):
    """Recordings of an event camera binned on the fixed time grid into frames ``[P, H, W]``.

    ``P`` is 1 (``polarity: merge``) or 2 (``separate``: OFF, then ON); pixel (x, y) goes to
    ``[y // downsample, x // downsample]``, so ``H`` is ``ceil(height / downsample)`` and
    ``W`` is ``ceil(width / downsample)``. That must be the spec's input shape. ``denoise``
    drops isolated events first (at the sensor's resolution). The test set is the official
    one; ``validation_fraction`` carves a validation split from the training set by the
    seeded split.
    """

    title: ClassVar[str]
    """The data set's name in messages."""
    sensor: ClassVar[tuple[int, int]]
    """``(width, height)`` of the sensor in pixels."""
    classes: ClassVar[int]
    """Labels are 0 to classes - 1."""
    test_split: ClassVar[str]
    """The official test set, in messages."""

    downsample: Annotated[int, Field(ge=1, le=1024, strict=True)] = Field(
        default=1,
        description="Spatial pooling factor f: pixel (x, y) goes to (x // f, y // f), giving "
        "ceil(width / f) x ceil(height / f) frames.",
    )
    polarity: Literal["merge", "separate"] = Field(
        default="separate",
        description="separate: two channels (OFF, ON); merge: one channel counting both.",
    )
    denoise: DenoiseSpec | None = Field(
        default=None,
        description="Drop events without a recent event at a neighbouring pixel (tonic's "
        "Denoise); default: keep every event.",
    )
    validation_fraction: ValidationFraction = None

    @model_validator(mode="before")
    @classmethod
    def _official_test_split(cls, data: Any) -> Any:
        if isinstance(data, dict) and "test_fraction" in data:
            raise ValueError(
                f"test_fraction does not apply: {cls.title}'s test set is the official "
                f"{cls.test_split}; remove test_fraction"
            )
        return data

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(P, H, W)`` of one binned frame."""
        width, height = self.sensor
        f = self.downsample
        return (1 if self.polarity == "merge" else 2, -(-height // f), -(-width // f))


NMNIST_SENSOR = 34
"""Width and height of the ATIS sensor area N-MNIST was recorded with (pixels)."""
NMNIST_CLASSES = 10
"""The digits 0 to 9."""


class NmnistDataSpec(AbstractCameraDataSpec):
    """N-MNIST (Orchard et al. 2015): ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``.

    Each file is one recording of the 34x34 sensor (40-bit events: x, y, polarity and a
    timestamp in microseconds), binned into frames ``[P, ceil(34 / f), ceil(34 / f)]``
    (``f``: ``downsample``). The test set is ``Test/``.
    """

    title: ClassVar[str] = "N-MNIST"
    sensor: ClassVar[tuple[int, int]] = (NMNIST_SENSOR, NMNIST_SENSOR)
    classes: ClassVar[int] = NMNIST_CLASSES
    test_split: ClassVar[str] = "Test/ folder"

    type: Literal["nmnist"] = "nmnist"


DVS_GESTURE_SENSOR = 128
"""Width and height of the DVS128 sensor DVS Gesture was recorded with (pixels)."""
DVS_GESTURE_CLASSES = 11
"""Ten gestures and "other gestures" (labels 0 to 10)."""


class DvsGestureDataSpec(AbstractCameraDataSpec):
    """IBM DVS Gesture (Amir et al. 2017) in tonic's preprocessed layout:
    ``ibmGestureTrain/<user>_<lighting>/<label>.npy`` and ``ibmGestureTest/...``.

    Each file is one gesture of the 128x128 DVS128 sensor, an ``(events, 4)`` array of x, y,
    polarity and time in milliseconds, binned into frames ``[P, ceil(128 / f),
    ceil(128 / f)]`` (``f``: ``downsample``); 11 classes. The test set is ``ibmGestureTest/``
    (users 24 to 29).
    """

    title: ClassVar[str] = "DVS Gesture"
    sensor: ClassVar[tuple[int, int]] = (DVS_GESTURE_SENSOR, DVS_GESTURE_SENSOR)
    classes: ClassVar[int] = DVS_GESTURE_CLASSES
    test_split: ClassVar[str] = "ibmGestureTest/ folder"

    type: Literal["dvs_gesture"] = "dvs_gesture"


Data = Annotated[
    SyntheticDataSpec
    | DigitsDataSpec
    | NpzDataSpec
    | ShdDataSpec
    | SscDataSpec
    | NmnistDataSpec
    | DvsGestureDataSpec,
    Field(discriminator="type"),
]


# --- selection ----------------------------------------------------------------------------


class SelectionSpec(SpecModel):
    """Which epoch's parameters a run keeps: the best by a validation metric.

    ``val_loss`` is minimised, ``val_accuracy`` maximised; on a tie the earliest epoch wins.
    Choosing by a test metric would leak the test set into model selection, so none is offered.
    """

    metric: Literal["val_loss", "val_accuracy"] = Field(
        default="val_loss", description="The validation metric that picks the epoch."
    )

    @field_validator("metric", mode="before")
    @classmethod
    def _not_the_test_set(cls, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("test_"):
            raise ValueError(
                f"{value} would select on the test set, which must only score the selected "
                "model; use val_loss or val_accuracy (needs data.validation_fraction)"
            )
        return value


class EarlyStoppingSpec(SpecModel):
    """Stop when the selection metric has not improved by more than ``min_delta`` (over the
    best value so far) for ``patience`` epochs in a row."""

    patience: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = Field(
        description="Epochs without an improvement larger than min_delta before stopping."
    )
    min_delta: NonNegative = Field(
        default=0.0, description="The smallest change of the metric that counts as improvement."
    )


# --- the section --------------------------------------------------------------------------


class TrainSpec(SpecModel):
    """How to train the model: data, loss, optimizer, schedule and what to record."""

    data: Data = Field(description="Where the samples come from and how they become spikes.")  # pyright: ignore[reportInvalidTypeForm]
    loss: Loss = Field(default_factory=CrossEntropyLossSpec)  # pyright: ignore[reportInvalidTypeForm]
    optimizer: OptimizerSpec = OptimizerSpec()
    regularizers: tuple[Regularizer, ...] = Field(default=(), max_length=1000)  # pyright: ignore[reportInvalidTypeForm]
    epochs: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = 10
    batch_size: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = Field(
        default=32,
        description="Samples of one optimizer step (the global batch: split into "
        "accumulate_steps micro-batches, and over the devices of `snnspec train --devices`).",
    )
    accumulate_steps: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = Field(
        default=1,
        description="Gradient accumulation: each step runs batch_size / K samples at a time "
        "and averages their gradients (one update equal to the whole batch's, up to float "
        "rounding); batch_size must be a multiple of K.",
    )
    precision: Literal["float32", "bfloat16"] = Field(
        default="float32",
        description="Compute dtype of the training step: bfloat16 runs matrix products and "
        "neuron state in bfloat16 on a copy of the parameters, which stay in the spec's "
        "dtype (as do the loss, the gradients' sum and the update); evaluation runs in the "
        "spec's dtype. float32: the spec's dtype throughout.",
    )
    burnin: Annotated[int, Field(ge=0, strict=True)] | None = Field(
        default=None, description="Burn-in steps during training; default: time.burnin."
    )
    seed: Seed | None = Field(
        default=None,
        description="Seed of the split, the encoding, the data order and dropout; default: "
        "the spec's seed.",
    )
    metrics: tuple[Literal["accuracy", "spike_rate"], ...] = Field(
        default=("accuracy",),
        max_length=2,
        description="accuracy (always recorded); spike_rate adds each spiking layer's rate "
        "on the validation set (per epoch) and the test set (at the end).",
    )
    keep_checkpoints: Count | None = Field(
        default=None, description="Keep only the newest N epoch checkpoints (best is kept)."
    )
    selection: SelectionSpec | None = Field(
        default=None,
        description="The metric that selects the kept epoch; default val_loss with a "
        "validation split (else the last epoch is kept). Needs data.validation_fraction.",
    )
    early_stopping: EarlyStoppingSpec | None = Field(
        default=None,
        description="Stop when the selection metric stops improving; needs "
        "data.validation_fraction.",
    )

    @property
    def selection_metric(self) -> str:
        """The validation metric that selects the kept epoch (``val_loss`` unless set); it
        applies only when the data have a validation split."""
        return self.selection.metric if self.selection is not None else "val_loss"

    @property
    def has_validation(self) -> bool:
        """Whether the data have a validation split: SSC's official one, or a
        ``validation_fraction`` of the other sources."""
        return self.data.type == "ssc" or self.data.validation_fraction is not None

    @model_validator(mode="after")
    def _distinct_metrics(self) -> "TrainSpec":
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError("metrics lists a metric twice")
        return self


def check_train(spec: "ModelSpec", plan: "GraphPlan") -> None:
    """Check the parts of ``train:`` that depend on the graph; raise a located SpecError."""
    from .._errors import SchemaError

    train = spec.train
    if train is None:
        return
    _check_split(spec, train)
    data = train.data
    if data.type == "shd" or data.type == "ssc":
        _check_heidelberg(spec, data)
    elif data.type == "nmnist" or data.type == "dvs_gesture":
        _check_camera(spec, data)
    names = plan.layer_names
    loss = train.loss
    if loss.layer is not None and loss.layer not in names:
        raise spec.error(("train", "loss", "layer"), _unknown(loss.layer, names), SchemaError)
    readout = names.index(loss.layer) if loss.layer is not None else plan.final_layer_ids[0]
    spiking = plan.layers[readout].spiking
    path = ("train", "loss", "readout" if loss.type == "cross_entropy" else "type")
    kind = loss.readout if loss.type == "cross_entropy" else loss.type  # custom: any layer
    if kind in ("spike_count", "mse_rate") and not spiking:
        raise spec.error(
            path,
            f"{kind} needs a spiking readout layer, but '{names[readout]}' is a "
            f"{plan.layer_types[readout]}; use readout: max_membrane or another layer",
            SchemaError,
        )
    if kind == "max_membrane" and spiking:
        raise spec.error(
            path,
            f"max_membrane needs a non-spiking readout (simple_li), but '{names[readout]}' "
            f"is a {plan.layer_types[readout]}; use readout: spike_count",
            SchemaError,
        )
    if len(plan.layer_output_shapes[readout]) != 1:
        raise spec.error(
            ("train", "loss"),
            f"the readout layer '{names[readout]}' must output one value per class (a 1-D "
            f"shape), got {list(plan.layer_output_shapes[readout])}",
            SchemaError,
        )
    classes = {
        **HEIDELBERG_CLASSES,
        "nmnist": NMNIST_CLASSES,
        "dvs_gesture": DVS_GESTURE_CLASSES,
    }.get(train.data.type)
    if classes is not None and plan.layer_output_shapes[readout] != (classes,):
        title = data.title if isinstance(data, AbstractCameraDataSpec) else data.type.upper()
        raise spec.error(
            ("train", "loss"),
            f"{title} has {classes} classes but the readout layer "
            f"'{names[readout]}' has output shape {list(plan.layer_output_shapes[readout])}; "
            f"give it {classes} neurons",
            SchemaError,
        )
    for r, regularizer in enumerate(train.regularizers):
        if regularizer.type == "synops" and not any(layer.weighted for layer in plan.layers):
            raise spec.error(
                ("train", "regularizers", r),
                "the model has no linear or conv layer, so there are no SynOps to regularise",
                SchemaError,
            )
        for k, name in enumerate(regularizer.layers or ()):
            if name not in names:
                raise spec.error(
                    ("train", "regularizers", r, "layers", k), _unknown(name, names), SchemaError
                )
            if regularizer.type == "synops" and not plan.layers[names.index(name)].weighted:
                raise spec.error(
                    ("train", "regularizers", r, "layers", k),
                    f"'{name}' is a {plan.layer_types[names.index(name)]}; SynOps are counted "
                    "for linear and conv layers only",
                    SchemaError,
                )
    if train.batch_size % train.accumulate_steps:
        raise spec.error(
            ("train", "accumulate_steps"),
            f"batch_size {train.batch_size} does not split into {train.accumulate_steps} "
            f"micro-batches; use a batch_size that is a multiple of {train.accumulate_steps}",
            SchemaError,
        )
    if train.precision == "bfloat16" and spec.dtype == "float64":
        raise spec.error(
            ("train", "precision"),
            "bfloat16 computes a float64 model at less than a quarter of its precision; use "
            "precision: float32 with dtype: float64, or dtype: float32 with bfloat16",
            SchemaError,
        )
    burnin = spec.time.burnin if train.burnin is None else train.burnin
    if burnin >= spec.time.steps:
        raise spec.error(
            ("train", "burnin"),
            f"burn-in ({burnin}) must be smaller than time.steps ({spec.time.steps})",
            SchemaError,
        )


def _check_split(spec: "ModelSpec", train: TrainSpec) -> None:
    """The test set is given one way, the split leaves training samples, and selection and
    early stopping have the validation split they need."""
    from .._errors import SchemaError

    data = train.data
    if data.type != "ssc":  # SSC has its official validation and test files
        _check_fractions(spec, data)
    if train.has_validation:
        return
    for key, what in (("selection", "picks an epoch"), ("early_stopping", "stops training")):
        if getattr(train, key) is not None:
            raise spec.error(
                ("train", key),
                f"{key} {what} by a validation metric, but there is no validation split; "
                "set train.data.validation_fraction (without one the last epoch is kept)",
                SchemaError,
            )


def _check_fractions(
    spec: "ModelSpec",
    data: SyntheticDataSpec
    | DigitsDataSpec
    | NpzDataSpec
    | ShdDataSpec
    | NmnistDataSpec
    | DvsGestureDataSpec,
) -> None:
    """One test set, and held-out fractions that leave training samples."""
    from .._errors import SchemaError

    # SHD: shd_test.h5, N-MNIST: Test/, DVS Gesture: ibmGestureTest/
    test_fraction = (
        None
        if data.type == "shd" or data.type == "nmnist" or data.type == "dvs_gesture"
        else data.test_fraction
    )
    where = ("train", "data", "test_fraction")
    if data.type == "npz" and data.test_path is not None and test_fraction is not None:
        raise spec.error(
            where,
            "test_fraction does not apply: the test set is the whole test_path file; remove "
            "test_fraction (or test_path, to split the test set off the data file)",
            SchemaError,
        )
    if data.type == "npz" and data.test_path is None and test_fraction is None:
        raise spec.error(
            where,
            "no test set: give test_fraction (a share of the samples) or test_path (a file)",
            SchemaError,
        )
    held_out = (data.validation_fraction or 0.0) + (test_fraction or 0.0)
    if data.validation_fraction is not None and held_out >= 1.0:
        raise spec.error(
            ("train", "data", "validation_fraction"),
            f"validation_fraction ({data.validation_fraction:g}) and test_fraction "
            f"({test_fraction:g}) leave no training samples; their sum must be below 1",
            SchemaError,
        )


def _check_heidelberg(spec: "ModelSpec", data: ShdDataSpec | SscDataSpec) -> None:
    """The binned samples fit the spec's single input (checked without reading the files)."""
    from .._errors import SchemaError

    name = data.type.upper()
    if len(spec.inputs) != 1:
        raise spec.error(
            ("inputs",),
            f"{name} data feed a single input, but this spec has {len(spec.inputs)}",
            SchemaError,
        )
    shape = list(spec.inputs[0].shape)
    if shape != [data.channels]:
        raise spec.error(
            ("train", "data", "channels"),
            f"{name} binned to {data.channels} channels gives samples of shape "
            f"[{data.channels}], but the input '{spec.inputs[0].name}' has shape {shape}; "
            f"change channels (700 units binned to N channels gives shape [N]) or the input's "
            f"shape to [{data.channels}]",
            SchemaError,
        )


def _check_camera(spec: "ModelSpec", data: AbstractCameraDataSpec) -> None:
    """The binned frames fit the spec's single input (checked without reading the files)."""
    from .._errors import SchemaError

    if len(spec.inputs) != 1:
        raise spec.error(
            ("inputs",),
            f"{data.title} data feed a single input, but this spec has {len(spec.inputs)}",
            SchemaError,
        )
    mismatch = frame_mismatch(data, spec.inputs[0].name, spec.inputs[0].shape)
    if mismatch is not None:
        key, message = mismatch
        raise spec.error(("train", "data", key), message, SchemaError)


def frame_mismatch(
    data: AbstractCameraDataSpec, name: str, shape: "tuple[int, ...] | list[int]"
) -> tuple[str, str] | None:
    """None when frames ``data.frame_shape`` fit the input ``name`` of ``shape``; else the
    transform to change (``polarity`` when only the channel count differs, else
    ``downsample``) and the message saying how."""
    frame, shape = list(data.frame_shape), list(shape)
    if shape == frame:
        return None
    key = "polarity" if len(shape) == 3 and shape[1:] == frame[1:] else "downsample"
    width, height = data.sensor
    side = f"ceil({width} / f)" if width == height else f"ceil({height} / f) x ceil({width} / f)"
    return key, (
        f"{data.title} with polarity: {data.polarity} and downsample: {data.downsample} gives "
        f"frames of shape {frame} ([polarities, height, width]), but the input '{name}' has "
        f"shape {shape}; change polarity (merge: 1 channel, separate: 2) or downsample (f "
        f"gives {side} pixels a side), or the input's shape to {frame} (a flatten layer turns "
        "the frames into vectors)"
    )


def _unknown(name: str, known: tuple[str, ...]) -> str:
    hint = suggest(name, known, f"; layers: {', '.join(known)}")
    return f"unknown layer '{name}'{hint}"
