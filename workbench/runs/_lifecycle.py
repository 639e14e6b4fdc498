"""Deleting and archiving standalone runs (``workbench runs delete``, ``workbench runs archive``; the Python API).

**Delete** removes a run for good: its record in the run store, its MLflow run and the runs of its steps
(MLflow's ``deleted`` lifecycle stage), its step outputs and step logs; ML Metadata keeps its context,
executions and events (lineage is history; its artifacts are marked ``DELETED``). A run that is not
finished is refused (cancel it first), unless its process died (no heartbeat for 30 s).

**Archive** hides a run from ``workbench runs ls``, ``list_runs()`` and the dashboard's Runs page
without removing anything; ``--archived`` lists it again and unarchiving shows it as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.runs._store import RunRecord, RunStore, existing_store
from workbench.tracking import Erased, erase_runs
from workbench.workspace import Workspace


@dataclass
class DeletedRun:
    """What :func:`delete_run` removed."""

    record: RunRecord
    erased: Erased


def _store(workspace: Workspace, run_id: str) -> RunStore:
    store = existing_store(workspace)
    if store is None:
        raise WorkbenchError(f"no run {run_id!r}: the workspace {workspace.home} has no run store yet")
    return store


def delete_run(workspace: Workspace, run_id: str) -> DeletedRun:
    """Delete a finished standalone run (an id or a unique prefix): see the module docstring."""
    store = _store(workspace, run_id)
    record = store.get_run(run_id)
    if not record.done and not record.stale():
        raise WorkbenchError(
            f"run {record.run_id} is {record.state}; cancel it first (workbench runs cancel {record.run_id})"
        )
    erased = erase_runs(workspace, record.experiment, [record.run_id])
    store.delete_run(record.run_id)
    return DeletedRun(record=record, erased=erased)


def archive_run(workspace: Workspace, run_id: str, archived: bool = True) -> RunRecord:
    """Hide a standalone run from the lists (``archived=False``: show it again); returns its record."""
    return _store(workspace, run_id).set_archived(run_id, archived)


__all__ = ["DeletedRun", "archive_run", "delete_run"]
