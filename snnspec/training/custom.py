"""Custom losses: Python functions a spec names with ``loss: {type: custom, function: ...}``.

``function`` is either ``package.module:function`` (imported when training, evaluating or
reproducing; the module must be installed or on ``PYTHONPATH``) or a name given to
:func:`register_loss` in the same process. A file path or code text is refused when the spec
is validated (:class:`~snnspec.spec.train.CustomLossSpec`), so a spec never carries code.

The contract: ``function(outputs, labels) -> (losses, scores)`` with ``outputs`` the readout
layer's outputs after burn-in, float32 (batch, time, classes), ``labels`` int32 (batch,),
``losses`` the per-sample losses (batch,) and ``scores`` (batch, classes), whose argmax is the
prediction that accuracy counts. Training minimises the batch mean of ``losses`` plus the
regularisers; evaluation reports the mean over the test set. Per-sample losses (not one
scalar) let evaluation mask the padding of its last batch.

A run records the code it used in its manifest (``custom_code``: the spec's reference, the
module, its file and the file's sha256); ``evaluate`` and ``reproduce`` say so and say
whether the file changed since, and a resumed run refuses a changed file.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .._errors import InputError, suggest
from .._io import sha256_file
from ..spec.train import REGISTERED

if TYPE_CHECKING:
    from ..spec.model import ModelSpec

LossFunction = Callable[[Any, Any], tuple[Any, Any]]
"""``(outputs (B, T, C) float32, labels (B,) int32) -> (losses (B,), scores (B, C))``."""

_REGISTRY: dict[str, LossFunction] = {}
_WHERE = ("train", "loss", "function")


def register_loss(name: str, function: object) -> None:
    """Make ``function`` usable as ``loss: {type: custom, function: <name>, layer: ...}``.

    The registration lasts for this process: a run trained with it can be evaluated or
    resumed only by a process that registers the same name again (the ``snnspec`` command
    cannot; name an importable ``package.module:function`` for that). Registering a name
    again replaces the function (as re-running a notebook cell does).
    """
    if not isinstance(name, str) or not REGISTERED.fullmatch(name):
        raise InputError(
            f"register_loss: name {name!r} must be a Python identifier (letters, digits, _); "
            "an importable function is named in the spec as package.module:function instead"
        )
    if not callable(function):
        raise InputError(
            f"register_loss: {name!r}: expected a function (outputs, labels) -> (losses, "
            f"scores), got an object of type {type(function).__name__}"
        )
    _REGISTRY[name] = cast("LossFunction", function)


def resolve_loss(spec: ModelSpec) -> LossFunction:
    """The function ``train.loss.function`` names; a located error when there is none."""
    reference = _custom_reference(spec)
    if ":" not in reference:
        function = _REGISTRY.get(reference)
        if function is None:
            raise spec.error(
                _WHERE,
                f"no loss is registered as {reference!r} in this process; call "
                f"snnspec.register_loss({reference!r}, function) before training or "
                "evaluating (the `snnspec` command cannot see a function registered in "
                "another process: name an importable package.module:function for it)",
                InputError,
            )
        return function
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise spec.error(
            _WHERE,
            f"cannot import {module_name!r} ({error}); install the module or put its folder "
            "on PYTHONPATH",
            InputError,
        ) from None
    except Exception as error:  # the module's own code failed while importing
        raise spec.error(
            _WHERE,
            f"importing {module_name!r} failed: {type(error).__name__}: {error}",
            InputError,
        ) from None
    function = getattr(module, name, None)
    if function is None:
        public = [n for n in vars(module) if not n.startswith("_")]
        raise spec.error(
            _WHERE,
            f"module {module_name!r} has no function {name!r}{suggest(name, public)}",
            InputError,
        )
    if not callable(function):
        raise spec.error(
            _WHERE,
            f"{reference} is not callable (its type is {type(function).__name__}); expected a "
            "function (outputs, labels) -> (losses, scores)",
            InputError,
        )
    return cast("LossFunction", function)


def check_loss(
    spec: ModelSpec, function: LossFunction, batch: int, steps: int, classes: int
) -> None:
    """Trace ``function`` on shapes alone and refuse a result that breaks the contract."""
    import jax
    import jax.numpy as jnp

    outputs = jax.ShapeDtypeStruct((batch, steps, classes), jnp.float32)
    labels = jax.ShapeDtypeStruct((batch,), jnp.int32)
    reference = _custom_reference(spec)
    try:
        result = jax.eval_shape(function, outputs, labels)
    except Exception as error:
        raise spec.error(
            _WHERE,
            f"{reference} failed on outputs of shape ({batch}, {steps}, {classes}) and labels "
            f"({batch},): {type(error).__name__}: {error}",
            InputError,
        ) from None
    expected = ((batch,), (batch, classes))
    shapes = (
        tuple(tuple(getattr(part, "shape", ())) for part in result)
        if isinstance(result, tuple | list)
        else None
    )
    if shapes != expected:
        found = "one array" if shapes is None else f"shapes {[list(s) for s in shapes]}"
        raise spec.error(
            _WHERE,
            f"{reference} must return (losses, scores) of shapes [{batch}] and [{batch}, "
            f"{classes}] (per-sample losses and class scores), got {found}",
            InputError,
        )


def code_records(spec: ModelSpec) -> list[dict[str, Any]]:
    """The manifest's ``custom_code`` entries of ``spec`` (empty without custom code)."""
    if spec.train is None or spec.train.loss.type != "custom":
        return []
    function = resolve_loss(spec)
    module = getattr(function, "__module__", None)
    path = getattr(sys.modules.get(module or ""), "__file__", None)
    source = Path(path).resolve() if path else None
    return [
        {
            "name": _custom_reference(spec),
            "used_by": "train.loss.function",
            "registered": ":" not in _custom_reference(spec),
            "module": module,
            "function": getattr(function, "__qualname__", type(function).__qualname__),
            "file": str(source) if source else None,
            "sha256": sha256_file(source) if source and source.is_file() else None,
        }
    ]


def check_unchanged(spec: ModelSpec, recorded: Any, *, file: str) -> list[dict[str, Any]]:
    """``spec``'s custom code records, refusing code whose file changed since ``recorded``."""
    now = code_records(spec)
    for old, new in zip(_records(recorded), now, strict=False):
        if old.get("sha256") != new["sha256"]:
            raise InputError(
                f"the custom code {new['name']} ({new['file']}) changed since the run started "
                f"(sha256 {_short(old.get('sha256'))} then, {_short(new['sha256'])} now); a "
                "resumed run would mix two losses: restore the file, or train a new run",
                file=file,
            )
    return now


def code_notes(spec: ModelSpec, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(notes, warnings) for ``evaluate``/``reproduce`` of a run that used custom code.

    Resolving the code again raises the usual located error when it is gone (a registered
    function this process has not registered, a module no longer importable).
    """
    recorded = _records(manifest.get("custom_code"))
    if not recorded:
        return [], []
    now = {record["name"]: record for record in code_records(spec)}
    notes, warnings = [], []
    for old in recorded:
        where = old.get("file") or "no source file"
        notes.append(
            f"note: the run used custom code: {old.get('name')} (module {old.get('module')}, "
            f"{where}, sha256 {_short(old.get('sha256'))})"
        )
        new = now.get(str(old.get("name")))
        if new is None or new["sha256"] is None or old.get("sha256") is None:
            warnings.append(
                f"warning: cannot check that {old.get('name')} is the code the run used (no "
                "source file to hash); results may differ"
            )
        elif new["sha256"] != old.get("sha256"):
            warnings.append(
                f"warning: {new['file']} changed since the run (sha256 "
                f"{_short(old.get('sha256'))} recorded, {_short(new['sha256'])} now); results "
                "may differ"
            )
    return notes, warnings


def _custom_reference(spec: ModelSpec) -> str:
    loss = spec.train.loss if spec.train is not None else None
    if loss is None or loss.type != "custom":
        raise spec.error(("train", "loss"), "the spec's loss is not custom")
    return loss.function


def _records(value: Any) -> list[dict[str, Any]]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _short(digest: Any) -> str:
    return f"{digest[:12]}..." if isinstance(digest, str) else "none"
