"""Standalone pipeline runs (not trials of an experiment): the run store, executing and rerunning runs.

A run belongs to an experiment in the Kubeflow Pipelines sense (a folder of runs, default
``Default``) and to a namespace (default ``default``). Its record — the resolved pipeline, its
parameters, its components' digests, its state, times and step logs — lives in the run store
(``workbench.runs._store``), next to the schedules of recurring runs (``workbench.schedule``).

Example:
    >>> from workbench.runs import RunStore, parse_params
    >>> parse_params(["lr=0.1", "name=a=b"])
    {'lr': '0.1', 'name': 'a=b'}
"""

from __future__ import annotations

from workbench.runs._execute import (
    RunHandle,
    check_digests,
    component_digests,
    execute_run,
    load_pipeline_ref,
    parse_params,
    pipeline_of,
    prepare_rerun,
    prepare_run,
    resolve_parameters,
    start_run,
)
from workbench.runs._lifecycle import DeletedRun, archive_run, delete_run
from workbench.runs._store import (
    FINAL_RUN_STATES,
    RUN_STATES,
    Occurrence,
    RunRecord,
    RunStore,
    ScheduleRecord,
    existing_store,
    store_of,
)

__all__ = [
    "DeletedRun",
    "FINAL_RUN_STATES",
    "RUN_STATES",
    "Occurrence",
    "RunHandle",
    "RunRecord",
    "RunStore",
    "ScheduleRecord",
    "archive_run",
    "check_digests",
    "component_digests",
    "delete_run",
    "load_pipeline_ref",
    "execute_run",
    "existing_store",
    "parse_params",
    "pipeline_of",
    "prepare_rerun",
    "prepare_run",
    "resolve_parameters",
    "start_run",
    "store_of",
]
