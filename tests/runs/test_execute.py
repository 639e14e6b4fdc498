"""Standalone runs for real: recorded in the run store, MLflow and ML Metadata; rerun reproduces a run from its
record and hits the step cache; a cancel request in the store cancels the running steps."""

from __future__ import annotations

import time

import pytest
from store_helpers import write_pipelines

from workbench.errors import SpecError, WorkbenchError
from workbench.runs import prepare_rerun, prepare_run, start_run, store_of
from workbench.spec import load_pipeline
from workbench.workspace import Workspace


@pytest.fixture
def ws(fresh_home):
    return Workspace.at(fresh_home)


@pytest.fixture
def pipes(tmp_path):
    return write_pipelines(tmp_path / "pipes")


@pytest.mark.slow
def test_a_standalone_run_is_recorded_and_its_rerun_hits_the_cache(ws, pipes):
    from workbench.readmodel import Stores, mlflow_run, standalone_runs

    record = prepare_run(load_pipeline(pipes["demo"]), {"n": "4"}, experiment="adhoc", namespace="team-a",
                         metric_names=["loss"], workspace=ws)  # fmt: skip
    first = start_run(record, ws).wait(120)
    assert first.state == "Succeeded", first.message
    assert first.metrics == {"loss": 0.25} and first.parameters == {"n": 4}
    assert {s["state"] for s in first.steps.values()} == {"Succeeded"}
    assert "x" * 4 in open(first.steps["show"]["log_path"]).read()
    assert set(first.digests) == {"make", "show"} and first.document["kind"] == "Pipeline"
    # like a trial's run: a workbench.Run context in ML Metadata, a run in MLflow
    stores = Stores(ws)
    mlmd = standalone_runs(stores)
    assert first.run_id in set(mlmd["run_id"])
    assert mlflow_run(stores, "adhoc", first.run_id).run_id
    again = start_run(prepare_rerun(first.run_id[:8], ws), ws).wait(120)
    assert again.rerun_of == first.run_id and again.state == "Succeeded"
    assert {s["state"] for s in again.steps.values()} == {"Cached"}
    assert (again.parameters, again.metrics, again.namespace, again.experiment) == (
        first.parameters, first.metrics, "team-a", "adhoc")
    # a changed component does not reproduce the run: refused unless forced
    steps = pipes["demo"].parent / "steps.py"
    steps.write_text(steps.read_text() + "\n# changed\n")
    with pytest.raises(WorkbenchError, match="make"):
        prepare_rerun(first.run_id, ws)
    assert prepare_rerun(first.run_id, ws, force=True).rerun_of == first.run_id


@pytest.mark.slow
def test_a_cancel_request_in_the_store_cancels_the_running_steps(ws, pipes, tmp_path):
    started = tmp_path / "started"
    record = prepare_run(load_pipeline(pipes["sleepy"]), {"seconds": 120, "started": str(started)}, workspace=ws)
    handle = start_run(record, ws)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline, "the step did not start"
        time.sleep(0.1)
    t0 = time.monotonic()
    store_of(ws).request_cancel(record.run_id)  # what `workbench runs cancel` does, from any process
    done = handle.wait(60)
    assert time.monotonic() - t0 < 30
    assert done.state == "Killed" and done.steps["sleep"]["state"] == "Cancelled"
    with pytest.raises(WorkbenchError, match="immutable"):
        store_of(ws).finish_run(record.run_id, "Succeeded")


def test_bad_parameters_are_spec_errors_naming_the_parameter(ws, pipes):
    pipeline = load_pipeline(pipes["demo"])
    for args, field in (({"m": 1}, "parameters.m"), ({"n": "four"}, "parameters.n")):
        with pytest.raises(SpecError) as info:
            prepare_run(pipeline, args, workspace=ws)
        assert info.value.path == field
    with pytest.raises(SpecError) as info:
        prepare_run(load_pipeline(pipes["sleepy"]), {}, workspace=ws)
    assert info.value.path == "parameters.started" and "no default" in info.value.message
    with pytest.raises(SpecError) as info:
        prepare_run(pipeline, {}, namespace="Not A Name", workspace=ws)
    assert info.value.path == "namespace"
