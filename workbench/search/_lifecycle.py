"""Deleting and archiving experiments (``workbench delete``, ``workbench archive``; the Python API).

**Delete** removes an experiment for good: its Optuna study, the MLflow runs of its trials (MLflow's
``deleted`` lifecycle stage), their step outputs and step logs; ML Metadata keeps its contexts,
executions and events (lineage is history; the artifacts are marked ``DELETED``). An experiment
whose controller is alive (a lock held on this machine, or a fresh heartbeat in a shared store) is
refused: stop it first. The study goes last, so a delete cut short can simply be run again.

**Archive** hides an experiment from the lists (``workbench ls``, ``list_experiments()``, the
dashboard) without removing anything: a study attribute ``workbench.archived`` holds when it was
archived; :func:`unarchive_experiment` shows it again. ``ls --archived`` lists archived ones too.

Experiments are named by (namespace, name): a name found in another namespace is not this one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from workbench.errors import WorkbenchError
from workbench.search import _storage as st
from workbench.tracking import Erased, erase_runs
from workbench.workspace import Workspace


@dataclass
class DeletedExperiment:
    """What :func:`delete_experiment` removed."""

    name: str
    namespace: str
    trials: int
    erased: Erased


def is_archived(user_attrs: dict[str, object]) -> bool:
    """Whether a study's user attrs mark it archived."""
    return bool(user_attrs.get(st.ATTR_ARCHIVED))


def _storage(workspace: Workspace) -> optuna.storages.BaseStorage | None:
    url = workspace.optuna_url
    if url.startswith("journal://") and not Path(url[len("journal://") :]).is_file():
        return None  # an embedded workspace without experiments: nothing to open (nor to create)
    return st.open_storage(url)


def _find(workspace: Workspace, name: str, namespace: str) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = _storage(workspace)
    if storage is None or not st.study_exists(storage, name):
        raise WorkbenchError(f"no experiment {name!r} in namespace {namespace!r} of {workspace.home}")
    study = optuna.load_study(study_name=name, storage=storage)
    found = str(study.user_attrs.get(st.ATTR_NAMESPACE, "default"))
    if found != namespace:
        raise WorkbenchError(
            f"no experiment {name!r} in namespace {namespace!r} (there is one in namespace {found!r}: add -n {found})"
        )
    return study, storage


def find_experiment(workspace: Workspace, name: str, namespace: str = "default") -> optuna.Study:
    """The study of experiment (``namespace``, ``name``); a ``WorkbenchError`` saying where to look if none."""
    return _find(workspace, name, namespace)[0]


def live_controllers(workspace: Workspace, study: optuna.Study, local: bool = True) -> list[str]:
    """Who drives the experiment now: a controller holding its lock on this machine (unless ``local`` is false:
    the caller holds the lock), and (shared store) controllers whose heartbeat is fresh. Empty when none is alive."""
    live = []
    if local and st.ExperimentLock(workspace.locks, study.study_name).is_held_elsewhere():
        live.append("a controller on this machine")
    if st.is_shared(workspace.optuna_url):
        prefix = st.ATTR_CONTROLLER_PREFIX
        entries = {k[len(prefix) :]: v for k, v in study.user_attrs.items() if k.startswith(prefix)}
        if entries:
            claim = st.StudyClaim(workspace.optuna_url, study.study_name)
            try:
                now = claim.now()
            finally:
                claim.close()
            live += [f"controller {cid}" for cid, entry in sorted(entries.items()) if st.controller_is_live(entry, now)]
    return live


def ensure_stopped(workspace: Workspace, study: optuna.Study, local: bool = True) -> None:
    """A ``WorkbenchError`` naming the live controllers of the experiment, if it has any."""
    live = live_controllers(workspace, study, local)
    if live:
        name = study.study_name
        raise WorkbenchError(
            f"experiment {name!r} is running ({', '.join(live)}); stop it first (workbench stop {name})"
        )


def delete_experiment(workspace: Workspace, name: str, namespace: str = "default") -> DeletedExperiment:
    """Delete experiment (``namespace``, ``name``): see the module docstring. Refused while it runs."""
    study, storage = _find(workspace, name, namespace)
    lock = st.ExperimentLock(workspace.locks, name)
    try:
        lock.acquire()  # a controller starting now waits for the delete (or finds it done)
    except WorkbenchError:
        raise WorkbenchError(f"experiment {name!r} is running; stop it first (workbench stop {name})") from None
    try:
        ensure_stopped(workspace, study, local=False)  # (holding the lock: no controller of this machine runs it)
        trials = study.get_trials(deepcopy=False)
        run_ids = {str(t.user_attrs[st.T_RUN_ID]) for t in trials if t.user_attrs.get(st.T_RUN_ID)}
        erased = erase_runs(workspace, name, run_ids)
        optuna.delete_study(study_name=name, storage=storage)
    finally:
        lock.release()
    return DeletedExperiment(name=name, namespace=namespace, trials=len(trials), erased=erased)


def archive_experiment(workspace: Workspace, name: str, namespace: str = "default", archived: bool = True) -> bool:
    """Hide experiment (``namespace``, ``name``) from the lists (``archived=False``: show it again).

    Returns whether anything changed (archiving an archived experiment changes nothing).
    """
    study = find_experiment(workspace, name, namespace)
    if is_archived(study.user_attrs) == archived:
        return False
    study.set_user_attr(st.ATTR_ARCHIVED, time.time() if archived else 0)
    return True


__all__ = [
    "DeletedExperiment",
    "archive_experiment",
    "delete_experiment",
    "ensure_stopped",
    "find_experiment",
    "is_archived",
    "live_controllers",
]
