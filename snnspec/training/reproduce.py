"""Re-run a training run folder from its record and compare the results (`snnspec reproduce`).

The run is replayed from what its manifest records: the resolved spec (whose sha256 must
still match, so a hand-edited spec is refused, never silently trained), the data (its sha256
must match), the seed (part of the resolved spec) and the `--set` overrides (already applied
in the resolved spec; copied into the new manifest). A run sharded over N devices
(``placement`` in the manifest) is replayed on N local devices, so its float sums run in the
same order; where this machine has fewer, it is replayed on one device and a note says so
(expect differences of the order of float rounding). A run extended with more epochs
(``extensions`` in the manifest, see :mod:`.extend`) is replayed as it ran: the original
spec up to the epoch each extension continued from, then the extension, in order. A run
that used custom code (``custom_code``) says so, and warns when the code's file changed.

The new folder's final parameters, every metric of every epoch and ``results.json`` (the
selected epoch and its test metrics) are compared with the original's: bitwise, or the
largest absolute difference per parameter and per metric.
Timing fields (:func:`.throughput.is_timing`: names ending in ``_time``, ``_seconds`` or
``_per_second``) are not compared.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import Hint, InputError
from .._io import sha256_file, sha256_text, write_text_atomic
from ..spec.load import load
from ..spec.overrides import resolved_text
from .throughput import is_timing


@dataclass(frozen=True)
class Comparison:
    """The outcome: the new folder, report lines and whether everything matched bitwise."""

    directory: Path
    lines: list[str]
    matched: bool


def reproduce(
    directory: Path,
    output: Path | None = None,
    *,
    strict_env: bool = False,
    progress: bool = False,
    echo: Callable[[str], Any] = print,
    warn: Callable[[str], Any] = print,
) -> Comparison:
    """Train ``directory``'s recorded run again into ``output`` and compare the results."""
    from ..bundle.environment import check_folder
    from .custom import code_notes
    from .data import load_data
    from .extend import replay_stages
    from .loop import (
        MANIFEST,
        PARAMS,
        RESOLVED,
        RESULTS,
        _read_records,
        data_root_of,
        read_manifest,
        train,
    )

    manifest = read_manifest(directory)
    _check_record(directory, manifest)
    spec = load(directory / RESOLVED)
    stages = replay_stages(directory, manifest, spec)
    check_folder(directory, manifest, strict=strict_env, warn=warn, dtype=spec.dtype)
    code_lines, code_warnings = code_notes(spec, manifest)
    for line in code_lines:
        echo(line)
    for line in code_warnings:
        warn(line)
    root = data_root_of(directory, manifest)
    data = load_data(spec, root)
    if data.sha256 != manifest.get("data_sha256"):
        raise InputError(
            f"the data differ from the run's (sha256 {str(manifest.get('data_sha256'))[:12]}..., "
            f"now {data.sha256[:12]}...); the data source changed, so the run cannot be reproduced",
            file=str(directory / MANIFEST),
        )
    target = _new_folder(directory, output)
    echo(f"reproducing {directory} -> {target}")
    devices, notes = _replay_devices(manifest)
    original = manifest.get("original_resolved_spec_sha256", manifest["resolved_spec_sha256"])
    if (
        sha256_text(resolved_text(spec)) != manifest["resolved_spec_sha256"]
        or sha256_text(resolved_text(stages[0][0])) != original
    ):
        notes.append(
            "note: this snnspec resolves the spec to different text (new defaults written "
            "out), so the new run records another resolved_spec_sha256"
        )
    for n, (stage, stop) in enumerate(stages):

        def stop_after(epoch: int, record: dict[str, Any], stop: int | None = stop) -> None:
            if epoch == stop:
                raise _Stopped

        with contextlib.suppress(_Stopped):
            train(
                stage,
                target,
                resume=n > 0,
                overrides=list(manifest.get("overrides") or []),
                source=manifest.get("source"),
                data_root=root,
                progress=progress,
                echo=echo,
                callbacks=[stop_after],
                devices=devices,
            )
    lines = notes + _compare_params(directory / PARAMS, target / PARAMS)
    lines += _compare_metrics(_read_records(directory), _read_records(target))
    lines += _compare_results(directory / RESULTS, target / RESULTS)
    matched = not any(
        line.startswith(("parameters differ", "metrics differ", "results differ")) for line in lines
    )
    new_manifest = read_manifest(target)
    new_manifest["reproduces"] = {"folder": str(directory), "bitwise": matched}
    write_text_atomic(target / MANIFEST, json.dumps(new_manifest, indent=2) + "\n")
    return Comparison(target, lines, matched)


def _replay_devices(manifest: dict[str, Any]) -> tuple[int | None, list[str]]:
    """The device count to replay the run on (None: one device) and a note when it is not
    the run's own placement."""
    import jax

    record = manifest.get("placement")
    if record is None:  # 0.4.0 wrote the placement over the device list, as {count, processes}
        legacy = manifest.get("devices")
        record = {"devices": legacy.get("count", 1), **legacy} if isinstance(legacy, dict) else {}
    count, processes = int(record.get("devices", 1)), int(record.get("processes", 1))
    if count == 1:
        return None, []
    available = jax.local_device_count()
    if available < count:
        return None, [
            f"note: the run was sharded over {count} devices and this machine has {available}, "
            "so it is replayed on one device: float sums run in another order"
        ]
    notes = []
    if processes > 1:
        notes.append(
            f"note: the run ran in {processes} processes; it is replayed in this one process on "
            f"{count} devices"
        )
    return count, notes


class _Stopped(Exception):
    """Ends a replayed stage at the epoch where the original run was extended."""


def _check_record(directory: Path, manifest: dict[str, Any]) -> None:
    """The run finished, and its resolved spec and parameters are the ones it recorded."""
    from ..bundle import MANIFEST, PARAMS, RESOLVED

    if manifest.get("status") != "completed" or "params_sha256" not in manifest:
        raise InputError(
            f"the run has not finished (status {manifest.get('status')!r}); finish it with "
            f"`snnspec train {directory} --resume` before reproducing it",
            file=str(directory / MANIFEST),
        )
    recorded = manifest.get("resolved_spec_sha256")
    actual = sha256_text((directory / RESOLVED).read_text(encoding="utf-8"))
    if actual != recorded:
        raise InputError(
            f"sha256 {actual[:12]}... differs from the manifest's resolved_spec_sha256 "
            f"{str(recorded)[:12]}...: the spec was edited after the run, so rerunning it "
            "would not reproduce the recorded run",
            file=str(directory / RESOLVED),
        )
    params = directory / PARAMS
    if not params.is_file() or sha256_file(params) != manifest["params_sha256"]:
        raise InputError(
            "missing, or its sha256 differs from the manifest's params_sha256: the final "
            "parameters to compare with are not the recorded ones",
            file=str(params),
        )


def _new_folder(directory: Path, output: Path | None) -> Path:
    """``output`` if it does not exist (or is an empty folder), else DIR-reproduce-N."""
    if output is not None:
        if output.exists() and not (output.is_dir() and not any(output.iterdir())):
            raise InputError(
                f"{output} exists and is not an empty folder; choose another `output`",
                hint=Hint(options=("output",)),
            )
        return output
    n = 1
    while (candidate := directory.with_name(f"{directory.name}-reproduce-{n}")).exists():
        n += 1
    return candidate


def _compare_params(original: Path, new: Path) -> list[str]:
    import numpy as np

    from ..model.params import read_params

    there, here = sha256_file(original), sha256_file(new)
    if there == here:
        return [f"parameters: bitwise identical (sha256 {here[:12]}...)"]
    a, b = read_params(original), read_params(new)
    lines = [
        f"parameters differ (sha256 {there[:12]}... recorded, {here[:12]}... now); "
        "largest absolute difference per parameter:"
    ]
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b or a[key].shape != b[key].shape:
            lines.append(f"  {key}: only in one of the runs, or of another shape")
            continue
        difference = np.max(np.abs(a[key].astype(np.float64) - b[key].astype(np.float64)))
        lines.append(f"  {key}: {float(difference):.3g}")
    return lines


def _compare_metrics(original: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    if len(original) != len(new):
        return [f"metrics differ: {len(original)} epochs recorded, {len(new)} now"]
    largest: dict[str, tuple[float, int]] = {}
    fields: set[str] = set()
    for old_record, new_record in zip(original, new, strict=True):
        epoch = old_record.get("epoch", 0)
        old_flat, new_flat = _flatten(old_record), _flatten(new_record)
        for name in set(old_flat) | set(new_flat):
            fields.add(name)
            difference = _difference(old_flat.get(name), new_flat.get(name))
            if difference and difference > largest.get(name, (0.0, 0))[0]:
                largest[name] = (difference, epoch)
    if not largest:
        return [
            f"metrics: bitwise identical ({len(new)} epoch{'s' * (len(new) != 1)}, "
            f"{len(fields)} fields; "
            "timings not compared)"
        ]
    lines = ["metrics differ; largest absolute difference per metric:"]
    for name, (difference, epoch) in sorted(largest.items()):
        lines.append(f"  {name}: {difference:.3g} (epoch {epoch})")
    return lines


def _compare_results(original: Path, new: Path) -> list[str]:
    """results.json: the selected epoch and its test metrics (scored once, at the end)."""
    from ..spec.loader import load_json_file

    old, here = _flatten(load_json_file(original)), _flatten(load_json_file(new))
    differences = {
        name: _difference(old.get(name), here.get(name)) for name in sorted(set(old) | set(here))
    }
    if not any(differences.values()):
        return [
            f"results: bitwise identical (selected epoch {here.get('epoch')}, test accuracy "
            f"{here.get('test_accuracy')})"
        ]
    lines = ["results differ; absolute difference per field:"]
    lines += [f"  {name}: {value:.3g}" for name, value in differences.items() if value]
    return lines


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if is_timing(key):
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _difference(a: Any, b: Any) -> float:
    """0 for identical values; |a - b| for numbers; infinity for anything else that differs."""
    if a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    ):
        return 0.0
    if isinstance(a, int | float) and isinstance(b, int | float):
        difference = abs(float(a) - float(b))
        return math.inf if math.isnan(difference) else difference
    return math.inf
