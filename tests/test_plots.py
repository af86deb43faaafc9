"""Pictures: run --plot, training curves, graph diagrams, and the missing-matplotlib message."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from snnspec._errors import SpecError
from snnspec.graph.plan import plan_graph
from snnspec.spec.load import load
from snnspec.training.plots import graph_diagram, plot_training

ROOT = Path(__file__).resolve().parent.parent
FIVE = ROOT / "configs" / "snnax_five_layer.yaml"
PNG = b"\x89PNG\r\n\x1a\n"


def assert_drawn(path: Path) -> None:
    """A PNG whose pixels are not all one colour."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    pixels = imread(path)
    assert pixels.shape[0] > 100
    assert pixels.shape[1] > 100
    assert float(np.std(pixels[..., :3])) > 0.01


def test_run_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "run.png"
    code, out, err = run_cli(
        "run", FIVE, "--steps", "15", "--batch", "2", "--plot", image, capsys=capsys
    )
    assert (code, err) == (0, "")
    assert f"wrote {image}" in out
    assert_drawn(image)


def test_training_curves(tmp_path: Path) -> None:
    records = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.2 / e,
            "train_accuracy": 0.2 * e,
            "val_accuracy": 0.15 * e,
        }
        for e in range(1, 5)
    ]
    plot_training(tmp_path / "curves.png", records, selected=3)
    assert_drawn(tmp_path / "curves.png")


def test_missing_matplotlib_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SpecError, match=r"install 'snnspec\[plot\]'"):
        plot_training(tmp_path / "c.png", [{"epoch": 1}])
    code, _, err = run_cli("run", FIVE, "--steps", "5", "--plot", tmp_path / "r.png", capsys=capsys)
    assert code == 1
    assert "pip install 'snnspec[plot]'" in err
    assert not (tmp_path / "r.png").exists()


def test_bad_image_type(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"unsupported image type '\.gif'"):
        plot_training(tmp_path / "c.gif", [{"epoch": 1, "train_loss": 1.0}])


def test_mermaid_marks_back_edges_delayed() -> None:
    text = graph_diagram(plan_graph(load(FIVE)), "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    # fc_mid (l2) -> lif_a (l1) is a back edge, fc_mix (l3) -> itself a self loop.
    assert '  l2 -.->|"delayed (t-1)"| l1' in lines
    assert '  l3 -.->|"delayed (t-1)"| l3' in lines
    assert '  l0 -->|"same step"| l1' in lines
    assert '  in1 -->|"same step"| l3' in lines
    delayed = [line for line in lines if "delayed" in line]
    assert len(delayed) == 2
    assert "  class l4 final" in lines


def test_dot_format_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("graph", FIVE, "--format", "dot", capsys=capsys)
    assert (code, err) == (0, "")
    assert out.startswith('digraph "snnax-five-layer" {')
    assert '  l2 -> l1 [label="delayed (t-1)", style=dashed, constraint=false];' in out
    assert '  l1 -> l2 [label="same step"];' in out
    assert out.count("delayed") == 2
    code, out, _ = run_cli(
        "graph", ROOT / "configs" / "pipelined.toml", "-o", tmp_path / "g.mmd", capsys=capsys
    )
    assert code == 0
    text = (tmp_path / "g.mmd").read_text()
    same_step = [line for line in text.splitlines() if "same step" in line]
    assert same_step
    assert all(line.startswith("  in") for line in same_step)  # only external inputs
    code, _, err = run_cli("graph", FIVE, "--format", "svg", capsys=capsys)
    assert code == 2


def test_graph_does_not_import_jax() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from snnspec.cli import main\n"
        f"sys.argv = ['snnspec', 'graph', {str(FIVE)!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as stop:\n    assert stop.code in (0, None), stop.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'equinox')]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
