"""Tracking: engine and controller events written to MLflow and ML Metadata.

The engine talks to a :class:`BaseRecorder`; :func:`make_recorder` builds the default
one for a workspace: ``CompositeRecorder([AsyncRecorder(MlflowRecorder), AsyncRecorder(MlmdRecorder)])``.

Importing this package is cheap: MLflow and ML Metadata are only imported when
``MlflowRecorder``, ``MlmdRecorder``, ``lineage_of_run`` or :func:`make_recorder` is
first used.

Example:
    >>> import workbench.tracking as t
    >>> t.RUN_STATES[:3]
    ('Pending', 'Running', 'Succeeded')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workbench.tracking._async import AsyncRecorder
from workbench.tracking._base import (
    EXPERIMENT_STATES,
    RUN_STATES,
    STEP_STATES,
    BaseRecorder,
    CompositeRecorder,
    ExperimentInfo,
    OutputArtifact,
    RunInfo,
    StepInfo,
)

if TYPE_CHECKING:
    from workbench.tracking._mlflow import MlflowRecorder
    from workbench.tracking._mlmd import MlmdRecorder, MlmdStepCache, lineage_of_run
    from workbench.workspace import Workspace

_LAZY = {
    "MlflowRecorder": "workbench.tracking._mlflow",
    "MlmdRecorder": "workbench.tracking._mlmd",
    "MlmdStepCache": "workbench.tracking._mlmd",
    "lineage_of_run": "workbench.tracking._mlmd",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.tracking' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _is_remote(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in ("http", "https", "databricks")


def make_recorder(workspace: Workspace) -> BaseRecorder:
    """The default recorder for a workspace: MLflow + ML Metadata, written on a background thread.

    The MLflow artifact root is the workspace's ``mlruns/`` folder, except for a remote
    tracking server (``http(s)://``), which decides its own artifact location.
    """
    from workbench.tracking._mlflow import MlflowRecorder
    from workbench.tracking._mlmd import MlmdRecorder

    artifact_root = None if _is_remote(workspace.mlflow_uri) else workspace.mlflow_artifacts.as_uri()
    # One queue and thread per store: a store that is down delays only its own records.
    return CompositeRecorder(
        [
            AsyncRecorder(MlflowRecorder(workspace.mlflow_uri, artifact_root=artifact_root)),
            AsyncRecorder(MlmdRecorder(workspace.mlmd_url)),
        ]
    )


__all__ = [
    "EXPERIMENT_STATES",
    "RUN_STATES",
    "STEP_STATES",
    "AsyncRecorder",
    "BaseRecorder",
    "CompositeRecorder",
    "ExperimentInfo",
    "MlflowRecorder",
    "MlmdRecorder",
    "MlmdStepCache",
    "OutputArtifact",
    "RunInfo",
    "StepInfo",
    "lineage_of_run",
    "make_recorder",
]
