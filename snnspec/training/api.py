"""Training from Python: :func:`train`, :func:`evaluate`, and :class:`Run`, a run folder's view.

``snnspec train`` is a thin layer over :func:`train`: both load, check and train the same way
and write the same run folder (see :mod:`snnspec.training.loop`). Errors are a
:class:`~snnspec.SpecError` that names the arguments of :func:`train` (`` `out_dir` ``,
`` `resume=True` ``); the command line names its flags instead (``-o``, ``--resume``).

:func:`load_data` returns a spec's training data without training (NumPy only).

Example::

    import snnspec

    run = snnspec.train("configs/synthetic_recurrent.yaml", "runs/rec",
                        overrides={"train.epochs": 3}, log=["tensorboard"])
    run.metrics[-1]["train_loss"], run.test_metrics["test_accuracy"]
    model = run.model()             # the trained StatefulModel
    snnspec.evaluate(run)           # rescored: the test metrics results.json reports
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import Hint, InputError, UsageError
from ..bundle import MANIFEST, PARAMS, RESULTS
from ..bundle.build import trained_spec
from ..spec.load import load
from ..spec.loader import load_json_file
from ..spec.model import ModelSpec
from ..spec.overrides import override_text
from .tracking import Tracker, make_trackers

if TYPE_CHECKING:
    import numpy as np

    from ..model.model import StatefulModel
    from .data import Dataset
    from .loop import Callback

Overrides = Sequence[str] | Mapping[str, Any]
"""``PATH=VALUE`` strings (as :func:`snnspec.load` takes them), or ``{PATH: value}`` with
Python values."""


@dataclass(frozen=True)
class Run:
    """A training run folder, read on demand: every property reads the folder's files again.

    ``Run.open(DIR)`` (or ``snnspec.open_run(DIR)``) opens an existing folder; :func:`train`
    returns one.
    """

    dir: Path

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Run:
        """The run in ``directory``; an error when it is not a training run folder."""
        from .loop import read_manifest

        directory = Path(directory)
        read_manifest(directory)
        return cls(directory)

    @property
    def manifest(self) -> dict[str, Any]:
        """``manifest.json``: hashes, seed, overrides, environment, status, results."""
        from .loop import read_manifest

        return read_manifest(self.dir)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records of ``metrics.jsonl`` (so far, for an unfinished run)."""
        from .loop import _read_records

        return _read_records(self.dir)

    @property
    def results(self) -> dict[str, Any]:
        """``results.json``; an error saying how to continue when the run has not finished."""
        from .loop import unfinished_run

        unfinished_run(self.dir, self.manifest)
        results = load_json_file(self.dir / RESULTS)
        if not isinstance(results, dict):
            raise InputError("not an snnspec results file", file=str(self.dir / RESULTS))
        return results

    @property
    def selected(self) -> dict[str, Any] | None:
        """``results.json``'s ``selected``: the chosen epoch and why (None in older folders)."""
        return self.results.get("selected")

    @property
    def test_metrics(self) -> dict[str, Any]:
        """The test metrics ``results.json`` reports (its ``test_*`` keys but the count
        ``test_samples``), what :func:`evaluate` reproduces."""
        return {
            key: value
            for key, value in self.results.items()
            if key.startswith("test_") and key != "test_samples"
        }

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The trained parameters (``params.safetensors``), ``<layer>.<field>`` -> array."""
        from ..model.params import read_params

        trained_spec(self.dir)  # a finished run whose files match their recorded sha256
        return read_params(self.dir / PARAMS)

    def model(self) -> StatefulModel:
        """The trained model, compiled from the folder's ``spec.yaml`` and parameters."""
        from ..model.compile import compile as compile_spec

        return compile_spec(trained_spec(self.dir))


def open_run(directory: str | os.PathLike[str]) -> Run:
    """The training run in ``directory`` (:meth:`Run.open`)."""
    return Run.open(directory)


def train(
    spec_or_path: ModelSpec | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    overrides: Overrides = (),
    callbacks: Sequence[Callback] = (),
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
    allow_paths: Sequence[str | os.PathLike[str]] = (),
    log: Sequence[str] = (),
    partial_params: bool = False,
    max_memory: str | None = None,
    strict_env: bool = False,
    devices: str | int | None = None,
    echo: Callable[[str], None] | None = print,
    warn: Callable[[str], object] | None = None,
) -> Run:
    """Train a spec's model with its ``train:`` section into the run folder ``out_dir``.

    ``spec_or_path`` is a spec file (loaded by :func:`snnspec.load` with ``overrides`` and
    ``allow_paths``), a :class:`ModelSpec` (overrides are refused: they apply to a file), or
    a run folder to continue in place (``resume=True``). ``out_dir`` must be new or empty;
    ``force`` replaces an earlier run in it, ``resume`` continues it from its last checkpoint
    (environment differences are passed to ``warn``; ``strict_env`` refuses them). Default:
    ``runs/<name>-<timestamp>``.

    ``callbacks`` are called with ``(epoch, record)`` after each epoch's checkpoint and
    metrics are on disk; one that raises stops the run (resumable, the manifest says
    ``interrupted`` and by which callback) and its exception propagates. ``log`` names
    trackers (``"tensorboard"``, ``"mlflow"``); tracker objects
    (:mod:`snnspec.training.tracking`) may be given among ``callbacks``. ``echo`` gets the
    progress lines (None: silent); ``max_memory`` is the memory budget (e.g. ``"2GiB"``).
    ``devices`` (a count or ``"all"``) trains data parallel over a device mesh (the batch
    sharded, the results equal to one device's up to float rounding); with several JAX
    processes (after ``jax.distributed.initialize()``) only process 0 writes ``out_dir``.
    """
    from ..graph.plan import plan_graph
    from ..graph.resources import budget, check_run

    say = echo if echo is not None else _silent
    warned = warn if warn is not None else _stderr
    texts = override_texts(overrides)
    trackers: list[Tracker] = make_trackers(log)  # a missing extra fails before any work
    data_root = None
    output = None if out_dir is None else Path(out_dir)
    if isinstance(spec_or_path, ModelSpec):
        _refuse_loading_options(texts, allow_paths)
        if partial_params:
            raise UsageError(
                "a ModelSpec carries `params_partial` itself", setting="partial_params"
            )
        spec = spec_or_path
        source = None if spec.document is None else spec.document.source
    else:
        path = Path(spec_or_path)
        if not path.exists() and resume and not path.suffix:
            raise InputError(
                f"{path}: no such run folder to resume; `snnspec train SPEC -o DIR` creates one"
            )
        if path.is_dir():
            from ..bundle.folders import TRAIN, made_by
            from .extend import resume_spec
            from .loop import data_root_of, read_manifest

            if made_by(path) != TRAIN:
                read_manifest(path)  # says what the folder is instead
            if partial_params:
                raise UsageError(
                    "a run folder resumes with the settings it was started with",
                    setting="partial_params",
                )
            if allow_paths:
                raise UsageError(
                    "a run folder resumes from its resolved spec, which extends no file",
                    setting="allow_paths",
                )
            if not resume:
                raise InputError(
                    f"{path} is a run folder; pass `resume=True` to continue it",
                    hint=Hint(options=("resume",)),
                )
            if output is not None and output.resolve() != path.resolve():
                raise InputError(
                    "a run folder resumes in place; leave out `out_dir`",
                    hint=Hint(options=("out_dir",)),
                )
            manifest = read_manifest(path)
            output, data_root = path, data_root_of(path, manifest)
            spec = resume_spec(path, texts)  # only more train.epochs
            texts = list(manifest.get("overrides") or [])
            source = manifest.get("source")
        else:
            spec = load(path, texts, allow_paths=allow_paths)
            from ..spec.model import check_partial

            check_partial(partial_params, spec)
            if partial_params:  # recorded as an override, so the run folder says so
                texts = [*texts, "params_partial=true"]
                spec = load(path, texts, allow_paths=allow_paths)
            source = str(path)
    if spec.train is None:
        raise spec.error((), "the spec has no `train:` section; add one (see README: Training)")
    limit = budget(max_memory)
    plan = plan_graph(spec)
    micro_batch = spec.train.batch_size // spec.train.accumulate_steps  # alive at a time
    check_run(spec, plan, limit, micro_batch, None, backprop=True)
    if spec.params_partial and data_root is None:  # a fresh run: the spec's folder holds them
        from ..model.params import partial_note

        note = partial_note(spec, plan)
        if note is not None:
            warned(note)
    if output is None:
        if resume:
            raise InputError(
                "`resume=True` needs the run folder: pass `out_dir=DIR` (or the run folder "
                "as the spec)",
                hint=Hint(options=("resume", "out_dir")),
            )
        output = Path("runs") / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if strict_env and not resume:
        raise InputError(
            "`strict_env=True` applies to `resume=True` (a run folder), not to a new run",
            hint=Hint(options=("strict_env", "resume")),
        )
    from .loop import read_manifest
    from .loop import train as run_training  # imports JAX: after the checks of the spec

    if resume and (output / MANIFEST).is_file():
        from ..bundle.environment import check_folder

        manifest = read_manifest(output)
        check_folder(output, manifest, strict=strict_env, warn=warned, dtype=spec.dtype)
    run_training(
        spec,
        output,
        resume=resume,
        overrides=texts,
        source=source,
        data_root=data_root,
        progress=progress,
        echo=say,
        callbacks=[*trackers, *callbacks],
        force=force,
        devices=devices,
    )
    return Run(output)


def evaluate(run_or_dir: Run | str | os.PathLike[str], checkpoint: str = "final") -> dict[str, Any]:
    """Rescore a run's test set: the test metrics ``results.json`` reports (``test_loss``,
    ``test_accuracy``, and ``test_spike_rate`` per spiking layer when the spec's metrics
    name it), for the final parameters or the ``"best"`` / ``"epoch-N"`` checkpoint."""
    from .loop import evaluate_run

    directory = run_or_dir.dir if isinstance(run_or_dir, Run) else Path(run_or_dir)
    scores = evaluate_run(directory, checkpoint)
    del scores["checkpoint"]
    return scores


def load_data(
    spec_or_path: ModelSpec | str | os.PathLike[str],
    overrides: Overrides = (),
    *,
    allow_paths: Sequence[str | os.PathLike[str]] = (),
) -> Dataset:
    """The binned or encoded data of a spec's ``train.data``, split as training splits them:
    a :class:`~snnspec.training.data.Dataset` (``x_train``, ``y_train``, ``x_val``,
    ``y_val``, ``x_test``, ``y_test``, ``num_classes``, ``sha256``: the digest the run's
    manifest records). An event data set's samples are read-only memory maps of the
    preprocessing cache (index them, or ``np.asarray`` them to read a split). NumPy only: no
    model is built and JAX is not imported.

    ``spec_or_path`` is a spec file (loaded by :func:`snnspec.load` with ``overrides`` and
    ``allow_paths``) or a :class:`ModelSpec` (overrides are refused: they apply to a file).
    """
    from .data import load_data as read_data

    texts = override_texts(overrides)
    if isinstance(spec_or_path, ModelSpec):
        _refuse_loading_options(texts, allow_paths)
        spec = spec_or_path
    else:
        spec = load(spec_or_path, texts, allow_paths=allow_paths)
    return read_data(spec)


def _refuse_loading_options(texts: Sequence[str], allow_paths: Sequence[object]) -> None:
    """Overrides and allowed paths apply while a file is loaded, never to a ModelSpec."""
    if texts:
        raise InputError(
            "overrides apply to a spec file: pass its path, or apply them with "
            "snnspec.load(path, overrides)"
        )
    if allow_paths:
        raise UsageError("a ModelSpec is already composed", setting="allow_paths")


def override_texts(overrides: Overrides) -> list[str]:
    """``PATH=VALUE`` strings as given, or made from a mapping's Python values."""
    if isinstance(overrides, str):
        raise InputError(
            f"overrides must be a list of PATH=VALUE strings or a mapping, got the string "
            f"{overrides!r}; write [{overrides!r}]"
        )
    if isinstance(overrides, Mapping):
        return [override_text(str(path), value) for path, value in overrides.items()]
    return list(overrides)


def _silent(_: str) -> None:
    pass


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)
