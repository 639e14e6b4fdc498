"""The ``workbench`` command line: a thin layer over specs, the controller and the read model.

Exit codes: 0 success, 1 a run-time problem (or an experiment that Failed),
2 invalid input (nothing was written), 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import json
import math
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench.errors import SpecError, WorkbenchError

app = typer.Typer(
    name="workbench",
    help="Katib-style AutoML sweeps on a laptop or a cluster: Optuna search, pipeline runs, MLflow and ML Metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

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
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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


def _drive(spec: Any, home: Path | None, backend: str, quiet: bool) -> int:
    from workbench.backends import get_backend
    from workbench.search.controller import Controller, TrialEvent

    _quiet_libraries()
    workspace = _workspace(home)
    total = spec.max_trial_count
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
    task = progress.add_task("trials", total=total, name=spec.name, status="starting")
    tally: dict[str, int] = {}
    best: dict[str, Any] = {}
    maximize = spec.objective.directions[0] == "maximize"

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
                progress.console.print(f"  trial {event.number}: {_state(event.state)} {event.message}")
        parts = [f"{_state(k)} {v}" for k, v in sorted(tally.items()) if v and k != "Succeeded"]
        if best:
            parts.insert(0, f"best {spec.objective.metric_names[0]}={_fmt(best['value'])} (trial {best['number']})")
        progress.update(task, status="  ".join(parts))

    controller = Controller(spec, workspace, backend=get_backend(backend), listener=on_event)
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
        controller.preflight()
        with progress:
            summary = controller.run()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    if not quiet:
        _show(workspace, spec.name, limit=10)
    return EXIT_FOR_STATE.get(summary.state, 1)


@app.command()
def run(
    spec_file: Path = typer.Argument(..., help="Experiment YAML (Workbench or Katib v1beta1)."),
    backend: str = typer.Option("local", help="Where steps run: local."),
    home: Path | None = HomeOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Run an experiment (or continue it, if one with the same name exists)."""
    from workbench.spec import load_experiment

    spec = load_experiment(spec_file)
    raise typer.Exit(_drive(spec, home, backend, quiet))


@app.command()
def resume(
    name: str = typer.Argument(..., help="Experiment name."),
    backend: str = typer.Option("local", help="Where steps run: local."),
    home: Path | None = HomeOption,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    max_trials: int | None = typer.Option(None, "--max-trials", help="Raise the trial budget."),
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
    spec = experiment_from_dict(doc, Path.cwd(), source=f"experiment {name}")
    raise typer.Exit(_drive(spec, home, backend, quiet))


@app.command()
def stop(name: str = typer.Argument(..., help="Experiment name."), home: Path | None = HomeOption) -> None:
    """Ask the controller of an experiment to stop (running trials are cancelled and marked Killed)."""
    from workbench.query import load_study
    from workbench.search import _storage as st

    workspace = _workspace(home)
    study = load_study(workspace, name)
    if st.ExperimentLock(workspace.locks, name).is_held_elsewhere():
        study.set_user_attr(st.ATTR_STOP, True)
        console.print(f"asked the controller of {name!r} to stop")
    else:
        study.set_user_attr(st.ATTR_STATE, "Stopped")
        study.set_user_attr(st.ATTR_MESSAGE, "stopped with 'workbench stop' (no controller was running)")
        console.print(f"{name!r} has no running controller; marked Stopped (continue with: workbench resume {name})")


@app.command()
def validate(spec_file: Path = typer.Argument(..., help="Experiment YAML to check.")) -> None:
    """Check an experiment spec (and its search settings) without running anything."""
    from workbench.search import check_search
    from workbench.spec import load_experiment

    spec = load_experiment(spec_file)
    check_search(spec, spec_file.resolve().parent)
    pipeline = spec.trial_template.pipeline
    console.print(
        f"[green]valid[/]: experiment {spec.name!r}, {len(spec.parameters)} parameters, "
        f"algorithm {spec.algorithm.algorithm_name}, trial pipeline {pipeline.name!r} "
        f"with steps {[s.name for s in pipeline.steps]}"
    )


# ---------------------------------------------------------------------------- read


@app.command("ls")
def list_cmd(home: Path | None = HomeOption) -> None:
    """List experiments with state, progress and best value."""
    from workbench.query import list_experiments

    rows = list_experiments(_workspace(home))
    if not rows:
        console.print("no experiments yet (start one with: workbench run examples/quickstart.yaml)")
        return
    table = Table("name", "namespace", "state", "algorithm", "trials", "failed", "pruned", "best", "duration")
    for r in rows:
        table.add_row(
            r.name,
            r.namespace,
            _state(r.state),
            r.algorithm,
            f"{r.finished}/{r.max_trials or '∞'}",
            str(r.failed),
            str(r.pruned),
            f"{_fmt(r.best_value)} (#{r.best_trial})" if r.best_trial is not None else "-",
            _duration(r.duration),
        )
    console.print(table)


def _trials_table(df: Any, objective: list[str], directions: list[str], limit: int | None) -> Table:
    table = Table(title=None)
    cols = ["number", "state"] + [c for c in df.columns if c.startswith("params.")]
    metric_cols = [f"metrics.{m}" for m in objective] + sorted(
        c for c in df.columns if c.startswith("metrics.") and c[8:] not in objective
    )
    cols += [c for c in metric_cols if c in df.columns] + ["duration_s"]
    for c in cols:
        header = c.replace("params.", "").replace("metrics.", "").replace("duration_s", "time")
        table.add_column(header, no_wrap=True, min_width=min(len(header), 12))
    view = df
    first = f"metrics.{objective[0]}"
    if first in df.columns and len(directions) == 1:
        view = df.sort_values(first, ascending=directions[0] == "minimize", na_position="last")
    if limit:
        view = view.head(limit)
    for _, row in view.iterrows():
        cells = []
        for c in cols:
            v = row.get(c)
            if c == "state":
                cells.append(_state(str(v)))
            elif c == "duration_s":
                cells.append(f"{v:.1f}s" if isinstance(v, float) and not math.isnan(v) else "-")
            else:
                cells.append(_fmt(v))
        table.add_row(*cells)
    return table


def _show(workspace: Any, name: str, limit: int | None) -> None:
    from workbench.query import experiment, load_study, trials_dataframe

    row = experiment(workspace, name)
    df = trials_dataframe(load_study(workspace, name))
    console.print(
        Panel.fit(
            f"state {_state(row.state)}  {row.message}\n"
            f"algorithm {row.algorithm}   trials {row.finished}/{row.max_trials or '∞'}   "
            f"failed {row.failed}   pruned {row.pruned}   duration {_duration(row.duration)}",
            title=f"experiment {row.name}",
        )
    )
    if len(df):
        shown = f" (best {limit})" if limit and len(df) > limit else ""
        console.print(f"trials{shown}:")
        console.print(_trials_table(df, row.objective, row.directions, limit))
    if row.best_trial is not None:
        best = df[df["number"] == row.best_trial].iloc[0]
        params = {c[7:]: best[c] for c in df.columns if c.startswith("params.")}
        console.print(
            Panel.fit(
                f"trial {row.best_trial}: {row.objective[0]} = {_fmt(row.best_value)}\n"
                + "\n".join(f"  {k} = {_fmt(v)}" for k, v in params.items()),
                title="best trial",
                border_style="green",
            )
        )


@app.command()
def show(
    name: str = typer.Argument(..., help="Experiment name."),
    home: Path | None = HomeOption,
    limit: int | None = typer.Option(None, help="Show only the best N trials."),
) -> None:
    """State, counts, best trial and the trial table of an experiment."""
    _show(_workspace(home), name, limit)


@app.command()
def best(
    name: str = typer.Argument(..., help="Experiment name."),
    home: Path | None = HomeOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best trial's parameters and metrics (the Pareto front for multi-objective experiments)."""
    from workbench.query import load_study
    from workbench.search import _storage as st

    study = load_study(_workspace(home), name)
    trials = study.best_trials if len(study.directions) > 1 else ([study.best_trial] if _has_best(study) else [])
    if not trials:
        raise WorkbenchError(f"experiment {name!r} has no succeeded trial yet")
    out = [
        {"number": t.number, "params": t.params, "values": t.values, "metrics": t.user_attrs.get(st.T_METRICS, {})}
        for t in trials
    ]
    if as_json:
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
        return
    for item in out:
        console.print(f"[bold]trial {item['number']}[/]  values {item['values']}")
        for k, v in item["params"].items():
            console.print(f"  {k} = {_fmt(v)}")
        for k, v in item["metrics"].items():
            console.print(f"  [dim]{k}[/] = {_fmt(v)}")


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
    """Every trial of an experiment."""
    from workbench.query import experiment, load_study, trials_dataframe

    workspace = _workspace(home)
    df = trials_dataframe(load_study(workspace, name))
    if csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    row = experiment(workspace, name)
    console.print(_trials_table(df.sort_values("number"), row.objective, ["none"], None))


@app.command()
def templates() -> None:
    """List the trial templates in the catalog."""
    from workbench.spec import list_templates, load_pipeline

    table = Table("template", "parameters", "steps", "path")
    for name, path in list_templates().items():
        try:
            p = load_pipeline(path)
            params = ", ".join(f"{i.name}={_fmt(i.default)}" for i in p.parameters)
            steps = " → ".join(p.topological_order())
        except SpecError as err:
            params, steps = f"[red]invalid: {err}[/]", ""
        table.add_row(name, params, steps, str(path.parent))
    console.print(table)


def main() -> None:
    """Entry point: run the app, turning errors into messages and exit codes."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except SpecError as err:
        err_console.print(f"[red]error:[/] {err}")
        sys.exit(2)
    except WorkbenchError as err:
        err_console.print(f"[red]error:[/] {err}")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[magenta]aborted[/]")
        sys.exit(130)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except Exception as err:  # click usage errors and the like
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(2)
        if isinstance(err, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
