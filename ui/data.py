"""The one cached read model of the dashboard: ``workbench.readmodel`` wrapped in Streamlit caches.

Pages get every DataFrame and figure from here. Each cached function is keyed by the
workspace and by the stamp (size and mtime) of the stores it reads, so a widget change
re-runs a page without reading any store again, and a store that changes (a running
experiment) is read again on the next rerun — incrementally, for the Optuna journal.
"""

from __future__ import annotations

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
    plotly's first figure, so that the first Importance view or Trial page does not wait for them."""
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
    return _model(h).experiment(name)


def experiment(name: str) -> rm.ExperimentData:
    return _experiment(home(), name, stamp())


@st.cache_data(show_spinner="Computing parameter importance…", max_entries=16)
def _importance(h: str, name: str, stamp: Any, method: str, objective: int) -> pd.DataFrame:
    return rm.param_importance(_experiment(h, name, stamp), method=method, objective=objective)


def importance(name: str, method: str = "ped-anova", objective: int = 0) -> pd.DataFrame:
    return _importance(home(), name, stamp(), method, objective)


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


@st.cache_data(show_spinner=False, max_entries=64)
def _figure(h: str, name: str, stamp: Any, kind: str, options: tuple[tuple[str, Any], ...]) -> go.Figure:
    data = _experiment(h, name, stamp)
    opts = dict(options)
    t = data.trials
    objective = data.objective_column(opts.pop("objective", 0))
    direction = data.directions[0] if data.directions else "minimize"
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
        imp = _importance(h, name, stamp, opts.get("method", "ped-anova"), 0)
        return figures.importance(imp, imp.attrs.get("note", ""))
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
def _lineage(h: str, run_id: str | None, artifact_id: int | None, hops: int, stamp: Any) -> dict[str, pd.DataFrame]:
    return rm.lineage(_stores(h), run_id=run_id, artifact_id=artifact_id, hops=hops)


def lineage(run_id: str | None = None, artifact_id: int | None = None, hops: int = 2) -> dict[str, pd.DataFrame]:
    return _lineage(home(), run_id, artifact_id, hops, stamp(("mlmd",)))


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
    from workbench.query import step_logs as logs

    return logs(workspace(), run_id)


def failure_detail(run_id: str) -> tuple[str, Path | None]:
    from workbench.query import failure_detail as detail

    return detail(workspace(), run_id)


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
