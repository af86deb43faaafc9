"""`snnspec run --distributed`: two JAX processes on one machine give the single-device result.

Two ``python -m snnspec run --distributed`` subprocesses (process ids 0 and 1) meet at a
coordinator on a free localhost port; each has 2 forced CPU devices, so the batch is sharded
over 4 global devices and the CPU collectives (gloo, JAX's default) gather the outputs.
Every process builds the same seeded demo input; only process 0 writes its --output and
--plot (each process is given its own paths to show that process 1 writes nothing). The
spec is the float64 one of ``test_devices.py``: spikes must be identical to a one-process,
one-device run and the other outputs equal to 1e-12.

A process that fails must not hang the test: the processes run under a deadline and both
are killed when one fails or time runs out.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import run_cli
from test_devices import SPEC

DEADLINE = 120.0  # seconds for a whole distributed run (normally under 10 s)
PORT_ATTEMPTS = 3


def environment(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env["JAX_PLATFORMS"] = "cpu"
    env["MPLCONFIGDIR"] = str(tmp_path / "mpl")
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_COORDINATOR_PORT", "JAX_LOCAL_DEVICE_IDS"):
        env.pop(name, None)
    return env


def command(tmp_path: Path, *args: str) -> list[str]:
    spec = str(tmp_path / "spec.yaml")
    return [sys.executable, "-m", "snnspec", "run", spec, "--batch", "8", "--steps", "12", *args]


def free_port() -> int:
    """A port nothing listens on now (the coordinator binds it on all interfaces)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def run_command(tmp_path: Path, port: int, count: int, i: int) -> list[str]:
    """Process ``i``'s ``snnspec run --distributed``, writing its own --output and --plot."""
    return command(
        tmp_path,
        *("--distributed", "--coordinator", f"127.0.0.1:{port}"),
        *("--num-processes", str(count), "--process-id", str(i)),
        *("-o", str(tmp_path / f"p{i}.npz"), "--plot", str(tmp_path / f"p{i}.png")),
    )


def run_processes(
    tmp_path: Path,
    count: int,
    make_command: Callable[[Path, int, int, int], list[str]] = run_command,
) -> list[tuple[int, str, str]]:
    """``count`` distributed processes to completion: (exit code, stdout, stderr) of each;
    ``make_command(tmp_path, port, count, i)`` is process i's command line."""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        env = {**environment(tmp_path), "JAX_COORDINATOR_BIND_ADDRESS": f"127.0.0.1:{port}"}
        logs = [
            (open(tmp_path / f"p{i}.out", "w+"), open(tmp_path / f"p{i}.err", "w+"))  # noqa: SIM115
            for i in range(count)
        ]
        processes = [
            subprocess.Popen(
                make_command(tmp_path, port, count, i),
                stdout=out,
                stderr=err,
                text=True,
                env=env,
            )
            for i, (out, err) in enumerate(logs)
        ]
        try:
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                codes = [p.poll() for p in processes]  # poll every one (no short circuit)
                if None not in codes or any(code not in (None, 0) for code in codes):
                    break  # all done, or one failed and the others would wait for it
                time.sleep(0.1)
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                p.wait()
        results = []
        for p, (out, err) in zip(processes, logs, strict=True):
            out.seek(0)
            err.seek(0)
            results.append((p.returncode, out.read(), err.read()))
            out.close()
            err.close()
        # gRPC logs this when the port was taken meanwhile (jaxlib 0.10 then sometimes
        # segfaults instead of raising): try another port.
        if "Failed to add port to server" not in results[0][2]:
            return results
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, str, str]]]:
    tmp_path = tmp_path_factory.mktemp("distributed")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    return tmp_path, run_processes(tmp_path, 2)


def test_two_processes_equal_one_device(runs: tuple[Path, list[tuple[int, str, str]]]) -> None:
    tmp_path, results = runs
    for i, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"process {i} exited with {code}:\n{stdout}\n{stderr}"
        assert "on 4 cpu devices (2 processes)" in stdout
    assert (tmp_path / "p0.npz").is_file()
    assert (tmp_path / "p0.png").stat().st_size > 0
    assert not (tmp_path / "p1.npz").exists(), "only process 0 may write --output"
    assert not (tmp_path / "p1.png").exists(), "only process 0 may write --plot"

    reference = tmp_path / "one.npz"
    done = subprocess.run(
        command(tmp_path, "-o", str(reference)),
        capture_output=True,
        text=True,
        env=environment(tmp_path),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "on cpu;" in done.stdout
    with np.load(reference) as one, np.load(tmp_path / "p0.npz") as two:
        assert sorted(one.files) == sorted(two.files) == ["lif", "out"]
        assert one["lif"].shape == (8, 12, 8)
        assert one["lif"].dtype == two["lif"].dtype == np.float64
        rate = float(np.mean(one["lif"]))
        assert 0.0 < rate < 1.0, f"spike rate {rate}: the comparison would be vacuous"
        assert np.array_equal(two["lif"], one["lif"]), "spikes differ"
        np.testing.assert_allclose(two["out"], one["out"], rtol=0, atol=1e-12)
    rates = [line for line in results[0][1].splitlines() if line.startswith("  lif ")]
    assert rates == [line for line in results[1][1].splitlines() if line.startswith("  lif ")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--coordinator", "127.0.0.1:1234"], "--coordinator needs --distributed"),
        (["--num-processes", "2"], "--num-processes needs --distributed"),
        (["--process-id", "0"], "--process-id needs --distributed"),
        (
            ["--distributed", "--coordinator", "localhost"],
            "--coordinator must be HOST:PORT, got 'localhost'",
        ),
        (
            ["--distributed", "--num-processes", "2", "--process-id", "2"],
            "--process-id 2 must be smaller than --num-processes 2",
        ),
    ],
)
def test_inconsistent_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Checked before JAX starts, so in-process."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    code, out, err = run_cli("run", spec, "--steps", "4", *args, capsys=capsys)
    assert (code, out, err) == (1, "", message + "\n")


def test_nothing_to_detect(tmp_path: Path) -> None:
    """--distributed outside a cluster without the three options: one line, exit 1."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    env = environment(tmp_path)
    for name in list(env):
        if name.startswith(("SLURM_", "OMPI_", "KUBERNETES_", "TPU_")):
            del env[name]
    done = subprocess.run(
        command(tmp_path, "--distributed", "--process-id", "0"),
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "--distributed: coordinator_address should be defined (no Slurm, Open MPI, Cloud TPU "
        "or Kubernetes cluster was detected to provide it); pass --coordinator HOST:PORT, "
        "--num-processes N and --process-id I"
    )
