"""Workbench: Katib-style AutoML sweeps on a laptop or a cluster.

Light names (``component``, artifact types, ``report``) are imported eagerly because
step processes use them; the rest (``Experiment``, ``tune``, ``load``, ...) load on
first use so that a step starts fast.

Example:
    >>> import workbench
    >>> callable(workbench.component)
    True
"""

from __future__ import annotations

from typing import Any

from workbench.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    component,
    pipeline,
)
from workbench.errors import SpecError, WorkbenchError
from workbench.runtime import report

__version__ = "0.1.0"

_LAZY = {
    "BestTrial": "workbench.api",
    "Experiment": "workbench.api",
    "ExperimentHandle": "workbench.api",
    "Results": "workbench.api",
    "Parameter": "workbench.api",
    "tune": "workbench.api",
    "load": "workbench.api",
    "list_experiments": "workbench.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "Input",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "SpecError",
    "WorkbenchError",
    "component",
    "pipeline",
    "report",
    *_LAZY,
]
