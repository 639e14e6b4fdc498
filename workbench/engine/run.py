"""Runs one pipeline run: a DAG of steps, scheduled as their inputs become ready.

Scheduling is event-driven: each running step has a thread that launches it on the
backend, streams its log into the metrics collector and the step's log file, and
posts its end on a queue; the scheduler starts whatever became ready. Conditions
(``when``) are evaluated when a step's upstream steps have finished; retries back
off exponentially; a timeout or a cancellation stops the step's process (group).

Example:
    >>> import tempfile, threading
    >>> from workbench.backends import LocalBackend
    >>> from workbench.spec import Pipeline
    >>> from workbench.workspace import Workspace
    >>> p = Pipeline.model_validate({"name": "p", "steps": [{"name": "hello", "component": {
    ...     "name": "echo", "implementation": {"container": {"command": ["echo", "loss=0.5"]}}}}]})
    >>> runner = PipelineRunner(LocalBackend(), Workspace.at(tempfile.mkdtemp()), metric_names=["loss"])
    >>> result = runner.run(p, {}, RunContext(experiment="demo", run_id="r1"))
    >>> result.state, result.collector.final("loss", "latest")
    ('Succeeded', 0.5)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import BaseBackend, StepLaunch, StepLaunchError
from workbench.engine._inputs import (
    Lookup,
    Resolved,
    Source,
    _substitute,
    build_argv,
    convert,
    read_value,
    resolve_step_inputs,
)
from workbench.engine.cache import (
    BaseStepCache,
    CacheHit,
    FileStamp,
    cache_key,
    component_digest,
    content_digest,
    write_metrics_record,
)
from workbench.engine.collector import FileTailer, MetricsCollector, wait_quietly
from workbench.runtime import METRIC_MARKER
from workbench.spec import (
    ARTIFACT_TYPES,
    PARAMETER_TYPES,
    Component,
    MetricsCollectorSpec,
    Pipeline,
    Step,
    evaluate_condition,
    split_output_ref,
)
from workbench.spec._condition import REFERENCE, condition_references, one_of_alternatives, ref_kind
from workbench.spec._pipeline import step_references
from workbench.tracking._base import BaseRecorder, OutputArtifact, StepInfo
from workbench.tracking._common import is_secret, scrub, secret_values
from workbench.workspace import Workspace

log = logging.getLogger("workbench.engine")

#: A step's log keeps at most this much on disk: its first half (the head) and a rolling tail of the
#: last lines (the collector still reads every line).
MAX_LOG_BYTES = 64 * 1024 * 1024
#: A longer line of a log read back is split (a log line is never held whole in memory).
MAX_LINE_CHARS = 1 << 20
#: States after which a step is settled.
FINAL_STEP_STATES = ("Succeeded", "Failed", "Cached", "Skipped", "Cancelled")


@dataclass
class RunContext:
    """Who a run belongs to (labels, environment variables, record keys)."""

    experiment: str
    run_id: str
    namespace: str = "default"
    trial_number: int | None = None
    #: Where cached steps may come from; empty for the default, :meth:`default_cache_scope`.
    cache_scope: str = ""

    def default_cache_scope(self, pipeline: Pipeline) -> str:
        """A trial's steps reuse only steps of its own experiment (namespace and name); a standalone
        run's, only steps of runs of the same pipeline in its namespace (as Kubeflow Pipelines does)."""
        if self.trial_number is not None:
            return f"experiment:{self.namespace}/{self.experiment}"
        return pipeline_cache_scope(self.namespace, pipeline.name)


def pipeline_cache_scope(namespace: str, pipeline: str) -> str:
    """The cache scope of the runs of a pipeline in a namespace (a standalone run's, by default)."""
    return f"pipeline:{namespace}/{pipeline}"


@dataclass
class StepResult:
    name: str
    state: str = "Pending"
    attempts: int = 0
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None
    message: str = ""
    log_path: str = ""
    #: Output stamps (content digest, size, mtime) when caching is on.
    stamps: dict[str, FileStamp] = field(default_factory=dict)
    #: ``<run_id>/<step>`` whose outputs a Cached step reused.
    cached_from: str = ""


@dataclass
class RunResult:
    run_id: str
    state: str
    steps: dict[str, StepResult]
    collector: MetricsCollector
    message: str = ""

    @property
    def failed_steps(self) -> list[StepResult]:
        return [s for s in self.steps.values() if s.state == "Failed"]


@dataclass
class _StepJob:
    """Everything a step's thread works with (one per step instance of a run)."""

    pipeline: Pipeline
    step: Step
    #: The instance name: ``train``, ``train[3]``, ``cv.fit``, ``cv[2].fit``.
    name: str
    #: Resolves the step's references (parameters, upstream outputs, ``{{item}}``, ``{{run.*}}``).
    lookup: Lookup
    result: StepResult
    ctx: RunContext
    collector: MetricsCollector
    cancel: threading.Event
    #: The pipelines this step is nested in, outermost first (the step's own pipeline last).
    chain: tuple[Pipeline, ...] = ()
    #: Content digests of outputs produced in this run, by path (input digests of cache keys).
    digests: dict[str, str] = field(default_factory=dict)
    #: Posted on the scheduler's queue when the step has ended.
    token: Any = None


_NO_ITEM = object()


def _secret_inputs(pipeline: Pipeline, step: Step) -> list[str]:
    """Inputs of a step whose values are secret: marked on the component, or fed by a secret pipeline parameter."""
    names = {i.name for i in step.component.inputs if i.secret}
    secret_params = {p.name for p in pipeline.parameters if p.secret or is_secret(p.name)}
    for name, value in step.arguments.items():
        if isinstance(value, str) and any(f"{{{{params.{p}}}}}" in value for p in secret_params):
            names.add(name)
    return sorted(names)


@dataclass(eq=False)
class _Scope:
    """One instance of a pipeline: the top-level run, a nested pipeline step or one of its iterations."""

    pipeline: Pipeline
    #: Prepended to the step names of this instance (``""``, ``"cv."``, ``"cv[2]."``).
    prefix: str
    params: dict[str, Source]
    chain: tuple[Pipeline, ...]
    nodes: dict[str, _Node] = field(default_factory=dict)


@dataclass(eq=False)
class _Node:
    """A step instance in the run's graph: a task (one process/pod), a nested pipeline, or a loop."""

    name: str
    step: Step
    scope: _Scope
    kind: str  # "task" | "pipeline" | "loop" | "root"
    result: StepResult
    parent: _Node | None
    cancel: threading.Event
    item: Any = _NO_ITEM
    #: An iteration of a loop: its dependencies were checked by the loop.
    iteration: bool = False
    #: Upstream steps (same scope) not settled yet; the node is activated when this reaches 0.
    waiting: int = 0
    dependents: list[_Node] = field(default_factory=list)
    outputs: dict[str, Source] = field(default_factory=dict)
    settled: bool = False
    # Groups (pipeline, loop, root):
    children: list[_Node] = field(default_factory=list)
    left: int = 0
    pending: deque[_Node] = field(default_factory=deque)
    ignore_failures: bool = False
    #: Failed task results inside this group that make it fail (ignored iterations are not here).
    failures: list[StepResult] = field(default_factory=list)
    inner: _Scope | None = None


class _Log:
    """A step's log file: capped and rotated, written as the step prints.

    Lines are buffered while they stream in and flushed by :meth:`flush`, which the step's
    thread calls every few tens of milliseconds: a live step's log holds what it printed a moment
    ago (``workbench runs logs --follow``, the dashboard), and a step printing a flood of lines does
    not pay a write per line. Writes and flushes come from different threads, under one lock.

    The first half of :data:`MAX_LOG_BYTES` stays in ``<step>.log`` (the head: how the step started);
    past it, lines go to a rolling tail, ``<step>.log.1``, which moves to ``<step>.log.2`` whenever it
    holds a quarter of :data:`MAX_LOG_BYTES`. So a step that prints gigabytes keeps its first and its
    last lines (where the error is) in at most :data:`MAX_LOG_BYTES` on disk; :func:`log_parts` lists
    the files in order. A log that cannot be written (disk full, read-only) stops being written, with
    a warning; the step itself goes on.
    """

    def __init__(self, path: Path, hidden: list[str] | None = None) -> None:
        self.path = path
        self._head_cap = max(1, MAX_LOG_BYTES // 2)
        self._tail_cap = max(1, MAX_LOG_BYTES // 4)
        #: Bytes of output rotated away (dropped from the middle of the log).
        self.dropped = 0
        #: Why the log stopped being written (``None`` while it is fine).
        self.error: OSError | None = None
        #: Secret values cut out of every line (a step that prints its password does not put it in the log).
        self.hidden = hidden or []
        self._fh: Any = None
        self._lock = threading.Lock()
        self._dirty = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tail = _tail_path(path, 1)
            self._tail = tail.exists()  # a later attempt of a step whose log already rotated
            current = tail if self._tail else path
            self._fh = current.open("a", encoding="utf-8", errors="replace")
            self._size = current.stat().st_size
        except OSError as err:
            self._fail(err)

    def _fail(self, err: OSError) -> None:
        self.error = err
        log.warning("step log %s cannot be written (%s); the rest of this log is dropped", self.path, err)
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None

    def write(self, line: str) -> None:
        if self._fh is None:
            return
        if self.hidden:
            line = scrub(line, self.hidden)
        with self._lock:
            self._write(line)

    def _write(self, line: str) -> None:
        if self._fh is None:
            return
        size = len(line) + 1
        self._dirty = True
        try:
            if not self._tail and self._size + size > self._head_cap:
                self._fh.write(
                    f"[workbench] log over {_mb(self._head_cap)}: it goes on in {self.path.name}.1 "
                    f"(its last {_mb(2 * self._tail_cap)} are kept)\n"
                )
                self._fh.close()
                self._tail, self._size = True, 0
                self._fh = _tail_path(self.path, 1).open("w", encoding="utf-8", errors="replace")
            elif self._tail and self._size + size > self._tail_cap and self._size:
                self._fh.close()
                older = _tail_path(self.path, 2)
                self.dropped += older.stat().st_size if older.exists() else 0
                os.replace(_tail_path(self.path, 1), older)
                self._size = 0
                self._fh = _tail_path(self.path, 1).open("w", encoding="utf-8", errors="replace")
            self._fh.write(line + "\n")
            self._size += size
        except OSError as err:
            self._fail(err)

    def flush(self) -> None:
        """Write out what was buffered since the last flush (nothing to do when nothing came)."""
        if not self._dirty:
            return
        with self._lock:
            if self._fh is None or not self._dirty:
                return
            self._dirty = False
            try:
                self._fh.flush()
            except OSError as err:
                self._fail(err)

    def close(self) -> None:
        with self._lock:
            if self._fh is None:
                return
            try:
                self._fh.close()
            except OSError as err:
                self._fail(err)
            self._fh = None


_NO_SPACE = "No space left on device"


def _storage_problem(folder: Path, said_no_space: bool) -> str:
    """Why a failed step may not have been able to write its outputs: ``"; <reason>"``, or ``""``."""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return ""
    if fs.f_flag & os.ST_RDONLY:
        return f"; the artifact store is read-only ({folder})"
    if said_no_space or fs.f_bavail == 0:
        return f"; {_NO_SPACE} (ENOSPC) in the artifact store ({folder})"
    return ""


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _tail_path(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def log_parts(path: str | Path) -> list[Path]:
    """The files of a step log in order: the head ``<step>.log``, then the rolling tail (``.log.2``, ``.log.1``)."""
    head = Path(path)
    return [p for p in (head, _tail_path(head, 2), _tail_path(head, 1)) if p.exists()]


def read_log_tail(path: str | Path, max_bytes: int) -> tuple[str, int]:
    """The last ``max_bytes`` of a step log across its files, and how many bytes before them are not read."""
    parts = [(p, p.stat().st_size) for p in log_parts(path)]
    total = sum(size for _, size in parts)
    skip = max(0, total - max_bytes)
    chunks, offset = [], 0
    for part, size in parts:
        if offset + size > skip:
            with open(part, "rb") as fh:
                fh.seek(max(0, skip - offset))
                chunks.append(fh.read())
        offset += size
    return b"".join(chunks).decode("utf-8", errors="replace"), skip


class PipelineRunner:
    """Executes pipeline runs on a backend, reporting to a recorder."""

    def __init__(
        self,
        backend: BaseBackend,
        workspace: Workspace,
        recorder: BaseRecorder | None = None,
        metrics: MetricsCollectorSpec | None = None,
        metric_names: list[str] | tuple[str, ...] = (),
        grace_period: float = 5.0,
        cache: BaseStepCache | None = None,
    ) -> None:
        self.backend = backend
        self.workspace = workspace
        self.recorder = recorder or BaseRecorder()
        self.metrics = metrics or MetricsCollectorSpec()
        self.metric_names = list(metric_names)
        self.grace_period = grace_period
        #: Where cache keys are looked up; ``None`` runs every step.
        self.cache = cache
        self._collect_key: Any = None
        #: Component digests by component object (a pipeline's components do not change while it runs).
        self._digests: dict[int, tuple[Component, str]] = {}
        #: Records the scheduler's thread makes while it settles steps itself (cached, skipped), held back
        #: until it waits or the run ends: the recorder's writer does not wake (and compete for the
        #: interpreter) in the middle of that work. Step threads record at once.
        self._held = threading.local()

    # ------------------------------------------------------------------ public

    def run(
        self,
        pipeline: Pipeline,
        arguments: dict[str, Any],
        ctx: RunContext,
        cancel: threading.Event | None = None,
        on_metric: Any = None,
    ) -> RunResult:
        """Run ``pipeline`` with ``arguments`` (pipeline parameter values) to the end.

        ``on_metric(name, value, index)`` is called for every collected value, from a
        log-reading thread, while steps run; the values a cached step replays come as
        ``on_metric(name, value, index, replayed=True)`` (they are history: nothing live to
        stop). Setting ``cancel`` stops the run.
        """
        cancel = cancel or threading.Event()
        kind = self.metrics.collector.kind
        collector = MetricsCollector(
            self.metric_names,
            on_metric=self._metric_hook(ctx, on_metric, replayed=False),
            formats=self.metrics.metrics_formats,
            stdout=kind == "StdOut",
            markers=kind != "File",
            on_replayed=self._metric_hook(ctx, on_metric, replayed=True),
        )
        params = self._params(pipeline, arguments)
        if not ctx.cache_scope:
            ctx = dataclasses.replace(ctx, cache_scope=ctx.default_cache_scope(pipeline))
        return _Run(self, pipeline, params, ctx, cancel, collector).execute()

    # ------------------------------------------------------------------ helpers

    def _metric_hook(self, ctx: RunContext, on_metric: Any, replayed: bool) -> Any:
        def hook(name: str, value: float, index: int, origin: str) -> None:
            self._record(self.recorder.metric, ctx.run_id, origin, name, value, index, time.time())
            if on_metric is None:
                return
            if replayed:
                on_metric(name, value, index, replayed=True)
            else:
                on_metric(name, value, index)

        return hook

    @staticmethod
    def _params(pipeline: Pipeline, arguments: dict[str, Any]) -> dict[str, Source]:
        """Pipeline parameter values, typed; a value given as text keeps its text (KFP v1 passes it as given)."""
        values: dict[str, Source] = {}
        for p in pipeline.parameters:
            raw = arguments.get(p.name, p.default)
            value = convert(raw, p.type) if raw is not None else None
            values[p.name] = Source(value=value, text=raw if isinstance(raw, str) else None)
        return values

    def _record_settled(self, name: str, step: Step, result: StepResult, ctx: RunContext) -> None:
        """Record a step instance that ended without running (Skipped, Cancelled, or Failed before starting)."""
        now = time.time()
        result.started = result.finished = now
        info = StepInfo(
            run_id=ctx.run_id,
            experiment=ctx.experiment,
            step=name,
            component=step.component.name,
            component_digest=step.component.digest(),
            attempt=0,
            state=result.state,
            message=result.message,
            trial_number=ctx.trial_number,
            started=now,
            finished=now,
        )
        self._record(self.recorder.step_finished, info)

    def _record(self, method: Any, *args: Any) -> None:
        held = getattr(self._held, "calls", None)
        if held is None:
            method(*args)
        else:
            held.append((method, args))

    def _hold_records(self) -> None:
        self._held.calls = []

    def _release_records(self, hold: bool = True) -> None:
        """Pass the held records on, in order; keep holding the next ones unless ``hold`` is false."""
        held = getattr(self._held, "calls", None) or []
        self._held.calls = [] if hold else None
        for method, args in held:
            method(*args)

    def _digest(self, component: Component) -> str:
        """``component.digest()``, computed once per component object."""
        known = self._digests.get(id(component))
        if known is None or known[0] is not component:
            known = self._digests[id(component)] = (component, component.digest())
        return known[1]

    def _workdir(self, job: _StepJob, step_dir: Path) -> str:
        impl = job.step.component.implementation
        if impl.container is not None:
            wd = impl.container.working_dir
            if wd and os.path.isabs(wd) and os.path.isdir(wd):
                return wd
            for pipeline in reversed(job.chain or (job.pipeline,)):  # the innermost pipeline that has a folder
                if pipeline.base_dir:
                    return pipeline.base_dir
        return str(step_dir)

    def _env(self, step: Step, ctx: RunContext, name: str) -> dict[str, str]:
        env = dict(os.environ)
        if step.component.implementation.container is not None:
            env.update(step.component.implementation.container.env)
        env.update(step.env)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "WORKBENCH_EXPERIMENT": ctx.experiment,
                "WORKBENCH_NAMESPACE": ctx.namespace,
                "WORKBENCH_RUN_ID": ctx.run_id,
                "WORKBENCH_STEP": name,
            }
        )
        if ctx.trial_number is not None:
            env["WORKBENCH_TRIAL"] = str(ctx.trial_number)
        return env

    def _settle_from_cache(self, job: _StepJob) -> _Prepared | None:
        """On the scheduler's thread: prepare a step's first attempt and, on an indexed cache hit, settle it.

        Returns ``None`` when the step is settled (Cached, or Failed before it could start), else what
        its thread needs to run the first attempt (a miss in the index may still be a hit in the
        lineage store: the thread asks it, off the scheduler's thread).
        """
        job.result.log_path = str(self.workspace.runs / job.ctx.run_id / f"{job.name}.log")
        job.result.attempts = 1
        prepared = self._prepare(job, 1)
        if prepared is None:
            return None
        if prepared.policy is not None and self._reuse(job, prepared, indexed_only=True):
            return None
        return prepared

    def _execute(self, job: _StepJob, done: queue.Queue[Any], prepared: _Prepared) -> None:
        result = job.result
        try:
            self._attempts(job, prepared)
        except Exception as err:  # never let a step thread die silently
            log.exception("step %s failed inside the engine", job.name)
            result.state, result.message = "Failed", f"internal error: {type(err).__name__}: {err}"
        finally:
            done.put(job.token)

    def _attempts(self, job: _StepJob, prepared: _Prepared) -> None:
        step, result, cancel = job.step, job.result, job.cancel
        policy = step.retry
        for attempt in range(1, policy.limit + 2):
            result.attempts = attempt
            ready = prepared if attempt == 1 else self._prepare(job, attempt)
            if ready is not None:
                self._attempt(job, ready)
            if result.state != "Failed" or cancel.is_set() or attempt > policy.limit or result.exit_code is None:
                return
            delay = min(policy.backoff * policy.factor ** (attempt - 1), policy.max_backoff)
            log.info("step %s failed (attempt %d); retrying in %.1fs", job.name, attempt, delay)
            if wait_quietly(delay, cancel):
                result.state, result.message = "Cancelled", "cancelled during retry backoff"
                return

    def _prepare(self, job: _StepJob, attempt: int) -> _Prepared | None:
        """Resolve an attempt's inputs, command line and cache key; ``None`` (the step Failed) if they cannot be."""
        step, name = job.step, job.name
        result, ctx = job.result, job.ctx
        comp = step.component
        assert isinstance(comp, Component)
        step_dir = self.workspace.runs / ctx.run_id / name
        out_dir = self.workspace.artifacts / ctx.experiment / ctx.run_id / name
        result.exit_code = None
        result.started = time.time()
        out_paths = {o.name: str(out_dir / o.name) for o in comp.outputs}
        info = StepInfo(
            run_id=ctx.run_id,
            experiment=ctx.experiment,
            step=name,
            component=comp.name,
            component_digest=self._digest(comp),
            attempt=attempt,
            trial_number=ctx.trial_number,
            log_path=result.log_path,
            started=result.started,
        )
        try:
            inputs = resolve_step_inputs(step, job.lookup)
            argv = build_argv(comp, inputs, out_paths, step_dir / "inputs")
        except (ValueError, KeyError, OSError) as err:
            result.state, result.message = "Failed", f"cannot resolve inputs: {err}"
            self._finish(info, result, {}, step)
            return None
        workdir = self._workdir(job, step_dir)
        argv, metrics_file = self._metrics_file(argv, step_dir, workdir)
        info.inputs = {n: r.get_value() for n, r in inputs.items() if not r.is_artifact and r.present}
        info.input_artifacts = {
            n: (self.backend.artifact_uri(r.path), r.type or "") for n, r in inputs.items() if r.is_artifact and r.path
        }
        info.secrets = _secret_inputs(job.pipeline, step)
        info.command = argv
        info.env = {**(comp.implementation.container.env if comp.implementation.container else {}), **step.env}
        info.image = comp.implementation.container.image if comp.implementation.container else ""
        policy = self._cache_policy(job.chain or (job.pipeline,), step)
        if policy is not None:
            info.cache_key = self._cache_key(step, inputs, argv, workdir, job.digests, ctx.cache_scope)
        return _Prepared(info, inputs, argv, workdir, metrics_file, out_dir, out_paths, policy)

    def _attempt(self, job: _StepJob, prepared: _Prepared) -> None:
        step, name = job.step, job.name
        result, ctx, collector, cancel = job.result, job.ctx, job.collector, job.cancel
        comp = step.component
        assert isinstance(comp, Component)
        info, inputs, argv, workdir = prepared.info, prepared.inputs, prepared.argv, prepared.workdir
        metrics_file, out_dir, out_paths = prepared.metrics_file, prepared.out_dir, prepared.out_paths
        policy, attempt = prepared.policy, info.attempt
        if policy is not None and attempt == 1 and self._reuse(job, prepared):
            return
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a read-only or full artifact store: the step fails, the run goes on
            result.state, result.message = "Failed", f"cannot create the output folder {out_dir}: {err.strerror or err}"
            self._finish(info, result, {}, step)
            return
        launch = StepLaunch(
            argv=argv,
            env={
                **self._env(step, ctx, name),
                **({"WORKBENCH_METRICS_FILE": str(metrics_file)} if metrics_file else {}),
            },
            workdir=workdir,
            name=f"{ctx.run_id[:12]}-{name}",
            image=comp.implementation.container.image if comp.implementation.container else "",
            labels={
                "workbench.io/experiment": ctx.experiment,
                "workbench.io/run": ctx.run_id,
                "workbench.io/step": name,
                **({"workbench.io/trial": str(ctx.trial_number)} if ctx.trial_number is not None else {}),
            },
            experiment=ctx.experiment,
            namespace=ctx.namespace,
            run_id=ctx.run_id,
            step=name,
            trial=ctx.trial_number,
            attempt=attempt,
            timeout=step.timeout,
            kubernetes=step.pod_settings(),
            parameters=dict(info.inputs),
            own_env={**(comp.implementation.container.env if comp.implementation.container else {}), **step.env},
            entrypoint_args=bool(comp.implementation.container and not comp.implementation.container.command),
            outputs=dict(out_paths),
            input_paths=sorted(r.path for r in inputs.values() if r.is_artifact and r.path),
            cancel=cancel,
        )
        self.recorder.step_started(info)
        collector.begin(name)
        # Secret inputs and the values of env vars whose names look secret (API_TOKEN, ...) never reach the log.
        hidden = {*secret_values(info.inputs, info.secrets), *secret_values(info.env)}
        logfile = _Log(Path(result.log_path), sorted(hidden, key=len, reverse=True))
        if attempt > 1:
            logfile.write(f"[workbench] attempt {attempt}")
        try:
            handle = self.backend.start(launch)
        except StepLaunchError as err:
            logfile.write(f"[workbench] {err}")
            logfile.close()
            result.state, result.message = "Failed", str(err)
            self._finish(info, result, {}, step)
            return
        tailer = None
        if metrics_file is not None:
            metrics_file.unlink(missing_ok=True)
            tailer = FileTailer(metrics_file, collector, self._file_format(), origin=name).start()

        last_line = [""]
        no_space = [False]
        ignores_reports = not collector.markers

        def pump() -> None:
            nonlocal ignores_reports
            failed_feed = False
            for line in handle.lines():
                logfile.write(line)
                if ignores_reports and line.lstrip().startswith(METRIC_MARKER.strip()):
                    ignores_reports = False  # said once per step
                    logfile.write(f"[workbench] report() values are not collected: {_FILE_ONLY}")
                try:
                    collector.feed(line, origin=name)
                except Exception as err:  # a metric's consumer failed (its store is down): keep draining the step
                    if not failed_feed:
                        log.warning("step %s: a reported value was not recorded: %s: %s", name, type(err).__name__, err)
                    failed_feed = True
                if line.strip():
                    last_line[0] = scrub(line.strip(), logfile.hidden)
                    if _NO_SPACE in line:
                        no_space[0] = True

        reader = threading.Thread(target=pump, name=f"log-{name}", daemon=True)
        reader.start()
        deadline = time.monotonic() + step.timeout if step.timeout else None
        outcome = ""
        while True:
            code = handle.wait(timeout=0.05 if deadline is None else min(0.05, max(0.0, deadline - time.monotonic())))
            logfile.flush()
            if code is not None:
                result.exit_code = code
                break
            if cancel.is_set():
                handle.cancel(self.grace_period)
                outcome = "cancelled"
                break
            if deadline is not None and time.monotonic() >= deadline:
                handle.cancel(self.grace_period)
                outcome = "timeout"
                break
        reader.join(timeout=10)
        drained = not reader.is_alive()
        if tailer is not None:
            tailer.stop()
        if outcome == "cancelled":
            result.state, result.message = "Cancelled", "cancelled"
        elif outcome == "timeout":
            result.state, result.message = "Failed", f"timed out after {step.timeout:g}s"
            result.exit_code = -1
        elif result.exit_code != 0:
            result.state, result.message = "Failed", f"exited with code {result.exit_code}"
            if last_line[0]:  # usually the exception: say it where the failure is shown
                result.message += f": {last_line[0][:300]}"
            if out_paths:
                result.message += _storage_problem(out_dir, no_space[0])
        else:
            missing = [n for n, p in out_paths.items() if not os.path.exists(p)]
            if missing:
                result.state, result.message = "Failed", f"did not write its outputs {missing}"
            else:
                result.state, result.message = "Succeeded", ""
                result.outputs = out_paths
                if policy is not None:
                    result.stamps = {n: FileStamp.of(p) for n, p in out_paths.items()}
                    if drained:  # every line was read: what was collected is what the step yielded
                        self._remember(info, result, collector.recorded(name))
        logfile.write(
            f"[workbench] step {name} {result.state.lower()}" + (f": {result.message}" if result.message else "")
        )
        logfile.close()
        self._finish(info, result, out_paths if result.state == "Succeeded" else {}, step)

    def _file_format(self) -> str:
        src = self.metrics.source
        return src.file_system_path.format if src and src.file_system_path else "TEXT"

    def _metrics_file(self, argv: list[str], step_dir: Path, workdir: str) -> tuple[list[str], Path | None]:
        """For a File collector: give each step its own metrics file.

        The spec's path (``/var/log/katib/metrics.log``) is shared by every trial and often not
        writable on a laptop, so where it appears in the command line (as an argument or after
        ``=``) it is replaced by a file in the step's own folder, which is then tailed. The
        step also finds that path in ``$WORKBENCH_METRICS_FILE``. A path the command line does not
        mention is tailed where it is (relative to the step's working directory).
        """
        src = self.metrics.source
        if self.metrics.collector.kind != "File" or src is None or src.file_system_path is None:
            return argv, None
        original = src.file_system_path.path
        own = step_dir / Path(original).name
        step_dir.mkdir(parents=True, exist_ok=True)
        out = []
        for arg in argv:
            if arg == original:
                arg = str(own)
            elif arg.endswith("=" + original):
                arg = arg[: -len(original)] + str(own)
            out.append(arg)
        if out == argv:
            return argv, Path(workdir) / original
        return out, own

    # ------------------------------------------------------------------ caching

    def _cache_policy(self, chain: tuple[Pipeline, ...], step: Step) -> tuple[float | None] | None:
        """``None`` when this step must run; else ``(max_staleness,)``.

        ``chain`` holds the pipelines the step is nested in (outermost first): caching is on when
        the step says so, else when every enclosing pipeline allows it; the innermost staleness wins.
        """
        if self.cache is None:
            return None
        enabled = step.cache if step.cache is not None else all(p.cache for p in chain)
        if not enabled:
            return None
        staleness = step.max_cache_staleness
        for pipeline in reversed(chain):
            if staleness is None:
                staleness = pipeline.max_cache_staleness
        return (staleness,)

    def _cache_key(
        self,
        step: Step,
        inputs: dict[str, Resolved],
        argv: list[str],
        workdir: str,
        digests: dict[str, str],
        scope: str,
    ) -> str:
        comp = step.component
        # A command line gets the text of a value (``False`` and ``false`` differ there); a function, the value.
        by_text = comp.implementation.container is not None
        parameters = {
            n: r.get_text() if by_text else r.get_value() for n, r in inputs.items() if not r.is_artifact and r.present
        }
        artifacts = {}
        for name, r in inputs.items():
            if r.is_artifact and r.path:
                digest = digests.get(r.path)
                if digest is None:  # external data (not produced in this run): hash it now
                    digest = content_digest(r.path) if os.path.exists(r.path) else f"missing:{r.path}"
                artifacts[name] = digest
        env = {**(comp.implementation.container.env if comp.implementation.container else {}), **step.env}
        digest = component_digest(comp, argv, workdir, self._digest(comp))
        return cache_key(digest, parameters, artifacts, env, scope, self._collect)

    @property
    def _collect(self) -> Any:
        """How metrics are collected: part of a cache key (another collector would read other values)."""
        if self._collect_key is None:
            self._collect_key = [self.metrics.model_dump(mode="json"), sorted(set(self.metric_names))]
        return self._collect_key

    def _remember(self, info: StepInfo, result: StepResult, collected: list[Any]) -> None:
        """Record what a cacheable step yielded, so that a later hit replays exactly that."""
        assert self.cache is not None
        try:
            write_metrics_record(result.log_path, collected)
        except OSError as err:  # without its record the step is never served from the cache: safe
            log.warning("step %s: its metrics record was not written (%s); it will not be reused", info.step, err)
            return
        outputs = {n: (p, result.stamps[n]) for n, p in result.outputs.items()}
        hit = CacheHit(outputs, info.run_id, info.step, result.log_path, time.time(), metrics=collected)
        try:
            self.cache.remember(info.cache_key, hit)
        except Exception as err:  # an index that cannot be written: the lineage store answers later lookups
            log.warning("step %s: not indexed for reuse: %s", info.step, err)

    def _reuse(self, job: _StepJob, prepared: _Prepared, indexed_only: bool = False) -> bool:
        """On a cache hit: take the earlier outputs, copy its log, replay the metrics it yielded, record Cached.

        ``indexed_only``: look in the cache's index only (a file read), not in the lineage store.
        """
        assert self.cache is not None and prepared.policy is not None
        info, result, step, collector = prepared.info, job.result, job.step, job.collector
        names = [o.name for o in step.component.outputs]
        find = self.cache.lookup_indexed if indexed_only else self.cache.lookup
        try:
            hit = find(info.cache_key, names, max_staleness=prepared.policy[0])
        except Exception as err:  # a lineage store that is down must not fail the step: run it
            log.warning("step cache lookup failed (running step %s): %s", info.step, err)
            return False
        if hit is None or hit.metrics is None:
            return False
        result.outputs = {n: hit.outputs[n][0] for n in names}
        result.stamps = {n: hit.outputs[n][1] for n in names}
        result.cached_from = info.cached_from = f"{hit.run_id}/{hit.step}"
        logfile = _Log(Path(result.log_path))
        logfile.write(f"[workbench] cached: reusing the outputs of run {hit.run_id} step {hit.step}")
        try:
            for part in log_parts(hit.log_path) if hit.log_path else []:
                with open(part, encoding="utf-8", errors="replace") as fh:
                    while raw := fh.readline(MAX_LINE_CHARS):
                        if not raw.startswith("[workbench]"):
                            logfile.write(raw.rstrip("\n"))
        except OSError as err:  # the earlier log is gone: the outputs and metrics are still the step's
            logfile.write(f"[workbench] the log of run {hit.run_id} step {hit.step} cannot be read: {err}")
        logfile.close()
        collector.replay(info.step, hit.metrics)
        result.state, result.message, result.exit_code = "Cached", f"reused outputs of {result.cached_from}", 0
        self._finish(info, result, result.outputs, step)
        return True

    def _finish(self, info: StepInfo, result: StepResult, out_paths: dict[str, str], step: Step) -> None:
        result.finished = time.time()
        info.state, info.message = result.state, result.message
        info.exit_code, info.finished = result.exit_code, result.finished
        types = {o.name: o.type for o in step.component.outputs}
        info.outputs = []
        for name, path in out_paths.items():
            uri = self.backend.artifact_uri(path)
            # An untyped output is a file (an artifact), as in KFP; "" is recorded as ``system.Artifact``.
            out = OutputArtifact(name=name, uri=uri, path=path if uri != path else "", type=types.get(name) or "")
            stamp = result.stamps.get(name)
            if stamp is not None:
                out.digest, out.size, out.mtime_ns = stamp.digest, stamp.size, stamp.mtime_ns
            if out.type in PARAMETER_TYPES:
                try:
                    out.value = read_value(path, out.type)
                except (OSError, ValueError):
                    out.value = None
            info.outputs.append(out)
        self._record(self.recorder.step_finished, info)


@dataclass
class _Prepared:
    """An attempt of a step ready to start: its record, inputs, command line and cache policy."""

    info: StepInfo
    inputs: dict[str, Resolved]
    argv: list[str]
    workdir: str
    metrics_file: Path | None
    out_dir: Path
    out_paths: dict[str, str]
    #: ``(max_staleness,)`` when the step may come from the cache, else ``None``.
    policy: tuple[float | None] | None


_FAILED = ("Failed", "Cancelled")
_PRODUCED = ("Succeeded", "Cached")
_FILE_ONLY = "the File metrics collector reads only its file, as Katib's does"


class _Run:
    """The scheduler of one run: a graph of step instances, activated as their in-degree drops to zero.

    Each settled instance decrements the waiting count of its dependents (and of its group), so a
    completion costs O(its edges), never a scan of the whole graph. Loops create their iterations
    when their items are known; nested pipelines create their steps when they start. Everything
    here happens on the calling thread; step threads only post their node on ``done``.
    """

    def __init__(
        self,
        runner: PipelineRunner,
        pipeline: Pipeline,
        params: dict[str, Source],
        ctx: RunContext,
        cancel: threading.Event,
        collector: MetricsCollector,
    ) -> None:
        self.runner = runner
        self.pipeline = pipeline
        self.ctx = ctx
        self.cancel = cancel
        self.collector = collector
        self.done: queue.Queue[_Node] = queue.Queue()
        self.work: deque[_Node] = deque()
        self.running = 0
        self.results: dict[str, StepResult] = {}
        #: Names of the nested pipeline and loop instances (not tasks).
        self.groups: set[str] = set()
        self.digests: dict[str, str] = {}
        self.run_info: dict[str, Any] = {}
        self.scope = _Scope(pipeline, "", params, (pipeline,))
        self.root = _Node("", pipeline.steps[0], self.scope, "root", StepResult(""), None, cancel)
        self.exit_root: _Node | None = None
        self.exit_node: _Node | None = None

    # ------------------------------------------------------------------ main loop

    def execute(self) -> RunResult:
        self.runner._hold_records()
        try:
            self._populate(self.scope, self.root)
            while True:
                while self.work:
                    self._activate(self.work.popleft())
                if self.running == 0:
                    break
                self.runner._release_records()  # about to wait for running steps
                node = self.done.get()
                self.running -= 1
                self._task_done(node)
        finally:
            self.runner._release_records(hold=False)
        return self._result()

    def _result(self) -> RunResult:
        state, message = self.run_info.get("status", "Succeeded"), self.run_info.get("message", "")
        exit_node = self.exit_node
        if exit_node is not None and exit_node.result.state in _FAILED and state == "Succeeded":
            state = "Failed"
            message = f"exit handler {exit_node.name}: {exit_node.result.message}"
        return RunResult(self.ctx.run_id, state, self.results, self.collector, message)

    # ------------------------------------------------------------------ graph

    def _new(self, name: str, step: Step, scope: _Scope, kind: str, parent: _Node, **extra: Any) -> _Node:
        if name in self.results:  # the spec forbids this; never overwrite a result silently
            raise RuntimeError(f"two step instances named {name!r}")
        node = _Node(name, step, scope, kind, StepResult(name), parent, parent.cancel, **extra)
        self.results[name] = node.result
        if kind != "task":
            self.groups.add(name)
        parent.children.append(node)
        parent.left += 1
        return node

    @staticmethod
    def _kind(step: Step) -> str:
        return "pipeline" if isinstance(step.component, Pipeline) else "task"

    def _populate(self, scope: _Scope, parent: _Node) -> None:
        """Create the step instances of one pipeline instance; queue those with no upstream step."""
        for step in scope.pipeline.steps:
            kind = "loop" if step.for_each is not None else self._kind(step)
            scope.nodes[step.name] = self._new(scope.prefix + step.name, step, scope, kind, parent)
        for node in scope.nodes.values():
            upstream = node.step.upstream()
            node.waiting = len(upstream)
            for name in upstream:
                scope.nodes[name].dependents.append(node)
        self.work.extend(node for node in scope.nodes.values() if node.waiting == 0)

    # ------------------------------------------------------------------ activation

    def _activate(self, node: _Node) -> None:
        verdict = self._gate(node)
        if verdict is not None:
            node.result.state, node.result.message = verdict
            self.runner._record_settled(node.name, node.step, node.result, self.ctx)
            self._settle(node)
            return
        node.result.state = "Running"
        node.result.started = time.time()
        try:
            if node.kind == "task":
                self._start_task(node)
            elif node.kind == "pipeline":
                self._start_pipeline(node)
            else:
                self._start_loop(node)
        except (ValueError, KeyError, TypeError, OSError) as err:
            node.result.state, node.result.message = "Failed", str(err)
            self.runner._record_settled(node.name, node.step, node.result, self.ctx)
            self._settle(node)

    def _gate(self, node: _Node) -> tuple[str, str] | None:
        """Decide whether a ready instance runs: ``None`` to run it, else (state, message)."""
        if node.cancel.is_set():
            return "Cancelled", "the run was cancelled"
        step, scope = node.step, node.scope
        if not node.iteration:
            for dep in sorted(step.upstream()):
                upstream = scope.nodes[dep].result
                if upstream.state in _FAILED:
                    return "Cancelled", f"upstream step {upstream.name} {upstream.state.lower()}"
            for ref in step_references(step):
                if ref_kind(ref) in ("steps", "oneOf"):
                    if not any(self._available(scope, alt) for alt in one_of_alternatives(ref)):
                        return "Skipped", f"it uses {ref}, which was not produced"
        if step.when:
            refs = condition_references(step.when)
            if node.kind == "loop" and any(ref_kind(r) == "item" for r in refs):
                return None  # decided per iteration
            try:
                values = {ref: self._lookup(node, ref).get() for ref in refs}
                if not evaluate_condition(step.when, values):
                    return "Skipped", f"condition is false: {step.when}"
            except Exception as err:  # a bad value in a user's condition
                return "Failed", f"cannot evaluate condition {step.when!r}: {err}"
        return None

    @staticmethod
    def _available(scope: _Scope, ref: str) -> bool:
        producer, output = split_output_ref(ref)
        return output in scope.nodes[producer].outputs

    def _lookup(self, node: _Node, ref: str) -> Source:
        """The source of a reference, as seen by ``node``."""
        kind = ref_kind(ref)
        if kind == "params":
            return node.scope.params.get(ref[len("params.") :], Source())
        if kind == "steps":
            producer, output = split_output_ref(ref)
            found = node.scope.nodes[producer].outputs.get(output)
            if found is None:
                raise ValueError(f"{{{{{ref}}}}} was not produced")
            return found
        if kind == "oneOf":
            produced = [alt for alt in one_of_alternatives(ref) if self._available(node.scope, alt)]
            if len(produced) != 1:
                ran = ", ".join(produced) or "none"
                raise ValueError(f"{{{{{ref}}}}} needs exactly one branch to have run (produced: {ran})")
            return self._lookup(node, produced[0])
        if kind == "run":
            return Source(value=self.run_info.get(ref[len("run.") :]))
        if node.item is _NO_ITEM:
            raise ValueError(f"{{{{{ref}}}}} is only defined in a step with forEach")
        value = node.item
        for key in ref.split(".")[1:]:
            if not isinstance(value, dict) or key not in value:
                raise ValueError(f"{{{{{ref}}}}}: item {str(node.item)[:80]!r} has no field {key!r}")
            value = value[key]
        return Source(value=value)

    def _argument(self, node: _Node, value: Any, type_name: str | None) -> Source:
        """The source of one argument (a nested pipeline's parameter value)."""
        if isinstance(value, str):
            match = REFERENCE.fullmatch(value.strip())
            if match:
                source = self._lookup(node, match.group(1).strip())
                if source.path is None and type_name not in ARTIFACT_TYPES:
                    return Source(value=convert(source.value, type_name), type=type_name, text=source.text)
                return source
            if REFERENCE.search(value):
                value = REFERENCE.sub(lambda m: self._lookup(node, m.group(1).strip()).get_text(), value)
        if type_name in ARTIFACT_TYPES:
            return Source(value=value, type=type_name)
        return Source(value=convert(value, type_name), type=type_name, text=value if isinstance(value, str) else None)

    def _start_task(self, node: _Node) -> None:
        job = _StepJob(
            pipeline=node.scope.pipeline,
            step=node.step,
            name=node.name,
            lookup=lambda ref: self._lookup(node, ref),
            result=node.result,
            ctx=self.ctx,
            collector=self.collector,
            cancel=node.cancel,
            chain=node.scope.chain,
            digests=self.digests,
            token=node,
        )
        try:
            prepared = self.runner._settle_from_cache(job)
        except Exception as err:  # as on a step's thread: the step fails, the run goes on
            log.exception("step %s failed inside the engine", job.name)
            node.result.state, node.result.message = "Failed", f"internal error: {type(err).__name__}: {err}"
            prepared = None
        if prepared is None:  # Cached (or Failed before it could start): no thread, no process
            self._task_done(node)
            return
        self.running += 1
        threading.Thread(
            target=self.runner._execute,
            args=(job, self.done, prepared),
            name=f"step-{self.ctx.run_id[:8]}-{node.name}",
            daemon=True,
        ).start()

    def _start_pipeline(self, node: _Node) -> None:
        sub = node.step.component
        assert isinstance(sub, Pipeline)
        params: dict[str, Source] = {}
        for param in sub.parameters:
            if param.name in node.step.arguments:
                params[param.name] = self._argument(node, node.step.arguments[param.name], param.type)
            else:
                default = convert(param.default, param.type) if param.default is not None else None
                text = param.default if isinstance(param.default, str) else None
                params[param.name] = Source(value=default, type=param.type, text=text)
        node.inner = _Scope(sub, node.name + ".", params, (*node.scope.chain, sub))
        self._populate(node.inner, node)

    def _start_loop(self, node: _Node) -> None:
        loop = node.step.for_each
        assert loop is not None
        ref = loop.reference()
        if ref is None:  # a literal list; references inside it are resolved
            items = _substitute(loop.items, lambda r: self._lookup(node, r))
        else:
            items = self._lookup(node, ref).get()
            if isinstance(items, str):  # an untyped output holding JSON
                try:
                    items = json.loads(items)
                except ValueError:
                    pass
            if not isinstance(items, list):
                raise ValueError(f"forEach items {{{{{ref}}}}}: expected a JSON list, got {str(items)[:80]!r}")
        node.ignore_failures = loop.ignore_failures
        kind = self._kind(node.step)
        children = [
            self._new(f"{node.name}[{index}]", node.step, node.scope, kind, node, item=item, iteration=True)
            for index, item in enumerate(items)
        ]
        if not children:
            self._finish_group(node)
            return
        limit = loop.parallelism or len(children)
        self.work.extend(children[:limit])
        node.pending.extend(children[limit:])

    # ------------------------------------------------------------------ settling

    def _task_done(self, node: _Node) -> None:
        result = node.result
        if result.state in _PRODUCED:
            types = {o.name: o.type for o in node.step.component.outputs}
            node.outputs = {n: Source(path=p, type=types.get(n)) for n, p in result.outputs.items()}
            self.digests.update({p: result.stamps[n].digest for n, p in result.outputs.items() if n in result.stamps})
        self._settle(node)

    def _settle(self, node: _Node) -> None:
        node.settled = True
        if node.result.finished is None:
            node.result.finished = time.time()
        for dependent in node.dependents:
            dependent.waiting -= 1
            if dependent.waiting == 0:
                self.work.append(dependent)
        parent = node.parent
        if parent is None:
            return
        parent.left -= 1
        state = node.result.state
        if state == "Failed" and not (parent.kind == "loop" and parent.ignore_failures):
            parent.failures.extend(node.failures if node.kind != "task" and node.failures else [node.result])
        if parent.kind == "loop" and parent.pending:
            if state in _FAILED and not parent.ignore_failures:
                while parent.pending:  # fail fast: no further iteration starts
                    skipped = parent.pending.popleft()
                    skipped.result.state = "Cancelled"
                    skipped.result.message = f"iteration {node.name} {state.lower()}"
                    self.runner._record_settled(skipped.name, skipped.step, skipped.result, self.ctx)
                    skipped.settled = True
                    parent.left -= 1
            else:
                self.work.append(parent.pending.popleft())
        if parent.left == 0:
            self._finish_group(parent)

    def _finish_group(self, group: _Node) -> None:
        if group is self.root:
            self._root_done()
            return
        if group is self.exit_root:
            return
        states = [child.result.state for child in group.children]
        failed = [s for s in states if s in _FAILED]
        result = group.result
        if group.kind == "loop" and group.ignore_failures and failed and not self.cancel.is_set():
            result.state = "Succeeded" if len(failed) < len(states) or not states else "Failed"
            result.message = f"{len(failed)} of {len(states)} iterations failed (ignored)"
            if result.state == "Failed":
                group.failures = [c.result for c in group.children if c.result.state == "Failed"]
        elif "Failed" in states:
            result.state = "Failed"
            result.message = "; ".join(f"step {f.name}: {f.message}" for f in group.failures)
        elif "Cancelled" in states:
            result.state, result.message = "Cancelled", "a step inside was cancelled"
        elif states and all(s == "Skipped" for s in states):
            result.state, result.message = "Skipped", "every step inside was skipped"
        else:
            result.state = "Succeeded"
        if result.state == "Succeeded":
            group.outputs = self._group_outputs(group)
        self._settle(group)

    def _group_outputs(self, group: _Node) -> dict[str, Source]:
        outputs: dict[str, Source] = {}
        if group.kind == "loop":  # fan-in: one value per iteration that produced it, in item order
            for out in group.step.component.outputs:
                values = [_collected(child.outputs[out.name]) for child in group.children if out.name in child.outputs]
                outputs[out.name] = Source(value=values, type="JsonArray")
            return outputs
        assert group.inner is not None
        probe = _Node("", group.step, group.inner, "root", StepResult(""), None, group.cancel)
        for out in group.step.component.outputs:
            try:
                source = self._lookup(probe, out.reference())  # type: ignore[union-attr]
            except ValueError:
                continue  # the branch that makes it did not run: consumers are Skipped
            outputs[out.name] = Source(value=source.value, path=source.path, type=out.type or source.type)
        return outputs

    def _root_done(self) -> None:
        top = [node.result for node in self.root.children]
        states = [r.state for r in top]
        if self.cancel.is_set() and "Failed" not in states:
            status, message = "Cancelled", "the run was cancelled"
        elif "Failed" in states or "Cancelled" in states:
            status = "Failed"
            message = "; ".join(f"step {r.name}: {r.message}" for r in self.root.failures) or "a step was cancelled"
        else:
            status, message = "Succeeded", ""
        failed = [r.name for r in self.results.values() if r.state == "Failed" and r.name not in self.groups]
        self.run_info = {"status": status, "message": message, "id": self.ctx.run_id, "failedSteps": failed}
        handler = self.pipeline.on_exit
        if handler is None:
            return
        # The exit handler runs even when the run was cancelled: it gets an event of its own.
        self.exit_root = _Node("", handler, self.scope, "root", StepResult(""), None, threading.Event())
        self.exit_node = self._new(handler.name, handler, self.scope, self._kind(handler), self.exit_root)
        self.work.append(self.exit_node)


def _collected(source: Source) -> Any:
    """One iteration's output in a fan-in list: the value of a parameter, the path of an artifact."""
    if source.path is not None and (source.type in ARTIFACT_TYPES):
        return source.path
    return source.get()


__all__ = [
    "PipelineRunner",
    "Resolved",
    "RunContext",
    "RunResult",
    "StepResult",
    "log_parts",
    "pipeline_cache_scope",
    "read_log_tail",
]
