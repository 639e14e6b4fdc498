"""The read model shared by the CLI, the Python API and the dashboard. Read-only.

Example:
    >>> from workbench.workspace import Workspace
    >>> import tempfile
    >>> list_experiments(Workspace.at(tempfile.mkdtemp()))
    []
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.search import _storage as st
from workbench.search._warmstart import ROW_KEY_ATTR
from workbench.search.controller import trial_state
from workbench.workspace import Workspace

#: The line the engine writes into a step's log when the step fails.
_FAILED_LINE = re.compile(r"^\[workbench\] step \S+ failed")


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
    #: Size of the Pareto front (multi-objective experiments).
    front: int = 0
    #: Finished trials imported from ``warmStart.csv`` (not counted in ``finished``, ``failed``, ``pruned``).
    imported: int = 0

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def _storage(workspace: Workspace) -> optuna.storages.BaseStorage | None:
    """The Optuna storage, or ``None`` for an embedded workspace with no journal yet (nothing is created)."""
    url = workspace.optuna_url
    if url.startswith("journal://") and not Path(url[len("journal://") :]).is_file():
        return None
    return st.open_storage(url)


def _row(study: optuna.Study, workspace: Workspace) -> ExperimentRow:
    attrs = study.user_attrs
    doc = attrs.get(st.ATTR_SPEC) or {}
    spec = doc.get("spec", {})
    counts: dict[str, int] = {}
    imported = 0
    for trial in study.get_trials(deepcopy=False):
        if ROW_KEY_ATTR in trial.user_attrs:  # a warmStart.csv row: known before, never run here
            imported += 1
            continue
        s = trial_state(trial)
        counts[s] = counts.get(s, 0) + 1
    best_value = best_trial = None
    front = 0
    if len(study.directions) == 1 and _has_complete(study):
        best = study.best_trial
        best_value, best_trial = best.value, best.number
    elif _has_complete(study):
        front = len(study.best_trials)
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
        front=front,
        imported=imported,
    )


def _has_complete(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


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


def find_study(workspace: Workspace, name: str) -> optuna.Study | None:
    """The Optuna study of experiment ``name``, or ``None`` if there is none (nothing is created)."""
    storage = _storage(workspace)
    if storage is None or not st.study_exists(storage, name):
        return None
    return optuna.load_study(study_name=name, storage=storage)


def load_study(workspace: Workspace, name: str) -> optuna.Study:
    """The Optuna study of experiment ``name``; a clear error if there is none."""
    study = find_study(workspace, name)
    if study is None:
        known = [r.name for r in list_experiments(workspace)]
        listed = ", ".join(known) if known else "none"
        raise WorkbenchError(f"no experiment named {name!r} in {workspace.home} (experiments: {listed})")
    return study


def experiment(workspace: Workspace, name: str) -> ExperimentRow:
    return _row(load_study(workspace, name), workspace)


#: Columns after the parameters and metrics, in this order.
TAIL_COLUMNS = ["started", "finished", "duration_s", "intermediate_steps", "run_id", "message", "imported"]


def trials_dataframe(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, in trial order.

    Columns: ``number``, ``state``, ``params.<name>`` for every parameter of the spec,
    ``metrics.<name>`` for every objective and additional metric (objectives first; NaN
    where a trial has no value), then ``started``, ``finished``, ``duration_s``,
    ``intermediate_steps``, ``run_id``, ``message`` (why a trial failed or was killed) and
    ``imported`` (True for results imported from ``warmStart.csv``, which did not run here).
    The columns are the same for an experiment without trials.
    """
    doc = study.user_attrs.get(st.ATTR_SPEC) or {}
    spec = doc.get("spec", {})
    objective = spec.get("objective", {})
    names = [o["metricName"] for o in objective.get("objectives", [])] or [
        objective.get("objectiveMetricName", "value")
    ]
    param_names = [str(p.get("name")) for p in spec.get("parameters", []) if isinstance(p, dict)]
    metric_names = names + [m for m in objective.get("additionalMetricNames", []) or [] if m not in names]
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
        row["duration_s"] = (ended - started) if started and ended else float("nan")
        row["intermediate_steps"] = len(t.intermediate_values)
        row["run_id"] = t.user_attrs.get(st.T_RUN_ID, "")
        row["message"] = t.user_attrs.get(st.T_MESSAGE, "")
        row["imported"] = ROW_KEY_ATTR in t.user_attrs
        if row["imported"]:  # known from a CSV file: it did not run here
            row["started"] = row["finished"] = pd.NaT
            row["duration_s"] = float("nan")
        rows.append(row)
    seen = {key for row in rows for key in row}
    params = [f"params.{p}" for p in param_names]
    params += sorted(k for k in seen if k.startswith("params.") and k not in params)
    metrics_cols = [f"metrics.{m}" for m in metric_names]
    metrics_cols += sorted(k for k in seen if k.startswith("metrics.") and k not in metrics_cols)
    columns = ["number", "state", *params, *metrics_cols, *TAIL_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    if not rows:
        frame = frame.astype({"number": "int64", "state": "object", "duration_s": "float64"})
    return frame.sort_values("number", kind="stable").reset_index(drop=True)


def step_logs(workspace: Workspace, run_id: str) -> dict[str, Path]:
    """The log file of every step of a run (trial), by step name."""
    folder = workspace.runs / run_id
    if not run_id or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.log"))}


def failure_detail(workspace: Workspace, run_id: str) -> tuple[str, Path | None]:
    """Why a run failed, from its logs: the last line a failed step printed (e.g. the exception) and that log.

    ``("", None)`` when no step log records a failure.
    """
    for path in step_logs(workspace, run_id).values():
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        failed_at = next((i for i in range(len(lines) - 1, -1, -1) if _FAILED_LINE.match(lines[i])), None)
        if failed_at is None:
            continue
        own = [line.strip() for line in lines[:failed_at] if line.strip() and not line.startswith("[workbench]")]
        return (own[-1] if own else ""), path
    return "", None
