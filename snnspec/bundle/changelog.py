"""Changes that make an unchanged spec compute something different, per snnspec version.

``CHANGELOG.md`` is generated from :data:`ENTRIES` (``python -m snnspec.bundle.changelog >
CHANGELOG.md``; a test fails when it drifts), so the text a user reads and the text a
warning quotes are one. Loading a build or run folder written by an older version prints
the entries of every later version up to this one (:func:`changes_since`).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    """One change: the version that brought it, a stable id, a one-line summary, details."""

    version: str
    id: str
    summary: str
    text: str


ENTRIES: tuple[Change, ...] = (
    Change(
        "0.2.0",
        "schedule-auto",
        "the default schedule `auto` groups floating-point sums differently (last bits of "
        "outputs; trained parameters and accuracies more)",
        "Execution order: the default `schedule: auto` applies every stateless layer that is "
        "not on a cycle (e.g. a `linear` fed only by the input or by a feed-forward chain) to "
        "all time steps at once, one large matrix product, instead of once per step inside "
        "the time scan; a scan that already runs a matrix product absorbs the layers reading "
        "from it. The equations are the same, but floating-point sums are grouped "
        "differently, so outputs can differ in the last bits and trained parameters and "
        "accuracies by more (configs/digits.yaml, seed 0, on one machine: 95.32% test accuracy "
        "with `--set schedule=stepwise`, 94.88% with `auto`). `--set schedule=stepwise` runs "
        "the step-by-step order.",
    ),
    Change(
        "0.2.0",
        "resolved-defaults",
        "resolved specs write every default, so their sha256 changed",
        "Resolved specs (`snnspec resolve`, a run's resolved.yaml, a build's spec.yaml) write "
        "the new keys `schedule: auto`, `remat: 0` and `params_partial`, and every layer's "
        "defaults in effect (a neuron's `reset` and `trainable`, a pooling layer's "
        "`stride`), so an unchanged spec has a different `resolved_spec_sha256` than under "
        "0.1.0.",
    ),
    Change(
        "0.2.0",
        "sigma-delta-snnax",
        "`sigma_delta` follows SNNAX's current `SigmaDelta`",
        "Equations: `sigma_delta` now takes `decay_constants: [input, membrane, feedback]` "
        "(required, each in [0, 1], not clamped, trainable by default) and keeps SNNAX's five "
        "state arrays (sigma, error, membrane, feedback, spikes): i = d_in·i + x; e = i - f; "
        "m = d_mem·m + e; s = H(m - threshold); f = d_fb·f + s. A spec without "
        "`decay_constants` is refused with a message; `decay_constants: [0, 1, 0]` gives the "
        "former equations. Params files gain `<layer>.decay_constants`.",
    ),
    Change(
        "0.2.0",
        "clamp-gradient",
        "clamped neuron parameters pass no gradient at a bound",
        "Gradients: decay constants and the other clamped neuron parameters are clamped with "
        "`jax.lax.clamp`, as SNNAX does; the gradient at exactly a bound (e.g. a decay of "
        "1.0) is now 0 instead of the half that `jnp.clip` passed. Forward values are "
        "unchanged.",
    ),
    Change(
        "0.2.0",
        "params-files-complete",
        "params files must give every parameter, in the spec's dtype, within its bounds",
        "Accepted input: a params file missing a key, holding an array in another dtype than "
        "the spec's `dtype` (formerly cast without a word), or a value the spec would refuse "
        "(e.g. a decay of 0.3) is refused, naming the key. A deliberate partial load is "
        "`params_partial: true` or `--partial-params`, and lists the keys left at their "
        "seeded values.",
    ),
    Change(
        "0.2.0",
        "yaml-syntax",
        "`y`/`n` are strings; YAML merge keys, `extends:` and top-level `x-*` keys are read",
        "Accepted syntax: `y`, `n`, `Y` and `N` are plain strings, as in YAML 1.2 (they were "
        "refused as YAML 1.1 booleans); in a boolean field they are an error. YAML merge keys "
        "(`<<`), `extends:` and top-level `x-*` anchor keys, all refused before, are read "
        "(docs/extensions.md).",
    ),
    Change(
        "0.2.0",
        "norm-eps-bounds",
        "`eps` of the normalisation layers outside [1e-12, 1] is refused",
        "Accepted syntax: `eps` of `batch_norm`, `layer_norm` and `group_norm` must lie in "
        "[1e-12, 1]; a smaller value (which underflowed to 0 in float32 and gave NaN) is "
        "now refused.",
    ),
    Change(
        "0.3.0",
        "honest-selection",
        "a run keeps the epoch chosen on validation data (else its last), never the best test "
        "epoch",
        "Training: `metrics.jsonl` records hold training and validation metrics only; the test "
        "set is scored once, at the end, for the selected epoch. With "
        "`train.data.validation_fraction` the kept epoch (`params.safetensors`, "
        "`checkpoints/best.safetensors`) is the best by `train.selection.metric` (default "
        "`val_loss`); without a validation split it is the last epoch. So an unchanged spec's "
        "`best.safetensors` is now its last epoch, not the epoch with the highest test "
        "accuracy, and `results.json` reports `selected`, `early_stopped` and "
        "`epochs_completed` instead of `best_epoch` and `best_test_accuracy`. An unchanged "
        "spec's split, data sha256, resolved sha256 and final parameters are as before; "
        "`reproduce` of an older run folder reports its per-epoch records as different "
        "(they no longer carry test metrics).",
    ),
    Change(
        "0.4.0",
        "resolved-defaults-0.4",
        "resolved specs write the new training and initialisation defaults, so their sha256 "
        "changed",
        "Resolved specs (`snnspec resolve`, a run's resolved.yaml, a build's spec.yaml) write "
        "`train.accumulate_steps: 1`, `train.precision: float32` and every `linear`/`conv` "
        "layer's `weight_init: default` and `bias_init: default`, so an unchanged spec has a "
        "different `resolved_spec_sha256` than under 0.3.0. The values, the initial "
        "parameters (bit-identical, now drawn in one jitted program) and the numbers are "
        "unchanged; `snnspec train DIR --resume` of a 0.3.0 run continues it as before and "
        "records the old hash as `original_resolved_spec_sha256`.",
    ),
    Change(
        "0.4.0",
        "event-data-sha256",
        "the data sha256 of the event data sets is computed from the preprocessing cache",
        "Event data sets (`shd`, `ssc`, `nmnist`) are binned once into the preprocessing cache "
        "and their `data_sha256` (and `split.json`'s per-part sha256) is now the sha256 of the "
        "cached arrays' digests and each part's sample indices, not of the arrays' bytes "
        "directly. The tensors and the split are unchanged, but the recorded hashes differ "
        "from 0.3.0's, so `snnspec train DIR --resume` and `snnspec reproduce DIR` of a 0.3.0 "
        "run on these data sets stop with 'the data differ'; train it again.",
    ),
)

HEADER = """\
# Changelog: what makes an unchanged spec compute something different

Every entry is a change after which a spec that was not edited computes different numbers
(a neuron's equations, initialisation, the order of floating-point operations) or is read
differently (accepted syntax). `snnspec run DIR`, `snnspec evaluate DIR`, `snnspec train DIR
--resume` and `snnspec reproduce DIR` print the entries newer than the version that wrote the
folder. Each entry is `- [VERSION/ID] **summary.** details` under its version's heading.

Version 0.1.0 was never bumped while it was developed, so a folder recorded as 0.1.0 may come
from before or after the 0.2.0 changes; from 0.2.0 on, every such change comes with a new
version.

This file is generated from `snnspec/bundle/changelog.py`:
`python -m snnspec.bundle.changelog > CHANGELOG.md`.
"""


def version_key(version: str) -> tuple[int, ...]:
    """``"0.2.0"`` -> ``(0, 2, 0)``; ``()`` (older than every version) when unreadable."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def changes_since(recorded: str, current: str) -> list[Change]:
    """The entries newer than version ``recorded``, up to and including ``current``."""
    low, high = version_key(recorded), version_key(current)
    return [change for change in ENTRIES if low < version_key(change.version) <= high]


def markdown() -> str:
    """The text of CHANGELOG.md: the header, then the versions newest first."""
    lines = [HEADER]
    versions = sorted({c.version for c in ENTRIES}, key=version_key, reverse=True)
    for version in versions:
        lines.append(f"## {version}\n")
        lines += [
            textwrap.fill(
                f"- [{c.version}/{c.id}] **{c.summary}.** {c.text}",
                width=100,
                subsequent_indent="  ",
                break_on_hyphens=False,
                break_long_words=False,
            )
            for c in ENTRIES
            if c.version == version
        ]
        lines.append("")
    lines.append("## 0.1.0\n")
    lines.append("- First version: the reference every later entry is measured against.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
