"""The one cached read model of the dashboard: ``workbench.readmodel`` wrapped in Streamlit caches.

Pages get every DataFrame and figure from here. Each cached function is keyed by the
workspace and by the stamp (size and mtime) of the stores it reads, so a widget change
re-runs a page without reading any store again, and a store that changes (a running
experiment) is read again on the next rerun — incrementally, for the Optuna journal.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import figures
from workbench import readmodel as rm
from workbench.workspace import Workspace

#: Set by ``workbench ui``: the workspace folder, and whether launching experiments is allowed.
HOME_ENV = "WORKBENCH_HOME"
LAUNCH_ENV = "WORKBENCH_UI_ALLOW_LAUNCH"
#: Trial tables longer than this are shown page by page.
PAGE_SIZE = 500


def home() -> str:
    return str(Path(os.environ.get(HOME_ENV, ".workbench")).resolve())


def allow_launch() -> bool:
    return os.environ.get(LAUNCH_ENV, "") in ("1", "true", "yes")


def workspace() -> Workspace:
    return _workspace(home())


@st.cache_resource(show_spinner=False)
def _workspace(h: str) -> Workspace:
    return Workspace.at(h)


@st.cache_resource(show_spinner=False)
def _model(h: str) -> rm.ReadModel:
    return rm.ReadModel(_workspace(h))


@st.cache_resource(show_spinner=False)
def _stores(h: str) -> rm.Stores:
    stores = rm.Stores(_workspace(h))
    # MLflow's client takes seconds to import and start: warm it up before a Trial page needs it.
    threading.Thread(target=_warm, args=(stores,), daemon=True, name="mlflow-warmup").start()
    return stores


def _warm(stores: rm.Stores) -> None:
    """Pay the one-time costs of this process in the background: imports (Optuna's importance, MLflow) and
    plotly's first figure, so that the first Importance view or Trial page does not wait for them.

    The thread runs at the lowest CPU priority (Linux schedules threads one by one), so that it does not slow
    down the pages being served meanwhile."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass
    try:
        import optuna.importance  # noqa: F401  (imports scikit-learn: seconds)

        figures.history(
            pd.DataFrame({"number": [0], "state": ["Succeeded"], "metrics.v": [1.0]}), "metrics.v", "minimize"
        ).to_json()
        stores.mlflow()
    except Exception:  # the page that needs it will show the error
        pass


def stores() -> rm.Stores:
    return _stores(home())


def warm_up() -> None:
    """Start the background warm-up (once per process and workspace)."""
    _stores(home())


def stamp(which: tuple[str, ...] = ("optuna",)) -> tuple[Any, ...]:
    return rm.store_stamp(workspace(), which)


# ------------------------------------------------------------------ experiments and trials


@st.cache_data(show_spinner="Reading the experiments…", max_entries=4)
def _experiments(h: str, stamp: Any, bucket: int) -> pd.DataFrame:
    return _model(h).experiments()


def experiments() -> pd.DataFrame:
    """Every experiment (newest first). Lock-based states (a crashed controller) are re-checked every 5 s."""
    return _experiments(home(), stamp(), int(time.time() // 5))


@st.cache_data(show_spinner="Reading the trials…", max_entries=8)
def _experiment(h: str, name: str, stamp: Any) -> rm.ExperimentData:
    found = _model(h).experiment(name)
    _freeze_once()
    return found


_frozen = threading.Event()


def _freeze_once() -> None:
    """After the first experiment is read, move every object alive (modules, the journal's records) out of the
    garbage collector's reach (``gc.freeze``). Streamlit runs a full collection after every script run; with the
    records of 50,000 trials alive it scanned them all on each widget change (0.1-0.2 s). Objects made later are
    collected as usual."""
    if not _frozen.is_set():
        _frozen.set()
        gc.collect()
        gc.freeze()


def experiment(name: str) -> rm.ExperimentData:
    return _experiment(home(), name, stamp())


@st.cache_data(show_spinner="Computing parameter importance…", max_entries=16)
def _importance(h: str, name: str, stamp: Any, method: str, objective: int) -> pd.DataFrame:
    return rm.param_importance(_experiment(h, name, stamp), method=method, objective=objective)


def importance(name: str, method: str = "ped-anova", objective: int = 0) -> pd.DataFrame:
    return _importance(home(), name, stamp(), method, objective)


@st.cache_data(show_spinner=False, max_entries=16)
def _what_matters(h: str, name: str, stamp: Any, objective: int) -> list[rm.Finding]:
    return rm.what_matters(_experiment(h, name, stamp), _importance(h, name, stamp, "ped-anova", objective), objective)


def what_matters(name: str, objective: int = 0) -> list[rm.Finding]:
    """The top parameters by importance (PED-ANOVA) with the range of the best trials, one sentence each."""
    return _what_matters(home(), name, stamp(), objective)


@st.cache_data(show_spinner=False, max_entries=64)
def _filtered(h: str, name: str, stamp: Any, states: tuple[str, ...], expression: str) -> pd.DataFrame:
    trials = _experiment(h, name, stamp).trials
    if states:
        trials = trials[trials["state"].isin(states)]
    return rm.filter_trials(trials, expression) if expression.strip() else trials


def filtered_trials(name: str, states: tuple[str, ...], expression: str) -> pd.DataFrame:
    """The trial table filtered by states and an expression (raises ``ExpressionError``)."""
    return _filtered(home(), name, stamp(), tuple(states), expression)


def pareto(name: str) -> pd.Series:
    data = experiment(name)
    return _pareto(home(), name, stamp(), tuple(data.objectives))


@st.cache_data(show_spinner=False, max_entries=8)
def _pareto(h: str, name: str, stamp: Any, objectives: tuple[str, ...]) -> pd.Series:
    data = _experiment(h, name, stamp)
    t = data.trials
    cols = [f"metrics.{o}" for o in objectives]
    ok = t[(t["state"] == "Succeeded")]
    if not len(ok) or any(c not in t.columns for c in cols):
        return pd.Series(False, index=t.index)
    mask = rm.pareto_mask(ok[cols].to_numpy(dtype=float), data.directions)
    return pd.Series(mask, index=ok.index).reindex(t.index, fill_value=False)


# ------------------------------------------------------------------ figures (cached per data stamp and options)


# A resource cache, not a data cache: a rerun gets the same figure object back instead of unpickling a copy
# (tens of ms per figure of 10,000 points). Pages pass figures to ``st.plotly_chart`` and never change them.
@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(h: str, name: str, stamp: Any, kind: str, options: tuple[tuple[str, Any], ...]) -> go.Figure:
    data = _experiment(h, name, stamp)
    opts = dict(options)
    t = data.trials
    index = opts.pop("objective", 0)  # which objective of a multi-objective experiment
    objective = data.objective_column(index)
    direction = data.directions[index] if index < len(data.directions) else "minimize"
    logs = [p for p in data.params if data.log_scale(p)]
    if kind == "history":
        return figures.history(t, objective, direction, **opts)
    if kind == "parallel":
        return figures.parallel_coordinates(
            t,
            opts["params"],
            objective,
            direction,
            log_params=logs,
            ranges=dict(opts.get("ranges", ())),
            choices=dict(opts.get("choices", ())),
            max_lines=opts.get("max_lines", figures.MAX_LINES),
        )
    if kind == "slice":
        return figures.slice_plot(
            t,
            opts["params"],
            objective,
            log_params=logs,
            direction=direction,
            max_points=opts.get("max_points", figures.MAX_POINTS),
        )
    if kind == "contour":
        x, y = opts["x"], opts["y"]
        return figures.contour(t, x, y, objective, direction, log_x=x in logs, log_y=y in logs)
    if kind == "intermediate":
        return figures.intermediate_values(
            data.intermediate,
            states=opts.get("states"),
            highlight=opts.get("highlight", ()),
            y_label=data.objectives[0],
            max_trials=opts.get("max_lines", figures.MAX_LINES),
        )
    if kind == "edf":
        ok = t[t["state"] == "Succeeded"]
        return figures.edf({name: ok[objective]} if objective in ok else {}, objective=objective[len("metrics.") :])
    if kind == "timeline":
        return figures.timeline(t, max_points=opts.get("max_points", figures.MAX_POINTS))
    if kind == "pareto":
        return figures.pareto_front(
            t, data.objectives, data.directions, _pareto(h, name, stamp, tuple(data.objectives))
        )
    if kind == "importance":
        imp = _importance(h, name, stamp, opts.get("method", "ped-anova"), index)
        return figures.importance(imp, imp.attrs.get("note", ""), objective=objective[len("metrics.") :])
    raise ValueError(f"unknown figure {kind!r}")


def figure(name: str, kind: str, **options: Any) -> go.Figure:
    """A figure of the Experiment page (cached: widget changes that do not change its options cost nothing)."""
    frozen = tuple(sorted((k, _freeze(v)) for k, v in options.items()))
    return _figure(home(), name, stamp(), kind, frozen)


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


# ------------------------------------------------------------------ runs, steps, artifacts


@st.cache_data(show_spinner="Reading the steps…", max_entries=64)
def _run_steps(h: str, run_id: str, stamp: Any) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    return rm.run_steps(_stores(h), run_id)


def run_steps(run_id: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    return _run_steps(home(), run_id, stamp(("mlmd",)))


@st.cache_data(show_spinner="Reading MLflow…", max_entries=64)
def _mlflow_run(h: str, experiment: str, run_id: str, stamp: Any) -> rm.MlflowRun:
    return rm.mlflow_run(_stores(h), experiment, run_id)


def mlflow_run(experiment: str, run_id: str) -> rm.MlflowRun:
    return _mlflow_run(home(), experiment, run_id, stamp(("mlflow",)))


@st.cache_data(show_spinner="Reading metric histories…", max_entries=128)
def _history(h: str, mlflow_run_id: str, stamp: Any) -> pd.DataFrame:
    return rm.metric_history(_stores(h), mlflow_run_id)


def metric_history(mlflow_run_id: str) -> pd.DataFrame:
    return _history(home(), mlflow_run_id, stamp(("mlflow",)))


@st.cache_data(show_spinner=False, max_entries=64)
def _preview(h: str, uri: str, artifact_type: str, member: str | None, mtime: float) -> rm.Preview:
    return rm.preview(_workspace(h).artifacts, uri, artifact_type, member)


def preview(uri: str, artifact_type: str = "", member: str | None = None) -> rm.Preview:
    """A preview of an artifact file; raises ``ArtifactAccessError`` outside the artifact store."""
    path = rm.resolve_artifact(workspace().artifacts, uri)
    target = path / member if member else path
    try:
        mtime = target.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _preview(home(), uri, artifact_type, member, mtime)


@st.cache_data(show_spinner="Reading the lineage…", max_entries=64)
def _lineage(
    h: str, run_id: str | None, artifact_id: int | None, hops: int, direction: str, stamp: Any
) -> dict[str, Any]:
    return rm.lineage_graph(_stores(h), run_id=run_id, artifact_id=artifact_id, hops=hops, direction=direction)


def lineage(
    run_id: str | None = None, artifact_id: int | None = None, hops: int = 2, direction: str = "both"
) -> dict[str, Any]:
    """``{"frames": {"nodes", "edges"}, "method": ...}``: the lineage query of ``workbench.query.lineage``."""
    return _lineage(home(), run_id, artifact_id, hops, direction, stamp(("mlmd",)))


@st.cache_data(show_spinner=False, max_entries=16)
def _artifacts(h: str, experiment: str, stamp: Any) -> pd.DataFrame:
    return rm.experiment_artifacts(_stores(h), experiment)


def experiment_artifacts(experiment: str) -> pd.DataFrame:
    return _artifacts(home(), experiment, stamp(("mlmd",)))


@st.cache_data(show_spinner=False, max_entries=4)
def _standalone(h: str, stamp: Any) -> pd.DataFrame:
    return rm.standalone_runs(_stores(h))


def standalone_runs() -> pd.DataFrame:
    return _standalone(home(), stamp(("mlmd",)))


def step_logs(run_id: str) -> dict[str, Path]:
    return rm.step_logs(workspace(), run_id)


def failure_detail(run_id: str) -> tuple[str, Path | None]:
    return rm.failure_detail(workspace(), run_id)


def read_log(path: str | Path) -> str:
    return rm.read_log(path)


def pipeline_graph(name: str) -> dict[str, Any]:
    return rm.pipeline_graph(experiment(name).spec)


def trial_row(name: str, number: int) -> pd.Series | None:
    t = experiment(name).trials
    rows = t[t["number"] == number]
    return rows.iloc[0] if len(rows) else None


def intermediate_of(name: str, numbers: list[int]) -> pd.DataFrame:
    inter = experiment(name).intermediate
    return inter[inter["number"].isin(numbers)]


# ------------------------------------------------------------------ the run store: standalone runs and schedules


def _run_store_stamp() -> tuple[Any, ...]:
    """The run store changes with every run: SQLite file stamp, or a 5-second bucket for a server."""
    from workbench.runs._store import sqlite_path

    ws = workspace()
    path = sqlite_path(ws.runs_url or f"sqlite:///{ws.home / 'runs.db'}")
    if path is None:
        return ("server", int(time.time() // 5))
    stamps = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st_ = p.stat()
            stamps.append((st_.st_size, st_.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


@st.cache_data(show_spinner=False, max_entries=8)
def _store_runs(h: str, namespace: str | None, archived: bool, stamp: Any) -> pd.DataFrame:
    from workbench.readmodel._runs import run_store_frame

    return run_store_frame(_workspace(h), namespace=namespace, archived=archived)


def store_runs(namespace: str | None = None, archived: bool = False) -> pd.DataFrame:
    """Standalone runs of the run store (of ``namespace``; archived ones only with ``archived``), newest first."""
    return _store_runs(home(), namespace, archived, _run_store_stamp())


@st.cache_data(show_spinner=False, max_entries=8)
def _schedules(h: str, namespace: str | None, stamp: Any, bucket: int) -> pd.DataFrame:
    from workbench.readmodel._runs import schedules_frame

    return schedules_frame(_workspace(h), namespace=namespace)


def schedules(namespace: str | None = None) -> pd.DataFrame:
    """Recurring runs with their next fire time (recomputed every 5 s) and last occurrence."""
    return _schedules(home(), namespace, _run_store_stamp(), int(time.time() // 5))


@st.cache_data(show_spinner=False, max_entries=16)
def _occurrences(h: str, name: str, namespace: str, stamp: Any) -> pd.DataFrame:
    from workbench.readmodel._runs import schedule_occurrences

    return schedule_occurrences(_workspace(h), name, namespace)


def occurrences(name: str, namespace: str) -> pd.DataFrame:
    return _occurrences(home(), name, namespace, _run_store_stamp())


def run_namespaces() -> list[str]:
    """Namespaces that hold standalone runs, schedules or experiments."""
    found = set(store_runs()["namespace"].dropna()) | set(schedules()["namespace"].dropna())
    exps = experiments()
    if "namespace" in exps.columns:
        found |= set(exps["namespace"].dropna())
    return sorted(found)
