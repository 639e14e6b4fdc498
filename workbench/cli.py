"""The ``workbench`` command line: a thin layer over specs, the controller and the read model.

Exit codes: 0 success, 1 a run-time problem (or an experiment that Failed),
2 invalid input (nothing was written), 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from workbench.errors import SpecError, WorkbenchError


def _make_console(stderr: bool = False) -> Console:
    """A console that does not cut tables at 80 columns when the output is a pipe or a file."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    width = None if tty or os.environ.get("COLUMNS") else 200
    return Console(stderr=stderr, width=width)


console = _make_console()
err_console = _make_console(stderr=True)


def _error(err: BaseException) -> None:
    """Print an error on stderr, unwrapped and without interpreting ``[...]`` in it as markup."""
    err_console.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True, highlight=False)


class _Group(typer.core.TyperGroup):
    """Turns Workbench errors into a message and an exit code (also under ``typer.testing.CliRunner``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecError as err:
            _error(err)
            raise typer.Exit(2) from None
        except WorkbenchError as err:
            _error(err)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[magenta]aborted[/]")
            raise typer.Exit(130) from None
        except OSError as err:  # a workspace that cannot be written, a file that cannot be read, ...
            if isinstance(err, BrokenPipeError):
                raise  # ``workbench show NAME | head``: click exits quietly
            _error(err)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="workbench",
    cls=_Group,
    help="Katib-style AutoML sweeps on a laptop or a cluster: Optuna search, pipeline runs, MLflow and ML Metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FOR_STATE = {"Succeeded": 0, "Failed": 1, "Stopped": 130, "Running": 0, "Created": 0}


def _quiet_libraries() -> None:
    """Optuna and MLflow log at INFO by default; the CLI shows progress itself."""
    import logging
    import os

    import optuna

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("mlflow", "alembic", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _workspace(home: Path | None) -> Any:
    from workbench.workspace import Workspace

    return Workspace.at(home) if home else Workspace.from_env()


HomeOption = typer.Option(None, "--home", help="Workspace folder (default: $WORKBENCH_HOME or ./.workbench).")


def _fmt(value: Any) -> str:
    """A parameter or metric value: the formatter the dashboard uses too (``workbench.format``)."""
    from workbench.format import format_value

    return format_value(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


STATE_STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "MetricsUnavailable": "red",
    "Pruned": "yellow",
    "Killed": "magenta",
    "Stopped": "magenta",
    "Running": "cyan",
    "Pending": "dim",
}


def _state(state: str) -> str:
    style = STATE_STYLE.get(state)
    return f"[{style}]{state}[/]" if style else state


# ---------------------------------------------------------------------------- run / resume


def _with_source(err: SpecError, source: str) -> SpecError:
    """The same error, naming the experiment file if it did not already."""
    return err if err.source else SpecError(err.message, path=err.path, source=source)


def _controller(spec: Any, workspace: Any, backend: str, source: str, listener: Any = None, cache: bool = True) -> Any:
    """A controller whose preflight passed: every check that needs no store, before anything is written."""
    from workbench.backends import get_backend
    from workbench.search.controller import Controller

    try:
        controller = Controller(
            spec, workspace, backend=get_backend(backend, workspace), listener=listener, cache=cache
        )
        controller.preflight()
    except SpecError as err:
        raise _with_source(err, source) from None
    return controller


def _earlier_trials(workspace: Any, name: str) -> tuple[int, dict[str, Any]]:
    """Trials an existing experiment already finished (they count toward its budget) and its best so far."""
    from workbench.query import find_study
    from workbench.search._warmstart import ROW_KEY_ATTR
    from workbench.search.controller import FINISHED, trial_state

    study = find_study(workspace, name)
    if study is None:
        return 0, {}
    finished = sum(
        trial_state(t) in FINISHED and ROW_KEY_ATTR not in t.user_attrs for t in study.get_trials(deepcopy=False)
    )
    best = {}
    if len(study.directions) == 1 and _has_best(study):
        best = {"value": study.best_value, "number": study.best_trial.number}
    return finished, best


def _drive(spec: Any, home: Path | None, backend: str, quiet: bool, source: str, cache: bool = True) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workbench.search.controller import TrialEvent

    workspace = _workspace(home)
    progress = Progress(
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )
    tally: dict[str, int] = {}
    best: dict[str, Any] = {}
    maximize = spec.objective.directions[0] == "maximize"
    task: Any = None

    def on_event(event: TrialEvent) -> None:
        if event.kind == "started":
            tally["Running"] = tally.get("Running", 0) + 1
        elif event.kind == "finished":
            tally["Running"] = max(0, tally.get("Running", 0) - 1)
            tally[event.state] = tally.get(event.state, 0) + 1
            if event.state != "Killed":
                progress.advance(task)
            if event.values and not spec.objective.is_multi:
                v = event.values[0]
                if not best or (v > best["value"] if maximize else v < best["value"]):
                    best.update(value=v, number=event.number)
            if not quiet and event.state in ("Failed", "MetricsUnavailable"):
                progress.console.print(
                    f"  trial {event.number}: {_state(event.state)} {escape(event.message)}", soft_wrap=True
                )
        parts = [f"{_state(k)} {v}" for k, v in sorted(tally.items()) if v and k != "Succeeded"]
        if best:
            parts.insert(0, f"best {spec.objective.metric_names[0]}={_fmt(best['value'])} (trial {best['number']})")
        progress.update(task, status="  ".join(parts))

    _quiet_libraries()
    controller = _controller(spec, workspace, backend, source, listener=on_event, cache=cache)
    already, best_before = _earlier_trials(workspace, spec.name)
    if already and not quiet:
        console.print(f"continuing experiment {spec.name!r}: {already} trials finished before")
    best.update(best_before)
    status = f"best {spec.objective.metric_names[0]}={_fmt(best['value'])} (trial {best['number']})" if best else ""
    task = progress.add_task("trials", total=controller.budget, completed=already, name=spec.name, status=status)
    interrupts = {"n": 0}

    def on_signal(signum: int, frame: Any) -> None:
        interrupts["n"] += 1
        if interrupts["n"] > 1:
            raise KeyboardInterrupt
        progress.console.print("[magenta]stopping: cancelling running trials (Ctrl-C again to abort)[/]")
        controller.request_stop("stopped by the user (Ctrl-C)" if signum == signal.SIGINT else "stopped by SIGTERM")

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        with progress:
            summary = controller.run()
    except Exception as err:  # a store that went away (PostgreSQL restarted, ...): say so, and how to go on
        from workbench.tracking._async import outage

        cause = None if isinstance(err, WorkbenchError) else outage(err)
        if cause is None:
            raise
        detail = str(cause).strip().splitlines()[0][:300] if str(cause).strip() else ""
        raise WorkbenchError(
            f"experiment {spec.name!r} stopped: a store became unreachable ({type(cause).__name__}: {detail}). "
            f"Finished trials are kept; once the store is back, `workbench resume {spec.name}` goes on."
        ) from err
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    if not quiet:
        _show(workspace, spec.name, limit=SHOW_LIMIT)
    code = EXIT_FOR_STATE.get(summary.state, 1)
    failed = sum(summary.counts.get(s, 0) for s in ("Failed", "MetricsUnavailable"))
    if summary.state == "Failed":
        _error(WorkbenchError(f"experiment {spec.name!r} Failed: {summary.message}"))
    elif summary.state == "Succeeded" and failed and not summary.counts.get("Succeeded"):
        _error(WorkbenchError(f"experiment {spec.name!r}: no trial succeeded ({failed} failed)"))
        code = 1
    elif summary.state == "Stopped":
        err_console.print(
            f"[magenta]stopped[/]: {escape(summary.message)} (continue with: workbench resume {spec.name})",
            soft_wrap=True,
        )
    return code


@app.command()
def run(
    spec_file: Path = typer.Argument(..., help="Experiment YAML (Workbench or Katib v1beta1)."),
    backend: str | None = typer.Option(
        None, help="Where steps run: local or kubernetes (default: the workspace's `backend` setting, else local)."
    ),
    home: Path | None = HomeOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Run every step, even where a cached result exists (resume keeps this)."
    ),
) -> None:
    """Run an experiment (or continue it, if one with the same name exists)."""
    from workbench.spec import load_experiment

    spec = load_experiment(spec_file)
    raise typer.Exit(_drive(spec, home, backend, quiet, source=str(spec_file.resolve()), cache=not no_cache))


@app.command()
def resume(
    name: str = typer.Argument(..., help="Experiment name."),
    backend: str | None = typer.Option(
        None, help="Where steps run: local or kubernetes (default: the workspace's `backend` setting, else local)."
    ),
    home: Path | None = HomeOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    max_trials: int | None = typer.Option(None, "--max-trials", help="Raise (or set) the trial budget."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Run every step from now on (an experiment started with --no-cache keeps it)."
    ),
) -> None:
    """Continue a crashed or stopped experiment with its stored spec."""
    from workbench.query import load_study
    from workbench.search._storage import ATTR_SPEC
    from workbench.spec import experiment_from_dict

    workspace = _workspace(home)
    study = load_study(workspace, name)
    doc = study.user_attrs.get(ATTR_SPEC)
    if not doc:
        raise WorkbenchError(f"experiment {name!r} has no stored spec; run it from its YAML instead")
    if max_trials is not None:
        doc = json.loads(json.dumps(doc))
        doc["spec"]["maxTrialCount"] = max_trials
    source = f"experiment {name}"
    spec = experiment_from_dict(doc, Path.cwd(), source=source)
    raise typer.Exit(_drive(spec, home, backend, quiet, source=source, cache=not no_cache))


@app.command()
def stop(
    name: str = typer.Argument(..., help="Experiment name."),
    home: Path | None = HomeOption,
    wait: float = typer.Option(0.0, "--wait", help="Wait up to this many seconds for the controller to exit."),
) -> None:
    """Ask the controller of an experiment to stop (running trials are cancelled and marked Killed)."""
    from workbench.query import load_study
    from workbench.search import _storage as st
    from workbench.search.controller import trial_state

    workspace = _workspace(home)
    study = load_study(workspace, name)
    lock = st.ExperimentLock(workspace.locks, name)
    state = str(study.user_attrs.get(st.ATTR_STATE, "Created"))
    if lock.is_held_elsewhere():
        study.set_user_attr(st.ATTR_STOP, True)
        console.print(f"asked the controller of {name!r} to stop")
        deadline = time.monotonic() + wait
        while wait and lock.is_held_elsewhere():
            if time.monotonic() > deadline:
                raise WorkbenchError(f"the controller of {name!r} is still running after {wait:g}s")
            time.sleep(0.2)
        if wait:
            console.print(f"{name!r} stopped")
    elif not workspace.optuna_url.startswith("journal://"):
        # A shared store: a controller on another machine holds no lock here; it polls this flag.
        study.set_user_attr(st.ATTR_STOP, True)
        console.print(f"asked any controller of {name!r} to stop (state {state})")
    elif state in ("Succeeded", "Failed", "Stopped"):
        console.print(f"{name!r} is not running (state {state}); nothing to stop")
    else:
        study.set_user_attr(st.ATTR_STATE, "Stopped")
        study.set_user_attr(st.ATTR_MESSAGE, "stopped with 'workbench stop' (no controller was running)")
        stale = sum(trial_state(t) == "Running" for t in study.get_trials(deepcopy=False))
        note = f"; its {stale} unfinished trials run again on resume" if stale else ""
        console.print(
            f"{name!r} has no running controller; marked Stopped{note} (continue with: workbench resume {name})"
        )


@app.command()
def validate(
    document: str = typer.Argument(
        ...,
        help="What to check: an experiment (Workbench or Katib), a pipeline or component YAML (KFP v1 component.yaml "
        "too), a template folder or name, or FILE.py:FUNCTION.",
    ),
    backend: str | None = typer.Option(
        None, help="Check an experiment's trial commands for this backend: local or kubernetes (default: the setting)."
    ),
) -> None:
    """Check a document Workbench reads, recognised by its kind, without running or writing anything.

    Warns (exit status 0) when an experiment's objective is not a metric its trial template declares it reports."""
    from workbench.spec import ExperimentSpec
    from workbench.spec._documents import load_document

    doc = load_document(document)
    lines = _describe_document(doc, backend)
    console.print(f"[green]valid[/] {doc.kind}: {escape(document)}", soft_wrap=True, highlight=False)
    console.print("\n".join(f"  {escape(line)}" for line in lines), soft_wrap=True, highlight=False)
    for warning in doc.value.metric_warnings() if isinstance(doc.value, ExperimentSpec) else []:
        console.print(f"[yellow]warning[/]: {escape(warning)}", soft_wrap=True, highlight=False)


def _describe_document(doc: Any, backend: str | None) -> list[str]:
    """What ``validate`` prints under the verdict (an experiment passes the controller's preflight first)."""
    from workbench.spec import Component, ExperimentSpec

    value = doc.value
    if isinstance(value, ExperimentSpec):
        controller = _controller(value, _workspace(None), backend, source=doc.source)
        return _describe_experiment(value, controller.budget)
    if isinstance(value, Component):
        return _describe_component(value)
    params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in value.parameters) or "none"
    return [f"pipeline {value.name!r}: parameters {params}", f"steps: {' → '.join(value.topological_order())}"]


def _describe_experiment(spec: Any, budget: int | None) -> list[str]:
    pipeline = spec.trial_template.pipeline
    objective = ", ".join(
        f"{d} {m}" for m, d in zip(spec.objective.metric_names, spec.objective.directions, strict=False)
    )
    stopping = spec.early_stopping.algorithm_name if spec.early_stopping else "none"
    if budget is None:
        trials = "unlimited"
    elif spec.max_trial_count is None or budget < spec.max_trial_count:
        trials = f"{budget} trials (the grid size)"
    else:
        trials = f"{budget} trials"
    failed = spec.max_failed_trial_count if spec.max_failed_trial_count is not None else "-"
    return [
        f"experiment {spec.name!r} (namespace {spec.namespace}): {objective}",
        f"algorithm {spec.algorithm.algorithm_name}, early stopping {stopping}",
        f"budget {trials}, {spec.parallel_trial_count} in parallel, max failed {failed}",
        f"parameters: {'; '.join(_describe_parameter(p) for p in spec.parameters)}",
        f"trial pipeline {pipeline.name!r}: {' → '.join(pipeline.topological_order())}",
    ]


def _describe_component(component: Any) -> list[str]:
    def io(items: list[Any]) -> str:
        return ", ".join(f"{i.name} ({i.type or 'untyped'})" for i in items) or "none"

    impl = component.implementation
    if impl.python is not None:
        how = f"Python function {impl.python.function} in {impl.python.file}"
    else:
        how = f"container {impl.container.image or '(no image)'}"
    return [
        f"component {component.name!r}: {how}",
        f"inputs: {io(component.inputs)}",
        f"outputs: {io(component.outputs)}",
    ]


def _describe_parameter(p: Any) -> str:
    fs = p.feasible_space
    if p.parameter_type in ("categorical", "discrete"):
        return f"{p.name} {p.parameter_type} {list(fs.choices or [])}"
    text = f"{p.name} {p.parameter_type} [{_fmt(fs.min)}, {_fmt(fs.max)}]"
    if fs.step is not None:
        text += f" step {_fmt(fs.step)}"
    if fs.distribution:
        text += f" {fs.distribution}"
    return text


# ---------------------------------------------------------------------------- read


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "-"


@app.command("ls")
def list_cmd(
    home: Path | None = HomeOption,
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only experiments of this namespace."),
    archived: bool = typer.Option(False, "--archived", help="List archived experiments too (marked archived)."),
) -> None:
    """List experiments, newest first, with state, progress and best value (archived ones only with --archived)."""
    from workbench.readmodel import ReadModel

    workspace = _workspace(home)
    summaries = ReadModel(workspace, details=False).summaries()
    rows = [
        r for r in summaries if (namespace is None or r["namespace"] == namespace) and (archived or not r["archived"])
    ]
    if not rows and namespace is not None:
        console.print(f"no experiments in namespace {escape(namespace)!r}")
        return
    if not rows:
        console.print(
            f"no experiments in {escape(str(workspace.home))} (start one with: workbench run examples/quickstart.yaml)",
            soft_wrap=True,
        )
        return
    namespaces = any(r["namespace"] != "default" for r in rows)
    table = Table("name", *(["namespace"] if namespaces else []), "state", "algorithm", "trials", "failed", "pruned")
    for header in ("best", "started", "duration"):
        table.add_column(header, no_wrap=True)
    for r in rows:
        trials_cell = f"{r['finished']}/{r['max_trials'] or '∞'}" + (
            f" (+{r['running']} running)" if r["running"] else ""
        )
        if r["best_trial"] is not None:
            best_cell = f"{r['objective'][0]}={_fmt(r['best_value'])} (#{r['best_trial']})"
        elif r["front"]:
            best_cell = f"Pareto front of {r['front']}"
        else:
            best_cell = "-"
        table.add_row(
            r["name"],
            *([r["namespace"]] if namespaces else []),
            _state(r["state"]) + (" (archived)" if r["archived"] else ""),
            r["algorithm"],
            trials_cell,
            str(r["failed"]),
            str(r["pruned"]),
            best_cell,
            _when(r["started"]),
            _duration(r["duration"]),
        )
    console.print(table)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # NaN != NaN


def _ranked(
    columns: dict[str, list[Any]], objective: list[str], directions: list[str], enough: int | None = None
) -> list[int]:
    """Row indices in the order the trial table draws them (ties and unranked rows in trial order).

    One objective: succeeded trials best first (a pruned or failed trial's last value does not rank it), then
    the others. Several: the Pareto front first, then the front of what is left, ... (the first fronts holding
    ``enough`` rows are ranked), then trials without results. ``directions`` ``["none"]`` keeps the trial order.
    """
    from workbench.readmodel import pareto_ranks

    numbers, states = columns["number"], columns["state"]
    rows = sorted(range(len(numbers)), key=numbers.__getitem__)
    metrics = [columns.get(f"metrics.{m}") for m in objective]
    if not objective or any(m is None for m in metrics):
        return rows
    if len(directions) == 1 and directions[0] in ("minimize", "maximize"):
        sign = 1.0 if directions[0] == "minimize" else -1.0
        first = metrics[0]

        def key(i: int) -> tuple[bool, bool, float]:
            v = first[i]
            return (states[i] != "Succeeded", not _is_number(v), sign * v if _is_number(v) else 0.0)

        rows.sort(key=key)
    elif len(directions) > 1:
        values = [
            [m[i] for m in metrics] if states[i] == "Succeeded" and all(_is_number(m[i]) for m in metrics) else None
            for i in range(len(numbers))
        ]
        ranks = pareto_ranks(values, directions, enough)
        rows.sort(key=ranks.__getitem__)
    return rows


def _trials_table(columns: dict[str, list[Any]], objective: list[str], rows: list[int]) -> Table:
    """The trial table (``columns``: :func:`workbench.readmodel.trial_columns`), the given rows in that order."""
    table = Table(title=None)
    cols = ["number", "state"] + [c for c in columns if c.startswith("params.")]
    metric_cols = [f"metrics.{m}" for m in objective] + sorted(
        c for c in columns if c.startswith("metrics.") and c[8:] not in objective
    )
    cols += [c for c in metric_cols if c in columns] + ["duration_s"]
    for c in cols:
        header = c.replace("params.", "").replace("metrics.", "").replace("duration_s", "time")
        table.add_column(header, no_wrap=True, min_width=min(len(header), 12))
    for i in rows:
        cells = []
        for c in cols:
            v = columns[c][i]
            if c == "state":
                cells.append(_state(str(v)) + (" (imported)" if columns["imported"][i] else ""))
            elif c == "duration_s":
                cells.append(f"{v:.1f}s" if _is_number(v) else "-")
            else:
                cells.append(escape(_fmt(v)))
        table.add_row(*cells)
    return table


#: Trial states worth explaining under the table.
PROBLEM_STATES = ("Failed", "MetricsUnavailable", "Killed")


def _print_problems(workspace: Any, columns: dict[str, list[Any]], limit: int | None, more: str = "") -> None:
    """Why trials failed or were killed: the stored message, the last line the failed step printed, its log."""
    from workbench.readmodel import failure_detail

    numbers, states = columns["number"], columns["state"]
    problems = sorted((i for i, s in enumerate(states) if s in PROBLEM_STATES), key=numbers.__getitem__)
    if not problems:
        return
    console.print("problems:")
    for i in problems[:limit] if limit else problems:
        message = str(columns["message"][i])
        text = f"  trial {numbers[i]} {_state(states[i])}: {escape(message or '-')}"
        if states[i] != "Killed":
            detail, log = failure_detail(workspace, str(columns["run_id"][i]))
            if detail and detail not in message:  # the engine's message may already quote it
                text += f"\n    {escape(detail)}"
            if log is not None:
                text += f"\n    [dim]log: {escape(str(log))}[/]"
        console.print(text, soft_wrap=True, highlight=False)
    if limit and len(problems) > limit:
        console.print(f"  ... and {len(problems) - limit} more" + (f" ({more})" if more else ""))


#: Trials ``workbench show`` draws unless told otherwise (``--limit N``, ``--all``).
SHOW_LIMIT = 10


def _show(workspace: Any, name: str, limit: int | None) -> None:
    from workbench.readmodel import ReadModel, pareto_front, summary_row, trial_columns

    study = ReadModel(workspace).study(name)
    row = summary_row(study, workspace)
    columns = trial_columns(study)
    multi = len(row["directions"]) > 1
    objective = ", ".join(f"{d} {m}" for m, d in zip(row["objective"], row["directions"], strict=False))
    counts = f"trials {row['finished']}/{row['max_trials'] or '∞'}"
    if row["running"]:
        counts += f" (+{row['running']} running)"
    if row["imported"]:
        counts += f" (+{row['imported']} imported by warmStart)"
    console.print(
        Panel.fit(
            f"state {_state(row['state'])}  {escape(row['message'])}\n"
            f"objective {escape(objective)}   algorithm {row['algorithm']}\n"
            f"{counts}   failed {row['failed']}   pruned {row['pruned']}   duration {_duration(row['duration'])}",
            title=f"experiment {escape(row['name'])}",
        )
    )
    total = len(columns["number"])
    if total:
        shown = ""
        if limit and total > limit:
            which = f"Pareto front first, {limit} of {total}" if multi else f"best {limit} of {total}"
            shown = f" ({which}; every trial: workbench show {name} --all)"
        console.print(f"trials{escape(shown)}:", soft_wrap=True)
        rows = _ranked(columns, row["objective"], row["directions"], enough=limit)
        console.print(_trials_table(columns, row["objective"], rows[:limit] if limit else rows))
        _print_problems(workspace, columns, limit=10, more=f"workbench trials {name}")
    else:
        console.print("no trials yet")
    if row["best_trial"] is not None:
        i = columns["number"].index(row["best_trial"])
        params = {c[7:]: values[i] for c, values in columns.items() if c.startswith("params.")}
        console.print(
            Panel.fit(
                f"trial {row['best_trial']}: {row['objective'][0]} = {_fmt(row['best_value'])}\n"
                + "\n".join(f"  {k} = {escape(_fmt(v))}" for k, v in params.items()),
                title="best trial",
                border_style="green",
            )
        )
    elif multi and row["front"]:
        front = [t.number for t in pareto_front(study)]
        console.print(
            Panel.fit(
                f"{len(front)} trials: {', '.join(map(str, front))}\n(details: workbench best {name})",
                title="Pareto front",
                border_style="green",
            )
        )


@app.command()
def show(
    name: str = typer.Argument(..., help="Experiment name."),
    home: Path | None = HomeOption,
    limit: int = typer.Option(SHOW_LIMIT, "--limit", min=1, help="Draw the best N trials."),
    show_all: bool = typer.Option(False, "--all", help="Draw every trial (the default is the best 10)."),
) -> None:
    """State, counts, best trial, the best trials (--all: every one) and why trials failed."""
    _show(_workspace(home), name, None if show_all else limit)


@app.command()
def best(
    name: str = typer.Argument(..., help="Experiment name."),
    home: Path | None = HomeOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list for a multi-objective experiment)."),
) -> None:
    """The best trial's parameters and metrics (the Pareto front for multi-objective experiments)."""
    from workbench.readmodel import ReadModel, best_trial_of, objective_names, pareto_front
    from workbench.search._storage import ATTR_SPEC, T_METRICS

    study = ReadModel(_workspace(home)).study(name)
    multi = len(study.directions) > 1
    found = best_trial_of(study) if not multi else None
    trials = pareto_front(study) if multi else ([found] if found is not None else [])
    if not trials:
        raise WorkbenchError(f"experiment {name!r} has no succeeded trial yet")
    names = objective_names(study.user_attrs.get(ATTR_SPEC) or {})
    out = [
        {
            "number": t.number,
            "params": t.params,
            "values": t.values,
            "objective": dict(zip(names, t.values, strict=False)),
            "metrics": t.user_attrs.get(T_METRICS, {}),
        }
        for t in sorted(trials, key=lambda t: t.number)
    ]
    if as_json:
        print(json.dumps(out if multi else out[0], indent=2))
        return
    for item in out:
        objective = ", ".join(f"{k} = {_fmt(v)}" for k, v in item["objective"].items())
        console.print(f"[bold]trial {item['number']}[/]: {escape(objective)}", highlight=False)
        for k, v in item["params"].items():
            console.print(f"  {k} = {escape(_fmt(v))}", highlight=False)
        others = {k: v for k, v in item["metrics"].items() if k not in item["objective"]}
        for k, v in others.items():
            console.print(f"  [dim]{escape(k)}[/] = {_fmt(v)}", highlight=False)


def _has_best(study: Any) -> bool:
    try:
        return study.best_trial is not None
    except ValueError:
        return False


@app.command()
def trials(
    name: str = typer.Argument(..., help="Experiment name."),
    home: Path | None = HomeOption,
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """Every trial of an experiment, in order."""
    from workbench.readmodel import ReadModel, summary_row, trial_columns, trials_frame

    workspace = _workspace(home)
    study = ReadModel(workspace).study(name)
    if csv:
        sys.stdout.write(trials_frame(study)[0].to_csv(index=False))
        return
    columns = trial_columns(study)
    if not columns["number"]:
        console.print(f"experiment {name!r} has no trials yet")
        return
    rows = _ranked(columns, [], ["none"])
    console.print(_trials_table(columns, summary_row(study, workspace)["objective"], rows))
    _print_problems(workspace, columns, limit=None)


ExperimentNamespace = typer.Option("default", "--namespace", "-n", help="The experiment's namespace.")


@app.command()
def delete(
    name: str = typer.Argument(..., help="Experiment name."),
    namespace: str = ExperimentNamespace,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    home: Path | None = HomeOption,
) -> None:
    """Delete an experiment: its Optuna study, its MLflow runs, step outputs and logs (ML Metadata lineage stays)."""
    from workbench.search import delete_experiment, ensure_stopped, find_experiment

    workspace = _workspace(home)
    study = find_experiment(workspace, name, namespace)
    ensure_stopped(workspace, study)  # before asking: a running experiment is refused anyway
    trials = len(study.get_trials(deepcopy=False))
    question = (f"delete experiment {name!r} (namespace {namespace}) with its {trials} trials, their MLflow runs, "
                "step outputs and logs?")  # fmt: skip
    if not yes and not typer.confirm(question, default=False):
        err_console.print("nothing deleted")
        raise typer.Exit(1)
    deleted = delete_experiment(workspace, name, namespace)
    kept = len(deleted.erased.kept)
    kept_note = f"; {kept} outputs kept (reused by other runs' cached steps)" if kept else ""
    console.print(
        f"deleted experiment {name!r}: {deleted.trials} trials, {deleted.erased.mlflow_runs} MLflow runs, "
        f"{deleted.erased.folders} folders of outputs and logs{kept_note} (its lineage stays in ML Metadata)",
        soft_wrap=True,
    )


@app.command()
def archive(
    name: str = typer.Argument(..., help="Experiment name."),
    namespace: str = ExperimentNamespace,
    home: Path | None = HomeOption,
) -> None:
    """Hide an experiment from the lists (nothing is removed; workbench unarchive shows it again)."""
    from workbench.search import archive_experiment

    changed = archive_experiment(_workspace(home), name, namespace, archived=True)
    console.print(f"archived {name!r} (workbench ls --archived lists it)" if changed else f"{name!r} is archived")


@app.command()
def unarchive(
    name: str = typer.Argument(..., help="Experiment name."),
    namespace: str = ExperimentNamespace,
    home: Path | None = HomeOption,
) -> None:
    """Show an archived experiment in the lists again."""
    from workbench.search import archive_experiment

    changed = archive_experiment(_workspace(home), name, namespace, archived=False)
    console.print(f"unarchived {name!r}" if changed else f"{name!r} is not archived")


@app.command()
def templates() -> None:
    """List the trial templates in the catalog."""
    from workbench.spec import list_templates, load_pipeline

    table = Table("template", "parameters", "steps", "description", "path")
    for name, path in list_templates().items():
        try:
            p = load_pipeline(path)
            params = ", ".join(f"{i.name}={_fmt(i.default)}" for i in p.parameters)
            steps = " → ".join(p.topological_order())
            description = p.description
        except SpecError as err:
            params, steps, description = f"[red]invalid: {escape(str(err))}[/]", "", ""
        table.add_row(name, params, steps, escape(description), str(path.parent))
    console.print(table)


from workbench._cli_k8s import register  # noqa: E402  (cluster commands: submit, logs, status, k8s)

register(app)


def main() -> None:
    """Entry point (``workbench``, ``python -m workbench``): errors become messages and exit codes."""
    app()


__import__("workbench._cli_ui", fromlist=["register"]).register(app)  # `workbench ui` (the dashboard)
__import__("workbench._cli_runs", fromlist=["register"]).register(app)  # pipeline, runs, schedule, scheduler
__import__("workbench._cli_pipeline", fromlist=["register"]).register(app)  # pipeline export
__import__("workbench._cli_lineage", fromlist=["register"]).register(app)  # lineage of an artifact or a trial
__import__("workbench._cli_doctor", fromlist=["register"]).register(app)  # doctor: check the configured stores

if __name__ == "__main__":
    main()
