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

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import BaseBackend, StepLaunch, StepLaunchError
from workbench.engine._inputs import OutputRef, Resolved, build_argv, convert, read_value, resolve_inputs
from workbench.engine.cache import BaseStepCache, FileStamp, cache_key, component_digest, content_digest
from workbench.engine.collector import FileTailer, MetricsCollector, wait_quietly
from workbench.spec import PARAMETER_TYPES, MetricsCollectorSpec, Pipeline, Step, evaluate_condition, split_output_ref
from workbench.spec._condition import condition_references
from workbench.spec._pipeline import references
from workbench.tracking._base import BaseRecorder, OutputArtifact, StepInfo
from workbench.workspace import Workspace

log = logging.getLogger("workbench.engine")

#: A step's log file stops growing past this size (the collector still reads every line).
MAX_LOG_BYTES = 64 * 1024 * 1024
#: States after which a step is settled.
FINAL_STEP_STATES = ("Succeeded", "Failed", "Cached", "Skipped", "Cancelled")


@dataclass
class RunContext:
    """Who a run belongs to (labels, environment variables, record keys)."""

    experiment: str
    run_id: str
    namespace: str = "default"
    trial_number: int | None = None


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
    """Everything a step's thread works with (one per step of a run)."""

    pipeline: Pipeline
    step: Step
    params: dict[str, Any]
    outputs: OutputRef
    result: StepResult
    ctx: RunContext
    collector: MetricsCollector
    cancel: threading.Event


class _Log:
    """A capped, line-buffered log file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8", errors="replace")
        self._size = path.stat().st_size
        self._capped = False

    def write(self, line: str) -> None:
        if self._capped:
            return
        self._size += len(line) + 1
        if self._size > MAX_LOG_BYTES:
            self._fh.write(f"[workbench] log truncated at {MAX_LOG_BYTES // (1024 * 1024)} MB\n")
            self._capped = True
        else:
            self._fh.write(line + "\n")

    def close(self) -> None:
        self._fh.close()


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
        log-reading thread, while steps run; setting ``cancel`` stops the run.
        """
        cancel = cancel or threading.Event()
        kind = self.metrics.collector.kind
        collector = MetricsCollector(
            self.metric_names,
            on_metric=self._metric_hook(ctx, on_metric),
            formats=self.metrics.metrics_formats,
            stdout=kind in ("StdOut", "File"),
        )
        params = self._params(pipeline, arguments)
        results = {s.name: StepResult(s.name) for s in pipeline.steps}
        order = pipeline.topological_order()
        upstream = {s.name: s.upstream() for s in pipeline.steps}
        done: queue.Queue[str] = queue.Queue()
        running: set[str] = set()
        # Only this thread decides what is settled: a step counts as done when its thread has
        # posted it (outputs registered), not when its state changes.
        settled: set[str] = set()
        outputs = OutputRef({})

        while True:
            for name in order:
                result = results[name]
                if name in settled or name in running:
                    continue
                if not upstream[name] <= settled:
                    continue
                step = pipeline.step(name)
                verdict = self._gate(step, results, params, outputs, cancel)
                if verdict is not None:
                    result.state, result.message = verdict
                    self._record_settled(step, result, ctx, params)
                    settled.add(name)
                    continue
                running.add(name)
                result.state = "Running"
                threading.Thread(
                    target=self._execute,
                    args=(_StepJob(pipeline, step, params, outputs, results[name], ctx, collector, cancel), done),
                    name=f"step-{ctx.run_id[:8]}-{name}",
                    daemon=True,
                ).start()
            if not running:
                break
            finished = done.get()
            running.discard(finished)
            settled.add(finished)

        states = [r.state for r in results.values()]
        if cancel.is_set() and "Failed" not in states:
            state, message = "Cancelled", "the run was cancelled"
        elif "Failed" in states or "Cancelled" in states:
            failed = [r for r in results.values() if r.state == "Failed"]
            state = "Failed"
            message = "; ".join(f"step {r.name}: {r.message}" for r in failed) or "a step was cancelled"
        else:
            state, message = "Succeeded", ""
        return RunResult(ctx.run_id, state, results, collector, message)

    # ------------------------------------------------------------------ helpers

    def _metric_hook(self, ctx: RunContext, on_metric: Any) -> Any:
        def hook(name: str, value: float, index: int, origin: str) -> None:
            self.recorder.metric(ctx.run_id, origin, name, value, index, time.time())
            if on_metric is not None:
                on_metric(name, value, index)

        return hook

    @staticmethod
    def _params(pipeline: Pipeline, arguments: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in pipeline.parameters:
            raw = arguments.get(p.name, p.default)
            values[p.name] = convert(raw, p.type) if raw is not None else None
        return values

    def _gate(
        self,
        step: Step,
        results: dict[str, StepResult],
        params: dict[str, Any],
        outputs: OutputRef,
        cancel: threading.Event,
    ) -> tuple[str, str] | None:
        """Decide whether a ready step runs: ``None`` to run it, else (state, message)."""
        if cancel.is_set():
            return "Cancelled", "the run was cancelled"
        for dep in sorted(step.upstream()):
            if results[dep].state in ("Failed", "Cancelled"):
                return "Cancelled", f"upstream step {dep} {results[dep].state.lower()}"
        for ref in references(step.arguments) + (condition_references(step.when) if step.when else []):
            if ref.startswith("steps.") and results[split_output_ref(ref)[0]].state == "Skipped":
                return "Skipped", f"it uses {ref}, which was not produced"
        if step.when:
            try:
                values = {}
                for ref in condition_references(step.when):
                    values[ref] = params.get(ref[7:]) if ref.startswith("params.") else outputs.value(ref)
                if not evaluate_condition(step.when, values):
                    return "Skipped", f"condition is false: {step.when}"
            except Exception as err:  # a bad value in a user's condition
                return "Failed", f"cannot evaluate condition {step.when!r}: {err}"
        return None

    def _record_settled(self, step: Step, result: StepResult, ctx: RunContext, params: dict[str, Any]) -> None:
        now = time.time()
        result.started = result.finished = now
        info = StepInfo(
            run_id=ctx.run_id,
            experiment=ctx.experiment,
            step=step.name,
            component=step.component.name,
            component_digest=step.component.digest(),
            attempt=0,
            state=result.state,
            message=result.message,
            trial_number=ctx.trial_number,
            started=now,
            finished=now,
        )
        self.recorder.step_finished(info)

    def _workdir(self, pipeline: Pipeline, step: Step, step_dir: Path) -> str:
        impl = step.component.implementation
        if impl.container is not None:
            wd = impl.container.working_dir
            if wd and os.path.isabs(wd) and os.path.isdir(wd):
                return wd
            if pipeline.base_dir:
                return pipeline.base_dir
        return str(step_dir)

    def _env(self, step: Step, ctx: RunContext) -> dict[str, str]:
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
                "WORKBENCH_STEP": step.name,
            }
        )
        if ctx.trial_number is not None:
            env["WORKBENCH_TRIAL"] = str(ctx.trial_number)
        return env

    def _execute(self, job: _StepJob, done: queue.Queue[str]) -> None:
        step, outputs, result = job.step, job.outputs, job.result
        try:
            self._attempts(job)
        except Exception as err:  # never let a step thread die silently
            log.exception("step %s failed inside the engine", step.name)
            result.state, result.message = "Failed", f"internal error: {type(err).__name__}: {err}"
        finally:
            if result.state in ("Succeeded", "Cached"):
                types = {o.name: o.type for o in step.component.outputs}
                outputs.outputs[step.name] = {n: (p, types.get(n)) for n, p in result.outputs.items()}
                outputs.digests.update(
                    {p: result.stamps[n].digest for n, p in result.outputs.items() if n in result.stamps}
                )
            done.put(step.name)

    def _attempts(self, job: _StepJob) -> None:
        step, result, ctx, cancel = job.step, job.result, job.ctx, job.cancel
        run_dir = self.workspace.runs / ctx.run_id
        step_dir = run_dir / step.name
        out_dir = self.workspace.artifacts / ctx.experiment / ctx.run_id / step.name
        result.log_path = str(run_dir / f"{step.name}.log")
        policy = step.retry
        for attempt in range(1, policy.limit + 2):
            result.attempts = attempt
            self._attempt(job, step_dir, out_dir, attempt)
            if result.state != "Failed" or cancel.is_set() or attempt > policy.limit or result.exit_code is None:
                return
            delay = min(policy.backoff * policy.factor ** (attempt - 1), policy.max_backoff)
            log.info("step %s failed (attempt %d); retrying in %.1fs", step.name, attempt, delay)
            if wait_quietly(delay, cancel):
                result.state, result.message = "Cancelled", "cancelled during retry backoff"
                return

    def _attempt(self, job: _StepJob, step_dir: Path, out_dir: Path, attempt: int) -> None:
        pipeline, step, params, outputs = job.pipeline, job.step, job.params, job.outputs
        result, ctx, collector, cancel = job.result, job.ctx, job.collector, job.cancel
        comp = step.component
        result.exit_code = None
        result.started = time.time()
        out_paths = {o.name: str(out_dir / o.name) for o in comp.outputs}
        out_dir.mkdir(parents=True, exist_ok=True)
        info = StepInfo(
            run_id=ctx.run_id,
            experiment=ctx.experiment,
            step=step.name,
            component=comp.name,
            component_digest=comp.digest(),
            attempt=attempt,
            trial_number=ctx.trial_number,
            log_path=result.log_path,
            started=result.started,
        )
        try:
            inputs = resolve_inputs(step, params, outputs)
            argv = build_argv(comp, inputs, out_paths, step_dir / "inputs")
        except (ValueError, KeyError, OSError) as err:
            result.state, result.message = "Failed", f"cannot resolve inputs: {err}"
            self._finish(info, result, {}, step)
            return
        workdir = self._workdir(pipeline, step, step_dir)
        argv, metrics_file = self._metrics_file(argv, step_dir, workdir)
        info.inputs = {n: r.get_value() for n, r in inputs.items() if not r.is_artifact and r.present}
        info.input_artifacts = {
            n: (r.path or "", r.type or "Artifact") for n, r in inputs.items() if r.is_artifact and r.path
        }
        info.command = argv
        policy = self._cache_policy(pipeline, step)
        if policy is not None:
            info.cache_key = self._cache_key(step, inputs, argv, workdir, outputs)
            if attempt == 1 and self._reuse(info, result, step, collector, policy):
                return
        launch = StepLaunch(
            argv=argv,
            env={**self._env(step, ctx), **({"WORKBENCH_METRICS_FILE": str(metrics_file)} if metrics_file else {})},
            workdir=workdir,
            name=f"{ctx.run_id[:12]}-{step.name}",
            image=comp.implementation.container.image if comp.implementation.container else "",
            labels={
                "workbench.io/experiment": ctx.experiment,
                "workbench.io/run": ctx.run_id,
                "workbench.io/step": step.name,
                **({"workbench.io/trial": str(ctx.trial_number)} if ctx.trial_number is not None else {}),
            },
            experiment=ctx.experiment,
            namespace=ctx.namespace,
            run_id=ctx.run_id,
            step=step.name,
            trial=ctx.trial_number,
            attempt=attempt,
            timeout=step.timeout,
            kubernetes=step.pod_settings(),
            parameters=dict(info.inputs),
            own_env={**(comp.implementation.container.env if comp.implementation.container else {}), **step.env},
            entrypoint_args=bool(comp.implementation.container and not comp.implementation.container.command),
            outputs=dict(out_paths),
            input_paths=sorted(path for path, _ in info.input_artifacts.values()),
            cancel=cancel,
        )
        self.recorder.step_started(info)
        logfile = _Log(Path(result.log_path))
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
            tailer = FileTailer(metrics_file, collector, self._file_format(), origin=step.name).start()

        last_line = [""]

        def pump() -> None:
            for line in handle.lines():
                logfile.write(line)
                collector.feed(line, origin=step.name)
                if line.strip():
                    last_line[0] = line.strip()

        reader = threading.Thread(target=pump, name=f"log-{step.name}", daemon=True)
        reader.start()
        deadline = time.monotonic() + step.timeout if step.timeout else None
        outcome = ""
        while True:
            code = handle.wait(timeout=0.05 if deadline is None else min(0.05, max(0.0, deadline - time.monotonic())))
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
        else:
            missing = [n for n, p in out_paths.items() if not os.path.exists(p)]
            if missing:
                result.state, result.message = "Failed", f"did not write its outputs {missing}"
            else:
                result.state, result.message = "Succeeded", ""
                result.outputs = out_paths
                if policy is not None:
                    result.stamps = {n: FileStamp.of(p) for n, p in out_paths.items()}
        logfile.write(
            f"[workbench] step {step.name} {result.state.lower()}" + (f": {result.message}" if result.message else "")
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

    def _cache_policy(self, pipeline: Pipeline, step: Step) -> tuple[float | None] | None:
        """``None`` when this step must run; else ``(max_staleness,)``."""
        if self.cache is None:
            return None
        enabled = step.cache if step.cache is not None else pipeline.cache
        if not enabled:
            return None
        staleness = step.max_cache_staleness if step.max_cache_staleness is not None else pipeline.max_cache_staleness
        return (staleness,)

    def _cache_key(
        self, step: Step, inputs: dict[str, Resolved], argv: list[str], workdir: str, outputs: OutputRef
    ) -> str:
        comp = step.component
        parameters = {n: r.get_value() for n, r in inputs.items() if not r.is_artifact and r.present}
        artifacts = {}
        for name, r in inputs.items():
            if r.is_artifact and r.path:
                digest = outputs.digests.get(r.path)
                if digest is None:  # external data (not produced in this run): hash it now
                    digest = content_digest(r.path) if os.path.exists(r.path) else f"missing:{r.path}"
                artifacts[name] = digest
        env = {**(comp.implementation.container.env if comp.implementation.container else {}), **step.env}
        return cache_key(component_digest(comp, argv, workdir), parameters, artifacts, env)

    def _reuse(
        self,
        info: StepInfo,
        result: StepResult,
        step: Step,
        collector: MetricsCollector,
        policy: tuple[float | None],
    ) -> bool:
        """On a cache hit: take the earlier outputs, replay its log (metrics), record Cached."""
        assert self.cache is not None
        names = [o.name for o in step.component.outputs]
        try:
            hit = self.cache.lookup(info.cache_key, names, max_staleness=policy[0])
        except Exception as err:  # a lineage store that is down must not fail the step: run it
            log.warning("step cache lookup failed (running step %s): %s", step.name, err)
            return False
        if hit is None:
            return False
        result.outputs = {n: hit.outputs[n][0] for n in names}
        result.stamps = {n: hit.outputs[n][1] for n in names}
        result.cached_from = info.cached_from = f"{hit.run_id}/{hit.step}"
        logfile = _Log(Path(result.log_path))
        logfile.write(f"[workbench] cached: reusing the outputs of run {hit.run_id} step {hit.step}")
        if hit.log_path and os.path.isfile(hit.log_path):
            with open(hit.log_path, encoding="utf-8", errors="replace") as fh:
                for raw in fh:
                    line = raw.rstrip("\n")
                    if line.startswith("[workbench]"):
                        continue
                    logfile.write(line)
                    collector.feed(line, origin=step.name)
        logfile.close()
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
            out = OutputArtifact(name=name, uri=path, type=types.get(name) or "String")
            stamp = result.stamps.get(name)
            if stamp is not None:
                out.digest, out.size, out.mtime_ns = stamp.digest, stamp.size, stamp.mtime_ns
            if out.type in PARAMETER_TYPES:
                try:
                    out.value = read_value(path, out.type)
                except (OSError, ValueError):
                    out.value = None
            info.outputs.append(out)
        self.recorder.step_finished(info)


__all__ = ["PipelineRunner", "Resolved", "RunContext", "RunResult", "StepResult"]
