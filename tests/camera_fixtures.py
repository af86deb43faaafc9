"""What the event-camera data-set tests share (N-MNIST, DVS Gesture): the spec they train
and an independent NumPy binning of events in integer microseconds.

The reference is written from the documented rule, not by calling snnspec: event (x, y, p, t)
lands in frame ``(t - start) // window``, channel ``p`` (``polarity: separate``) or 0
(``merge``), pixel ``(y // f, x // f)``; events before ``start`` or at or after the end of the
``steps``-bin grid are dropped; ``binary`` clips the counts to 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPEC = """\
snnspec: 1
name: {name}
seed: 0
time: {{steps: {steps}}}
inputs: [{{name: events, shape: {shape}}}]
layers:
{layers}
train:
  data: {data}
  epochs: 1
  batch_size: 4
"""


def linear_layers(classes: int) -> str:
    """A flatten - linear - LIF - linear readout network with ``classes`` outputs."""
    return f"""\
  - {{name: flat, type: flatten}}
  - {{name: fc1, type: linear, out_features: 8}}
  - {{name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}}
  - {{name: fc2, type: linear, out_features: {classes}}}
  - {{name: out, type: simple_li, decay_constants: [0.9]}}"""


def conv_layers(classes: int) -> str:
    """A conv2d - LIF - flatten - linear readout network with ``classes`` outputs."""
    return f"""\
  - {{name: conv, type: conv2d, out_channels: 2, kernel_size: 3, stride: 2}}
  - {{name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}}
  - {{name: flat, type: flatten}}
  - {{name: fc, type: linear, out_features: {classes}}}
  - {{name: out, type: simple_li, decay_constants: [0.9]}}"""


def write_camera_spec(
    folder: Path, name: str, data: str, *, shape: str, steps: int, layers: str
) -> Path:
    """``folder/spec.yaml`` training ``layers`` on the data source ``data`` (inline YAML)."""
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(name=name, data=data, shape=shape, steps=steps, layers=layers))
    return path


def bin_reference(
    samples: list[np.ndarray],
    sensor: int,
    window: int,
    steps: int,
    polarity: str,
    f: int,
    binary: bool,
    start: int = 0,
) -> np.ndarray:
    """Frames ``(N, steps, P, ceil(sensor / f), ceil(sensor / f))`` of ``samples``, each an
    ``(n, 4)`` array of x, y, polarity and time in microseconds (see the module docstring)."""
    side = -(-sensor // f)
    channels = 2 if polarity == "separate" else 1
    out = np.zeros((len(samples), steps, channels, side, side))
    for i, sample in enumerate(samples):
        x, y, p, t = sample.T
        step = (t - start) // window
        keep = (t >= start) & (step < steps)
        c = p if polarity == "separate" else np.zeros_like(p)
        np.add.at(out[i], (step[keep], c[keep], y[keep] // f, x[keep] // f), 1)
    return np.minimum(out, 1) if binary else out
