"""The controller: drives an experiment from start (or a crash) to its end.

It keeps ``parallelTrialCount`` trial runs in flight: ask Optuna for a point, run the
trial's pipeline on the backend, feed intermediate values of the objective to the
pruner while the steps run (cancelling the run when pruned), then tell Optuna the
result. It stops on ``maxTrialCount``, on the ``goal``, when failed trials exceed
``maxFailedTrialCount``, when the sampler is exhausted (grid), or when asked to stop.

Resume: a trial left running by a dead controller, or cancelled by a stop, is marked
Killed and its parameters are queued again, so the experiment ends with exactly
``maxTrialCount`` finished trials — none lost, none duplicated.

Shared stores (an Optuna study in PostgreSQL or MySQL): several controllers, on one machine or
many, may drive the same experiment; each keeps its own ``parallelTrialCount`` trials in flight.
They count the trials claimed so far (finished + running, of every controller) and ask for new
ones while holding a lock in the database (:class:`~workbench.search._storage.StudyClaim`), so
together they start exactly the budget. Each writes a heartbeat into the study and tags the
trials it asked with its id: a trial whose controller's heartbeat went stale (or that ended) is
reconciled by a live controller — Killed, its parameters queued again — while the trials of live
controllers are left alone. Every controller runs until the whole budget is finished.
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
from workbench.engine import PipelineRunner, RunContext, RunResult, pipeline_cache_scope
from workbench.errors import SpecError, WorkbenchError
from workbench.search import _storage as st
from workbench.search._algorithms import create_sampler, max_trials
from workbench.search._pruners import create_pruner
from workbench.search._space import check_compatible, distributions, space_signature, trial_values
from workbench.search._warmstart import ROW_KEY_ATTR, apply_warm_start, check_warm_start
from workbench.spec import ExperimentSpec, trial_bindings
from workbench.spec._load import experiment_to_document, pipeline_to_document
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


class StoreUnreachable(WorkbenchError):
    """The Optuna store stayed unreachable for longer than the workspace's ``store_patience``."""


def store_outage(err: BaseException) -> BaseException | None:
    """The error in ``err``'s chain that says a database store is unreachable (not bad data), or ``None``."""
    from sqlalchemy.exc import SQLAlchemyError

    from workbench.tracking._async import outage

    if isinstance(err, WorkbenchError):
        return None
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    from_store = any(isinstance(e, (SQLAlchemyError, optuna.exceptions.StorageInternalError)) for e in chain)
    return outage(err) if from_store else None


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
        if not cache and spec.trial_template.cache is not False:
            # Stored with the spec, so that `workbench resume` keeps running every step.
            spec = spec.model_copy(deep=True)
            spec.trial_template.cache = False
        self.spec = spec
        self.workspace = workspace
        #: Reuse step outputs across trials (a step whose inputs did not change is not run again).
        self.use_cache = spec.trial_template.cache_mode != "off"
        self._step_cache: Any = None
        self.backend = backend or LocalBackend()
        self._recorder = recorder
        self._docs: dict[str, Any] | None = None
        self._owns_recorder = recorder is None
        self.listener = listener or (lambda event: None)
        self.grace_period = grace_period
        self._stop = threading.Event()
        self._stop_reason = ""
        self._cancels: dict[int, threading.Event] = {}
        self._pruned: set[int] = set()
        self._adopted: list[optuna.Trial] = []
        #: Several controllers may share the experiment (a database store): claims and heartbeats.
        self.shared = st.is_shared(workspace.optuna_url)
        self._lock = st.ExperimentLock(workspace.locks, spec.name, shared=self.shared)
        #: This controller's id in a shared study (``T_CONTROLLER`` of the trials it asks).
        self.controller_id = uuid.uuid4().hex[:12]
        #: Ids it had before a lost store made it start over: their Running trials are stale.
        self._former_ids: set[str] = set()
        self._claim: st.StudyClaim | None = None
        self._heartbeat: st.Heartbeat | None = None
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
        self._check_warm_start_source()
        for launch in _launch_for_preflight(self.spec, self.workspace):
            try:
                self.backend.preflight(launch)
            except WorkbenchError as err:
                raise SpecError(str(err), path="spec.trialTemplate") from None

    def _check_warm_start_source(self) -> None:
        """The earlier experiment of ``warmStart.experiment`` exists and fits (read only: nothing is created)."""
        warm = self.spec.warm_start
        if warm is None or warm.experiment is None:
            return
        url = self.workspace.optuna_url
        if url.startswith("journal://") and not Path(url[len("journal://") :]).is_file():
            namespace = warm.namespace or self.spec.namespace
            raise SpecError(
                f"no experiment {warm.experiment!r} in namespace {namespace!r} to warm-start from "
                f"(the workspace {self.workspace.home} has none)",
                path="spec.warmStart.experiment",
            )
        check_warm_start(self.spec, None, st.open_storage(url))

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
                check_compatible(old, space_signature(self.spec.parameters), self.spec.name)
            if [d.name.lower() for d in study.directions] != directions:
                raise SpecError(
                    f"experiment {self.spec.name!r} exists with directions "
                    f"{[d.name.lower() for d in study.directions]}, not {directions}; use another name",
                    path="spec.objective",
                )
            if self.shared or study.get_trials(deepcopy=False):
                # A seeded sampler would replay the points it drew before the crash (or the last
                # run, or another controller of a shared study) and evaluate them again; Optuna
                # reseeds a sampler per worker for the same reason.
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
        live = self._live_controllers(study)
        for trial in study.get_trials(deepcopy=False):
            ended = trial.user_attrs.get(st.T_FINISHED)
            if trial.state.is_finished() and st.T_RUN_ID in trial.user_attrs and ended and ended > recorded:
                if self.shared and trial.user_attrs.get(st.T_CONTROLLER) in live:
                    continue  # a live controller of a shared study writes its own records
                self.recorder.run_finished(self._run_info(trial, trial_state(trial), ended))
        self._reconcile_stale(study, startup=True)

    def _live_controllers(self, study: optuna.Study) -> set[str]:
        """Ids of the controllers of a shared study whose heartbeat is fresh (this one included)."""
        if not self.shared or self._claim is None:
            return {self.controller_id}
        attrs = study.user_attrs
        now = self._claim.now()
        prefix = st.ATTR_CONTROLLER_PREFIX
        live = {k[len(prefix) :] for k, v in attrs.items() if k.startswith(prefix) and st.controller_is_live(v, now)}
        return (live - self._former_ids) | {self.controller_id}

    def _stale(
        self, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]
    ) -> tuple[list[optuna.trial.FrozenTrial], set[str]]:
        """Running trials nobody drives any more, and the run ids of those a live controller drives.

        On the embedded journal only one controller runs an experiment, so every Running trial a
        starting controller finds is stale. In a shared study a trial is stale when the controller
        that asked it (``T_CONTROLLER``) is not live; a trial without one was left between Optuna's
        ask and the claim's end by a controller that died there.
        """
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if not self.shared:
            return running, set()
        live = self._live_controllers(study)
        stale = [t for t in running if t.user_attrs.get(st.T_CONTROLLER) not in live]
        stale_numbers = {t.number for t in stale}
        driven = {
            str(t.user_attrs[st.T_RUN_ID])
            for t in running
            if t.number not in stale_numbers and st.T_RUN_ID in t.user_attrs
        }
        return stale, driven

    def _unqueued_killed(self, trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        """Killed trials that ran (all parameters drawn) and whose parameters are not queued again yet."""
        requeued = {t.user_attrs.get(st.T_REQUEUED_FROM) for t in trials}
        return [
            t
            for t in trials
            if trial_state(t) == "Killed" and set(t.params) == set(self.distributions) and t.number not in requeued
        ]

    def _needs_reconcile(self, study: optuna.Study) -> bool:
        """A shared study has trials of dead controllers, or Killed trials to run again (checked without the claim)."""
        trials = study.get_trials(deepcopy=False)
        return bool(self._stale(study, trials)[0] or self._unqueued_killed(trials))

    def _reconcile_stale(self, study: optuna.Study, startup: bool) -> None:
        """Mark the stale Running trials Killed (or adopt them) and queue the parameters of Killed trials again.

        In a shared study this runs while holding the claim, so two controllers never both requeue a trial.
        """
        stale, driven = self._stale(study, study.get_trials(deepcopy=False))
        if startup or stale:  # a live controller's periodic check leaves the backend alone when nothing is stale
            stale = self._adopt(study, stale, driven)
        if isinstance(self.backend, LocalBackend):
            run_ids = {str(t.user_attrs[st.T_RUN_ID]) for t in stale if st.T_RUN_ID in t.user_attrs}
            for pid in _kill_leftover_steps(run_ids):
                log.info("killed step process %d left running by a previous controller", pid)
        for trial in stale:
            log.info("trial %d was left running by a previous controller: marking it Killed", trial.number)
            try:
                study._storage.set_trial_user_attr(trial._trial_id, st.T_STATE, "Killed")
                study._storage.set_trial_user_attr(trial._trial_id, st.T_MESSAGE, "the controller stopped while it ran")
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # its controller was late, not dead: it finished the trial meanwhile
            if st.T_RUN_ID in trial.user_attrs:
                self.recorder.run_finished(self._run_info(trial, "Killed", time.time()))
        # A trial killed while Optuna was still drawing its parameters never ran: nothing to re-run.
        for trial in self._unqueued_killed(study.get_trials(deepcopy=False)):
            study.enqueue_trial(trial.params, user_attrs={st.T_REQUEUED_FROM: trial.number})

    def _adopt(
        self, study: optuna.Study, stale: list[optuna.trial.FrozenTrial], driven: set[str] | None = None
    ) -> list[optuna.trial.FrozenTrial]:
        """Trials whose steps still run on the backend (pods a dead controller left) go on instead of
        being run again; the backend deletes what belongs to no such trial and to no live controller
        (``driven``: run ids of a shared study's live controllers). Returns the other stale trials.
        """
        try:
            live = self.backend.adoptable_runs(self.spec.name, self.spec.namespace)
        except WorkbenchError as err:
            log.warning("cannot look for steps left running by a previous controller: %s", err)
            live = set()
        adopted = [t for t in stale if t.user_attrs.get(st.T_RUN_ID) in live]
        for frozen in adopted:
            log.info("trial %d is still running on the backend: adopting it", frozen.number)
            if self.shared:
                study._storage.set_trial_user_attr(frozen._trial_id, st.T_CONTROLLER, self.controller_id)
            self._cancels[frozen.number] = threading.Event()
            self._adopted.append(optuna.Trial(study, frozen._trial_id))
            self._emit(TrialEvent("started", frozen.number, "Running", params=dict(frozen.params)))
        keep = {str(t.user_attrs[st.T_RUN_ID]) for t in adopted}
        try:
            removed = self.backend.cleanup(self.spec.name, self.spec.namespace, keep=keep | (driven or set()))
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

    def _documents(self) -> dict[str, Any]:
        """The specs every trial run keeps (MLflow artifacts ``workbench/experiment.yaml``, ``pipeline.yaml``).

        Rendered once per experiment (YAML is slow to write), with secrets masked.
        """
        if self._docs is None:
            import yaml

            from workbench.tracking._common import mask

            pipeline = self.spec.trial_template.pipeline
            secrets = pipeline.secret_names() if pipeline is not None else []
            docs = {"experiment.yaml": experiment_to_document(self.spec)}
            if pipeline is not None:
                docs["pipeline.yaml"] = pipeline_to_document(pipeline)
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            self._docs = {
                name: yaml.dump(mask(doc, secrets=secrets), Dumper=dumper, sort_keys=False, allow_unicode=True)
                for name, doc in docs.items()
            }
        return self._docs

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
            from workbench.tracking import make_step_cache

            self._step_cache = make_step_cache(self.workspace)
        return self._step_cache if self.use_cache else None

    def _pipeline_name(self) -> str:
        assert self.spec.trial_template.pipeline is not None
        return self.spec.trial_template.pipeline.name

    # ------------------------------------------------------------------ main loop

    def run(self) -> Summary:
        """Run the experiment to its end; returns the summary. Raises ``SpecError`` before any write.

        Losing the Optuna store mid-sweep (a database restart) pauses the sweep: the running trials
        are cancelled, the store is probed until it answers again (for up to the workspace's
        ``store_patience``), and the sweep goes on as a resume would (the cut-short trials are
        Killed and run again). Past that patience it raises ``StoreUnreachable``.
        """
        down_since: float | None = None
        while True:
            try:
                return self._run_once()
            except Exception as err:
                cause = store_outage(err)
                if cause is None:
                    raise
                down_since = down_since if down_since is not None else time.monotonic()
                self._wait_for_store(cause, down_since)
                # This controller's trials of the broken attempt are stale now: a new identity lets the
                # next attempt (and other controllers of a shared study) find them and run them again.
                self._former_ids.add(self.controller_id)
                self.controller_id = uuid.uuid4().hex[:12]
                self._cancels.clear()

    def _wait_for_store(self, cause: BaseException, down_since: float) -> None:
        """Probe the Optuna store until it answers; ``StoreUnreachable`` past the patience or on a stop."""
        patience = self.workspace.store_patience
        detail = (str(cause).strip().splitlines() or [""])[0][:300]
        what = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
        gone = StoreUnreachable(
            f"experiment {self.spec.name!r} stopped: its Optuna store became unreachable ({what}). "
            f"Finished trials are kept; once the store is back, `workbench resume {self.spec.name}` goes on."
        )
        log.warning(
            "experiment %r paused: its Optuna store is unreachable (%s); waiting up to %gs for it to come back",
            self.spec.name, what, max(0.0, patience - (time.monotonic() - down_since)),
        )  # fmt: skip
        delay = 0.5
        while True:
            if self._stop.is_set() or time.monotonic() - down_since >= patience:
                raise gone from cause
            time.sleep(delay)
            try:
                st.open_storage(self.workspace.optuna_url).get_all_studies()
            except Exception as err:  # still down
                if store_outage(err) is None:
                    raise
                delay = min(delay * 2, 5.0)
                continue
            log.warning("experiment %r: its Optuna store is back after %.1fs, going on",
                        self.spec.name, time.monotonic() - down_since)  # fmt: skip
            return

    def _run_once(self) -> Summary:
        self.preflight()
        self.workspace.ensure()
        self._lock.acquire()
        started = time.time()
        self._study = None
        try:
            if self.shared:
                self._claim = st.StudyClaim(self.workspace.optuna_url, self.spec.name)
                with self._claim:  # one controller at a time sets the experiment up
                    study = self._setup(started)
            else:
                study = self._setup(started)
            info = self._experiment_info("Running")
            self.recorder.experiment_started(info)
            state, message = self._loop(study)
            if self._ends_experiment(study, state):
                self._set_state(study, state, message)
                study.set_user_attr(st.ATTR_FINISHED, time.time())
            info.state = state
            self.recorder.experiment_finished(info)
            return self.summary(study, started)
        finally:
            try:
                if self._heartbeat is not None:
                    self._heartbeat.stop()
                    self._heartbeat = None
                self._finish_records()
            finally:
                if self._claim is not None:
                    self._claim.close()
                    self._claim = None
                self._lock.release()

    def _setup(self, started: float) -> optuna.Study:
        """Open (or create) the study, reconcile what a crash left and start this controller's heartbeat."""
        study, resumed = self._open_study()
        self._study = study
        others = self._live_controllers(study) - {self.controller_id} if self.shared else set()
        study.set_user_attr(st.ATTR_SPEC, experiment_to_document(self.spec))
        study.set_user_attr(st.ATTR_SPACE, space_signature(self.spec.parameters))
        study.set_user_attr(st.ATTR_NAMESPACE, self.spec.namespace)
        if not others:  # a stop asked of live controllers of a shared study stands until they saw it
            study.set_user_attr(st.ATTR_STOP, False)
        if self.shared:
            assert self._claim is not None
            self._heartbeat = st.Heartbeat(study, self._claim, self.controller_id, self.workspace.heartbeat_timeout)
            self._heartbeat.start()
        if resumed:
            self._reconcile(study)
        else:
            study.set_user_attr(st.ATTR_STARTED, started)
        warm = self.spec.warm_start
        storage = st.open_storage(self.workspace.optuna_url) if warm is not None and warm.experiment else None
        apply_warm_start(study, self.spec, Path.cwd(), storage)  # the loader made warmStart.csv absolute
        self._set_state(study, "Running", "")
        return study

    def _ends_experiment(self, study: optuna.Study, state: str) -> bool:
        """Whether this controller's end is the experiment's: not when it alone was stopped (Ctrl-C, SIGTERM)
        while other controllers of a shared study go on.
        """
        if not self.shared or state != "Stopped" or study.user_attrs.get(st.ATTR_STOP):
            return True
        return not (self._live_controllers(study) - {self.controller_id})

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
        last_poll = last_check = 0.0
        claimed = finished
        # A shared study: other controllers' trials count too, re-read from the store every poll.
        sync = self.shared
        check_every = max(0.5, self.workspace.heartbeat_timeout / 4)
        pool = ThreadPoolExecutor(max_workers=spec.parallel_trial_count, thread_name_prefix="trial")
        try:
            while True:
                for trial in self._adopted:  # trials a dead controller left running on the backend go on
                    in_flight[pool.submit(self._run_trial, trial)] = trial
                self._adopted = []
                if sync:
                    counts = self._counts(study)
                    finished = sum(counts.get(s, 0) for s in FINISHED)
                    failed = sum(counts.get(s, 0) for s in FAILED)
                    claimed = finished + counts.get("Running", 0)
                    sync = False
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
                elif self.shared:
                    room = spec.parallel_trial_count - len(in_flight)
                    if room > 0 and (budget is None or claimed < budget):
                        for trial in self._claim_trials(study, room, budget):
                            in_flight[pool.submit(self._run_trial, trial)] = trial
                        sync = True
                else:
                    budget_left = budget - finished - len(in_flight) if budget is not None else math.inf
                    while len(in_flight) < spec.parallel_trial_count and budget_left > 0:
                        trial = self._ask(study)
                        in_flight[pool.submit(self._run_trial, trial)] = trial
                        budget_left -= 1
                if not in_flight:
                    if outcome is not None or not self.shared:
                        break
                    # The rest of the budget runs on other controllers: wait for it to finish (or for
                    # a controller to die, whose trials this one then runs again).
                    time.sleep(0.5)
                    done = set()
                else:
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
                    sync = self.shared
                    if not self._stop.is_set() and study.user_attrs.get(st.ATTR_STOP):
                        self.request_stop("stopped with 'workbench stop'")
                if self.shared and outcome is None and now - last_check > check_every:
                    last_check = now
                    if self._needs_reconcile(study):
                        assert self._claim is not None
                        with self._claim:
                            self._reconcile_stale(study, startup=False)
                        sync = True
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

    def _claim_trials(self, study: optuna.Study, room: int, budget: int | None) -> list[optuna.Trial]:
        """A shared study: under the claim, count what every controller claimed, then ask for what is left."""
        assert self._claim is not None
        with self._claim:
            counts = self._counts(study)
            claimed = sum(counts.get(s, 0) for s in FINISHED) + counts.get("Running", 0)
            left = room if budget is None else min(room, budget - claimed)
            return [self._ask(study) for _ in range(max(0, left))]

    def _ask(self, study: optuna.Study) -> optuna.Trial:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask(fixed_distributions=self.distributions)
        trial.set_user_attr(st.T_CONTROLLER, self.controller_id)
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

        def on_metric(name: str, value: float, index: int, replayed: bool = False) -> None:
            """Report to Optuna; a live value may prune the trial, a cached step's replayed one never does."""
            if not reportable or name != objective or cancel.is_set():
                return
            with report_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    trial.report(value, index)
                except optuna.exceptions.UpdateFinishedTrialError:
                    cancel.set()  # another controller of a shared study ended it (took this one for dead)
                    return
                if prunable and not replayed and trial.should_prune():
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
                documents=self._documents(),
                secrets=[p.name for p in pipeline.parameters if p.secret],
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
        if spec.trial_template.cache_mode == "shared":  # as a standalone run of the pipeline would be
            ctx.cache_scope = pipeline_cache_scope(spec.namespace, pipeline.name)
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
        try:
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
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as err:
            if not self.shared or not study._storage.get_trial(trial._trial_id).state.is_finished():
                raise
            # Another controller of the shared study took this one for dead (its heartbeat was late)
            # and ran the trial's parameters again: that run's result counts, this one's is dropped.
            log.warning("trial %d was ended by another controller; its result here is dropped (%s)", trial.number, err)
            self._cancels.pop(trial.number, None)
            self._emit(TrialEvent("finished", trial.number, "Killed", params=dict(trial.params), message=str(err)))
            return "Killed"
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
