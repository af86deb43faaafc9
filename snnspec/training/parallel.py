"""Data-parallel training: where a run's arrays live and which rows each process reads.

``snnspec train --devices N`` shards every batch over a 1-D device mesh
(:func:`snnspec.model.model.device_mesh`, the one ``snnspec run --devices`` uses) and
replicates the parameters and the optimizer state; the one jitted step then runs on global
arrays and the compiler reduces the gradients across devices. Under ``--distributed`` the mesh
spans the devices of every process, in process order, so process p's devices hold the p-th
contiguous block of each batch: process p reads only those rows (:meth:`Placement.rows`), by
index, and never the whole batch or the whole data set.

Without a mesh (no ``--devices``) nothing is placed: the arrays go to the default device as
they always did, so a run's numbers do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from jaxtyping import PyTree

if TYPE_CHECKING:
    import jax

    from ..spec.model import ModelSpec


@dataclass(frozen=True)
class Placement:
    """A run's device mesh (None: one device, nothing placed) and this process's place in it."""

    mesh: jax.sharding.Mesh | None = None
    process: int = 0
    processes: int = 1

    @classmethod
    def of(cls, spec: ModelSpec, devices: str | int | None) -> Placement:
        """The placement of ``spec``'s training over ``devices`` (a count or ``"all"``).

        Each device runs ``batch_size / (accumulate_steps N)`` samples at a time; a batch
        that does not divide so is an error located at ``train.batch_size``.
        """
        import jax

        from .._errors import InputError
        from ..model.model import device_mesh

        mesh = device_mesh(devices)
        if mesh is None:
            return cls()
        train = spec.train
        if train is None:  # the loop checks this first
            raise spec.error((), "the spec has no `train:` section")
        micro = train.batch_size // train.accumulate_steps
        if micro % mesh.size:
            split = (
                f" in micro-batches of {micro} (accumulate_steps {train.accumulate_steps})"
                if train.accumulate_steps > 1
                else ""
            )
            raise spec.error(
                ("train", "batch_size"),
                f"batch_size {train.batch_size}{split} does not divide over {mesh.size} "
                f"devices; use a batch_size that is a multiple of "
                f"{mesh.size * train.accumulate_steps} or fewer devices",
                InputError,
            )
        return cls(mesh, jax.process_index(), jax.process_count())

    @property
    def primary(self) -> bool:
        """Whether this process writes the run folder (process 0)."""
        return self.process == 0

    @property
    def devices(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def rows(self, index: np.ndarray) -> np.ndarray:
        """This process's share of one batch's sample ``index``: its contiguous block."""
        share = len(index) // self.processes
        return index[self.process * share : (self.process + 1) * share]

    def batch(self, *local: np.ndarray) -> tuple[Any, ...]:
        """Global arrays sharded along the batch axis over the mesh, from this process's rows
        (as :meth:`rows` chose them); the arrays themselves without a mesh."""
        if self.mesh is None:
            return local
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        from ..model.model import DATA_AXIS

        sharding = NamedSharding(self.mesh, PartitionSpec(DATA_AXIS))
        return tuple(
            jax.make_array_from_process_local_data(
                sharding, x, (x.shape[0] * self.processes, *x.shape[1:])
            )
            for x in local
        )

    def replicate(self, tree: PyTree) -> PyTree:
        """``tree``'s arrays replicated on every device of the mesh; ``tree`` without one."""
        if self.mesh is None:
            return tree
        from ..model.model import place

        return place(tree, self.mesh, batch=False)

    def barrier(self, name: str) -> None:
        """Wait until every process gets here (e.g. process 0 has written a file the others
        read next); nothing with one process."""
        if self.processes > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(name)

    def describe(self, backend: str) -> str:
        """``cpu``, or ``4 cpu devices (2 processes)``: what the start line says."""
        if self.mesh is None:
            return backend
        where = f"{self.mesh.size} {backend} devices"
        return where + (f" ({self.processes} processes)" if self.processes > 1 else "")
