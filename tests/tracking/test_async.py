"""AsyncRecorder: ordering, flush, batching, error survival; make_recorder end to end."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workbench.tracking import (
    AsyncRecorder,
    BaseRecorder,
    CompositeRecorder,
    ExperimentInfo,
    OutputArtifact,
    ProcessRecorder,
    RunInfo,
    ShardedRecorder,
    StepInfo,
    lineage_of_run,
    make_recorder,
)
from workbench.tracking._async import is_transient
from workbench.workspace import Workspace


class Log(BaseRecorder):
    """Records every call (and optionally sleeps, blocks or fails)."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.delay = delay
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False

    def _record(self, *call: object) -> None:
        self.gate.wait()
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in call:
            raise RuntimeError(f"boom on {self.fail_on}")
        self.calls.append(call)

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        self._record("experiment_started", experiment.name)

    def run_started(self, run: RunInfo) -> None:
        self._record("run_started", run.run_id)

    def step_started(self, step: StepInfo) -> None:
        self._record("step_started", step.run_id, step.step, step.state)

    def step_finished(self, step: StepInfo) -> None:
        self._record("step_finished", step.run_id, step.step, step.state, [o.name for o in step.outputs])

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        self._record("metric", run_id, index)

    def run_finished(self, run: RunInfo) -> None:
        self._record("run_finished", run.run_id, run.state)

    def flush(self) -> None:
        self.calls.append(("flush",))

    def close(self) -> None:
        self.closed = True
        self.calls.append(("close",))


def _events(log: Log) -> list[tuple]:
    return [c for c in log.calls if c[0] not in ("flush", "close")]


def test_events_arrive_in_order_and_flush_waits_for_them() -> None:
    inner = Log(delay=0.0005)
    rec = AsyncRecorder(inner)
    expected = []
    for r in range(5):
        rec.run_started(RunInfo(run_id=f"r{r}", experiment="e", pipeline="p"))
        expected.append(("run_started", f"r{r}"))
        for i in range(20):
            rec.metric(f"r{r}", "s", "m", float(i), i, time.time())
            expected.append(("metric", f"r{r}", i))
        rec.run_finished(RunInfo(run_id=f"r{r}", experiment="e", pipeline="p", state="Succeeded"))
        expected.append(("run_finished", f"r{r}", "Succeeded"))
    assert rec.flush() is True
    assert _events(inner) == expected
    assert inner.calls[-1] == ("flush",)  # the inner recorder was flushed after the last event
    rec.close()
    assert inner.closed and not rec._thread.is_alive()


def test_hooks_return_at_once_while_the_inner_recorder_is_busy() -> None:
    inner = Log()
    inner.gate.clear()  # the inner recorder blocks
    rec = AsyncRecorder(inner)
    t0 = time.perf_counter()
    for i in range(1000):
        rec.metric("r", "s", "m", 1.0, i, time.time())
    assert time.perf_counter() - t0 < 0.5
    assert rec.pending >= 999
    inner.gate.set()
    rec.flush()
    assert len(_events(inner)) == 1000
    rec.close()


def test_events_are_snapshots() -> None:
    inner = Log()
    inner.gate.clear()
    rec = AsyncRecorder(inner)
    step = StepInfo(run_id="r", experiment="e", step="train", component="c")
    rec.step_started(step)
    step.state = "Succeeded"  # the engine reuses its object
    step.outputs.append(OutputArtifact("model", "/m", "Model"))
    rec.step_finished(step)
    inner.gate.set()
    rec.flush()
    assert _events(inner) == [
        ("step_started", "r", "train", "Running"),
        ("step_finished", "r", "train", "Succeeded", ["model"]),
    ]
    rec.close()


def test_an_inner_exception_is_logged_counted_and_survived(caplog: pytest.LogCaptureFixture) -> None:
    inner = Log(fail_on="bad")
    rec = AsyncRecorder(inner)
    with caplog.at_level(logging.WARNING, logger="workbench.tracking"):
        rec.run_started(RunInfo(run_id="good1", experiment="e", pipeline="p"))
        rec.run_started(RunInfo(run_id="bad", experiment="e", pipeline="p"))
        rec.run_started(RunInfo(run_id="good2", experiment="e", pipeline="p"))
        rec.flush()
    assert rec.errors == 1
    assert _events(inner) == [("run_started", "good1"), ("run_started", "good2")]
    assert rec._thread.is_alive()
    [warning] = [r for r in caplog.records if r.name == "workbench.tracking"]
    assert "boom on bad" in warning.getMessage() and "run_started" in warning.getMessage()
    rec.close()


def test_batches_are_flushed_and_bounded() -> None:
    inner = Log()
    inner.gate.clear()
    rec = AsyncRecorder(inner, max_batch=10)
    for i in range(35):
        rec.metric("r", "s", "m", 1.0, i, time.time())
    inner.gate.set()
    rec.flush()
    runs, current = [], 0
    for call in inner.calls:
        if call[0] == "flush":
            runs.append(current)
            current = 0
        else:
            current += 1
    assert sum(runs) == 35
    assert max(runs) <= 10  # inner.flush() at least every max_batch events
    rec.close()


def test_close_stops_the_thread_and_drops_later_events(caplog: pytest.LogCaptureFixture) -> None:
    inner = Log(delay=0.001)
    rec = AsyncRecorder(inner)
    for i in range(50):
        rec.metric("r", "s", "m", 1.0, i, time.time())
    rec.close()
    assert len(_events(inner)) == 50  # close flushed first
    assert inner.calls[-1] == ("close",)
    assert not rec._thread.is_alive()
    with caplog.at_level(logging.WARNING, logger="workbench.tracking"):
        rec.run_started(RunInfo(run_id="late", experiment="e", pipeline="p"))
    assert ("run_started", "late") not in inner.calls
    rec.close()  # idempotent


def test_flush_times_out_instead_of_hanging() -> None:
    inner = Log()
    inner.gate.clear()
    rec = AsyncRecorder(inner, timeout=0.2)
    rec.metric("r", "s", "m", 1.0, 0, time.time())
    assert rec.flush() is False
    inner.gate.set()
    assert rec.flush() is True
    rec.close()


def test_importing_tracking_does_not_import_mlflow_or_mlmd() -> None:
    code = (
        "import sys, workbench.tracking, workbench.tracking._base\n"
        "assert 'mlflow' not in sys.modules and 'ml_metadata' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_make_recorder_writes_both_stores(
    tmp_path: Path, mlflow_uri: str, exp_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", mlflow_uri)  # the session's MLflow DB (migrations are slow)
    for var in ("WORKBENCH_MLMD_URL", "WORKBENCH_ARTIFACTS", "WORKBENCH_OPTUNA_URL"):
        monkeypatch.delenv(var, raising=False)
    ws = Workspace.at(tmp_path / "ws")
    rec = make_recorder(ws)
    assert isinstance(rec, CompositeRecorder)
    mlflow, mlmd = rec.recorders
    assert isinstance(mlmd, AsyncRecorder)  # one queue per store, and per MLflow writer process:
    writers = mlflow.recorders if isinstance(mlflow, ShardedRecorder) else [mlflow]
    assert all(isinstance(w, AsyncRecorder) and isinstance(w.inner, ProcessRecorder) for w in writers)

    rec.experiment_started(ExperimentInfo(name=exp_name))
    run = RunInfo(run_id="mk-1", experiment=exp_name, pipeline="p", trial_number=0, params={"lr": 0.1})
    rec.run_started(run)
    step = StepInfo(run_id="mk-1", experiment=exp_name, step="train", component="train", trial_number=0)
    rec.step_started(step)
    for i in range(3):
        rec.metric("mk-1", "train", "acc", 0.1 * i, i, time.time())
    step.state = "Succeeded"
    step.outputs = [OutputArtifact("model", str(ws.artifacts / "mk-1" / "model"), "Model")]
    rec.step_finished(step)
    run.state, run.metrics = "Succeeded", {"acc": 0.2}
    rec.run_finished(run)
    rec.close()
    assert sum(r.errors for r in [*writers, mlmd]) == 0

    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name(exp_name)
    assert exp.artifact_location == ws.mlflow_artifacts.as_uri()
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert runs["trial-0"].info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(runs["train"].info.run_id, "acc")] == pytest.approx(
        [0, 0.1, 0.2]
    )

    assert Path(ws.mlmd_url.removeprefix("sqlite:///")).is_file()
    lineage = lineage_of_run(ws.mlmd_url, "mk-1")
    assert [(e["step"], e["state"]) for e in lineage["executions"]] == [("train", "Succeeded")]
    assert lineage["artifacts"][0]["type"] == "Model"


class Flaky(BaseRecorder):
    """A store that is down for its first ``down`` calls (connection refused), then records in order."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.seen: list[str] = []

    def run_finished(self, run: RunInfo) -> None:
        if self.down > 0:
            self.down -= 1
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        self.seen.append(run.run_id)


def test_a_store_that_is_down_is_retried_and_nothing_is_lost(caplog: pytest.LogCaptureFixture) -> None:
    inner = Flaky(down=3)
    rec = AsyncRecorder(inner, max_backoff=0.05)
    for i in range(5):
        rec.run_finished(RunInfo(run_id=f"r{i}", experiment="e", pipeline="p", state="Succeeded"))
    assert rec.flush(timeout=30)
    assert inner.seen == [f"r{i}" for i in range(5)]  # all of them, in order
    assert rec.errors == 0 and not rec.outage
    assert "unreachable" in caplog.text and "is back" in caplog.text
    rec.close()


def test_is_transient_tells_outages_from_bad_data() -> None:
    assert is_transient(ConnectionRefusedError("refused"))
    assert is_transient(RuntimeError("(sqlite3.OperationalError) database is locked"))
    assert is_transient(Exception("API request to endpoint failed with error code 503"))
    assert not is_transient(ValueError("Param value too long"))
