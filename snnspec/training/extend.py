"""Resuming a run with more epochs: ``snnspec train DIR --resume --set train.epochs=N``.

Only ``train.epochs`` may change when a run resumes, and only upwards: any other change would
make one run folder hold a model trained by two recipes. Each extension is recorded in the
manifest (``extensions``: ``from_epochs``, ``to_epochs``, ``epochs_completed`` (the checkpoint
it continued from), ``at`` (UTC), ``overrides`` and the extended spec's
``resolved_spec_sha256``); ``resolved.yaml`` becomes the extended spec and the manifest keeps
the first spec's hash as ``original_resolved_spec_sha256``. ``snnspec reproduce`` replays
the run as it happened (:func:`replay_stages`): the original spec up to the epoch where it
was extended, then each extension in order.

Whether an extended run equals a fresh run of the larger epoch count depends on the
learning-rate schedule: ``constant`` and ``exponential`` (and ``warmup_epochs``) do not
depend on ``train.epochs``, so a 1-epoch run extended to 2 is bitwise the 2-epoch run;
``cosine`` decays over the total step count, so the extended epochs continue on the longer
run's curve (the learning rate rises again) and the result is neither.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import Hint, InputError
from .._io import sha256_text
from ..bundle import MANIFEST, RESOLVED

if TYPE_CHECKING:
    from ..spec.model import ModelSpec

EPOCHS = ("train", "epochs")


def resume_spec(directory: Path, overrides: Sequence[str] = ()) -> ModelSpec:
    """The spec that resumes the run in ``directory``: its resolved spec, with ``overrides``.

    An override may set ``train.epochs`` to more than the run's; anything else is refused
    with the path it would change.
    """
    from ..spec.load import load
    from ..spec.overrides import override_source, parse_override

    run = load(directory / RESOLVED)
    if not overrides:
        return run
    for text in overrides:
        keys = parse_override(text).keys
        if keys != EPOCHS:
            raise InputError(
                "resuming may change only train.epochs (upwards), and this changes "
                f"{'.'.join(keys)}; train the spec with `overrides` into a new folder",
                file=override_source(text),
                hint=Hint(options=("override", "overrides")),
            )
    extended = load(directory / RESOLVED, overrides)
    before, after = _epochs(run), _epochs(extended)
    if after <= before:
        raise InputError(
            f"the run already trains {before} epochs, and resuming can only add epochs; pass "
            f"more than {before} (`resume=True` alone continues an interrupted run)",
            file=override_source(f"train.epochs={after}"),
            hint=Hint(options=("override", "resume")),
        )
    return extended


def extension(
    directory: Path, manifest: dict[str, Any], spec: ModelSpec, digest: str, completed: int
) -> dict[str, Any] | None:
    """The ``extensions`` entry for resuming ``directory``'s run with ``spec`` (hash
    ``digest``) after epoch ``completed``; refuses any change but more epochs. None when
    nothing changes but the text: the run's values, resolved by another snnspec version (one
    that writes other defaults out), which is a plain resume."""
    from ..spec.load import load

    text = (directory / RESOLVED).read_text(encoding="utf-8")
    if sha256_text(text) != manifest.get("resolved_spec_sha256"):
        raise InputError(
            "the run's resolved spec differs from its manifest's resolved_spec_sha256 (edited "
            "after the run), so it cannot be extended",
            file=str(directory / RESOLVED),
        )
    run = load(directory / RESOLVED)
    changed = changed_paths(run, spec)
    if not changed:
        return None
    more = _epochs(spec) > _epochs(run)
    if changed != [".".join(EPOCHS)] or not more:
        what = ", ".join(changed)
        if changed == [".".join(EPOCHS)]:
            what = f"train.epochs from {_epochs(run)} down to {_epochs(spec)}"
        raise InputError(
            f"{directory} holds a run of a different spec ({what} changed); resuming may "
            "change only train.epochs, upwards: resume with the same spec and `override` "
            "values, or `snnspec train DIR --resume [--set train.epochs=N]`",
            hint=Hint(options=("override",)),
        )
    return {
        "from_epochs": _epochs(run),
        "to_epochs": _epochs(spec),
        "epochs_completed": completed,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "overrides": [f"train.epochs={_epochs(spec)}"],
        "resolved_spec_sha256": digest,
    }


def extension_note(spec: ModelSpec, record: dict[str, Any]) -> str:
    """What extending does to the run, printed when it starts."""
    start, end, done = record["from_epochs"], record["to_epochs"], record["epochs_completed"]
    line = f"extending the run from {start} to {end} epochs after epoch {done}"
    if spec.train is not None and spec.train.optimizer.schedule == "cosine":
        line += (
            f"; note: the cosine schedule decays over all epochs, so the remaining epochs "
            f"follow the {end}-epoch curve (the learning rate rises again) and the result "
            f"differs from a fresh {end}-epoch run; `snnspec reproduce` replays it as run"
        )
    return line


def replay_stages(
    directory: Path, manifest: dict[str, Any], spec: ModelSpec
) -> list[tuple[ModelSpec, int | None]]:
    """The trainings that replay the run: ``(spec, stop after epoch)`` in order.

    Without extensions that is the run's spec, trained to its end. With them: the spec
    before each extension, stopped at the epoch the extension continued from (None: it
    finished), and at last the run's spec.
    """
    from ..spec.load import load

    records = manifest.get("extensions") or []
    if not records:
        return [(spec, None)]
    if not isinstance(records, list) or not all(_well_formed(r) for r in records):
        raise InputError(
            "`extensions` is not a list of the records snnspec writes (from_epochs, "
            "to_epochs, epochs_completed), so the run cannot be replayed",
            file=str(directory / MANIFEST),
        )
    targets = [r["from_epochs"] for r in records[1:]] + [_epochs(spec)]
    completed = [r["epochs_completed"] for r in records]
    if (
        any(r["to_epochs"] != target for r, target in zip(records, targets, strict=True))
        or any(r["epochs_completed"] > r["from_epochs"] for r in records)
        or completed != sorted(completed)
    ):
        raise InputError(
            "the `extensions` do not chain (each to_epochs must be the next from_epochs, the "
            "last the spec's train.epochs, and epochs_completed must grow up to from_epochs), "
            "so the run cannot be replayed",
            file=str(directory / MANIFEST),
        )
    stages: list[tuple[ModelSpec, int | None]] = []
    done = 0
    for record in records:
        epochs, until = record["from_epochs"], record["epochs_completed"]
        if until > done:  # a spec extended before it trained an epoch of its own: no stage
            stage = load(directory / RESOLVED, [f"train.epochs={epochs}"])
            stages.append((stage, None if until == epochs else until))
            done = until
    stages.append((spec, None))
    return stages


def changed_paths(before: ModelSpec, after: ModelSpec) -> list[str]:
    """The dotted paths whose values differ between two specs (list items by name)."""
    from ..spec.dump import normalized_data

    return _differences(normalized_data(before), normalized_data(after), ())


def _differences(a: Any, b: Any, path: tuple[str, ...]) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in dict.fromkeys([*a, *b]):
            if key not in a or key not in b:
                found.append(".".join((*path, str(key))))
            else:
                found += _differences(a[key], b[key], (*path, str(key)))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = []
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            name = x.get("name") if isinstance(x, dict) and isinstance(y, dict) else None
            label = name if isinstance(name, str) and y.get("name") == name else str(n)
            found += _differences(x, y, (*path, label))
        return found
    return [] if a == b else [".".join(path) or "the spec"]


def _epochs(spec: ModelSpec) -> int:
    if spec.train is None:
        raise spec.error((), "the spec has no `train:` section; add one to train it")
    return spec.train.epochs


def _well_formed(record: Any) -> bool:
    keys = ("from_epochs", "to_epochs", "epochs_completed")
    return isinstance(record, dict) and all(
        isinstance(record.get(k), int) and not isinstance(record.get(k), bool) for k in keys
    )
