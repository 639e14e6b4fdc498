"""The controller: drives an experiment from start (or a crash) to its end.

It keeps ``parallelTrialCount`` trial runs in flight: ask Optuna for a point, run the
trial's pipeline on the backend, feed intermediate values of the objective to the
pruner while the steps run (cancelling the run when pruned), then tell Optuna the
result. It stops on ``maxTrialCount``, on the ``goal``, when failed trials exceed
``maxFailedTrialCount``, when the sampler is exhausted (grid), or when asked to stop.

Resume: a trial left running by a dead controller, or cancelled by a stop, is marked
Killed and its parameters are queued again, so the experiment ends with exactly
``maxTrialCount`` finished trials — none lost, none duplicated.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from workbench.backends import BaseBackend, LocalBackend, StepLaunch
from workbench.engine import PipelineRunner, RunContext, RunResult
from workbench.errors import SpecError, WorkbenchError
from workbench.search import _storage as st
from workbench.search._algorithms import create_sampler, max_trials
from workbench.search._pruners import create_pruner
from workbench.search._space import check_compatible, distributions, space_signature, trial_values
from workbench.search._warmstart import ROW_KEY_ATTR, apply_warm_start
from workbench.spec import ExperimentSpec, trial_bindings
from workbench.spec._load import experiment_to_document
from workbench.tracking._base import BaseRecorder, ExperimentInfo, RunInfo
from workbench.workspace import Workspace

log = logging.getLogger("workbench.controller")

#: Trial states that count toward ``maxTrialCount``.
FINISHED = ("Succeeded", "Pruned", "Failed", "MetricsUnavailable")
#: Trial states that count toward ``maxFailedTrialCount``.
FAILED = ("Failed", "MetricsUnavailable")


@dataclass
class TrialEvent:
    """What the controller tells its listener (the CLI's progress bar, the API)."""

    kind: str  # "started" | "finished" | "message"
    number: int | None = None
    state: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    values: list[float] | None = None
    message: str = ""


@dataclass
class Summary:
    """How an experiment stands when the controller returns."""

    name: str
    state: str
    message: str
    counts: dict[str, int]
    best_number: int | None = None
    best_values: list[float] | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0


def trial_state(trial: optuna.trial.FrozenTrial) -> str:
    """The Workbench state of an Optuna trial."""
    stored = trial.user_attrs.get(st.T_STATE)
    if trial.state == TrialState.COMPLETE:
        return "Succeeded"
    if trial.state == TrialState.PRUNED:
        return "Pruned"
    if trial.state == TrialState.FAIL:
        return stored if stored in ("Failed", "MetricsUnavailable", "Killed") else "Failed"
    if trial.state == TrialState.WAITING:
        return "Pending"
    return "Running"


def _launch_for_preflight(spec: ExperimentSpec, workspace: Workspace) -> list[StepLaunch]:
    """Launch descriptions of the trial's container steps, to check their commands exist."""
    pipeline = spec.trial_template.pipeline
    assert pipeline is not None
    launches = []
    for step in pipeline.steps:
        comp = step.component
        if comp.implementation.container is None or not comp.implementation.container.command:
            continue
        first = comp.implementation.container.command[0]
        if not isinstance(first, str):
            continue
        workdir = pipeline.base_dir or str(workspace.home)
        launches.append(StepLaunch(argv=[first], env=dict(os.environ), workdir=workdir, name=step.name))
    return launches


def _kill_leftover_steps(run_ids: set[str]) -> list[int]:
    """Kill the local step processes of these runs that a dead controller left behind; return their pids.

    Local steps run in sessions of their own (cancelling one must not signal the controller), so a
    controller killed outright (SIGKILL, the OOM killer) leaves them running, still training,
    with nobody reading their output. The engine puts ``WORKBENCH_RUN_ID`` in every step's
    environment: that finds them (and their children) in ``/proc`` (Linux only).
    """
    proc = Path("/proc")
    if not run_ids or not proc.is_dir():
        return []
    wanted = {f"WORKBENCH_RUN_ID={r}".encode() for r in run_ids}
    own_group = os.getpgrp()
    killed = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if wanted.isdisjoint(environ.split(b"\0")):
            continue
        pid = int(entry.name)
        try:
            group = os.getpgid(pid)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return killed


class Controller:
    """Runs (or resumes) one experiment.

    Example:
        >>> from workbench.spec import load_experiment  # doctest: +SKIP
        >>> spec = load_experiment("examples/quickstart.yaml")  # doctest: +SKIP
        >>> summary = Controller(spec, Workspace.from_env()).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        workspace: Workspace,
        backend: BaseBackend | None = None,
        recorder: BaseRecorder | None = None,
        listener: Callable[[TrialEvent], None] | None = None,
        grace_period: float = 5.0,
        cache: bool = True,
    ) -> None:
        self.spec = spec
        self.workspace = workspace
        #: Reuse step outputs across trials (a step whose inputs did not change is not run again).
        self.use_cache = cache
        self._step_cache: Any = None
        self.backend = backend or LocalBackend()
        self._recorder = recorder
        self._owns_recorder = recorder is None
        self.listener = listener or (lambda event: None)
        self.grace_period = grace_period
        self._stop = threading.Event()
        self._stop_reason = ""
        self._cancels: dict[int, threading.Event] = {}
        self._pruned: set[int] = set()
        self._adopted: list[optuna.Trial] = []
        self._lock = st.ExperimentLock(workspace.locks, spec.name)
        self._study: optuna.Study | None = None
        self.distributions = distributions(spec.parameters)
        self.bindings = trial_bindings(spec)
        #: maxTrialCount, capped at the number of grid points for grid search.
        self.budget = max_trials(spec)

    # ------------------------------------------------------------------ control

    def request_stop(self, reason: str = "stopped by the user") -> None:
        """Stop gracefully: cancel running trials (marked Killed), then end as Stopped."""
        self._stop_reason = reason
        self._stop.set()

    def _emit(self, event: TrialEvent) -> None:
        try:
            self.listener(event)
        except Exception:  # a listener must never break the experiment
            log.exception("progress listener failed")

    # ------------------------------------------------------------------ setup

    def preflight(self) -> None:
        """Everything that can be checked before writing to any store."""
        from workbench.search import check_search

        check_search(self.spec, Path.cwd())
        for launch in _launch_for_preflight(self.spec, self.workspace):
            try:
                self.backend.preflight(launch)
            except WorkbenchError as err:
                raise SpecError(str(err), path="spec.trialTemplate") from None

    def _open_study(self) -> tuple[optuna.Study, bool]:
        storage = st.open_storage(self.workspace.optuna_url)
        sampler = create_sampler(self.spec)
        pruner = create_pruner(self.spec)
        directions = list(self.spec.objective.directions)
        exists = st.study_exists(storage, self.spec.name)
        if exists:
            study = optuna.load_study(study_name=self.spec.name, storage=storage, sampler=sampler, pruner=pruner)
            old = study.user_attrs.get(st.ATTR_SPACE)
            if old is not None:
                check_compatible(old, space_signature(self.spec.parameters))
            if [d.name.lower() for d in study.directions] != directions:
                raise SpecError(
                    f"experiment {self.spec.name!r} exists with directions "
                    f"{[d.name.lower() for d in study.directions]}, not {directions}; use another name",
                    path="spec.objective",
                )
            if study.get_trials(deepcopy=False):
                # A seeded sampler would replay the points it drew before the crash (or the last
                # run) and evaluate them again; Optuna reseeds a sampler per worker for the same reason.
                study.sampler.reseed_rng()
            return study, True
        study = optuna.create_study(
            study_name=self.spec.name, storage=storage, sampler=sampler, pruner=pruner, directions=directions
        )
        study.set_user_attr(st.ATTR_CREATED, time.time())
        return study, False

    def _reconcile(self, study: optuna.Study) -> None:
        """After a crash or a stop: kill stale trials and queue their parameters again.

        A controller killed outright also loses the records still queued for MLflow and ML Metadata:
        the end of every trial that finished after the records were last known complete is
        recorded again (recording a run's end twice changes nothing).
        """
        recorded = float(study.user_attrs.get(st.ATTR_RECORDED, 0.0))
        for trial in study.get_trials(deepcopy=False):
            ended = trial.user_attrs.get(st.T_FINISHED)
            if trial.state.is_finished() and st.T_RUN_ID in trial.user_attrs and ended and ended > recorded:
                self.recorder.run_finished(self._run_info(trial, trial_state(trial), ended))
        stale = self._adopt(study, study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if isinstance(self.backend, LocalBackend):
            run_ids = {str(t.user_attrs[st.T_RUN_ID]) for t in stale if st.T_RUN_ID in t.user_attrs}
            for pid in _kill_leftover_steps(run_ids):
                log.info("killed step process %d left running by a previous controller", pid)
        for trial in stale:
            log.info("trial %d was left running by a previous controller: marking it Killed", trial.number)
            study._storage.set_trial_user_attr(trial._trial_id, st.T_STATE, "Killed")
            study._storage.set_trial_user_attr(trial._trial_id, st.T_MESSAGE, "the controller stopped while it ran")
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            if st.T_RUN_ID in trial.user_attrs:
                self.recorder.run_finished(self._run_info(trial, "Killed", time.time()))
        trials = study.get_trials(deepcopy=False)
        requeued = {t.user_attrs.get(st.T_REQUEUED_FROM) for t in trials}
        for trial in trials:
            # A trial killed while Optuna was still drawing its parameters never ran: nothing to re-run.
            complete = set(trial.params) == set(self.distributions)
            if trial_state(trial) == "Killed" and complete and trial.number not in requeued:
                study.enqueue_trial(trial.params, user_attrs={st.T_REQUEUED_FROM: trial.number})

    def _adopt(self, study: optuna.Study, stale: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        """Trials whose steps still run on the backend (pods a dead controller left) go on instead of
        being run again; the backend deletes what belongs to no such trial. Returns the other stale trials.
        """
        try:
            live = self.backend.adoptable_runs(self.spec.name, self.spec.namespace)
        except WorkbenchError as err:
            log.warning("cannot look for steps left running by a previous controller: %s", err)
            live = set()
        adopted = [t for t in stale if t.user_attrs.get(st.T_RUN_ID) in live]
        for frozen in adopted:
            log.info("trial %d is still running on the backend: adopting it", frozen.number)
            self._cancels[frozen.number] = threading.Event()
            self._adopted.append(optuna.Trial(study, frozen._trial_id))
            self._emit(TrialEvent("started", frozen.number, "Running", params=dict(frozen.params)))
        keep = {str(t.user_attrs[st.T_RUN_ID]) for t in adopted}
        try:
            removed = self.backend.cleanup(self.spec.name, self.spec.namespace, keep=keep)
            if removed:
                log.info("removed %d leftovers of earlier controllers", removed)
        except WorkbenchError as err:
            log.warning("cannot remove what earlier controllers left: %s", err)
        return [t for t in stale if t.user_attrs.get(st.T_RUN_ID) not in keep]

    def _run_info(self, trial: optuna.trial.FrozenTrial, state: str, finished: float) -> RunInfo:
        """The end of a stored trial, for the recorder."""
        return RunInfo(
            run_id=str(trial.user_attrs[st.T_RUN_ID]),
            experiment=self.spec.name,
            pipeline=self._pipeline_name(),
            namespace=self.spec.namespace,
            trial_number=trial.number,
            state=state,
            metrics=dict(trial.user_attrs.get(st.T_METRICS) or {}) if state != "Killed" else {},
            started=float(trial.user_attrs.get(st.T_STARTED, finished)),
            finished=finished,
            message=str(trial.user_attrs.get(st.T_MESSAGE, "")),
        )

    @property
    def recorder(self) -> BaseRecorder:
        if self._recorder is None:
            from workbench.tracking import make_recorder

            self._recorder = make_recorder(self.workspace)
        return self._recorder

    @property
    def step_cache(self) -> Any:
        """The step cache (lookups in the lineage store), or ``None`` when caching is off."""
        if self.use_cache and self._step_cache is None:
            from workbench.tracking import MlmdStepCache

            self._step_cache = MlmdStepCache(self.workspace.mlmd_url)
        return self._step_cache if self.use_cache else None

    def _pipeline_name(self) -> str:
        assert self.spec.trial_template.pipeline is not None
        return self.spec.trial_template.pipeline.name

    # ------------------------------------------------------------------ main loop

    def run(self) -> Summary:
        """Run the experiment to its end; returns the summary. Raises ``SpecError`` before any write."""
        self.preflight()
        self.workspace.ensure()
        self._lock.acquire()
        started = time.time()
        self._study = None
        try:
            study, resumed = self._open_study()
            self._study = study
            study.set_user_attr(st.ATTR_SPEC, experiment_to_document(self.spec))
            study.set_user_attr(st.ATTR_SPACE, space_signature(self.spec.parameters))
            study.set_user_attr(st.ATTR_NAMESPACE, self.spec.namespace)
            study.set_user_attr(st.ATTR_STOP, False)
            if resumed:
                self._reconcile(study)
            else:
                study.set_user_attr(st.ATTR_STARTED, started)
            apply_warm_start(study, self.spec, Path.cwd())  # the loader made warmStart.csv absolute
            info = self._experiment_info("Running")
            self.recorder.experiment_started(info)
            self._set_state(study, "Running", "")
            state, message = self._loop(study)
            self._set_state(study, state, message)
            study.set_user_attr(st.ATTR_FINISHED, time.time())
            info.state = state
            self.recorder.experiment_finished(info)
            return self.summary(study, started)
        finally:
            try:
                self._finish_records()
            finally:
                self._lock.release()

    def _finish_records(self) -> None:
        """Write what the recorder still holds, and note in the study that the records are complete."""
        recorder = self._recorder
        if recorder is None:
            return
        written = recorder.flush() is not False  # AsyncRecorder.flush returns False on a timeout
        if self._owns_recorder:
            # Its writer thread and database connections would outlive the run in a long-lived
            # process (the API, a notebook); a next run() makes a new one.
            recorder.close()
            self._recorder = None
        if written and self._study is not None:
            self._study.set_user_attr(st.ATTR_RECORDED, time.time())

    def _experiment_info(self, state: str) -> ExperimentInfo:
        return ExperimentInfo(
            name=self.spec.name,
            namespace=self.spec.namespace,
            algorithm=self.spec.algorithm.algorithm_name,
            directions=list(self.spec.objective.directions),
            objective_metrics=list(self.spec.objective.metric_names),
            spec=experiment_to_document(self.spec),
            state=state,
        )

    def _set_state(self, study: optuna.Study, state: str, message: str) -> None:
        study.set_user_attr(st.ATTR_STATE, state)
        study.set_user_attr(st.ATTR_MESSAGE, message)

    def _counts(self, study: optuna.Study) -> dict[str, int]:
        """Trials by state, for the budget and the failure count: trials imported from a CSV are not ours."""
        counts: dict[str, int] = {}
        for trial in study.get_trials(deepcopy=False):
            if ROW_KEY_ATTR in trial.user_attrs:
                continue
            s = trial_state(trial)
            counts[s] = counts.get(s, 0) + 1
        return counts

    def _goal_reached(self, study: optuna.Study) -> bool:
        goal = self.spec.objective.goal
        if goal is None or self.spec.objective.is_multi:
            return False
        try:
            best = study.best_value
        except ValueError:
            return False
        return best >= goal if self.spec.objective.type == "maximize" else best <= goal

    def _budget_outcome(self, study: optuna.Study, budget: int) -> tuple[str, str]:
        """The budget is used: Succeeded, unless not one trial produced a result."""
        counts = self._counts(study)
        if not counts.get("Succeeded") and not counts.get("Pruned"):
            return "Failed", f"no trial succeeded in the budget of {budget} trials"
        return "Succeeded", f"the budget of {budget} trials is used"

    def _loop(self, study: optuna.Study) -> tuple[str, str]:
        spec = self.spec
        in_flight: dict[Future[RunResult | None], optuna.Trial] = {}
        counts = self._counts(study)
        finished = sum(counts.get(s, 0) for s in FINISHED)
        failed = sum(counts.get(s, 0) for s in FAILED)
        outcome: tuple[str, str] | None = None
        budget = self.budget
        if budget is not None and finished >= budget:
            outcome = self._budget_outcome(study, budget)
        last_poll = 0.0
        pool = ThreadPoolExecutor(max_workers=spec.parallel_trial_count, thread_name_prefix="trial")
        for trial in self._adopted:  # trials a dead controller left running on the backend go on
            in_flight[pool.submit(self._run_trial, trial)] = trial
        self._adopted = []
        try:
            while True:
                if outcome is None:
                    if self._goal_reached(study):
                        outcome = ("Succeeded", f"the goal {spec.objective.goal:g} was reached")
                    elif spec.max_failed_trial_count is not None and failed > spec.max_failed_trial_count:
                        outcome = (
                            "Failed",
                            f"{failed} trials failed (maxFailedTrialCount {spec.max_failed_trial_count})",
                        )
                    elif self._stop.is_set():
                        outcome = ("Stopped", self._stop_reason)
                    elif budget is not None and finished >= budget:
                        outcome = self._budget_outcome(study, budget)
                if outcome is not None:
                    for trial in in_flight.values():
                        self._cancels[trial.number].set()
                else:
                    budget_left = budget - finished - len(in_flight) if budget is not None else math.inf
                    while len(in_flight) < spec.parallel_trial_count and budget_left > 0:
                        trial = self._ask(study)
                        in_flight[pool.submit(self._run_trial, trial)] = trial
                        budget_left -= 1
                if not in_flight:
                    break
                done, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    trial = in_flight.pop(future)
                    state = self._tell(study, trial, future, killed=outcome is not None)
                    if state in FINISHED:
                        finished += 1
                    if state in FAILED:
                        failed += 1
                now = time.monotonic()
                if now - last_poll > 1.0:
                    last_poll = now
                    if not self._stop.is_set() and study.user_attrs.get(st.ATTR_STOP):
                        self.request_stop("stopped with 'workbench stop'")
        except BaseException:
            # A second Ctrl-C, or a store that fails: shutting the pool down waits for the running
            # trials, so cancel them rather than let them run to their end. They stay Running in the
            # study; the next run() marks them Killed and runs them again.
            for trial in in_flight.values():
                self._cancels[trial.number].set()
            raise
        finally:
            pool.shutdown(wait=True)
        assert outcome is not None
        return outcome

    def _ask(self, study: optuna.Study) -> optuna.Trial:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask(fixed_distributions=self.distributions)
        trial.set_user_attr(st.T_RUN_ID, uuid.uuid4().hex)
        trial.set_user_attr(st.T_STARTED, time.time())
        self._cancels[trial.number] = threading.Event()
        self._emit(TrialEvent("started", trial.number, "Running", params=dict(trial.params)))
        return trial

    def _arguments(self, trial: optuna.Trial) -> dict[str, Any]:
        values = trial_values(self.spec.parameters, trial.params)
        arguments = dict(self.spec.trial_template.arguments)
        for pipeline_param, source in self.bindings.items():
            if source.startswith("${trialSpec."):
                key = source[len("${trialSpec.") : -1]
                meta = {
                    "Name": f"{self.spec.name}-{trial.number}",
                    "Namespace": self.spec.namespace,
                    "Kind": "Job",
                    "APIVersion": "batch/v1",
                }
                arguments[pipeline_param] = meta.get(key, "")
            else:
                arguments[pipeline_param] = values[source]
        return arguments

    def _run_trial(self, trial: optuna.Trial) -> RunResult | None:
        spec = self.spec
        pipeline = spec.trial_template.pipeline
        assert pipeline is not None
        run_id = trial.user_attrs[st.T_RUN_ID]
        cancel = self._cancels[trial.number]
        objective = spec.objective.metric_names[0]
        # Optuna keeps intermediate values of single-objective studies only (learning curves, pruning).
        reportable = not spec.objective.is_multi
        prunable = reportable and spec.early_stopping is not None
        report_lock = threading.Lock()

        def on_metric(name: str, value: float, index: int) -> None:
            if not reportable or name != objective or cancel.is_set():
                return
            with report_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial.report(value, index)
                if prunable and trial.should_prune():
                    self._pruned.add(trial.number)
                    cancel.set()

        arguments = self._arguments(trial)
        self.recorder.run_started(
            RunInfo(
                run_id=run_id,
                experiment=spec.name,
                pipeline=pipeline.name,
                namespace=spec.namespace,
                trial_number=trial.number,
                params=dict(trial_values(spec.parameters, trial.params)),
            )
        )
        runner = PipelineRunner(
            self.backend,
            self.workspace,
            recorder=self.recorder,
            metrics=spec.metrics_collector_spec,
            metric_names=spec.metric_names,
            grace_period=self.grace_period,
            cache=self.step_cache,
        )
        ctx = RunContext(experiment=spec.name, run_id=run_id, namespace=spec.namespace, trial_number=trial.number)
        return runner.run(pipeline, arguments, ctx, cancel=cancel, on_metric=on_metric)

    def _tell(self, study: optuna.Study, trial: optuna.Trial, future: Future[RunResult | None], killed: bool) -> str:
        spec = self.spec
        message = ""
        metrics: dict[str, float] = {}
        values: list[float] | None = None
        try:
            result = future.result()
        except Exception as err:  # an engine bug must not stop the experiment
            log.exception("trial %d crashed in the engine", trial.number)
            result, message = None, f"internal error: {err}"
        if result is not None:
            for name in spec.metric_names:
                value = result.collector.final(name, spec.objective.strategy(name))
                if value is not None:
                    metrics[name] = value
        if trial.number in self._pruned:
            state = "Pruned"
        elif result is None:
            state = "Failed"
        elif result.state == "Cancelled" or (killed and result.state != "Succeeded"):
            state, message = "Killed", "cancelled before it finished"
        elif result.state == "Failed":
            state, message = "Failed", result.message
        else:
            missing = [m for m in spec.objective.metric_names if m not in metrics]
            if missing:
                state = "MetricsUnavailable"
                message = f"the trial reported no value for {', '.join(missing)}"
            else:
                state = "Succeeded"
                values = [metrics[m] for m in spec.objective.metric_names]
        trial.set_user_attr(st.T_STATE, state)
        trial.set_user_attr(st.T_METRICS, metrics)
        trial.set_user_attr(st.T_MESSAGE, message)
        trial.set_user_attr(st.T_FINISHED, time.time())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if state == "Succeeded":
                study.tell(trial, values)
            elif state == "Pruned":
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, state=TrialState.FAIL)
        self.recorder.run_finished(
            RunInfo(
                run_id=trial.user_attrs[st.T_RUN_ID],
                experiment=spec.name,
                pipeline=self._pipeline_name(),
                namespace=spec.namespace,
                trial_number=trial.number,
                params=dict(trial_values(spec.parameters, trial.params)),
                state=state,
                metrics=metrics,
                finished=time.time(),
                message=message,
            )
        )
        self._cancels.pop(trial.number, None)
        self._emit(
            TrialEvent("finished", trial.number, state, params=dict(trial.params), values=values, message=message)
        )
        return state

    def summary(self, study: optuna.Study, started: float) -> Summary:
        return summarize(study, duration=time.time() - started)


def summarize(study: optuna.Study, duration: float = 0.0) -> Summary:
    """The summary of a stored experiment."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        s = trial_state(trial)
        counts[s] = counts.get(s, 0) + 1
    summary = Summary(
        name=study.study_name,
        state=str(study.user_attrs.get(st.ATTR_STATE, "Created")),
        message=str(study.user_attrs.get(st.ATTR_MESSAGE, "")),
        counts=counts,
        duration=duration,
    )
    if len(study.directions) == 1 and counts.get("Succeeded"):
        best = study.best_trial
        summary.best_number, summary.best_values, summary.best_params = best.number, best.values, best.params
    return summary
