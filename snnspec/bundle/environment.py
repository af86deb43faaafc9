"""The environment a build or run folder was made in, and how the current one differs.

``manifest.json`` keeps the full record under ``environment`` (next to the older summary keys
``versions``, ``backend`` and ``devices``): every installed distribution and its version,
Python, the platform, JAX's backend, device kinds and numerics settings, the environment
variables that change what XLA compiles, and the CPU facts XLA specialises its code for (the
vector instruction sets and the number of CPUs the process may use; both change the bits of
a training run, see README: Reproducing a shared experiment).

:func:`differences` lists what can change numbers; :func:`check_folder` turns that into the
warning (or, strict, the error) printed by ``run DIR``, ``evaluate DIR``, ``train DIR
--resume`` and ``reproduce DIR``, together with the changelog entries newer than the version
that wrote the folder.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import Hint, InputError
from . import MANIFEST
from .changelog import changes_since

NUMERIC_PACKAGES = ("snnspec", "jax", "jaxlib", "equinox", "optax", "numpy")
"""Distributions whose version can change what a spec computes."""

NUMERIC_VARIABLES = ("XLA_FLAGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Environment variables that change compiled code or threading (and ``JAX_*``, all of them)."""

PLATFORM_VARIABLES = ("JAX_PLATFORMS", "JAX_PLATFORM_NAME")
"""Recorded but not compared: they choose the backend, which is compared itself."""

JAX_SETTINGS = (
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
)
"""JAX settings that change numbers (dtype width, matmul precision, random bits)."""

# Vector instruction sets in /proc/cpuinfo that XLA's CPU code generator can use.
_ISA = re.compile(r"(sse\d.*|ssse3|avx.*|fma\d?|f16c|amx.*|asimd.*|sve.*|i8mm|bf16|fphp)")


def current() -> dict[str, Any]:
    """The full environment of this process (imports JAX)."""
    from importlib import metadata

    import jax

    from .. import __version__

    distributions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            distributions[_normalise(name)] = dist.version
    distributions["snnspec"] = __version__  # the code running, not a stale editable install
    devices = jax.devices()
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "distributions": dict(sorted(distributions.items())),
        "backend": jax.default_backend(),
        "device_kinds": sorted({device.device_kind for device in devices}),
        "device_count": len(devices),
        "jax_settings": {name: getattr(jax.config, name) for name in JAX_SETTINGS},
        "variables": {
            name: value
            for name, value in sorted(os.environ.items())
            if name in NUMERIC_VARIABLES or name.startswith("JAX_")
        },
        "cpu": cpu_facts(),
    }


def manifest_fields() -> dict[str, Any]:
    """What a manifest records: the summary keys of 0.1.0 plus the full ``environment``."""
    env = current()
    versions = {name: env["distributions"].get(name) for name in (*NUMERIC_PACKAGES, "pydantic")}
    import jax

    return {
        "versions": {"python": env["python"], **versions},
        "backend": env["backend"],
        "devices": [str(device) for device in jax.devices()],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": env,
    }


def cpu_facts() -> dict[str, Any]:
    """CPU model, vector instruction sets (Linux: /proc/cpuinfo) and usable CPUs."""
    model, isa = platform.processor() or None, None
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "CPU part") and model in (None, "", "x86_64"):
            model = value.strip()
        if key in ("flags", "Features") and isa is None:
            isa = sorted(flag for flag in value.split() if _ISA.fullmatch(flag))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "isa": isa, "logical_cpus": os.cpu_count(), "usable_cpus": usable}


def recorded(manifest: Any) -> tuple[dict[str, Any], bool]:
    """``(environment, complete)`` of a manifest.

    A manifest from before 0.2.0 has no full record: its few ``versions`` and its
    ``backend`` stand in for it, and ``complete`` is False.
    """
    manifest = manifest if isinstance(manifest, dict) else {}
    env = manifest.get("environment")
    if isinstance(env, dict):
        return env, True
    versions = manifest.get("versions")
    versions = (
        {k: v for k, v in versions.items() if k != "python"} if isinstance(versions, dict) else {}
    )
    return {"distributions": versions, "backend": manifest.get("backend")}, False


_STRICT = Hint(options=("strict_env",))

NOT_RECORDED = "the full environment is not recorded (written before snnspec 0.2.0)"


def differences(old: dict[str, Any], new: dict[str, Any], *, float64: bool = False) -> list[str]:
    """Differences that can change numbers, ``"what there -> here"``, one per item.

    With ``float64`` (the spec's dtype) ``jax_enable_x64`` is not compared: such a spec needs
    it on in either process (the command line turns it on).
    """
    found = []
    old_dists, new_dists = old.get("distributions") or {}, new.get("distributions") or {}
    for name in NUMERIC_PACKAGES:
        there, here = old_dists.get(name), new_dists.get(name)
        if name in old_dists and there != here:
            found.append(
                f"{name} {_show(there, 'not installed')} -> {_show(here, 'not installed')}"
            )
    for key, label in (("backend", "backend"), ("device_kinds", "device kind")):
        if key in old and old[key] != new.get(key):
            found.append(f"{label} {_show(old[key])} -> {_show(new.get(key))}")
    old_settings, new_settings = old.get("jax_settings") or {}, new.get("jax_settings") or {}
    for name in JAX_SETTINGS:
        if float64 and name == "jax_enable_x64":
            continue
        if name in old_settings and old_settings[name] != new_settings.get(name):
            found.append(f"{name} {_show(old_settings[name])} -> {_show(new_settings.get(name))}")
    if "variables" in old:
        old_vars, new_vars = old.get("variables") or {}, new.get("variables") or {}
        for name in sorted(set(old_vars) | set(new_vars)):
            if name not in PLATFORM_VARIABLES and old_vars.get(name) != new_vars.get(name):
                found.append(
                    f"{name} {_show(old_vars.get(name), 'unset')} -> "
                    f"{_show(new_vars.get(name), 'unset')}"
                )
    old_cpu, new_cpu = old.get("cpu") or {}, new.get("cpu") or {}
    if old.get("backend") == "cpu" and new.get("backend") == "cpu":
        if old_cpu.get("isa") is not None and old_cpu.get("isa") != new_cpu.get("isa"):
            lost = sorted(set(old_cpu["isa"]) - set(new_cpu.get("isa") or ()))
            gained = sorted(set(new_cpu.get("isa") or ()) - set(old_cpu["isa"]))
            parts = [f"without {' '.join(lost)}" if lost else "", ""]
            parts[1] = f"with {' '.join(gained)}" if gained else ""
            found.append("CPU instruction sets: here " + ", ".join(p for p in parts if p))
        if "usable_cpus" in old_cpu and old_cpu["usable_cpus"] != new_cpu.get("usable_cpus"):
            found.append(
                f"usable CPUs {_show(old_cpu['usable_cpus'])} -> "
                f"{_show(new_cpu.get('usable_cpus'))}"
            )
    return found


def other_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences that should not change numbers: Python, platform, other distributions."""
    found = []
    for key in ("python", "python_implementation", "platform", "machine"):
        if key in old and old[key] != new.get(key):
            found.append(f"{key} {_show(old[key])} -> {_show(new.get(key))}")
    if old.get("cpu", {}).get("model") != new.get("cpu", {}).get("model"):
        found.append(f"CPU {_show(old.get('cpu', {}).get('model'))} -> {new['cpu']['model']}")
    old_dists, new_dists = old.get("distributions") or {}, new.get("distributions") or {}
    for name in sorted(set(old_dists) | set(new_dists)):
        if name not in NUMERIC_PACKAGES and old_dists.get(name) != new_dists.get(name):
            found.append(
                f"{name} {_show(old_dists.get(name), 'not installed')} -> "
                f"{_show(new_dists.get(name), 'not installed')}"
            )
    return found


def check_folder(
    folder: Path,
    manifest: dict[str, Any],
    *,
    strict: bool,
    warn: Callable[[str], Any],
    dtype: str = "float32",
) -> None:
    """Warn (or with ``strict`` raise one line) when ``folder`` was made in another environment.

    ``dtype`` is the spec's. Also warns with the changelog entries newer than the snnspec
    version that wrote the folder.
    """
    now = current()
    where = folder / MANIFEST
    env, complete = recorded(manifest)
    if not complete:
        if strict:
            raise InputError(
                f"{NOT_RECORDED}, so it cannot be checked; rerun without `strict_env=True` to "
                "use it anyway",
                file=str(where),
                hint=_STRICT,
            )
        warn(f"warning: {where}: {NOT_RECORDED}; only the versions it lists are compared")
    found = differences(env, now, float64=dtype == "float64")
    if found and strict:
        raise InputError(
            f"made in another environment ({'; '.join(found)}); `strict_env=True` refuses it",
            file=str(where),
            hint=_STRICT,
        )
    if found:
        warn(
            f"warning: {folder} was made in another environment; results may differ "
            f"(`snnspec env {folder}` shows every difference):"
        )
        for line in found:
            warn(f"  {line}")
    earlier = manifest.get("earlier_environments")
    if isinstance(earlier, list) and earlier:
        warn(
            f"warning: {folder} was trained in {len(earlier) + 1} environments (resumed in "
            "another one), so no single environment can reproduce it bitwise"
        )
    written_by = str((env.get("distributions") or {}).get("snnspec") or "0.1.0")
    for change in changes_since(written_by, now["distributions"]["snnspec"]):
        warn(
            f"warning: {folder} was written by snnspec {written_by}; {change.version} changed "
            f"what it computes: {change.summary} (CHANGELOG.md [{change.version}/{change.id}])"
        )


def describe(env: dict[str, Any]) -> str:
    """The environment in a few readable lines (``snnspec env``)."""
    dists = env["distributions"]
    cpu = env["cpu"]
    settings = env["jax_settings"]
    variables = env["variables"]
    lines = [
        f"snnspec {dists.get('snnspec')}, Python {env['python']} "
        f"({env['python_implementation']}) on {env['platform']}",
        "  "
        + ", ".join(f"{name} {dists.get(name, 'not installed')}" for name in NUMERIC_PACKAGES[1:]),
        f"  backend {env['backend']}: {env['device_count']} device(s), "
        f"{', '.join(env['device_kinds'])}",
        "  " + ", ".join(f"{name.removeprefix('jax_')} {settings[name]}" for name in JAX_SETTINGS),
        "  variables: "
        + (", ".join(f"{name}={value!r}" for name, value in variables.items()) or "none set"),
        f"  CPU {cpu['model']}: {cpu['usable_cpus']} usable of {cpu['logical_cpus']}; "
        f"instruction sets {' '.join(cpu['isa']) if cpu['isa'] else 'unknown'}",
        f"  {len(dists)} distributions installed (`snnspec env --json` lists them)",
    ]
    return "\n".join(lines)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _show(value: Any, missing: str = "none") -> str:
    if value is None:
        return missing
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)
