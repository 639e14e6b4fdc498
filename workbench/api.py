"""The Python API: a thin, typed layer over the objects the CLI uses.

Example (a complete script; components must live in a file, guarded by ``__main__``)::

    import workbench
    from workbench import Experiment, Parameter

    def objective(x: float, y: float) -> float:
        return (x - 2) ** 2 + (y + 1) ** 2

    if __name__ == "__main__":
        results = workbench.tune(objective, parameters=[Parameter.double("x", -5, 5),
                                                        Parameter.double("y", -5, 5)],
                                 objective="loss", max_trials=30, name="tune-demo")
        print(results.best_trial.params)

        exp = Experiment(name="sk", objective="accuracy", direction="maximize",
                         parameters=[Parameter.double("alpha", 1e-6, 1e-1, log=True)],
                         template="sklearn-classifier", max_trials=10, parallel=2)
        exp.run()
        print(workbench.load("sk").trials_dataframe())
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.dsl import PythonComponent, describe
from workbench.errors import SpecError, WorkbenchError
from workbench.query import ExperimentRow
from workbench.search.controller import Controller, Summary, TrialEvent, summarize
from workbench.spec import ExperimentSpec, ParameterSpec, Pipeline, experiment_from_dict, load_component
from workbench.workspace import Workspace


class Parameter:
    """Builders for search-space parameters (Katib parameter types); a bad range raises ``SpecError``.

    Example:
        >>> Parameter.double("lr", 1e-4, 1e-1, log=True).feasible_space.distribution
        'logUniform'
        >>> Parameter.categorical("opt", ["sgd", "adam"]).parameter_type
        'categorical'
    """

    @staticmethod
    def double(name: str, low: float, high: float, log: bool = False, step: float | None = None) -> ParameterSpec:
        return _param(name, "double", min=low, max=high, step=step, distribution="logUniform" if log else None)

    @staticmethod
    def int(name: str, low: int, high: int, log: bool = False, step: int | None = None) -> ParameterSpec:
        return _param(name, "int", min=low, max=high, step=step, distribution="logUniform" if log else None)

    @staticmethod
    def discrete(name: str, values: Sequence[float]) -> ParameterSpec:
        return _param(name, "discrete", list=[str(v) for v in values])

    @staticmethod
    def categorical(name: str, values: Sequence[str]) -> ParameterSpec:
        return _param(name, "categorical", list=[str(v) for v in values])


def _param(name: str, kind: str, **space: Any) -> ParameterSpec:
    from workbench.spec._validation import validate_model

    feasible = {k: v for k, v in space.items() if v is not None}
    return validate_model(
        ParameterSpec,
        {"name": name, "parameterType": kind, "feasibleSpace": feasible},
        source=f"Parameter.{kind}({name!r})",
    )


def _check_function(func: Callable[..., Any]) -> None:
    """Trial processes import the function from its file: it must be a named, top-level function in a .py file."""
    name = getattr(func, "__name__", repr(func))
    if name == "<lambda>":
        raise SpecError("a lambda cannot run as a trial: define a named function in a .py file", path="component")
    try:
        source = inspect.getsourcefile(func)
    except TypeError:
        source = None
    if not source or not source.endswith(".py") or not os.path.isfile(source):
        raise SpecError(
            f"function {name!r} must be defined in a .py file (each trial imports it from there); "
            "functions defined in a notebook or an interactive session cannot run as trials",
            path="component",
        )
    if getattr(func, "__qualname__", name) != name:
        raise SpecError(
            f"function {func.__qualname__!r} must be defined at the top level of {source} "
            "(each trial imports it by name)",
            path="component",
        )


def _trial_template(
    template: str | None,
    pipeline: Pipeline | str | Path | None,
    component: Any,
    arguments: dict[str, Any] | None,
    report_as: str | None = None,
) -> dict[str, Any]:
    given = [x for x in (template, pipeline, component) if x is not None]
    if len(given) != 1:
        raise SpecError("give exactly one of template=, pipeline= or component=", path="trialTemplate")
    out: dict[str, Any] = {"arguments": dict(arguments or {})}
    if template is not None:
        out["template"] = template
    elif pipeline is not None:
        out["pipeline"] = (
            pipeline.model_dump(by_alias=True, mode="json") if isinstance(pipeline, Pipeline) else str(pipeline)
        )
    else:
        func = component.func if isinstance(component, PythonComponent) else component
        if isinstance(func, str):
            out["component"] = _returning_metrics(func, report_as)
        elif callable(func):
            _check_function(func)
            spec = describe(func)
            if report_as:
                spec["implementation"]["python"]["reportAs"] = report_as
            out["component"] = spec
        else:
            raise SpecError("component= takes a function, a @workbench.component or a FILE.py:FUNCTION string")
    return out


def _returning_metrics(ref: str, report_as: str | None) -> str | dict[str, Any]:
    """A ``FILE.py:FUNCTION`` component whose return value counts as metrics (``report_as``); other refs as given."""
    if not report_as or ".py:" not in ref:
        return ref
    try:
        component = load_component(ref, Path.cwd())
    except SpecError:
        return ref  # the experiment's loader reports it, with its field path
    if component.implementation.python is None:
        return ref
    data = component.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["implementation"]["python"]["reportAs"] = report_as
    return data


class Experiment:
    """An experiment built in Python; the same spec a YAML file would give.

    ``objective`` is a metric name (or several, for a multi-objective search with
    ``direction`` a list). The trial is a catalog ``template``, a ``pipeline`` (object
    or YAML path) or a ``component`` (a function or ``FILE.py:FUNCTION``). A component's
    return value counts as metrics, like ``report()``: a number is the (first) objective, a
    dict maps metric names to numbers (any other value in it fails the trial, naming the key).
    """

    def __init__(
        self,
        name: str,
        objective: str | Sequence[str],
        parameters: Sequence[ParameterSpec],
        direction: str | Sequence[str] = "minimize",
        template: str | None = None,
        pipeline: Pipeline | str | Path | None = None,
        component: Any = None,
        arguments: dict[str, Any] | None = None,
        algorithm: str = "tpe",
        algorithm_settings: dict[str, Any] | None = None,
        early_stopping: str | None = None,
        early_stopping_settings: dict[str, Any] | None = None,
        max_trials: int | None = None,
        parallel: int = 1,
        max_failed: int | None = None,
        goal: float | None = None,
        additional_metrics: Sequence[str] = (),
        metric_strategies: dict[str, str] | None = None,
        warm_start: dict[str, Any] | None = None,
        namespace: str = "default",
        _report_as: str | None = None,
    ) -> None:
        objectives = [objective] if isinstance(objective, str) else list(objective)
        directions = [direction] * len(objectives) if isinstance(direction, str) else list(direction)
        if len(directions) != len(objectives):
            raise SpecError("give one direction per objective", path="direction")
        if len(objectives) == 1:
            obj: dict[str, Any] = {"type": directions[0], "objectiveMetricName": objectives[0]}
            if goal is not None:
                obj["goal"] = goal
        else:
            obj = {"objectives": [{"metricName": m, "type": d} for m, d in zip(objectives, directions, strict=True)]}
        obj["additionalMetricNames"] = list(additional_metrics)
        if metric_strategies:
            obj["metricStrategies"] = [{"name": k, "value": v} for k, v in metric_strategies.items()]
        spec: dict[str, Any] = {
            "objective": obj,
            "algorithm": {"algorithmName": algorithm, "algorithmSettings": _settings(algorithm_settings)},
            "parallelTrialCount": parallel,
            "parameters": [p.to_dict() if isinstance(p, ParameterSpec) else p for p in parameters],
            "trialTemplate": _trial_template(template, pipeline, component, arguments, _report_as or objectives[0]),
        }
        if early_stopping:
            spec["earlyStopping"] = {
                "algorithmName": early_stopping,
                "algorithmSettings": _settings(early_stopping_settings),
            }
        if max_trials is not None:
            spec["maxTrialCount"] = max_trials
        if max_failed is not None:
            spec["maxFailedTrialCount"] = max_failed
        if warm_start:
            spec["warmStart"] = warm_start
        doc = {
            "apiVersion": "workbench.io/v1alpha1",
            "kind": "Experiment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
        source = f"Experiment({name!r})"
        self.spec: ExperimentSpec = experiment_from_dict(doc, Path.cwd(), source=source)
        from workbench.search import check_search

        try:  # the algorithm, its settings and early stopping: wrong values fail here, not at run()
            check_search(self.spec, Path.cwd())
        except SpecError as err:
            raise err.within("", source) from None

    @property
    def name(self) -> str:
        return self.spec.name

    def run(
        self, workspace: Workspace | str | Path | None = None, progress: bool = True, cache: bool = True
    ) -> Results:
        """Run to the end (blocking) and return the results.

        An experiment with this name in the workspace is continued. Ctrl-C stops it cleanly
        (running trials are cancelled and marked Killed, the experiment ends Stopped) and then
        raises ``KeyboardInterrupt``; running it again resumes it. ``cache=False`` runs every
        step even where an earlier run's outputs could be reused.
        """
        ws = _ws(workspace)
        listener = _printer(self.spec) if progress else None
        controller = Controller(self.spec, ws, listener=listener, cache=cache)
        with _stop_on_interrupt(controller) as interrupted:
            controller.run()
        if interrupted:
            raise KeyboardInterrupt
        return Results(self.spec.name, ws)

    def start(self, workspace: Workspace | str | Path | None = None) -> ExperimentHandle:
        """Start in a background thread; returns a handle to wait for or stop it."""
        return ExperimentHandle(self.spec, _ws(workspace))


@contextlib.contextmanager
def _stop_on_interrupt(controller: Controller) -> Iterator[list[int]]:
    """While the controller runs in the main thread: the first Ctrl-C stops it cleanly, a second one aborts."""
    hits: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield hits
        return

    def on_signal(signum: int, frame: Any) -> None:
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt
        print(f"[{controller.spec.name}] stopping: cancelling running trials (Ctrl-C again to abort)", flush=True)
        controller.request_stop("stopped by the user (Ctrl-C)")

    previous = signal.signal(signal.SIGINT, on_signal)
    try:
        yield hits
    finally:
        signal.signal(signal.SIGINT, previous)


def _settings(settings: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in (settings or {}).items()]


def _ws(workspace: Workspace | str | Path | None) -> Workspace:
    if workspace is None:
        return Workspace.from_env()
    return workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)


def _printer(spec: ExperimentSpec) -> Callable[[TrialEvent], None]:
    total = spec.max_trial_count

    def show(event: TrialEvent) -> None:
        if event.kind == "finished":
            value = f" {spec.objective.metric_names[0]}={event.values[0]:.6g}" if event.values else ""
            print(f"[{spec.name}] trial {event.number} {event.state}{value} (of {total or '∞'})", flush=True)

    return show


class ExperimentHandle:
    """An experiment running in a background thread."""

    def __init__(self, spec: ExperimentSpec, workspace: Workspace) -> None:
        self.controller = Controller(spec, workspace)
        self.workspace = workspace
        self.name = spec.name
        self._summary: Summary | None = None
        self._error: BaseException | None = None
        self.controller.preflight()
        self._thread = threading.Thread(target=self._main, name=f"experiment-{spec.name}", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self._summary = self.controller.run()
        except BaseException as err:  # re-raised in wait()
            self._error = err

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def __repr__(self) -> str:
        return f"ExperimentHandle({self.name!r}, {'done' if self.done else 'running'})"

    def stop(self) -> None:
        """Cancel running trials (marked Killed) and end the experiment as Stopped."""
        self.controller.request_stop("stopped from the Python API")

    def wait(self, timeout: float | None = None) -> Results:
        """Block until the experiment ends (``TimeoutError`` after ``timeout`` seconds); its results."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"experiment {self.name!r} is still running")
        if self._error is not None:
            raise self._error
        return Results(self.name, self.workspace)


@dataclass
class BestTrial:
    number: int
    params: dict[str, Any]
    values: list[float]
    metrics: dict[str, float]

    @property
    def value(self) -> float:
        return self.values[0]


class Results:
    """A stored experiment's results (read-only)."""

    def __init__(self, name: str, workspace: Workspace | None = None) -> None:
        from workbench.query import load_study

        self.name = name
        self.workspace = workspace or Workspace.from_env()
        self.study = load_study(self.workspace, name)

    def __repr__(self) -> str:
        summary = self.summary
        finished = sum(n for s, n in summary.counts.items() if s not in ("Running", "Pending", "Killed"))
        best = f", best trial {summary.best_number} {summary.best_values}" if summary.best_number is not None else ""
        return f"Results({self.name!r}, state={summary.state}, trials={finished}{best})"

    @property
    def summary(self) -> Summary:
        return summarize(self.study)

    @property
    def state(self) -> str:
        return self.summary.state

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: ``number``, ``state``, ``params.*``, ``metrics.*``, times, ``run_id``, ``message``."""
        from workbench.query import trials_dataframe

        return trials_dataframe(self.study)

    @property
    def best_trials(self) -> list[BestTrial]:
        """The best trial, or the Pareto front of a multi-objective experiment."""
        from workbench.search._storage import T_METRICS

        try:
            trials = self.study.best_trials
        except ValueError:
            trials = []
        return [
            BestTrial(t.number, dict(t.params), list(t.values or []), dict(t.user_attrs.get(T_METRICS, {})))
            for t in trials
        ]

    @property
    def best_trial(self) -> BestTrial:
        """The best trial of a single-objective experiment (``WorkbenchError`` if there is none)."""
        if len(self.study.directions) > 1:
            raise WorkbenchError(
                f"experiment {self.name!r} has {len(self.study.directions)} objectives and no single best trial: "
                "use best_trials (the Pareto front)"
            )
        best = self.best_trials
        if not best:
            raise WorkbenchError(f"experiment {self.name!r} has no succeeded trial")
        return best[0]

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best_trial.params


def load(name: str, workspace: Workspace | str | Path | None = None) -> Results:
    """The results of experiment ``name`` in the workspace."""
    return Results(name, _ws(workspace))


def list_experiments(
    workspace: Workspace | str | Path | None = None, namespace: str | None = None, archived: bool = False
) -> pd.DataFrame:
    """Every experiment in the workspace (of ``namespace``, if given) as a DataFrame; archived ones only with
    ``archived=True`` (column ``archived``)."""
    from workbench.query import list_experiments as _list

    rows = [r for r in _list(_ws(workspace), archived) if namespace is None or r.namespace == namespace]
    columns = [f for f in ExperimentRow.__dataclass_fields__ if f != "spec"]
    frame = pd.DataFrame([{k: getattr(r, k) for k in columns} for r in rows], columns=columns)
    for column in ("started", "ended"):
        frame[column] = pd.to_datetime(frame[column], unit="s")
    frame["duration_s"] = [r.duration for r in rows]
    return frame


def delete_experiment(name: str, namespace: str = "default", workspace: Workspace | str | Path | None = None) -> Any:
    """Delete an experiment: its Optuna study, the MLflow runs of its trials (deleted lifecycle stage), their step
    outputs and logs; ML Metadata keeps its lineage. Refused while a controller runs it (``WorkbenchError``).
    Returns a ``DeletedExperiment`` (``trials``, ``erased.mlflow_runs``, ``erased.folders``, ...). No confirmation
    is asked: that is the CLI's."""
    from workbench.search import delete_experiment as _delete

    return _delete(_ws(workspace), name, namespace)


def archive_experiment(name: str, namespace: str = "default", workspace: Workspace | str | Path | None = None) -> bool:
    """Hide an experiment from the lists (nothing is removed); returns whether it changed."""
    from workbench.search import archive_experiment as _archive

    return _archive(_ws(workspace), name, namespace, archived=True)


def unarchive_experiment(
    name: str, namespace: str = "default", workspace: Workspace | str | Path | None = None
) -> bool:
    """Show an archived experiment in the lists again; returns whether it changed."""
    from workbench.search import archive_experiment as _archive

    return _archive(_ws(workspace), name, namespace, archived=False)


def tune(
    function: Callable[..., Any] | PythonComponent,
    parameters: Sequence[ParameterSpec],
    objective: str | Sequence[str] = "objective",
    direction: str | Sequence[str] = "minimize",
    max_trials: int = 20,
    parallel: int = 1,
    name: str | None = None,
    algorithm: str = "tpe",
    early_stopping: str | None = None,
    workspace: Workspace | str | Path | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> Results:
    """Tune a Python function, like Katib's ``tune``: each trial calls it in its own process.

    The function must be a top-level function of a ``.py`` file (trials import it from
    there). It takes the parameters as keyword arguments and returns the objective value
    (a number) or a dict of metrics that holds the objective; other metrics in the dict
    are kept when named in ``additional_metrics=[...]``. It may also call
    ``workbench.report(...)`` for intermediate values (which early stopping uses).
    Several objectives (a list, with one direction each or one for all) make a
    multi-objective search: return a dict holding each. Other keyword arguments go to
    :class:`Experiment`.
    """
    func = function.func if isinstance(function, PythonComponent) else function
    if not callable(func):
        raise SpecError(f"tune needs a function, got {type(func).__name__}", path="function")
    _check_function(func)
    exp = Experiment(
        name=name or func.__name__.replace("_", "-"),
        objective=objective,
        direction=direction,
        parameters=parameters,
        component=func,
        algorithm=algorithm,
        early_stopping=early_stopping,
        max_trials=max_trials,
        parallel=parallel,
        _report_as=objective if isinstance(objective, str) else next(iter(objective), None),
        **kwargs,
    )
    return exp.run(workspace=workspace, progress=progress)


# ------------------------------------------------------------------ standalone runs and recurring runs


def run_pipeline(
    pipeline: str | Path | Pipeline,
    params: dict[str, Any] | None = None,
    *,
    experiment: str = "Default",
    namespace: str = "default",
    name: str = "",
    metrics: Sequence[str] = (),
    cache: bool = True,
    backend: str | None = None,
    workspace: Workspace | str | Path | None = None,
    wait: bool = True,
) -> Any:
    """Run a pipeline once (a standalone run, recorded like a trial's run and in the run store).

    Returns the finished :class:`~workbench.runs.RunRecord` (``wait=True``) or a
    :class:`~workbench.runs.RunHandle` with ``.wait()``, ``.cancel()``, ``.done`` and ``.record``.

    Example:
        >>> record = run_pipeline("pipeline.yaml", {"lr": 0.1}, metrics=["loss"])  # doctest: +SKIP
        >>> record.state, record.metrics  # doctest: +SKIP
        ('Succeeded', {'loss': 0.25})
    """
    from workbench.backends import get_backend
    from workbench.runs import load_pipeline_ref, prepare_run, start_run

    ws = _ws(workspace)
    p = pipeline if isinstance(pipeline, Pipeline) else load_pipeline_ref(str(pipeline))
    record = prepare_run(p, params, experiment=experiment, namespace=namespace, name=name, metric_names=list(metrics),
                         cache=cache, backend=backend, workspace=ws)  # fmt: skip
    get_backend(record.backend, ws)
    handle = start_run(record, ws)
    return handle.wait() if wait else handle


def rerun(run_id: str, *, cache: bool | None = None, force: bool = False,
          workspace: Workspace | str | Path | None = None, wait: bool = True) -> Any:  # fmt: skip
    """Run a stored run again exactly (same pipeline document and parameters; cached steps are reused)."""
    from workbench.runs import prepare_rerun, start_run

    ws = _ws(workspace)
    handle = start_run(prepare_rerun(run_id, ws, cache=cache, force=force), ws)
    return handle.wait() if wait else handle


def get_run(run_id: str, workspace: Workspace | str | Path | None = None) -> Any:
    """A standalone run's record (``WorkbenchError`` if there is none)."""
    from workbench.runs import store_of

    return store_of(_ws(workspace)).get_run(run_id)


def cancel_run(run_id: str, workspace: Workspace | str | Path | None = None) -> Any:
    """Ask the process running a run to cancel it (it ends Killed); returns the record."""
    from workbench.runs import store_of

    return store_of(_ws(workspace)).request_cancel(run_id)


def list_runs(
    namespace: str | None = None,
    experiment: str | None = None,
    schedule: str | None = None,
    workspace: Workspace | str | Path | None = None,
    archived: bool = False,
) -> pd.DataFrame:
    """Standalone runs, newest first: ``run_id``, ``name``, ``namespace``, ``experiment``, ``pipeline``, ``state``,
    times, ``schedule``, ``params.*`` and ``metrics.*``; archived runs only with ``archived=True``."""
    from workbench.readmodel._runs import run_store_frame

    return run_store_frame(
        _ws(workspace), namespace=namespace, experiment=experiment, schedule=schedule, archived=archived
    )


def delete_run(run_id: str, workspace: Workspace | str | Path | None = None) -> Any:
    """Delete a finished standalone run: its record, MLflow runs, step outputs and logs (ML Metadata keeps its
    lineage); a run still going is refused (``WorkbenchError``: cancel it first). Returns a ``DeletedRun``."""
    from workbench.runs import delete_run as _delete

    return _delete(_ws(workspace), run_id)


def archive_run(run_id: str, workspace: Workspace | str | Path | None = None) -> Any:
    """Hide a standalone run from the lists (nothing is removed); returns its record."""
    from workbench.runs import archive_run as _archive

    return _archive(_ws(workspace), run_id, True)


def unarchive_run(run_id: str, workspace: Workspace | str | Path | None = None) -> Any:
    """Show an archived standalone run in the lists again; returns its record."""
    from workbench.runs import archive_run as _archive

    return _archive(_ws(workspace), run_id, False)


def create_schedule(name: str, **options: Any) -> Any:
    """Create a recurring run (see :func:`workbench.schedule.create_schedule` for the options).

    Example:
        >>> create_schedule("nightly", pipeline="pipeline.yaml", cron="0 2 * * *",  # doctest: +SKIP
        ...                 timezone="Europe/Paris", params={"lr": 0.1})
    """
    from workbench.schedule import create_schedule as _create

    workspace = options.pop("workspace", None)
    return _create(_ws(workspace), name, **options)


def list_schedules(namespace: str | None = None, workspace: Workspace | str | Path | None = None) -> pd.DataFrame:
    """Schedules with their trigger, policy, next fire time and last occurrence."""
    from workbench.readmodel._runs import schedules_frame

    return schedules_frame(_ws(workspace), namespace=namespace)


def set_schedule_enabled(name: str, enabled: bool, namespace: str = "default",
                         workspace: Workspace | str | Path | None = None) -> Any:  # fmt: skip
    """Enable or disable a schedule."""
    from workbench.runs import store_of

    return store_of(_ws(workspace)).set_enabled(name, namespace, enabled)


def delete_schedule(name: str, namespace: str = "default", workspace: Workspace | str | Path | None = None) -> Any:
    """Delete a schedule and its occurrence records (the runs it started stay)."""
    from workbench.runs import store_of

    return store_of(_ws(workspace)).delete_schedule(name, namespace)


# ------------------------------------------------------------------ lineage


def lineage(
    target: str | int,
    direction: str = "both",
    *,
    hops: int | None = None,
    workspace: Workspace | str | Path | None = None,
) -> Any:
    """The lineage of an artifact or a trial from ML Metadata, as a :class:`workbench.query.Lineage`.

    ``target``: an artifact's ML Metadata id (``12``) or uri/path, a trial (``"EXPERIMENT:NUMBER"``)
    or a run id. ``direction``: ``upstream`` (the executions that made it, with their parameters
    and inputs), ``downstream`` (the executions that used it) or ``both``.

    Example:
        >>> lin = lineage("/path/to/artifacts/demo/run/train/model", direction="upstream")  # doctest: +SKIP
        >>> [(e["step"], e["params"]) for e in lin.executions()]  # doctest: +SKIP
        [('load', {'dataset': 'iris'}), ('train', {'alpha': 0.001})]
        >>> lin.nodes, lin.edges  # the graph as DataFrames  # doctest: +SKIP
    """
    from workbench.query import lineage as _lineage

    return _lineage(_ws(workspace), target, direction=direction, hops=hops)


__all__ = [
    "BestTrial",
    "Experiment",
    "ExperimentHandle",
    "Parameter",
    "Results",
    "archive_experiment",
    "archive_run",
    "cancel_run",
    "create_schedule",
    "delete_experiment",
    "delete_run",
    "delete_schedule",
    "get_run",
    "lineage",
    "list_experiments",
    "list_runs",
    "list_schedules",
    "load",
    "rerun",
    "run_pipeline",
    "set_schedule_enabled",
    "tune",
    "unarchive_experiment",
    "unarchive_run",
]
