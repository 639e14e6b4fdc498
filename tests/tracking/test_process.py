"""ProcessRecorder: MLflow writes in a child process, nothing lost when either side dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from workbench.tracking import ProcessRecorder, RunInfo, StepInfo

FACTORY = "workbench.tracking._mlflow:MlflowRecorder"


def _trial(rec, exp: str, n: int) -> None:
    run_id = f"{exp}-r{n}"
    rec.run_started(RunInfo(run_id=run_id, experiment=exp, pipeline="p", trial_number=n, params={"x": n}))
    step = StepInfo(run_id=run_id, experiment=exp, step="main", component="c", trial_number=n, inputs={"x": n})
    rec.step_started(step)
    rec.metric(run_id, "main", "loss", float(n), 0, time.time())
    step.state, step.finished = "Succeeded", time.time()
    rec.step_finished(step)
    rec.run_finished(RunInfo(run_id=run_id, experiment=exp, pipeline="p", trial_number=n, state="Succeeded",
                             metrics={"loss": float(n)}))  # fmt: skip


def _trial_runs(uri: str, exp: str) -> dict[str, tuple[str, float | None]]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(exp)
    assert found is not None
    runs = client.search_runs([found.experiment_id], max_results=1000)
    trials = [r for r in runs if "workbench.step" not in r.data.tags]
    return {r.info.run_name: (r.info.status, r.data.metrics.get("loss")) for r in trials}


def test_events_are_written_by_the_child_and_flush_waits_for_them(mlflow_uri: str, exp_name: str) -> None:
    rec = ProcessRecorder(FACTORY, {"tracking_uri": mlflow_uri})
    for n in range(3):
        _trial(rec, exp_name, n)
    assert rec.flush() is True
    assert _trial_runs(mlflow_uri, exp_name) == {f"trial-{n}": ("FINISHED", float(n)) for n in range(3)}
    child = rec._proc
    rec.close()
    assert child is not None and child.poll() == 0


def test_a_dead_child_is_replaced_and_the_unconfirmed_events_sent_again(mlflow_uri: str, exp_name: str) -> None:
    rec = ProcessRecorder(FACTORY, {"tracking_uri": mlflow_uri})
    _trial(rec, exp_name, 0)
    assert rec.flush()
    _trial(rec, exp_name, 1)
    assert rec._proc is not None
    rec._proc.kill()  # the child dies with trial 1 unconfirmed (written or not)
    rec._proc.wait()
    _trial(rec, exp_name, 2)
    assert rec.flush()
    assert rec.restarts == 1
    assert _trial_runs(mlflow_uri, exp_name) == {f"trial-{n}": ("FINISHED", float(n)) for n in range(3)}
    rec.close()


def test_the_child_writes_what_it_received_when_the_parent_dies(mlflow_uri: str, exp_name: str, tmp_path: Path):
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_process import _trial
            from workbench.tracking import ProcessRecorder
            rec = ProcessRecorder({FACTORY!r}, {{"tracking_uri": {mlflow_uri!r}}})
            for n in range(2):
                _trial(rec, {exp_name!r}, n)
            print(rec._proc.pid, flush=True)
            os._exit(0)  # no flush, no close: as if the controller were killed
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    child = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 60
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _trial_runs(mlflow_uri, exp_name) == {f"trial-{n}": ("FINISHED", float(n)) for n in range(2)}


def test_the_child_writes_held_back_data_when_it_is_due_with_no_flush_and_no_new_event(
    mlflow_uri: str, exp_name: str
) -> None:
    rec = ProcessRecorder(FACTORY, {"tracking_uri": mlflow_uri, "live_interval": 0.5})
    run_id = f"{exp_name}-live"
    rec.run_started(RunInfo(run_id=run_id, experiment=exp_name, pipeline="p", trial_number=0, params={"x": 1}))
    rec.metric(run_id, "", "loss", 0.25, 3, time.time())
    deadline = time.monotonic() + 60
    seen: dict = {}
    while time.monotonic() < deadline:  # the trial is still running: nothing more is sent
        client = MlflowClient(mlflow_uri)
        found = client.get_experiment_by_name(exp_name)
        runs = client.search_runs([found.experiment_id]) if found is not None else []
        if runs and runs[0].data.metrics:
            seen = {"status": runs[0].info.status, "params": runs[0].data.params, "metrics": runs[0].data.metrics}
            break
        time.sleep(0.2)
    assert seen == {"status": "RUNNING", "params": {"x": "1"}, "metrics": {"loss": 0.25}}
    rec.run_finished(RunInfo(run_id=run_id, experiment=exp_name, pipeline="p", trial_number=0, state="Succeeded"))
    assert rec.flush() is True
    assert _trial_runs(mlflow_uri, exp_name) == {"trial-0": ("FINISHED", 0.25)}  # the same run, ended
    rec.close()
