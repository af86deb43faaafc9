"""Strongly connected components of a graph of numbered nodes, in topological order.

One implementation for the schedule (layers) and NIR import and export (nodes).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import GraphPlan


def layer_successors(plan: GraphPlan) -> list[list[int]]:
    """The timing graph: j -> i for every layer source j of layer i (same step or delayed)."""
    successors: list[list[int]] = [[] for _ in plan.sources]
    for i, sources in enumerate(plan.sources):
        for s in sources:
            if s.kind == "layer":
                successors[s.index].append(i)
    return successors


def strongly_connected_components(successors: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Tarjan's algorithm, iterative (graphs may have thousands of layers).

    Returns the components (members sorted) in reverse topological order of ``successors``.
    """
    n = len(successors)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    result: list[tuple[int, ...]] = []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, position = work[-1]
            if position < len(successors[node]):
                work[-1] = (node, position + 1)
                nxt = successors[node][position]
                if index[nxt] < 0:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                result.append(tuple(sorted(component)))
    return result


def topological_components(successors: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """The components (members sorted) in topological order of ``successors``; among the
    components that are ready, the one with the smallest first member comes first."""
    components = strongly_connected_components(successors)
    owner = [0] * len(successors)
    for c, members in enumerate(components):
        for i in members:
            owner[i] = c
    followers: list[set[int]] = [set() for _ in components]
    for j, targets in enumerate(successors):
        followers[owner[j]].update(owner[i] for i in targets if owner[i] != owner[j])
    waiting = [0] * len(components)
    for after in followers:
        for f in after:
            waiting[f] += 1
    ready = [(components[c][0], c) for c in range(len(components)) if waiting[c] == 0]
    heapq.heapify(ready)
    ordered: list[tuple[int, ...]] = []
    while ready:
        _, c = heapq.heappop(ready)
        ordered.append(components[c])
        for f in followers[c]:
            waiting[f] -= 1
            if waiting[f] == 0:
                heapq.heappush(ready, (components[f][0], f))
    return ordered
