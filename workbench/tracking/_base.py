# ruff: noqa: B027 - the hooks are optional: empty by default, not abstract
"""The recorder interface: engine and controller events in, MLflow / ML Metadata records out.

Every method is called from the engine's threads and must return quickly; real
recorders are wrapped in :class:`~workbench.tracking.AsyncRecorder`, which queues the
events and writes them on a background thread, in order, in batches.
"""

from __future__ import annotations

import time
from abc import ABC
from dataclasses import dataclass, field
from typing import Any

#: Run states (a trial's states; a standalone run uses the same names).
RUN_STATES = ("Pending", "Running", "Succeeded", "Failed", "Pruned", "MetricsUnavailable", "Killed")
#: Step states.
STEP_STATES = ("Pending", "Running", "Succeeded", "Failed", "Cached", "Skipped", "Cancelled")
#: Experiment states.
EXPERIMENT_STATES = ("Created", "Running", "Succeeded", "Failed", "Stopped")


@dataclass
class ExperimentInfo:
    """An experiment as the recorders see it."""

    name: str
    namespace: str = "default"
    algorithm: str = ""
    directions: list[str] = field(default_factory=list)
    objective_metrics: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    state: str = "Running"


@dataclass
class RunInfo:
    """One pipeline run: a trial of an experiment (``trial_number`` set) or a standalone run."""

    run_id: str
    experiment: str
    pipeline: str
    namespace: str = "default"
    trial_number: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    state: str = "Running"
    #: Final values of the objective and additional metrics (after metricStrategies).
    metrics: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    message: str = ""
    #: Documents kept with the run (MLflow run artifacts under ``workbench/``): e.g. ``experiment.yaml``,
    #: ``pipeline.yaml`` -> the spec as a mapping (secrets masked when written) or as text already
    #: rendered (and masked) by the caller.
    documents: dict[str, Any] = field(default_factory=dict)
    #: Parameter names whose values are secret (never written anywhere), beyond the names that look secret.
    secrets: list[str] = field(default_factory=list)


@dataclass
class OutputArtifact:
    name: str
    #: Where the artifact lives for good (a path, or ``s3://...`` when steps keep artifacts in an object store).
    uri: str
    type: str
    #: The controller's local copy, when it differs from ``uri`` (what previews and cache checks read).
    path: str = ""
    #: Parameter outputs: the value as read back from the file.
    value: Any = None
    #: Content digest, size and mtime (ns) when written: a cache hit checks them.
    digest: str = ""
    size: int = -1
    mtime_ns: int = 0


@dataclass
class StepInfo:
    """One step of a run (one execution; a retry is a new attempt of the same step)."""

    run_id: str
    experiment: str
    step: str
    component: str
    component_digest: str = ""
    attempt: int = 1
    state: str = "Running"
    #: Resolved input parameter values.
    inputs: dict[str, Any] = field(default_factory=dict)
    #: Input artifacts: name -> (uri, type).
    input_artifacts: dict[str, tuple[str, str]] = field(default_factory=dict)
    outputs: list[OutputArtifact] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    log_path: str = ""
    exit_code: int | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    message: str = ""
    trial_number: int | None = None
    #: The step's cache key ("" when caching is off for it).
    cache_key: str = ""
    #: For a Cached step: ``<run_id>/<step>`` of the execution whose outputs it reused.
    cached_from: str = ""
    #: Input names whose values are secret (never written anywhere), beyond the names that look secret.
    secrets: list[str] = field(default_factory=list)
    #: Environment variables the step spec sets (names and values; secret-looking ones are masked when written).
    env: dict[str, str] = field(default_factory=dict)
    #: The container image (Kubernetes), if any.
    image: str = ""


class BaseRecorder(ABC):  # noqa: B024 - every hook is optional
    """Receives run events. Subclasses override the hooks they care about.

    Example:
        >>> class Printer(BaseRecorder):
        ...     def run_finished(self, run):
        ...         print(run.run_id, run.state)
        >>> Printer().run_finished(RunInfo(run_id="r1", experiment="e", pipeline="p", state="Succeeded"))
        r1 Succeeded
    """

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        """The controller starts (or resumes) an experiment."""

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        """The experiment reached a final state (or was stopped)."""

    def run_started(self, run: RunInfo) -> None:
        """A pipeline run (a trial) starts."""

    def step_started(self, step: StepInfo) -> None:
        """A step (attempt) starts running."""

    def step_finished(self, step: StepInfo) -> None:
        """A step (attempt) ended: Succeeded, Failed, Cached, Skipped or Cancelled."""

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        """A metric value reported by a step while it runs (``index`` is its step/epoch)."""

    def run_finished(self, run: RunInfo) -> None:
        """A run ended; ``run.metrics`` holds the final metric values."""

    def flush(self) -> None:
        """Write everything queued so far."""

    def tick(self) -> float | None:
        """Write what is due; called whenever the writer is idle. Recorders that hold data back to write it
        in fewer calls return the seconds until more is due (``None``: nothing held). This one flushes."""
        self.flush()
        return None

    def close(self) -> None:
        """Flush and release resources."""
        self.flush()


class CompositeRecorder(BaseRecorder):
    """Sends every event to several recorders, in order."""

    def __init__(self, recorders: list[BaseRecorder]) -> None:
        self.recorders = recorders

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        for r in self.recorders:
            r.experiment_started(experiment)

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        for r in self.recorders:
            r.experiment_finished(experiment)

    def run_started(self, run: RunInfo) -> None:
        for r in self.recorders:
            r.run_started(run)

    def step_started(self, step: StepInfo) -> None:
        for r in self.recorders:
            r.step_started(step)

    def step_finished(self, step: StepInfo) -> None:
        for r in self.recorders:
            r.step_finished(step)

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        for r in self.recorders:
            r.metric(run_id, step, name, value, index, timestamp)

    def run_finished(self, run: RunInfo) -> None:
        for r in self.recorders:
            r.run_finished(run)

    def flush(self) -> bool:  # type: ignore[override]
        """Flush every recorder; ``False`` if one of them timed out."""
        results = [r.flush() for r in self.recorders]
        return all(result is not False for result in results)

    def close(self) -> None:
        for r in self.recorders:
            r.close()


class ShardedRecorder(BaseRecorder):
    """Spreads runs over several recorders: every event of a run goes to the same one, in order.

    Several MLflow writer processes share the load of a fast sweep; experiment events and
    ``flush``/``close`` go to all of them.

    Example:
        >>> class Count(BaseRecorder):
        ...     def __init__(self): self.runs = []
        ...     def run_started(self, run): self.runs.append(run.run_id)
        >>> a, b = Count(), Count()
        >>> rec = ShardedRecorder([a, b])
        >>> for i in range(6): rec.run_started(RunInfo(run_id=f"r{i}", experiment="e", pipeline="p"))
        >>> sorted(a.runs + b.runs) == [f"r{i}" for i in range(6)] and bool(a.runs) and bool(b.runs)
        True
    """

    def __init__(self, recorders: list[BaseRecorder]) -> None:
        if not recorders:
            raise ValueError("ShardedRecorder needs at least one recorder")
        self.recorders = recorders

    def _shard(self, run_id: str) -> BaseRecorder:
        import zlib

        return self.recorders[zlib.crc32(run_id.encode()) % len(self.recorders)]

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        for r in self.recorders:
            r.experiment_started(experiment)

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        for r in self.recorders:
            r.experiment_finished(experiment)

    def run_started(self, run: RunInfo) -> None:
        self._shard(run.run_id).run_started(run)

    def step_started(self, step: StepInfo) -> None:
        self._shard(step.run_id).step_started(step)

    def step_finished(self, step: StepInfo) -> None:
        self._shard(step.run_id).step_finished(step)

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        self._shard(run_id).metric(run_id, step, name, value, index, timestamp)

    def run_finished(self, run: RunInfo) -> None:
        self._shard(run.run_id).run_finished(run)

    def flush(self) -> bool:  # type: ignore[override]
        """Flush every shard; ``False`` if one of them timed out."""
        results = [r.flush() for r in self.recorders]
        return all(result is not False for result in results)

    def close(self) -> None:
        for r in self.recorders:
            r.close()
