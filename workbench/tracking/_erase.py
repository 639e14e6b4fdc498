"""Erasing the records of runs (``workbench delete``, ``workbench runs delete``).

For each run (a trial or a standalone run): its MLflow run and the nested runs of its steps go to
MLflow's ``deleted`` lifecycle stage (``mlflow gc`` purges them for good), its step outputs
(``<artifacts>/<experiment>/<run id>``) and step logs (``runs/<run id>``) are removed, and the ML
Metadata artifacts it produced are marked ``DELETED`` (the files are gone) and its run context gets a
custom property ``deleted``. ML Metadata contexts, executions and events stay: lineage is history. An
output that a step of another run reused from the step cache stays (file and artifact): that run's
result is made of it.

Stores that do not exist yet (an embedded SQLite file never created) are left alone: nothing is created.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from workbench.workspace import Workspace


@dataclass
class Erased:
    """What :func:`erase_runs` removed."""

    mlflow_runs: int = 0
    mlmd_artifacts: int = 0
    folders: int = 0
    #: Outputs kept because a step of another run reused them from the step cache.
    kept: list[str] = field(default_factory=list)


def _sqlite_missing(url: str) -> bool:
    """True for an embedded SQLite store whose file does not exist (reading it would create it)."""
    if not url.startswith("sqlite:///"):
        return False
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return bool(path) and path != ":memory:" and not Path(path).is_file()


def delete_mlflow_runs(tracking_uri: str, experiment: str, run_ids: Collection[str]) -> int:
    """Move the MLflow runs tagged ``workbench.run_id`` in ``run_ids`` (steps included) of MLflow experiment
    ``experiment`` to the deleted lifecycle stage; the experiment itself too once it holds no active run."""
    if not run_ids or _sqlite_missing(tracking_uri):
        return 0
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    wanted = set(run_ids)
    doomed, others, token = [], 0, None
    while True:
        page = client.search_runs([exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                  page_token=token)  # fmt: skip
        for run in page:
            if run.data.tags.get("workbench.run_id") in wanted:
                doomed.append(run.info.run_id)
            else:
                others += 1
        token = page.token
        if not token:
            break
    for run_id in doomed:
        client.delete_run(run_id)
    if not others and exp.lifecycle_stage == "active" and exp.name != "Default":
        client.delete_experiment(exp.experiment_id)  # (recording into it again restores it)
    return len(doomed)


def mark_mlmd_artifacts_deleted(url: str, run_ids: Collection[str]) -> tuple[int, set[str]]:
    """Mark the ML Metadata artifacts the runs in ``run_ids`` produced ``DELETED``, and their run contexts with a
    custom property ``deleted`` (when).

    Returns how many, and the locations of the artifacts kept: those a step of another run reused
    from the step cache (an OUTPUT event of that run), whose files must stay.
    """
    if not run_ids or _sqlite_missing(url):
        return 0, set()
    from ml_metadata.proto import metadata_store_pb2 as pb

    from workbench.tracking._mlmd import open_store

    store = open_store(url)
    wanted = set(run_ids)
    produced: dict[int, pb.Artifact] = {}
    deleted_contexts = []
    for run_id in sorted(wanted):
        try:
            contexts = store.get_contexts_by_external_ids([run_id])
        except Exception:  # some versions answer NotFound for an unknown id
            contexts = []
        for ctx in contexts:
            if "deleted" not in ctx.custom_properties:  # the run's context stays, saying its run was deleted
                ctx.custom_properties["deleted"].double_value = time.time()
                deleted_contexts.append(ctx)
            for art in store.get_artifacts_by_context(ctx.id):
                if art.custom_properties["run_id"].string_value == run_id:
                    produced[art.id] = art
    kept: set[str] = set()
    if produced:
        events = store.get_events_by_artifact_ids(sorted(produced))
        outputs = [ev for ev in events if ev.type == pb.Event.OUTPUT]
        executions = {e.id: e for e in store.get_executions_by_id(sorted({ev.execution_id for ev in outputs}))}
        for ev in outputs:
            execution = executions.get(ev.execution_id)
            if execution is not None and execution.properties["run_id"].string_value not in wanted:
                art = produced.pop(ev.artifact_id, None)
                if art is not None:
                    kept.add(art.custom_properties["local_path"].string_value or art.uri)
    changed = [a for a in produced.values() if a.state != pb.Artifact.DELETED]
    for art in changed:
        art.state = pb.Artifact.DELETED
    if changed:
        store.put_artifacts(changed)
    if deleted_contexts:
        store.put_contexts(deleted_contexts)
    return len(changed), kept


def _remove(folder: Path, kept: set[str]) -> None:
    """Remove ``folder``, except the files and folders in ``kept`` (and the folders holding them)."""
    keep = [k for k in kept if k == str(folder) or k.startswith(str(folder) + "/")]
    if not keep:
        shutil.rmtree(folder)
        return
    for child in folder.iterdir():
        text = str(child)
        if text in keep:
            continue
        if any(k.startswith(text + "/") for k in keep):
            _remove(child, kept)
        elif child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def erase_runs(workspace: Workspace, experiment: str, run_ids: Collection[str]) -> Erased:
    """Erase the records of runs of ``experiment`` (see the module docstring); safe to call again."""
    erased = Erased()
    run_ids = sorted({r for r in run_ids if r})
    erased.mlflow_runs = delete_mlflow_runs(workspace.mlflow_uri, experiment, run_ids)
    erased.mlmd_artifacts, kept = mark_mlmd_artifacts_deleted(workspace.mlmd_url, run_ids)
    for run_id in run_ids:
        for folder in (workspace.artifacts / experiment / run_id, workspace.runs / run_id):
            if folder.is_dir():
                _remove(folder, kept)
                erased.folders += 1
    erased.kept = sorted(kept)
    parent = workspace.artifacts / experiment
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    return erased


__all__ = ["Erased", "delete_mlflow_runs", "erase_runs", "mark_mlmd_artifacts_deleted"]
