"""Execution schedules: which layers run together over time, and in what order.

The semantics (SPEC section 2) are step-major: at each step every layer runs in index order.
A compiler that sees the whole graph may reorder that work as long as every layer still
reads the same values, so a model can also run *layer-major*:

1. The timing graph has an edge j -> i for every layer source j of layer i, read at the
   same step or one step late (a self loop is an edge i -> i). Its strongly connected
   components are computed (Tarjan) and visited in topological order (smallest layer index
   first among the ready ones).
2. A component that is one stateless layer without a self loop is **vectorized**: it runs over
   all time steps at once (``vmap`` over time), so a ``linear`` becomes one (T, N) x (N, M)
   matrix product per sample, and one (B*T, N) x (N, M) product once the batch is vmapped.
3. Every other component (a neuron, an Equinox stateful layer, or a cycle) is **scanned**:
   its members step together in index order, and sources outside it are fed in as whole
   time series (shifted by one step, with the resting output at t = -1, when the edge is
   delayed). Consecutive scanned components share one scan when every source they read from
   outside is already computed before that scan starts.

``stepwise`` is the one-group schedule: every layer in a single scan, exactly the
semantics' loop. ``auto`` is ``layerwise`` with one exception, and ``stepwise`` when that
leaves no layer vectorized (layer-major would only split one scan into several):

- A scan that already runs a matrix product at every step (a recurrent block holding a
  ``linear`` or ``conv``) **absorbs** a stateless layer that reads from it, instead of
  ending there, when the layer can join it (everything else it reads is computed before the
  scan starts); the layers after it can then join the same scan too. Hoisting that layer
  would buy one large product in place of T small ones but split the scan in two, which
  costs more than it saves on CPU: the scan loops twice and stores its residuals twice. Between
  scans of neurons alone (no product inside), hoisting wins and is kept. (Measured on the
  benchmark graphs, see ``benchmarks/``.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from .order import layer_successors, topological_components
from .plan import GraphPlan

ScheduleName = Literal["auto", "stepwise", "layerwise"]
SCHEDULES: tuple[str, ...] = ("auto", "stepwise", "layerwise")


@dataclass(frozen=True)
class Group:
    """Layers that run together.

    ``members`` are in index order. A ``vectorized`` group is one stateless layer applied to
    all steps at once; otherwise the members are scanned step by step. ``emits`` are the
    members whose output series is read after the group (by later groups, or as a result).
    """

    members: tuple[int, ...]
    vectorized: bool
    emits: tuple[int, ...]


@dataclass(frozen=True)
class Schedule:
    """The resolved schedule (``stepwise`` or ``layerwise``) and its groups in run order."""

    name: str
    groups: tuple[Group, ...]

    @property
    def vectorized_layers(self) -> tuple[int, ...]:
        """Layers that run over all steps at once."""
        return tuple(g.members[0] for g in self.groups if g.vectorized)


def _topological_components(plan: GraphPlan) -> list[tuple[tuple[int, ...], bool]]:
    """Components in topological order, each with whether it is on a cycle."""
    successors = layer_successors(plan)
    return [
        (members, members[0] in successors[members[0]] or len(members) > 1)
        for members in topological_components(successors)
    ]


def _with_emits(plan: GraphPlan, groups: list[tuple[tuple[int, ...], bool]]) -> tuple[Group, ...]:
    finals = set(plan.final_layer_ids)
    result = []
    for members, vectorized in groups:
        inside = set(members)
        read_outside = {
            s.index
            for i, sources in enumerate(plan.sources)
            if i not in inside
            for s in sources
            if s.kind == "layer"
        }
        emits = tuple(i for i in members if i in finals or i in read_outside)
        result.append(Group(members, vectorized, emits))
    return tuple(result)


@functools.cache
def make_schedule(
    plan: GraphPlan,
    stateless: tuple[bool, ...],
    name: str,
    products: tuple[bool, ...] | None = None,
) -> Schedule:
    """The groups of ``plan`` under schedule ``name``.

    ``stateless[i]``: layer i keeps no state; ``products[i]``: layer i is a stateless layer
    that runs a matrix product (``auto`` lets scans holding one absorb their readers; all
    False when not given). See the module docstring for the rule. Raises ValueError on an
    unknown name.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    n = len(plan.sources)
    stepwise = Schedule("stepwise", _with_emits(plan, [(tuple(range(n)), False)]))
    if name == "stepwise":
        return stepwise
    products = products or (False,) * n
    groups: list[tuple[tuple[int, ...], bool]] = []
    current: list[int] | None = None
    finished: set[int] = set()
    before_current: set[int] = set()
    for members, cyclic in _topological_components(plan):
        outside = {
            s.index
            for i in members
            for s in plan.sources[i]
            if s.kind == "layer" and s.index not in members
        }
        scanning = set(current or ())
        joins_current = current is not None and outside <= before_current | scanning
        absorbed = (
            name == "auto"
            and joins_current
            and bool(outside & scanning)
            and any(products[i] for i in scanning)
        )
        if not cyclic and stateless[members[0]] and not absorbed:
            if current is not None:
                groups.append((tuple(sorted(current)), False))
                current = None
            groups.append((members, True))
            finished.update(members)
            continue
        if current is not None and joins_current:
            current.extend(members)
        else:
            if current is not None:
                groups.append((tuple(sorted(current)), False))
            before_current = set(finished)
            current = list(members)
        finished.update(members)
    if current is not None:
        groups.append((tuple(sorted(current)), False))
    layerwise = Schedule("layerwise", _with_emits(plan, groups))
    if name == "auto" and not layerwise.vectorized_layers:
        return stepwise
    return layerwise
