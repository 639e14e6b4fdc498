"""Standalone pipeline runs: prepare a run record, execute it with the engine, rerun it.

A standalone run uses the same objects as a trial: :class:`~workbench.engine.PipelineRunner` on a
backend, the default recorder (MLflow + ML Metadata, ``RunInfo.trial_number = None``, so ML Metadata
holds a ``workbench.Run`` context) and the ML Metadata step cache. Its record in the run store
holds everything needed to run it again: the resolved pipeline document (components inline),
the converted parameter values and each component's digest (its spec, its Python source, the
local files its command names).

Example:
    >>> from workbench.runs import run_pipeline  # doctest: +SKIP
    >>> record = run_pipeline("pipeline.yaml", {"lr": 0.1}).wait()  # doctest: +SKIP
    >>> record.state  # doctest: +SKIP
    'Succeeded'
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from workbench.errors import SpecError, WorkbenchError
from workbench.runs._store import HEARTBEAT, RunRecord, store_of
from workbench.spec import Pipeline
from workbench.tracking._base import BaseRecorder, CompositeRecorder, RunInfo, StepInfo

log = logging.getLogger("workbench.runs")

#: Engine run states → run states (a cancelled run is Killed, as a cancelled trial).
_STATE = {"Succeeded": "Succeeded", "Failed": "Failed", "Cancelled": "Killed"}
#: How often a running run looks for a cancel request in the store (seconds).
CANCEL_POLL = 0.5


def parse_params(items: list[str] | None, where: str = "--param") -> dict[str, str]:
    """``["k=v", ...]`` → ``{"k": "v"}``; a malformed item is a ``SpecError``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"expected NAME=VALUE, got {item!r}", path=where)
        out[key.strip()] = value
    return out


def resolve_parameters(pipeline: Pipeline, arguments: dict[str, Any], where: str = "parameters") -> dict[str, Any]:
    """The pipeline's parameter values: ``arguments`` converted to each parameter's type, defaults filled.

    Unknown names, values of the wrong type and missing required parameters are ``SpecError``s.
    """
    from workbench.engine._inputs import convert

    known = {p.name: p for p in pipeline.parameters}
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise SpecError(
            f"pipeline {pipeline.name!r} has no parameter {unknown[0]!r} (parameters: {sorted(known) or 'none'})",
            path=f"{where}.{unknown[0]}",
        )
    values: dict[str, Any] = {}
    for name, param in known.items():
        raw = arguments.get(name, param.default)
        if raw is None:
            if param.optional:
                continue
            raise SpecError(f"pipeline parameter {name!r} has no default: give a value (--param {name}=VALUE)",
                            path=f"{where}.{name}")  # fmt: skip
        try:
            values[name] = convert(raw, param.type)
        except (ValueError, TypeError) as err:
            raise SpecError(
                f"expected a value of type {param.type}, got {raw!r} ({err})", path=f"{where}.{name}"
            ) from None
    return values


def load_pipeline_ref(ref: str) -> Pipeline:
    """A pipeline from a YAML file, or from ``FILE.py:FUNCTION`` / ``module:FUNCTION`` (a ``@pipeline`` function)."""
    from workbench.spec import load_pipeline

    path = Path(ref)
    if ":" in ref and not path.exists():
        from workbench._dsl_pipeline import pipeline_from_ref

        return pipeline_from_ref(ref)
    return load_pipeline(path)


def component_digests(pipeline: Pipeline, prefix: str = "") -> dict[str, str]:
    """Each step's component digest (``outer.inner`` for steps of nested pipelines, exit handler included).

    A digest covers the component spec, its Python source file, and local files its command names.
    """
    from workbench.engine.cache import component_digest

    out = {}
    for step in [*pipeline.steps, *([pipeline.on_exit] if pipeline.on_exit else [])]:
        if step.is_pipeline:
            out.update(component_digests(step.component, f"{prefix}{step.name}."))  # type: ignore[arg-type]
            continue
        comp = step.component
        argv: list[str] = []
        if comp.implementation.container is not None:
            c = comp.implementation.container
            argv = [a for a in [*c.command, *c.args] if isinstance(a, str)]
        workdir = pipeline.base_dir or str(Path.cwd())
        out[prefix + step.name] = component_digest(comp, ["_", *argv], workdir)
    return out


def prepare_run(
    pipeline: Pipeline,
    arguments: dict[str, Any] | None = None,
    *,
    experiment: str = "Default",
    namespace: str = "default",
    name: str = "",
    metric_names: list[str] | tuple[str, ...] = (),
    cache: bool = True,
    backend: str | None = None,
    workspace: Any = None,
    rerun_of: str | None = None,
    schedule: str | None = None,
    fire_at: int | None = None,
) -> RunRecord:
    """A Pending run record (not stored yet); every input problem is a ``SpecError``."""
    from workbench.backends import default_backend_name
    from workbench.spec import pipeline_to_document
    from workbench.spec._validation import check_name

    for value, what in ((experiment, "experiment"), (namespace, "namespace")):
        try:
            check_name(value, what)
        except ValueError as err:
            raise SpecError(str(err), path=what) from None
    params = resolve_parameters(pipeline, dict(arguments or {}))
    backend_name = backend or default_backend_name(workspace)
    run_id = uuid.uuid4().hex
    return RunRecord(
        run_id=run_id,
        name=name or pipeline.name,
        namespace=namespace,
        experiment=experiment,
        pipeline=pipeline.name,
        document=pipeline_to_document(pipeline),
        parameters=params,
        digests=component_digests(pipeline),
        metric_names=list(metric_names),
        backend=backend_name,
        cache=cache,
        log_dir=str(workspace.runs / run_id) if workspace is not None else "",
        rerun_of=rerun_of,
        schedule=schedule,
        fire_at=fire_at,
    )


def pipeline_of(record: RunRecord) -> Pipeline:
    """The run's pipeline, reloaded from its stored document."""
    from workbench.spec import pipeline_from_dict

    base = (record.document.get("spec") or {}).get("baseDir")
    return pipeline_from_dict(record.document, Path(base) if base else None, source=f"run {record.run_id}")


class _StepTracker(BaseRecorder):
    """Keeps the steps' states in memory while a run goes on (written to the store with the heartbeat)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.steps: dict[str, dict[str, Any]] = {}
        self.changed = False

    def _note(self, info: StepInfo) -> None:
        with self.lock:
            self.steps[info.step] = {
                "state": info.state,
                "attempt": info.attempt,
                "log_path": info.log_path,
                "started": info.started,
                "finished": info.finished,
                "message": info.message,
                "cached_from": info.cached_from,
            }
            self.changed = True

    def step_started(self, step: StepInfo) -> None:
        self._note(step)

    def step_finished(self, step: StepInfo) -> None:
        self._note(step)

    def snapshot(self) -> dict[str, dict[str, Any]] | None:
        with self.lock:
            if not self.changed:
                return None
            self.changed = False
            return {k: dict(v) for k, v in self.steps.items()}


def execute_run(
    record: RunRecord,
    workspace: Any,
    cancel: threading.Event | None = None,
    recorder: BaseRecorder | None = None,
) -> RunRecord:
    """Run a stored Pending run to its end in this process; returns the finished record.

    A cancel request in the store (``workbench runs cancel``), or ``cancel`` being set, cancels the
    running steps; the run then ends Killed.
    """
    from workbench.backends import get_backend
    from workbench.engine import PipelineRunner, RunContext

    store = store_of(workspace)
    pipeline = pipeline_of(record)
    backend = get_backend(record.backend, workspace)
    if not store.claim_run(record.run_id):
        current = store.get_run(record.run_id)
        raise WorkbenchError(f"run {record.run_id} is {current.state}, not Pending: it was cancelled or another "
                             "process runs it")  # fmt: skip
    cancel = cancel or threading.Event()
    tracker = _StepTracker()
    owned = recorder is None
    started = time.time()
    info = RunInfo(
        run_id=record.run_id,
        experiment=record.experiment,
        pipeline=record.pipeline,
        namespace=record.namespace,
        params=dict(record.parameters),
        secrets=[p.name for p in pipeline.parameters if p.secret],  # masked in MLflow and ML Metadata
        started=started,
    )
    stop_watch = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(store, record.run_id, cancel, tracker, stop_watch), name="run-watch", daemon=True
    )
    state, message, metrics, steps = "Failed", "", {}, {}
    try:
        workspace.ensure()
        if recorder is None:
            from workbench.tracking import make_recorder

            recorder = make_recorder(workspace)
        step_cache = None
        if record.cache:
            from workbench.tracking import make_step_cache

            step_cache = make_step_cache(workspace)
        recorder.run_started(info)
        watcher.start()
        runner = PipelineRunner(
            backend,
            workspace,
            recorder=CompositeRecorder([recorder, tracker]),
            metric_names=record.metric_names,
            cache=step_cache,
        )
        ctx = RunContext(experiment=record.experiment, run_id=record.run_id, namespace=record.namespace)
        result = runner.run(pipeline, dict(record.parameters), ctx, cancel=cancel)
        state, message = _STATE.get(result.state, "Failed"), result.message
        for name in record.metric_names:
            value = result.collector.final(name, "latest")
            if value is not None:
                metrics[name] = value
        steps = {
            s.name: {
                "state": s.state,
                "attempts": s.attempts,
                "exit_code": s.exit_code,
                "log_path": s.log_path,
                "started": s.started,
                "finished": s.finished,
                "message": s.message,
                "cached_from": s.cached_from,
                "outputs": dict(s.outputs),
            }
            for s in result.steps.values()
        }
    except KeyboardInterrupt:
        state, message = "Killed", "interrupted"
        raise
    except Exception as err:
        log.exception("run %s failed inside Workbench", record.run_id)
        state, message = "Failed", f"internal error: {type(err).__name__}: {err}"
    finally:
        stop_watch.set()
        if watcher.is_alive():
            watcher.join(timeout=5)
        info.state, info.metrics, info.finished, info.message = state, metrics, time.time(), message
        try:
            if recorder is not None:
                recorder.run_finished(info)
                if owned:
                    recorder.close()
                else:
                    recorder.flush()
        finally:
            if not steps:
                steps = tracker.steps
            store.finish_run(record.run_id, state, message, metrics=metrics, steps=steps)
    return store.get_run(record.run_id)


def _watch(store: Any, run_id: str, cancel: threading.Event, tracker: _StepTracker, stop: threading.Event) -> None:
    """While the run goes on: heartbeats, step states, and the cancel flag."""
    last_beat = 0.0
    while not stop.wait(CANCEL_POLL):
        try:
            now = time.monotonic()
            steps = tracker.snapshot()
            if steps is not None:
                store.update_run(run_id, steps=steps, heartbeat=time.time())
                last_beat = now
            if now - last_beat >= HEARTBEAT:
                flag = store.heartbeat(run_id)
                last_beat = now
            else:
                flag = store.cancel_requested(run_id)
            if flag and not cancel.is_set():
                log.info("run %s: cancel requested", run_id)
                cancel.set()
        except WorkbenchError:
            return  # finished meanwhile
        except Exception as err:  # a store that is briefly unavailable must not end the run
            log.warning("run %s: cannot reach the run store: %s", run_id, err)


def check_digests(record: RunRecord, pipeline: Pipeline) -> list[str]:
    """Steps whose component changed since ``record`` ran (a changed Python file, script, ...)."""
    now = component_digests(pipeline)
    return sorted(step for step, digest in record.digests.items() if now.get(step) != digest)


def prepare_rerun(
    run_id: str,
    workspace: Any,
    cache: bool | None = None,
    backend: str | None = None,
    force: bool = False,
) -> RunRecord:
    """A new Pending run that repeats ``run_id``: the same pipeline document, parameters, experiment and namespace.

    A component whose code changed since (its digest differs) would not reproduce the run: that is
    a ``WorkbenchError`` naming the steps, unless ``force``.
    """
    store = store_of(workspace)
    old = store.get_run(run_id)
    pipeline = pipeline_of(old)
    changed = check_digests(old, pipeline)
    if changed and not force:
        raise WorkbenchError(
            f"run {old.run_id} cannot be reproduced exactly: the components of steps {', '.join(changed)} changed "
            "since it ran (their code or files); rerun with --force to run the current code"
        )
    record = prepare_run(
        pipeline,
        old.parameters,
        experiment=old.experiment,
        namespace=old.namespace,
        name=old.name,
        metric_names=old.metric_names,
        cache=old.cache if cache is None else cache,
        backend=backend or old.backend,
        workspace=workspace,
        rerun_of=old.run_id,
    )
    record.document = old.document  # exactly what ran
    return record


class RunHandle:
    """A standalone run executing in a background thread of this process.

    Example:
        >>> handle = start_run(record, workspace)  # doctest: +SKIP
        >>> handle.wait(timeout=60).state  # doctest: +SKIP
        'Succeeded'
    """

    def __init__(self, record: RunRecord, workspace: Any) -> None:
        self.run_id = record.run_id
        self.workspace = workspace
        self._cancel = threading.Event()
        self._result: RunRecord | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(record,), name=f"run-{record.run_id[:8]}", daemon=True)
        self._thread.start()

    def _main(self, record: RunRecord) -> None:
        try:
            self._result = execute_run(record, self.workspace, cancel=self._cancel)
        except BaseException as err:  # re-raised by wait()
            self._error = err

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r}, {'done' if self.done else 'running'})"

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def record(self) -> RunRecord:
        """The run as stored now."""
        return store_of(self.workspace).get_run(self.run_id)

    def cancel(self) -> None:
        """Cancel the running steps; the run ends Killed."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> RunRecord:
        """Block until the run ends (``TimeoutError`` after ``timeout`` seconds); the finished record."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"run {self.run_id} is still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def start_run(record: RunRecord, workspace: Any) -> RunHandle:
    """Store a Pending run and execute it in a background thread."""
    store_of(workspace).create_run(record)
    return RunHandle(record, workspace)


__all__ = [
    "RunHandle",
    "check_digests",
    "component_digests",
    "load_pipeline_ref",
    "execute_run",
    "parse_params",
    "pipeline_of",
    "prepare_rerun",
    "prepare_run",
    "resolve_parameters",
    "start_run",
]
