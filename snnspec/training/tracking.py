"""Experiment tracking: TensorBoard and MLflow as training callbacks (optional extras).

A *callback* is any callable ``(epoch, record) -> None``; the training loop calls it after
each epoch's checkpoint and metrics are on disk, with the record metrics.jsonl holds. A
:class:`Tracker` is a callback that also hears when a run starts (:meth:`Tracker.start`) and
ends (:meth:`Tracker.close`), and keeps its state (the MLflow run id, the last epoch logged)
in the run's manifest under ``tracking.<name>``, so a resumed run continues the same log:
epochs a tracker has not logged yet (it was added on resume, or the run stopped between the
checkpoint and the callback) are logged when it starts.

Each record becomes the scalars :data:`SCALARS` names (those whose key the record has), at
step = epoch; when the run completes, its ``test_*`` results too, at the step of the epoch
``results.json`` reports. Nothing here imports tensorboardX or mlflow until a tracker is made;
a missing library is an :class:`InputError` naming the extra to install.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import Hint, InputError, suggest
from ..bundle import MLFLOW_ARTIFACTS, MLFLOW_DB, RESOLVED, TENSORBOARD

if TYPE_CHECKING:
    from ..spec.model import ModelSpec

SCALARS = {
    "train/loss": "train_loss",
    "train/accuracy": "train_accuracy",
    "val/loss": "val_loss",
    "val/accuracy": "val_accuracy",
    "lr": "learning_rate",
    "train/synops": "train_synops",
    "throughput/samples_per_second": "samples_per_second",
    "throughput/step_time": "step_time",
}
"""Tag -> key of a per-epoch record; a tag whose key a record lacks is not logged."""

TEST_SCALARS = {"test/loss": "test_loss", "test/accuracy": "test_accuracy"}
"""Tag -> key of ``results.json``, logged once when the run completes."""

STATUSES = ("completed", "interrupted", "failed")


def scalars(record: Mapping[str, Any], tags: Mapping[str, str] = SCALARS) -> dict[str, float]:
    """The tracked scalars of a record: ``{tag: value}`` for every tag whose key it has."""
    return {tag: float(record[key]) for tag, key in tags.items() if record.get(key) is not None}


@dataclass(frozen=True)
class TrackedRun:
    """What a tracker is told when a run starts.

    ``records`` are the epochs already trained (on resume); ``state`` is the tracker's own
    entry in the manifest (``tracking.<name>``), empty for a new run, saved with the manifest.
    """

    directory: Path
    spec: ModelSpec
    spec_sha256: str
    seed: int
    overrides: tuple[str, ...]
    records: tuple[dict[str, Any], ...]
    state: dict[str, Any]


class Tracker:
    """A callback that logs each epoch's scalars somewhere and keeps its state in the manifest.

    Subclasses set :attr:`name` and implement :meth:`open`, :meth:`log` and :meth:`finish`.
    """

    name: ClassVar[str]
    state: dict[str, Any]

    def start(self, run: TrackedRun) -> None:
        """Open the log and log the epochs of ``run.records`` it does not hold yet."""
        self.state = run.state
        self.open(run)
        for record in run.records:
            if record["epoch"] > self.state.get("epoch", 0):
                self(record["epoch"], record)

    def __call__(self, epoch: int, record: dict[str, Any]) -> None:
        self.log(epoch, scalars(record))
        self.state["epoch"] = epoch

    def close(self, status: str, results: Mapping[str, Any] | None = None) -> None:
        """End the log: ``status`` is one of :data:`STATUSES`; ``results`` when completed."""
        if results is not None:
            self.log(int(results["epoch"]), scalars(results, TEST_SCALARS))
        self.finish(status)

    def open(self, run: TrackedRun) -> None:
        raise NotImplementedError

    def log(self, step: int, values: dict[str, float]) -> None:
        raise NotImplementedError

    def finish(self, status: str) -> None:
        raise NotImplementedError


def _missing(name: str, library: str) -> InputError:
    return InputError(
        f"`log {name}` needs {library}: pip install 'snnspec[{name}]'",
        hint=Hint(options=("log",)),
    )


class TensorBoard(Tracker):
    """Event files in ``DIR/tensorboard/`` (or ``logdir``), written with tensorboardX.

    A resumed run adds a new event file to the same folder, with the later steps.
    """

    name = "tensorboard"

    def __init__(self, logdir: str | os.PathLike[str] | None = None) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise _missing(self.name, "tensorboardX") from None
        self._writer_class = SummaryWriter
        self.logdir = None if logdir is None else Path(logdir)
        self.writer: Any = None

    def open(self, run: TrackedRun) -> None:
        logdir = run.directory / TENSORBOARD if self.logdir is None else self.logdir
        self.state["logdir"] = TENSORBOARD if self.logdir is None else str(logdir)
        # tensorboardX names an event file by the second and the host: a resume within the
        # same second would truncate the earlier session's file, so each session adds its own
        self.writer = self._writer_class(
            logdir=str(logdir), filename_suffix=f".{uuid.uuid4().hex[:12]}"
        )

    def log(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def finish(self, status: str) -> None:
        self.writer.close()


_PARAM_KEY = re.compile(r"[^\w\-. /]")  # characters MLflow refuses in a param's name
_MLFLOW_STATUS = {"completed": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
_ENV_URI = "MLFLOW_TRACKING_URI"


class MLflow(Tracker):
    """An MLflow run: the scalars, params (spec name, seeds, each ``--set`` as ``set.PATH``),
    ``resolved.yaml`` as an artifact and its sha256 as the tag ``snnspec.spec_sha256``.

    The store is ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///DIR/mlflow.db``
    with artifacts in ``DIR/mlartifacts/``. The experiment is ``experiment``, else
    ``$MLFLOW_EXPERIMENT_NAME``, else the spec's name. A resumed run continues the MLflow run
    whose id the manifest records, in the same store.
    """

    name = "mlflow"

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise _missing(self.name, "mlflow-skinny") from None
        self._client_class = MlflowClient
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.client: Any = None
        self.run_id = ""

    def open(self, run: TrackedRun) -> None:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        given = self.tracking_uri or os.environ.get(_ENV_URI)
        store = ("tracking_uri" if self.tracking_uri else _ENV_URI) if given else MLFLOW_DB
        uri = given or f"sqlite:///{(run.directory / MLFLOW_DB).resolve()}"
        self.client = self._client_class(uri)
        if "run_id" in self.state:
            self.run_id = self.state["run_id"]
            if self.state.get("store") != store:
                raise InputError(
                    f"the run logs to MLflow run {self.run_id} in "
                    f"{_store_name(self.state.get('store'))}, now the store is "
                    f"{_store_name(store)}; resume with the same store"
                )
            try:
                self.client.get_run(self.run_id)
            except MlflowException:
                raise InputError(
                    f"MLflow run {self.run_id}, recorded in the manifest, is not in "
                    f"{_store_name(store)}; resume with the store it was logged to"
                ) from None
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or run.spec.name
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            artifacts = None if given else (run.directory / MLFLOW_ARTIFACTS).resolve().as_uri()
            experiment_id = self.client.create_experiment(name, artifact_location=artifacts)
        folder = str(run.directory.resolve())
        tags = {"snnspec.spec_sha256": run.spec_sha256, "snnspec.run_dir": folder}
        created = self.client.create_run(experiment_id, run_name=run.directory.name, tags=tags)
        self.run_id = created.info.run_id
        params = {"spec_name": run.spec.name, "seed": run.seed, "model_seed": run.spec.seed}
        for text in run.overrides:
            path, _, value = text.partition("=")
            params["set." + _PARAM_KEY.sub("_", path.strip())] = value.strip()
        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        self.client.log_artifact(self.run_id, str(run.directory / RESOLVED))
        self.state.update(store=store, run_id=self.run_id, experiment_id=experiment_id)

    def log(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(tag, value, now, step) for tag, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, status: str) -> None:
        self.client.set_terminated(self.run_id, _MLFLOW_STATUS[status])


def _store_name(store: str | None) -> str:
    if store == MLFLOW_DB:
        return f"the run folder's {MLFLOW_DB}"
    return f"${_ENV_URI}" if store == _ENV_URI else str(store)


TRACKERS: dict[str, type[Tracker]] = {"tensorboard": TensorBoard, "mlflow": MLflow}
"""The names ``log`` takes -> tracker classes."""


def make_trackers(names: Sequence[str]) -> list[Tracker]:
    """The trackers ``log`` names (each made once; a missing library is an error now)."""
    made = []
    for name in names:
        if name not in TRACKERS:
            hint = suggest(name, list(TRACKERS))
            raise InputError(f"unknown tracker {name!r}{hint}; choose from {', '.join(TRACKERS)}")
        made.append(TRACKERS[name]())
    return made


def check_trackers(callbacks: Sequence[object]) -> list[Tracker]:
    """The trackers among ``callbacks``; two of one kind would share one manifest entry."""
    trackers = [c for c in callbacks if isinstance(c, Tracker)]
    seen: set[str] = set()
    for tracker in trackers:
        if tracker.name in seen:
            raise InputError(f"two {tracker.name} trackers; log to each place once")
        seen.add(tracker.name)
    return trackers
