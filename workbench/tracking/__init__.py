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
    ShardedRecorder,
    StepInfo,
)
from workbench.tracking._erase import Erased, erase_runs

if TYPE_CHECKING:
    from workbench.engine.cache import BaseStepCache
    from workbench.tracking._mlflow import MlflowRecorder
    from workbench.tracking._mlmd import MlmdRecorder, MlmdStepCache, lineage_of_run
    from workbench.tracking._process import ProcessRecorder
    from workbench.workspace import Workspace

_LAZY = {
    "MlflowRecorder": "workbench.tracking._mlflow",
    "MlmdRecorder": "workbench.tracking._mlmd",
    "MlmdStepCache": "workbench.tracking._mlmd",
    "lineage_of_run": "workbench.tracking._mlmd",
    "ProcessRecorder": "workbench.tracking._process",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.tracking' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def make_step_cache(workspace: Workspace) -> BaseStepCache:
    """The step cache of a workspace: its index of cache keys (``<home>/cache/``) in front of its
    lineage store (ML Metadata), which stays the truth."""
    from workbench.engine.cache import IndexedStepCache
    from workbench.tracking._mlmd import MlmdStepCache

    return IndexedStepCache(workspace.home / "cache", MlmdStepCache(workspace.mlmd_url))


def _is_remote(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in ("http", "https", "databricks")


def make_recorder(workspace: Workspace, process: bool | None = None) -> BaseRecorder:
    """The default recorder for a workspace: MLflow + ML Metadata, written off the hot path.

    Each store gets its own queue and writer thread (a store that is down delays only its
    own records). MLflow's writes, the CPU-heavy part, run in a child process
    (:class:`ProcessRecorder`, one per core, at most two, runs spread over them by
    :class:`ShardedRecorder`) when ``process`` is true — the default, unless
    ``WORKBENCH_TRACKING_PROCESS=0`` — so they use other cores instead of the controller's.

    The MLflow artifact root is the workspace's ``mlruns/`` folder, except for a remote
    tracking server (``http(s)://``), which decides its own artifact location.
    """
    import os

    from workbench.tracking._mlmd import MlmdRecorder

    if process is None:
        process = os.environ.get("WORKBENCH_TRACKING_PROCESS", "1").lower() not in ("0", "false", "no", "off")
    artifact_root = None if _is_remote(workspace.mlflow_uri) else workspace.mlflow_artifacts.as_uri()
    mlflow_args = {"tracking_uri": workspace.mlflow_uri, "artifact_root": artifact_root}
    if process:
        from workbench.tracking._process import ProcessRecorder

        # One writer process per core (at most 2, or WORKBENCH_TRACKING_WRITERS): a fast sweep spreads its runs.
        writers = int(os.environ.get("WORKBENCH_TRACKING_WRITERS") or max(1, min(2, os.cpu_count() or 1)))
        shards: list[BaseRecorder] = [
            AsyncRecorder(ProcessRecorder("workbench.tracking._mlflow:MlflowRecorder", mlflow_args))
            for _ in range(writers)
        ]
        mlflow = shards[0] if writers == 1 else ShardedRecorder(shards)
    else:
        from workbench.tracking._mlflow import MlflowRecorder

        mlflow = AsyncRecorder(MlflowRecorder(**mlflow_args))
    return CompositeRecorder([mlflow, AsyncRecorder(MlmdRecorder(workspace.mlmd_url))])

__all__ = [
    "EXPERIMENT_STATES",
    "RUN_STATES",
    "STEP_STATES",
    "AsyncRecorder",
    "BaseRecorder",
    "CompositeRecorder",
    "Erased",
    "ExperimentInfo",
    "MlflowRecorder",
    "MlmdRecorder",
    "MlmdStepCache",
    "OutputArtifact",
    "ProcessRecorder",
    "RunInfo",
    "ShardedRecorder",
    "StepInfo",
    "erase_runs",
    "lineage_of_run",
    "make_recorder",
    "make_step_cache",
]
