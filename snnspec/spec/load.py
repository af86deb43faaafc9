"""The one road from a spec file to a validated, analysed :class:`ModelSpec` (no JAX).

Every command that reads a spec and :func:`snnspec.load` go through :func:`load`, so they
accept and refuse the same files with the same messages: the file is read safely
(:mod:`snnspec.spec.loader`), its ``extends:`` chain merged (:mod:`snnspec.spec.compose`),
``--set`` overrides applied (:mod:`snnspec.spec.overrides`), the schema validated, the graph
analysed (shapes, timing) and the ``train:`` section checked against the graph.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from .._errors import SpecError
from ..graph.plan import plan_graph
from .compose import load_composed
from .model import ModelSpec, spec_from_document
from .overrides import apply_overrides, blame, parse_override
from .train import check_train


def load(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    allow_paths: Sequence[str | os.PathLike[str]] = (),
) -> ModelSpec:
    """Read, validate and analyse a spec file; raise :class:`SpecError` on any problem.

    ``overrides`` are ``PATH=VALUE`` strings applied after ``extends:`` is merged and before
    validation (an error they cause names them); ``allow_paths`` are folders outside the
    project that extended files may come from.
    """
    parsed = [parse_override(text) for text in overrides]
    document = load_composed(path, allow_paths)
    data, applied = apply_overrides(document.data, parsed)
    try:
        spec = spec_from_document(dataclasses.replace(document, data=data))
        check_train(spec, plan_graph(spec))
    except SpecError as error:
        raise blame(error, applied) from None
    return spec
