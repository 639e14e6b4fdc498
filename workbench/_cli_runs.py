"""Standalone runs and recurring runs on the command line.

``workbench pipeline run/rerun``, ``workbench runs ls/show/logs/cancel``,
``workbench schedule create/ls/show/enable/disable/delete`` and ``workbench scheduler``.
Registered on the main app by :func:`register` (``workbench.cli``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from workbench.errors import SpecError, WorkbenchError

pipeline_app = typer.Typer(name="pipeline", help="Standalone pipeline runs (not trials of an experiment).",
                           no_args_is_help=True)  # fmt: skip
runs_app = typer.Typer(name="runs", help="Standalone runs: list, show, logs, cancel.", no_args_is_help=True)
schedule_app = typer.Typer(name="schedule", help="Recurring runs: a cron or periodic trigger starting a pipeline "
                           "run or an experiment.", no_args_is_help=True)  # fmt: skip

HomeOption = typer.Option(None, "--home", help="Workspace folder (default: $WORKBENCH_HOME or ./.workbench).")
NamespaceFilter = typer.Option(None, "--namespace", "-n", help="Only this namespace.")
#: Exit codes by run state.
EXIT_FOR_RUN = {"Succeeded": 0, "Failed": 1, "Killed": 130}


def _cli() -> Any:
    from workbench import cli

    return cli


def _workspace(home: Path | None) -> Any:
    return _cli()._workspace(home)


def _store(home: Path | None, create: bool = False) -> Any:
    from workbench.runs import existing_store, store_of

    ws = _workspace(home)
    return store_of(ws) if create else existing_store(ws)


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


# --------------------------------------------------------------------------------------------- pipeline


def _execute(record: Any, workspace: Any, quiet: bool) -> int:
    """Run a stored Pending run in this process; Ctrl-C / SIGTERM cancel it (a second Ctrl-C aborts)."""
    import threading

    from workbench.runs import execute_run

    cli = _cli()
    cancel = threading.Event()
    hits = {"n": 0}

    def on_signal(signum: int, frame: Any) -> None:
        hits["n"] += 1
        if hits["n"] > 1:
            raise KeyboardInterrupt
        cli.err_console.print("[magenta]cancelling the run (Ctrl-C again to abort)[/]")
        cancel.set()

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        if not quiet:
            cli.console.print(f"run {record.run_id} of pipeline {escape(record.pipeline)!r} "
                              f"(experiment {escape(record.experiment)}, namespace {record.namespace})")  # fmt: skip
        cli._quiet_libraries()
        finished = execute_run(record, workspace, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    if not quiet:
        _print_run(finished)
    if finished.state != "Succeeded":
        cli._error(WorkbenchError(f"run {finished.run_id} {finished.state}: {finished.message or '-'}"))
    return EXIT_FOR_RUN.get(finished.state, 1)


@pipeline_app.command("run")
def pipeline_run(
    pipeline_file: str = typer.Argument(
        ..., help="Pipeline YAML (kind: Pipeline), or FILE.py:FUNCTION naming a @workbench.pipeline function."
    ),
    param: list[str] = typer.Option(None, "--param", "-p", help="A pipeline parameter, NAME=VALUE (repeatable)."),
    experiment: str = typer.Option("Default", "--experiment", "-e", help="Experiment (group of runs) of the run."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace of the run."),
    name: str = typer.Option("", "--name", help="A display name (default: the pipeline's name)."),
    metric: list[str] = typer.Option(
        None,
        "--metric",
        "-m",
        help="A metric to collect from the steps' output (repeatable); its latest value is kept.",
    ),  # fmt: skip
    backend: str | None = typer.Option(None, help="Where steps run: local or kubernetes (default: the setting)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, even where a cached result exists."),
    schedule: str | None = typer.Option(None, "--schedule", hidden=True, help="The CronJob that started the run."),
    home: Path | None = HomeOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Run a pipeline once (a standalone run), recorded in MLflow, ML Metadata and the run store."""
    from workbench.runs import load_pipeline_ref, parse_params, prepare_run, store_of

    pipeline = load_pipeline_ref(pipeline_file)
    workspace = _workspace(home)
    try:
        record = prepare_run(
            pipeline, parse_params(param), experiment=experiment, namespace=namespace, name=name,
            metric_names=list(metric or []), cache=not no_cache, backend=backend, workspace=workspace,
            schedule=schedule,
        )  # fmt: skip
    except SpecError as err:
        source = str(Path(pipeline_file).resolve()) if Path(pipeline_file).exists() else pipeline_file
        raise _cli()._with_source(err, source) from None
    from workbench.backends import get_backend

    get_backend(record.backend, workspace)  # an unknown backend is an input error: before anything is written
    store_of(workspace).create_run(record)
    raise typer.Exit(_execute(record, workspace, quiet))


@pipeline_app.command("rerun")
def pipeline_rerun(
    run_id: str = typer.Argument(..., help="The run to repeat (its id, or a unique prefix)."),
    backend: str | None = typer.Option(None, help="Where steps run (default: where the run ran)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, even where a cached result exists."),
    force: bool = typer.Option(False, "--force", help="Run even if a component's code changed since."),
    home: Path | None = HomeOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Run a stored run again: the same pipeline, parameters, experiment and namespace (cached steps are reused)."""
    from workbench.runs import prepare_rerun, store_of

    workspace = _workspace(home)
    if _store(home) is None:
        raise WorkbenchError(f"no run {run_id!r}: the workspace {workspace.home} has no runs")
    record = prepare_rerun(run_id, workspace, cache=False if no_cache else None, backend=backend, force=force)
    store_of(workspace).create_run(record)
    if not quiet:
        _cli().console.print(f"rerun of {record.rerun_of}")
    raise typer.Exit(_execute(record, workspace, quiet))


@pipeline_app.command("unpack", hidden=True)
def pipeline_unpack(
    bundle: Path = typer.Option(..., "--bundle", help="The mounted ConfigMap of the CronJob."),
    target: Path = typer.Option(..., "--target", help="Where the pipeline's files go on the shared volume."),
) -> None:
    """Inside a CronJob's pod: lay the pipeline's files out on the shared volume."""
    from workbench.backends._bundle import unpack_bundle

    unpack_bundle(bundle, target)


# --------------------------------------------------------------------------------------------- runs


def _print_run(r: Any) -> None:
    cli = _cli()
    lines = [
        f"run {r.run_id}  {cli._state(r.state)}  {escape(r.message)}",
        f"pipeline {escape(r.pipeline)}   experiment {escape(r.experiment)}   namespace {r.namespace}"
        + (f"   schedule {escape(r.schedule)}" if r.schedule else "")
        + (f"   rerun of {r.rerun_of}" if r.rerun_of else ""),
        f"created {_when(r.created)}   started {_when(r.started)}   finished {_when(r.finished)}   "
        f"duration {cli._duration(r.duration)}   backend {r.backend}   cache {'on' if r.cache else 'off'}",
        "parameters: " + (", ".join(f"{k}={escape(cli._fmt(v))}" for k, v in _shown_params(r).items()) or "-"),
    ]
    if r.metrics:
        lines.append("metrics: " + ", ".join(f"{k}={cli._fmt(v)}" for k, v in r.metrics.items()))
    if r.stale():
        lines.append("[yellow]no heartbeat for a while: its process may be gone[/]")
    cli.console.print("\n".join(lines), soft_wrap=True, highlight=False)
    if r.steps:
        table = Table("step", "state", "attempts", "started", "duration", "message", "log")
        for name, s in r.steps.items():
            started, finished = s.get("started"), s.get("finished")
            table.add_row(
                name, cli._state(str(s.get("state", ""))), str(s.get("attempts") or s.get("attempt") or "-"),
                _when(started), cli._duration(finished - started if started and finished else None),
                escape(str(s.get("message") or "")), escape(str(s.get("log_path") or "")),
            )  # fmt: skip
        cli.console.print(table)


@runs_app.command("ls")
def runs_ls(
    namespace: str | None = NamespaceFilter,
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Only runs of this experiment."),
    schedule: str | None = typer.Option(None, "--schedule", help="Only runs started by this schedule."),
    limit: int | None = typer.Option(50, "--limit", help="At most this many runs (newest first); 0: all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    archived: bool = typer.Option(False, "--archived", help="List archived runs too (marked archived)."),
    home: Path | None = HomeOption,
) -> None:
    """List standalone runs, newest first (archived runs only with --archived)."""
    cli = _cli()
    store = _store(home)
    rows = (
        store.list_runs(namespace, experiment, schedule, limit=limit or None, archived=archived)
        if store is not None
        else []
    )
    hidden = store.archived_ids() if store is not None and archived else set()
    if as_json:
        keys = ("run_id", "name", "namespace", "experiment", "pipeline", "state", "message", "parameters", "metrics",
                "created", "started", "finished", "schedule", "fire_at", "rerun_of")  # fmt: skip
        shown = [{k: _shown_params(r) if k == "parameters" else getattr(r, k) for k in keys} for r in rows]
        if archived:
            shown = [{**item, "archived": item["run_id"] in hidden} for item in shown]
        print(json.dumps(shown, indent=2, default=str))
        return
    if not rows:
        cli.console.print("no runs (start one with: workbench pipeline run PIPELINE.yaml)")
        return
    table = Table("run", "name", "namespace", "experiment", "pipeline", "state", "started", "duration", "parameters")
    for r in rows:
        state = cli._state(r.state) + (" (stale)" if r.stale() else "") + (" (archived)" if r.run_id in hidden else "")
        params = ", ".join(f"{k}={cli._fmt(v)}" for k, v in _shown_params(r).items())
        table.add_row(r.run_id[:12], escape(r.name), r.namespace, escape(r.experiment), escape(r.pipeline), state,
                      _when(r.started or r.created), cli._duration(r.duration), escape(params[:60]))  # fmt: skip
    cli.console.print(table)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole record as JSON (pipeline document too)."),
    home: Path | None = HomeOption,
) -> None:
    """A run: state, parameters, metrics, steps and their logs."""
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no run {run_id!r}: the workspace has no runs")
    record = store.get_run(run_id)
    if as_json:
        from dataclasses import asdict

        print(json.dumps(asdict(record), indent=2, default=str))
        return
    _print_run(record)


@runs_app.command("logs")
def runs_logs(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    step: str | None = typer.Option(None, "--step", "-s", help="Only this step's log."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing what the steps write until the run ends."),
    home: Path | None = HomeOption,
) -> None:
    """The logs of a run's steps (in the order they ran); ``--follow`` follows a live run."""
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no run {run_id!r}: the workspace has no runs")
    record = store.get_run(run_id)
    logs = _step_logs(record)
    if step is not None and step not in logs and not (follow and not record.done):
        raise SpecError(f"run {record.run_id} has no log of step {step!r} (steps: {sorted(logs) or 'none'})",
                        path="--step")  # fmt: skip
    if follow:
        _follow(store, record, step)
        return
    if step is not None:
        logs = {step: logs[step]}
    from workbench.engine.run import log_parts

    order = sorted(logs, key=lambda n: record.steps.get(n, {}).get("started") or 0)
    for name in order:
        path = Path(str(logs[name]))
        if len(logs) > 1:
            typer.echo(f"==> {name} ({path}) <==")
        try:
            for part in log_parts(path) or [path]:  # the head, then the rolling tail of a long log
                with open(part, encoding="utf-8", errors="replace") as fh:
                    shutil.copyfileobj(fh, sys.stdout)
        except OSError as err:
            typer.echo(f"(cannot read {path}: {err})")


def _step_logs(record: Any) -> dict[str, str]:
    """Step name -> log file, as the run store knows them (or as the run's log folder holds them)."""
    logs = {n: str(s["log_path"]) for n, s in record.steps.items() if s.get("log_path")}
    if record.log_dir and Path(record.log_dir).is_dir():
        for path in sorted(Path(record.log_dir).glob("*.log")):
            logs.setdefault(path.stem, str(path))
    return logs


#: How often ``runs logs --follow`` looks for new output (seconds).
FOLLOW_POLL = 0.25


def _follow(store: Any, record: Any, only: str | None) -> None:
    """Print every step log as it grows, until the run has ended and everything it wrote was printed.

    Offsets are kept per file (by inode), so a log that rotates (``.log.1`` moving to ``.log.2``) is
    read on where it was left.
    """
    from workbench.engine.run import log_parts

    offsets: dict[tuple[int, int], int] = {}
    shown = [""]

    def drain(name: str, path: str, many: bool) -> None:
        for part in log_parts(path):
            try:
                with open(part, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    ident = (st.st_dev, st.st_ino)
                    fh.seek(offsets.get(ident, 0))
                    chunk = fh.read()
                    offsets[ident] = fh.tell()
            except OSError:
                continue
            if chunk:
                if many and shown[0] != name:
                    sys.stdout.write(f"==> {name} <==\n")
                    shown[0] = name
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()

    while True:
        done = record.done
        logs = _step_logs(record)
        if only is not None:
            logs = {only: logs[only]} if only in logs else {}
        order = sorted(logs, key=lambda n: record.steps.get(n, {}).get("started") or 0)
        for name in order:
            drain(name, logs[name], only is None and len(logs) > 1)
        if done:  # the run ended before this pass: everything it wrote was printed
            return
        if record.stale():
            raise WorkbenchError(f"run {record.run_id} stopped writing heartbeats: its process is gone")
        time.sleep(FOLLOW_POLL)
        record = store.get_run(record.run_id)


@runs_app.command("cancel")
def runs_cancel(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    wait: float = typer.Option(0.0, "--wait", help="Wait up to this many seconds for the run to end."),
    home: Path | None = HomeOption,
) -> None:
    """Cancel a run: the process running it cancels its steps, and the run ends Killed."""
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no run {run_id!r}: the workspace has no runs")
    record = store.request_cancel(run_id)
    cli = _cli()
    if record.done and not record.cancel_requested:
        cli.console.print(f"run {record.run_id} is already {record.state}; nothing to cancel")
        return
    cli.console.print(f"asked to cancel run {record.run_id} ({record.state})")
    deadline = time.monotonic() + wait
    while wait and not record.done:
        if time.monotonic() > deadline:
            raise WorkbenchError(f"run {record.run_id} is still {record.state} after {wait:g}s")
        time.sleep(0.2)
        record = store.get_run(record.run_id)
    if wait:
        cli.console.print(f"run {record.run_id} {cli._state(record.state)}")


@runs_app.command("delete")
def runs_delete(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    home: Path | None = HomeOption,
) -> None:
    """Delete a finished run: its record, MLflow runs, step outputs and logs (its ML Metadata lineage stays)."""
    from workbench.runs import delete_run

    cli = _cli()
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no run {run_id!r}: the workspace has no runs")
    record = store.get_run(run_id)
    question = (f"delete run {record.run_id} ({record.pipeline}, {record.state}) with its MLflow runs, step outputs "
                "and logs?")  # fmt: skip
    if not yes and not typer.confirm(question, default=False):
        cli.err_console.print("nothing deleted")
        raise typer.Exit(1)
    deleted = delete_run(_workspace(home), record.run_id)
    cli.console.print(
        f"deleted run {record.run_id}: {deleted.erased.mlflow_runs} MLflow runs, {deleted.erased.folders} folders "
        "of outputs and logs (its lineage stays in ML Metadata)"
    )


def _archive_run(run_id: str, home: Path | None, archived: bool) -> None:
    from workbench.runs import archive_run

    record = archive_run(_workspace(home), run_id, archived)
    verb = "archived" if archived else "unarchived"
    hint = " (workbench runs ls --archived lists it)" if archived else ""
    _cli().console.print(f"{verb} run {record.run_id}{hint}")


@runs_app.command("archive")
def runs_archive(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."), home: Path | None = HomeOption
) -> None:
    """Hide a run from the lists (nothing is removed; workbench runs unarchive shows it again)."""
    _archive_run(run_id, home, True)


@runs_app.command("unarchive")
def runs_unarchive(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."), home: Path | None = HomeOption
) -> None:
    """Show an archived run in the lists again."""
    _archive_run(run_id, home, False)


# --------------------------------------------------------------------------------------------- schedules


@schedule_app.command("create")
def schedule_create(
    name: str = typer.Argument(..., help="Schedule name (unique in its namespace)."),
    pipeline: Path | None = typer.Option(None, "--pipeline", help="Start a run of this pipeline YAML."),
    experiment_file: Path | None = typer.Option(
        None,
        "--experiment-file",
        help="Start this experiment YAML (under a new name per occurrence: NAME-YYYYmmdd-HHMM).",
    ),  # fmt: skip
    cron: str | None = typer.Option(None, "--cron", help="Cron: 5 fields, or 6 with seconds first (KFP)."),
    every: str | None = typer.Option(None, "--every", help="A period: 30s, 15m, 2h, 1d."),
    start: str | None = typer.Option(None, "--start", help="Not before this ISO time (in --timezone if no offset)."),
    end: str | None = typer.Option(None, "--end", help="Not after this ISO time."),
    timezone: str = typer.Option("UTC", "--timezone", help="Time zone of the cron expression (IANA name)."),
    max_concurrency: int = typer.Option(1, "--max-concurrency", help="Runs of this schedule in flight at once."),
    catchup: bool = typer.Option(
        True,
        "--catchup/--no-catchup",
        help="After downtime: run each missed occurrence (at most 100), or only the latest.",
    ),  # fmt: skip
    param: list[str] = typer.Option(None, "--param", "-p", help="A pipeline parameter, NAME=VALUE (repeatable)."),
    experiment: str = typer.Option("Default", "--experiment", "-e", help="Experiment (group) of the pipeline runs."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Namespace (default: the experiment's, else default)."
    ),  # fmt: skip
    metric: list[str] = typer.Option(None, "--metric", "-m", help="A metric the runs collect (repeatable)."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled (enable it later)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Its runs run every step."),
    backend: str | None = typer.Option(
        None,
        help="local: the scheduler starts runs here. kubernetes: print a "
        "CronJob running `workbench pipeline run` in the cluster instead.",
    ),  # fmt: skip
    image: str | None = typer.Option(None, "--image", help="The CronJob's image (default: kubernetes.image)."),
    home: Path | None = HomeOption,
) -> None:
    """Create a recurring run. `workbench scheduler` fires it."""
    from workbench.runs import parse_params

    params = parse_params(param)
    if backend in ("kubernetes", "k8s"):
        _print_cronjob(name, pipeline, experiment_file, cron, every, start, end, timezone, max_concurrency, catchup,
                       params, experiment, namespace, disabled, no_cache, image, home)  # fmt: skip
        return
    from workbench.schedule import create_schedule, next_fire

    if backend is not None:
        from workbench.backends import get_backend

        get_backend(backend, _workspace(home))
    record = create_schedule(
        _workspace(home), name, pipeline=pipeline, experiment_file=experiment_file, cron=cron, every=every,
        start=start, end=end, timezone=timezone, max_concurrency=max_concurrency, catchup=catchup, params=params,
        enabled=not disabled, namespace=namespace, experiment=experiment, backend=backend, cache=not no_cache,
        metric_names=list(metric or []),
    )  # fmt: skip
    nxt = next_fire(record, None)
    _cli().console.print(
        f"schedule {record.name!r} ({record.kind}, namespace {record.namespace}) created"
        + (f"; next run {_when(nxt)}" if nxt else "; disabled" if disabled else "; it will not fire (past its end)")
        + " — fired by: workbench scheduler",
        soft_wrap=True,
    )


def _print_cronjob(name: str, pipeline: Path | None, experiment_file: Path | None, cron: str | None,
                   every: str | None, start: str | None, end: str | None, timezone: str, max_concurrency: int,
                   catchup: bool, params: dict[str, str], experiment: str, namespace: str | None, disabled: bool,
                   no_cache: bool, image: str | None, home: Path | None) -> None:  # fmt: skip
    from workbench.backends._k8s_manifests import to_yaml
    from workbench.runs import resolve_parameters
    from workbench.schedule import Trigger
    from workbench.schedule._cronjob import cronjob_objects
    from workbench.spec import load_pipeline, pipeline_to_document
    from workbench.spec._validation import check_name

    if pipeline is None or experiment_file is not None:
        raise SpecError("a CronJob starts pipeline runs: give --pipeline (experiments: workbench submit)",
                        path="target")  # fmt: skip
    try:
        check_name(name, "schedule name")
    except ValueError as err:
        raise SpecError(str(err), path="name") from None
    trigger = Trigger.parse(cron=cron, every=every, timezone=timezone, start=start, end=end)
    p = load_pipeline(pipeline)
    values = resolve_parameters(p, params, where="params")
    from workbench.backends.kubernetes import KubernetesSettings

    settings = KubernetesSettings.load(_workspace(home), **({"image": image} if image else {}))
    objects = cronjob_objects(name, pipeline_to_document(p), trigger, namespace or settings.namespace, settings.image,
                              params=values, experiment=experiment, max_concurrency=max_concurrency, catchup=catchup,
                              enabled=not disabled, cache=not no_cache)  # fmt: skip
    sys.stdout.write(to_yaml(objects))


@schedule_app.command("ls")
def schedule_ls(namespace: str | None = NamespaceFilter, home: Path | None = HomeOption) -> None:
    """List schedules with their trigger, policy, next fire time and last occurrence."""
    from workbench.schedule import next_fire, trigger_of

    cli = _cli()
    store = _store(home)
    rows = store.list_schedules(namespace) if store is not None else []
    if not rows:
        cli.console.print("no schedules (create one with: workbench schedule create NAME --pipeline P.yaml --cron ...)")
        return
    table = Table("name", "namespace", "target", "trigger", "enabled", "concurrency", "catchup", "next", "last")
    now = time.time()
    for s in rows:
        assert s.id is not None
        last = store.occurrences(s.id, limit=1)
        last_cell = f"{_when(last[0].fire_at)} {cli._state(last[0].state)}" if last else "-"
        nxt = next_fire(s, last[0].fire_at if last else None, now)
        target = f"{s.kind} {(s.document.get('metadata') or {}).get('name', '')}"
        table.add_row(s.name, s.namespace, escape(target), escape(trigger_of(s).describe()),
                      "yes" if s.enabled else "[dim]no[/]", str(s.max_concurrency), "yes" if s.catchup else "no",
                      _when(nxt), last_cell)  # fmt: skip
    cli.console.print(table)


@schedule_app.command("show")
def schedule_show(
    name: str = typer.Argument(..., help="Schedule name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Its namespace."),
    limit: int = typer.Option(20, "--limit", help="Show this many recent occurrences."),
    home: Path | None = HomeOption,
) -> None:
    """A schedule and its recent occurrences."""
    from workbench.schedule import iso, next_fire, trigger_of

    cli = _cli()
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no schedule {name!r} in namespace {namespace!r}")
    s = store.get_schedule(name, namespace)
    assert s.id is not None
    trigger = trigger_of(s)
    occ = store.occurrences(s.id, limit=limit)
    nxt = next_fire(s, store.last_fire(s.id))
    cli.console.print(
        f"schedule {escape(s.name)} (namespace {s.namespace}): {s.kind} "
        f"{escape(str((s.document.get('metadata') or {}).get('name', '')))} from {escape(s.source)}\n"
        f"trigger {escape(trigger.describe())}, start {iso(trigger.start, trigger.timezone)}, "
        f"end {iso(trigger.end, trigger.timezone)}\n"
        f"enabled {'yes' if s.enabled else 'no'}, max concurrency {s.max_concurrency}, "
        f"catchup {'yes' if s.catchup else 'no'}, next {iso(nxt, trigger.timezone)}\n"
        "parameters: " + (", ".join(f"{k}={cli._fmt(v)}" for k, v in _shown_params(s).items()) or "-"),
        soft_wrap=True,
        highlight=False,
    )
    if occ:
        table = Table("fire time", "state", "target", "started", "finished", "message")
        for o in occ:
            table.add_row(iso(o.fire_at, trigger.timezone), cli._state(o.state), o.target, _when(o.started),
                          _when(o.finished), escape(o.message))  # fmt: skip
        cli.console.print(table)
    else:
        cli.console.print("no occurrences yet")


def _set_enabled(name: str, namespace: str, home: Path | None, enabled: bool) -> None:
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no schedule {name!r} in namespace {namespace!r}")
    store.set_enabled(name, namespace, enabled)
    _cli().console.print(f"schedule {name!r} {'enabled' if enabled else 'disabled'}")


@schedule_app.command("enable")
def schedule_enable(
    name: str = typer.Argument(..., help="Schedule name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Its namespace."),
    home: Path | None = HomeOption,
) -> None:
    """Enable a schedule (with catchup, occurrences missed while disabled run)."""
    _set_enabled(name, namespace, home, True)


@schedule_app.command("disable")
def schedule_disable(
    name: str = typer.Argument(..., help="Schedule name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Its namespace."),
    home: Path | None = HomeOption,
) -> None:
    """Disable a schedule (runs already started go on)."""
    _set_enabled(name, namespace, home, False)


@schedule_app.command("delete")
def schedule_delete(
    name: str = typer.Argument(..., help="Schedule name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Its namespace."),
    home: Path | None = HomeOption,
) -> None:
    """Delete a schedule and its occurrence records (the runs it started stay)."""
    store = _store(home)
    if store is None:
        raise WorkbenchError(f"no schedule {name!r} in namespace {namespace!r}")
    store.delete_schedule(name, namespace)
    _cli().console.print(f"schedule {name!r} deleted")


@schedule_app.command("fire", hidden=True)
def schedule_fire(
    occurrence_id: int = typer.Argument(..., help="The occurrence the scheduler claimed."),
    home: Path | None = HomeOption,
) -> None:
    """Execute one claimed occurrence (started by the scheduler in a process of its own)."""
    from workbench.schedule import execute_occurrence

    _cli()._quiet_libraries()
    state = execute_occurrence(_workspace(home), occurrence_id)
    raise typer.Exit(0 if state in ("", "Succeeded") else 1)


def scheduler(
    home: Path | None = HomeOption,
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only schedules of this namespace."),
    interval: float = typer.Option(1.0, "--interval", help="Seconds between looks for due occurrences."),
    once: bool = typer.Option(False, "--once", help="Fire what is due now, then exit."),
) -> None:
    """Fire the workspace's schedules until SIGTERM or Ctrl-C (several schedulers may share one store)."""
    import logging
    import threading

    stop = threading.Event()
    # Before anything slow: a SIGTERM during start-up must also end the scheduler cleanly.
    old_int = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    old_term = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        from workbench.schedule import Scheduler

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        workspace = _workspace(home)
        workspace.ensure()
        sched = Scheduler(workspace, tick=interval, namespace=namespace)
        sched._stop = stop
        if once:
            sched.prepare_workspace()
            fired = sched.tick()
            typer.echo(f"fired {len(fired)} occurrences")
            return
        sched.run_forever()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def register(app: typer.Typer) -> None:
    """Add ``pipeline``, ``runs``, ``schedule`` and ``scheduler`` to the main app."""
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(runs_app, name="runs")
    app.add_typer(schedule_app, name="schedule")
    app.command("scheduler")(scheduler)


__all__ = ["pipeline_app", "register", "runs_app", "schedule_app"]


def _shown_params(record: Any) -> dict[str, Any]:
    """A run's or schedule's parameters to print: secret ones (marked in its pipeline, or secret-looking) masked."""
    from workbench.tracking._common import flagged_secrets, mask

    return mask(dict(record.parameters), secrets=flagged_secrets(record.document))
