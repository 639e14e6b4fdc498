"""The read model shared by the CLI, the Python API and the dashboard. Read-only.

Example:
    >>> from workbench.workspace import Workspace
    >>> import tempfile
    >>> list_experiments(Workspace.at(tempfile.mkdtemp()))
    []
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.search import _storage as st
from workbench.search.controller import trial_state
from workbench.workspace import Workspace


@dataclass
class ExperimentRow:
    """One line of ``workbench ls``."""

    name: str
    namespace: str
    state: str
    algorithm: str
    finished: int
    max_trials: int | None
    failed: int
    pruned: int
    running: int
    best_value: float | None
    best_trial: int | None
    directions: list[str]
    objective: list[str]
    started: float | None
    ended: float | None
    spec: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def _storage(workspace: Workspace) -> optuna.storages.BaseStorage | None:
    if workspace.optuna_url.startswith("journal://") and not workspace.home.is_dir():
        return None
    return st.open_storage(workspace.optuna_url)


def _row(study: optuna.Study, workspace: Workspace) -> ExperimentRow:
    attrs = study.user_attrs
    doc = attrs.get(st.ATTR_SPEC) or {}
    spec = doc.get("spec", {})
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        s = trial_state(trial)
        counts[s] = counts.get(s, 0) + 1
    best_value = best_trial = None
    if len(study.directions) == 1 and counts.get("Succeeded"):
        best = study.best_trial
        best_value, best_trial = best.value, best.number
    objective = spec.get("objective", {})
    metrics = [o["metricName"] for o in objective.get("objectives", [])] or [objective.get("objectiveMetricName", "")]
    state = str(attrs.get(st.ATTR_STATE, "Created"))
    if state == "Running" and not st.ExperimentLock(workspace.locks, study.study_name).is_held_elsewhere():
        if workspace.optuna_url.startswith("journal://"):
            state = "Stopped"  # no live controller holds it: it crashed or was killed
    return ExperimentRow(
        name=study.study_name,
        namespace=str(attrs.get(st.ATTR_NAMESPACE, "default")),
        state=state,
        algorithm=str(spec.get("algorithm", {}).get("algorithmName", "")),
        finished=sum(counts.get(s, 0) for s in ("Succeeded", "Pruned", "Failed", "MetricsUnavailable")),
        max_trials=spec.get("maxTrialCount"),
        failed=counts.get("Failed", 0) + counts.get("MetricsUnavailable", 0),
        pruned=counts.get("Pruned", 0),
        running=counts.get("Running", 0),
        best_value=best_value,
        best_trial=best_trial,
        directions=[d.name.lower() for d in study.directions],
        objective=metrics,
        started=attrs.get(st.ATTR_STARTED),
        ended=attrs.get(st.ATTR_FINISHED) if state != "Running" else None,
        spec=doc,
        message=str(attrs.get(st.ATTR_MESSAGE, "")),
    )


def list_experiments(workspace: Workspace) -> list[ExperimentRow]:
    """Every experiment in the workspace, newest first."""
    storage = _storage(workspace)
    if storage is None:
        return []
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        rows.append(_row(study, workspace))
    rows.sort(key=lambda r: r.started or 0, reverse=True)
    return rows


def load_study(workspace: Workspace, name: str) -> optuna.Study:
    """The Optuna study of experiment ``name``; a clear error if there is none."""
    storage = _storage(workspace)
    if storage is None or not st.study_exists(storage, name):
        known = [r.name for r in list_experiments(workspace)] if storage is not None else []
        raise WorkbenchError(f"no experiment named {name!r} in {workspace.home} (experiments: {known or 'none'})")
    return optuna.load_study(study_name=name, storage=storage)


def experiment(workspace: Workspace, name: str) -> ExperimentRow:
    return _row(load_study(workspace, name), workspace)


def trials_dataframe(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, parameters, objective and other metrics, times, run id."""
    doc = study.user_attrs.get(st.ATTR_SPEC) or {}
    objective = doc.get("spec", {}).get("objective", {})
    names = [o["metricName"] for o in objective.get("objectives", [])] or [
        objective.get("objectiveMetricName", "value")
    ]
    rows = []
    for t in study.get_trials(deepcopy=False):
        started = t.user_attrs.get(st.T_STARTED) or (t.datetime_start.timestamp() if t.datetime_start else None)
        ended = t.user_attrs.get(st.T_FINISHED) or (t.datetime_complete.timestamp() if t.datetime_complete else None)
        row: dict[str, Any] = {"number": t.number, "state": trial_state(t)}
        for key, value in t.params.items():
            row[f"params.{key}"] = value
        metrics = dict(t.user_attrs.get(st.T_METRICS) or {})
        for i, name in enumerate(names):
            if t.values is not None and i < len(t.values):
                metrics.setdefault(name, t.values[i])
        for key, value in metrics.items():
            row[f"metrics.{key}"] = value
        row["started"] = pd.to_datetime(started, unit="s") if started else pd.NaT
        row["finished"] = pd.to_datetime(ended, unit="s") if ended else pd.NaT
        row["duration_s"] = (ended - started) if started and ended else None
        row["intermediate_steps"] = len(t.intermediate_values)
        row["run_id"] = t.user_attrs.get(st.T_RUN_ID, "")
        row["message"] = t.user_attrs.get(st.T_MESSAGE, "")
        rows.append(row)
    return pd.DataFrame(rows)
