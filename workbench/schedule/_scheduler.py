"""Recurring runs: creating schedules, the scheduler loop, and executing one occurrence.

The scheduler (``workbench scheduler``) wakes up every second and, for every enabled schedule,
computes the occurrences due since the schedule's last recorded one (all of them with
``catchup``, bounded by :data:`~workbench.schedule._trigger.MAX_CATCHUP`; only the latest
without). Each occurrence is *claimed* before anything is launched: one transaction that holds
the schedule's row, counts its active occurrences against ``max_concurrency`` and inserts the
occurrence under ``UNIQUE (schedule, fire time)`` — with the Pending run it will execute. Then a
separate process (``workbench schedule fire ID``, its own session) executes it, so the runs go
on if the scheduler is killed. A restarted scheduler continues after the last recorded
occurrence and relaunches occurrences claimed but never started; several schedulers sharing
one PostgreSQL store never fire an occurrence twice.

Example:
    >>> sched = Scheduler(Workspace.from_env())  # doctest: +SKIP
    >>> sched.tick()  # fire what is due now  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from workbench.errors import SpecError, WorkbenchError
from workbench.runs._store import HEARTBEAT, STALE_AFTER, Occurrence, ScheduleRecord, me, store_of
from workbench.schedule._trigger import MAX_CATCHUP, Trigger

log = logging.getLogger("workbench.scheduler")

#: How often the scheduler looks for due occurrences (seconds).
TICK = 1.0
#: Experiment names are at most this long (``<schedule>-<YYYYmmdd-HHMM[SS]>``).
_NAME_MAX = 63


def create_schedule(
    workspace: Any,
    name: str,
    *,
    pipeline: str | Path | None = None,
    experiment_file: str | Path | None = None,
    cron: str | None = None,
    every: str | float | None = None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    timezone: str | None = None,
    max_concurrency: int = 1,
    catchup: bool = True,
    params: dict[str, Any] | None = None,
    enabled: bool = True,
    namespace: str | None = None,
    experiment: str = "Default",
    backend: str | None = None,
    cache: bool = True,
    metric_names: list[str] | tuple[str, ...] = (),
) -> ScheduleRecord:
    """Validate and store a schedule; every input problem is a ``SpecError`` naming the field.

    ``pipeline`` (a pipeline YAML) starts a pipeline run per occurrence, grouped under
    ``experiment``; ``experiment_file`` (an experiment YAML) starts the whole experiment under a
    per-occurrence name. The target is resolved now and stored: later edits of the file do not
    change the schedule.
    """
    from workbench.runs._execute import resolve_parameters
    from workbench.spec import experiment_to_document, load_experiment, load_pipeline, pipeline_to_document
    from workbench.spec._validation import check_name

    try:
        check_name(name, "schedule name")
    except ValueError as err:
        raise SpecError(str(err), path="name") from None
    if (pipeline is None) == (experiment_file is None):
        raise SpecError("give exactly one of a pipeline (--pipeline) or an experiment (--experiment-file)",
                        path="target")  # fmt: skip
    trigger = Trigger.parse(cron=cron, every=every, timezone=timezone, start=start, end=end)
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise SpecError(f"must be a whole number of at least 1, got {max_concurrency!r}", path="max_concurrency")
    if pipeline is not None:
        p = load_pipeline(pipeline)
        values = resolve_parameters(p, dict(params or {}), where="params")
        kind, document, ns = "pipeline", pipeline_to_document(p), namespace or "default"
        source = str(Path(pipeline).resolve())
        check_name(experiment, "experiment")
    else:
        if params:
            raise SpecError("parameters belong to pipeline schedules; an experiment searches its own",
                            path="params")  # fmt: skip
        spec = load_experiment(experiment_file)  # type: ignore[arg-type]
        values, kind, document = {}, "experiment", experiment_to_document(spec)
        ns = namespace or spec.namespace
        source = str(Path(experiment_file).resolve())  # type: ignore[arg-type]
    try:
        check_name(ns, "namespace")
    except ValueError as err:
        raise SpecError(str(err), path="namespace") from None
    record = ScheduleRecord(
        name=name,
        namespace=ns,
        kind=kind,
        document=document,
        trigger=trigger.to_dict(),
        source=source,
        parameters=values,
        experiment=experiment,
        max_concurrency=max_concurrency,
        catchup=catchup,
        enabled=enabled,
        backend=backend,
        cache=cache,
        metric_names=list(metric_names),
    )
    return store_of(workspace).create_schedule(record)


def trigger_of(schedule: ScheduleRecord) -> Trigger:
    return Trigger.from_dict(schedule.trigger)


def cursor_of(schedule: ScheduleRecord, last_fire: int | None) -> int:
    """Occurrences after this time are due: after the last recorded one, else after creation (or from start)."""
    if last_fire is not None:
        return last_fire
    trigger = trigger_of(schedule)
    if trigger.start is not None:
        return trigger.start - 1
    return int(schedule.created)


def next_fire(schedule: ScheduleRecord, last_fire: int | None, now: float | None = None) -> int | None:
    """When the schedule fires next (``None``: disabled, or past its end)."""
    if not schedule.enabled:
        return None
    now = time.time() if now is None else now
    trigger = trigger_of(schedule)
    cursor = cursor_of(schedule, last_fire)
    due = trigger.due(cursor, int(now), int(schedule.created), limit=1)
    if due:
        return due[0]
    return trigger.next_after(max(cursor, int(now)), int(schedule.created))


def _stamp(schedule: ScheduleRecord, fire_at: int) -> str:
    """``YYYYmmdd-HHMM`` (``SS`` appended for sub-minute triggers) of a fire time, in the schedule's time zone."""
    trigger = trigger_of(schedule)
    local = datetime.fromtimestamp(fire_at, ZoneInfo(trigger.timezone))
    return local.strftime("%Y%m%d-%H%M%S" if trigger.sub_minute else "%Y%m%d-%H%M")


def occurrence_name(schedule: ScheduleRecord, fire_at: int) -> str:
    """The experiment name of an occurrence: ``<experiment>-<YYYYmmdd-HHMM>`` (``SS`` for sub-minute triggers)."""
    suffix = _stamp(schedule, fire_at)
    base = str((schedule.document.get("metadata") or {}).get("name") or schedule.name)
    return f"{base[: _NAME_MAX - len(suffix) - 1].rstrip('-.')}-{suffix}"


# ----------------------------------------------------------------------------------------- launching


def _occurrence_log(workspace: Any, schedule: str, fire_at: int) -> Path:
    return Path(workspace.home) / "schedules" / schedule / f"{fire_at}.log"


class ProcessLauncher:
    """Executes each occurrence in a process of its own (``python -m workbench schedule fire ID``).

    The process has its own session, so it outlives the scheduler (a killed scheduler leaves its
    runs running) and receives none of the scheduler's signals.
    """

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.children: dict[int, subprocess.Popen[bytes]] = {}

    def __call__(self, occurrence: Occurrence, schedule: ScheduleRecord) -> None:
        logfile = _occurrence_log(self.workspace, schedule.name, occurrence.fire_at)
        logfile.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "WORKBENCH_HOME": str(self.workspace.home), "PYTHONUNBUFFERED": "1"}
        if getattr(self.workspace, "runs_url", ""):
            env["WORKBENCH_RUNS_URL"] = self.workspace.runs_url
        with open(logfile, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "workbench", "schedule", "fire", str(occurrence.id)],
                cwd=str(self.workspace.home),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children[occurrence.id] = proc

    def alive(self, occurrence_id: int) -> bool:
        proc = self.children.get(occurrence_id)
        return proc is not None and proc.poll() is None

    def reap(self) -> None:
        """Collect the exit status of finished children (no zombies)."""
        for oid, proc in list(self.children.items()):
            if proc.poll() is not None:
                del self.children[oid]


Launcher = Callable[[Occurrence, ScheduleRecord], None]


class Scheduler:
    """Fires the due occurrences of every enabled schedule of a workspace's run store.

    ``clock`` returns the current time (epoch seconds): tests pass a controllable one.
    ``launcher(occurrence, schedule)`` executes a claimed occurrence (default: a process).
    """

    def __init__(
        self,
        workspace: Any,
        clock: Callable[[], float] = time.time,
        launcher: Launcher | None = None,
        tick: float = TICK,
        namespace: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.store = store_of(workspace)
        self.clock = clock
        self.launcher: Any = launcher or ProcessLauncher(workspace)
        self.tick_seconds = tick
        self.namespace = namespace
        self.identity = me()
        self._stop = threading.Event()
        self._last_reap = 0.0
        #: Occurrences this scheduler claimed (for the log and for tests).
        self.fired: list[Occurrence] = []

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def prepare_workspace(self) -> None:
        """Create the workspace's tracking stores once, before any run starts: the processes of several
        occurrences must not race to create the same SQLite schemas (MLflow's, ML Metadata's)."""
        from workbench.tracking import MlflowRecorder, MlmdRecorder
        from workbench.tracking import _is_remote as remote

        self.workspace.ensure()
        root = None if remote(self.workspace.mlflow_uri) else self.workspace.mlflow_artifacts.as_uri()
        MlflowRecorder(self.workspace.mlflow_uri, artifact_root=root).client.search_experiments(max_results=1)
        MlmdRecorder(self.workspace.mlmd_url).close()

    def run_forever(self) -> None:
        """Tick until :meth:`request_stop` (SIGTERM, Ctrl-C in the CLI)."""
        self.prepare_workspace()
        log.info("scheduler %s started on %s", self.identity, self.store.url.split("@")[-1])
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as err:  # a store that is briefly down: try again on the next tick
                log.warning("scheduler tick failed: %s", err)
            self._stop.wait(self.tick_seconds)
        log.info("scheduler %s stopped", self.identity)

    def tick(self, now: float | None = None) -> list[Occurrence]:
        """One pass: clean up after dead processes, relaunch stranded occurrences, fire what is due."""
        now = self.clock() if now is None else now
        if isinstance(self.launcher, ProcessLauncher):
            self.launcher.reap()
        if now - self._last_reap >= HEARTBEAT:
            self._last_reap = now
            self.store.reap_stale_occurrences(now)
            self.store.reap_stale_runs(now)
            self._relaunch(now)
        fired: list[Occurrence] = []
        for schedule in self.store.list_schedules(namespace=self.namespace, enabled=True):
            if self._stop.is_set():
                break
            try:
                fired += self._fire_due(schedule, int(now))
            except WorkbenchError as err:
                log.warning("schedule %s: %s", schedule.name, err)
        return fired

    def _fire_due(self, schedule: ScheduleRecord, now: int) -> list[Occurrence]:
        assert schedule.id is not None
        trigger = trigger_of(schedule)
        cursor = cursor_of(schedule, self.store.last_fire(schedule.id))
        limit = MAX_CATCHUP if schedule.catchup else 1
        fired = []
        for fire_at in trigger.due(cursor, now, int(schedule.created), limit=limit):
            target, run = self._target(schedule, fire_at)
            claimed = self.store.claim_occurrence(schedule, fire_at, target, run=run, launched_by=self.identity)
            if claimed == "taken":
                continue  # another scheduler (or an earlier life of this one) recorded it
            if isinstance(claimed, str):
                break  # busy (max_concurrency) or disabled: the rest waits for the next tick
            log.info("schedule %s fires %s: %s", schedule.name, datetime.fromtimestamp(fire_at).isoformat(), target)
            self.fired.append(claimed)
            fired.append(claimed)
            self._launch(claimed, schedule)
        return fired

    def _target(self, schedule: ScheduleRecord, fire_at: int) -> tuple[str, Any]:
        """What an occurrence starts: a Pending run record (pipeline schedules) or an experiment name."""
        if schedule.kind == "experiment":
            return occurrence_name(schedule, fire_at), None
        from workbench.runs._execute import pipeline_of, prepare_run
        from workbench.runs._store import RunRecord

        pipeline = pipeline_of(RunRecord("", "", "", "", schedule.document, {}, {}))
        record = prepare_run(
            pipeline,
            schedule.parameters,
            experiment=schedule.experiment,
            namespace=schedule.namespace,
            name=f"{schedule.name}-{_stamp(schedule, fire_at)}",
            metric_names=schedule.metric_names,
            cache=schedule.cache,
            backend=schedule.backend,
            workspace=self.workspace,
            schedule=schedule.name,
            fire_at=fire_at,
        )
        record.document = schedule.document
        return record.run_id, record

    def _launch(self, occurrence: Occurrence, schedule: ScheduleRecord) -> None:
        try:
            self.launcher(occurrence, schedule)
        except Exception as err:  # cannot start the process: the occurrence fails, visibly
            log.error("schedule %s: cannot launch occurrence %d: %s", schedule.name, occurrence.id, err)
            self.store.finish_occurrence(occurrence.id, "Failed", f"cannot launch: {err}")

    def _relaunch(self, now: float) -> None:
        """Occurrences claimed by a scheduler that died before their process started."""
        for occ in self.store.unstarted_occurrences(older_than=now - STALE_AFTER):
            if isinstance(self.launcher, ProcessLauncher) and self.launcher.alive(occ.id):
                continue
            schedule = self.store.schedule_by_id(occ.schedule_id)
            if schedule is None:
                continue
            log.info("schedule %s: occurrence %d was never started; launching it", schedule.name, occ.id)
            self._launch(occ, schedule)


# ----------------------------------------------------------------------------------------- one occurrence


def execute_occurrence(workspace: Any, occurrence_id: int) -> str:
    """Execute a claimed occurrence in this process (``workbench schedule fire ID``); returns its final state.

    Exactly one process gets to execute it (Pending → Running in the store); others return ``""``.
    SIGTERM cancels the run (or stops the experiment).
    """
    store = store_of(workspace)
    occ = store.get_occurrence(occurrence_id)
    schedule = store.schedule_by_id(occ.schedule_id)
    if schedule is None:
        store.finish_occurrence(occurrence_id, "Failed", "its schedule was deleted")
        return "Failed"
    if not store.start_occurrence(occurrence_id):
        return ""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT):
            try:
                store.occurrence_heartbeat(occurrence_id)
            except Exception as err:
                log.warning("occurrence %d: heartbeat failed: %s", occurrence_id, err)

    threading.Thread(target=beat, name="occurrence-heartbeat", daemon=True).start()
    state, message = "Failed", ""
    try:
        if schedule.kind == "pipeline":
            state, message = _execute_pipeline(workspace, occ)
        else:
            state, message = _execute_experiment(workspace, schedule, occ)
    except Exception as err:
        state, message = "Failed", f"{type(err).__name__}: {err}"
        log.exception("occurrence %d failed", occurrence_id)
    finally:
        done.set()
        store.finish_occurrence(occurrence_id, state, message)
    return state


def _execute_pipeline(workspace: Any, occ: Occurrence) -> tuple[str, str]:
    from workbench.runs._execute import execute_run

    store = store_of(workspace)
    record = store.get_run(occ.target)
    if record.state != "Pending":
        return record.state if record.done else "Failed", record.message or f"run was {record.state} before it started"
    cancel = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda s, f: cancel.set())
    try:
        finished = execute_run(record, workspace, cancel=cancel)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return finished.state, finished.message


def _execute_experiment(workspace: Any, schedule: ScheduleRecord, occ: Occurrence) -> tuple[str, str]:
    import copy

    from workbench.backends import get_backend
    from workbench.search.controller import Controller
    from workbench.spec import experiment_from_dict

    doc = copy.deepcopy(schedule.document)
    doc.setdefault("metadata", {})["name"] = occ.target
    spec = experiment_from_dict(doc, Path(schedule.source).parent if schedule.source else None,
                                source=f"schedule {schedule.name}")  # fmt: skip
    controller = Controller(spec, workspace, backend=get_backend(schedule.backend, workspace), cache=schedule.cache)
    previous = signal.signal(signal.SIGTERM, lambda s, f: controller.request_stop("stopped by SIGTERM"))
    try:
        summary = controller.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return summary.state, summary.message


__all__ = [
    "ProcessLauncher",
    "Scheduler",
    "create_schedule",
    "cursor_of",
    "execute_occurrence",
    "next_fire",
    "occurrence_name",
    "trigger_of",
]
