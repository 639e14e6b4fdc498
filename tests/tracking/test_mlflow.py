"""MlflowRecorder against a real MLflow SQLite store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from workbench.tracking import ExperimentInfo, MlflowRecorder, OutputArtifact, RunInfo, StepInfo


def _runs(rec: MlflowRecorder, exp_name: str) -> list:
    exp = rec.client.get_experiment_by_name(exp_name)
    assert exp is not None
    return rec.client.search_runs([exp.experiment_id], max_results=1000)


def _by_name(runs: list) -> dict:
    return {r.info.run_name: r for r in runs}


def _history(rec: MlflowRecorder, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in rec.client.get_metric_history(run_id, key))


def test_trial_run_with_nested_step_params_metrics_and_tags(
    mlflow_recorder: MlflowRecorder, exp_name: str, mlflow_home: Path, tmp_path: Path
) -> None:
    rec = mlflow_recorder
    rec.experiment_started(
        ExperimentInfo(
            name=exp_name,
            namespace="team-a",
            algorithm="tpe",
            objective_metrics=["accuracy"],
            directions=["maximize"],
            spec={"env": {"AWS_SECRET_ACCESS_KEY": "nope"}},
        )
    )
    run = RunInfo(
        run_id="run-a1",
        experiment=exp_name,
        pipeline="train-pipeline",
        namespace="team-a",
        trial_number=3,
        params={"lr": 0.01, "layers": [64, 32], "db_password": "hunter2", "API_TOKEN": "t0k"},
    )
    rec.run_started(run)
    step = StepInfo(
        run_id="run-a1",
        experiment=exp_name,
        step="train",
        component="trainer",
        component_digest="sha256:abc",
        inputs={"lr": 0.01, "secret_key": "xyz"},
        trial_number=3,
    )
    rec.step_started(step)
    now = time.time()
    for i, v in enumerate([0.5, 0.7, 0.8]):
        rec.metric("run-a1", "train", "accuracy", v, i, now + i)
    rec.metric("run-a1", "", "loss", 1.0, 0, now)  # no step name: the only running step
    rec.flush()

    metrics_file = tmp_path / "metrics.json"
    metrics_file.write_text(json.dumps({"accuracy": 0.8}))
    step.state, step.exit_code, step.finished = "Succeeded", 0, time.time()
    step.outputs = [
        OutputArtifact("model", "/data/artifacts/run-a1/train/model", "Model"),
        OutputArtifact("metrics", str(metrics_file), "Metrics"),
        OutputArtifact("n_rows", "/data/artifacts/run-a1/train/n_rows", "Integer", value=1200),
    ]
    rec.step_finished(step)
    run.state, run.metrics, run.finished = "Succeeded", {"accuracy": 0.8, "loss": 0.2}, time.time()
    rec.run_finished(run)
    rec.flush()

    exp = rec.client.get_experiment_by_name(exp_name)
    assert exp.tags["workbench.namespace"] == "team-a"
    assert exp.tags["workbench.algorithm"] == "tpe"
    assert exp.tags["workbench.objective"] == "accuracy"
    assert exp.artifact_location.startswith((mlflow_home / "mlruns").as_uri())
    assert not any("SECRET" in v for v in exp.tags.values())

    runs = _by_name(_runs(rec, exp_name))
    assert set(runs) == {"trial-3", "train"}
    trial, train = runs["trial-3"], runs["train"]

    assert trial.info.status == "FINISHED"
    assert trial.data.tags["workbench.experiment"] == exp_name
    assert trial.data.tags["workbench.run_id"] == "run-a1"
    assert trial.data.tags["workbench.trial"] == "3"
    assert trial.data.tags["workbench.state"] == "Succeeded"
    assert trial.data.tags["workbench.pipeline"] == "train-pipeline"
    assert trial.data.params == {"lr": "0.01", "layers": "[64,32]", "db_password": "***", "API_TOKEN": "***"}
    assert trial.data.metrics == {"accuracy": 0.8, "loss": 0.2}
    # Intermediate values are the metric history (step = index), the final value comes last.
    assert _history(rec, trial.info.run_id, "accuracy") == [(0, 0.5), (1, 0.7), (2, 0.8), (2, 0.8)]

    assert train.info.status == "FINISHED"
    assert train.data.tags["mlflow.parentRunId"] == trial.info.run_id
    assert train.data.tags["workbench.step"] == "train"
    assert train.data.tags["workbench.component"] == "trainer"
    assert train.data.tags["workbench.state"] == "Succeeded"
    assert train.data.tags["workbench.attempt"] == "1"
    assert train.data.tags["workbench.exit_code"] == "0"
    assert train.data.tags["workbench.output.model"] == "/data/artifacts/run-a1/train/model"
    assert train.data.tags["workbench.output.n_rows"] == "1200"
    assert train.data.params == {"lr": "0.01", "secret_key": "***"}
    assert _history(rec, train.info.run_id, "accuracy") == [(0, 0.5), (1, 0.7), (2, 0.8)]
    assert _history(rec, train.info.run_id, "loss") == [(0, 1.0)]
    # Small Metrics files are copied into the step run's artifacts.
    assert [f.path for f in rec.client.list_artifacts(train.info.run_id, "metrics")] == ["metrics/metrics.json"]

    # Nothing anywhere holds a secret value.
    everything = json.dumps([r.to_dictionary() for r in runs.values()])
    assert "hunter2" not in everything and "t0k" not in everything and "xyz" not in everything


def test_final_state_mapping(mlflow_recorder: MlflowRecorder, exp_name: str) -> None:
    rec = mlflow_recorder
    expected = {
        "Succeeded": "FINISHED",
        "Failed": "FAILED",
        "MetricsUnavailable": "FAILED",
        "Killed": "KILLED",
        "Pruned": "FINISHED",
    }
    for n, state in enumerate(expected):
        run = RunInfo(run_id=f"map-{n}", experiment=exp_name, pipeline="p", trial_number=n)
        rec.run_started(run)
        run.state, run.finished = state, time.time()
        rec.run_finished(run)
    runs = _by_name(_runs(rec, exp_name))
    for n, (state, status) in enumerate(expected.items()):
        r = runs[f"trial-{n}"]
        assert (r.info.status, r.data.tags["workbench.state"]) == (status, state)
        assert r.info.end_time is not None


def test_step_states_and_steps_that_never_started(mlflow_recorder: MlflowRecorder, exp_name: str) -> None:
    rec = mlflow_recorder
    run = RunInfo(run_id="steps-1", experiment=exp_name, pipeline="p", trial_number=0)
    rec.run_started(run)
    failed = StepInfo(run_id="steps-1", experiment=exp_name, step="fit", component="fit", trial_number=0)
    rec.step_started(failed)
    failed.state, failed.exit_code = "Failed", 2
    rec.step_finished(failed)
    retry = StepInfo(run_id="steps-1", experiment=exp_name, step="fit", component="fit", attempt=2, trial_number=0)
    rec.step_started(retry)
    retry.state = "Succeeded"
    rec.step_finished(retry)
    # Cached and Skipped steps only ever get step_finished.
    for name, state in (("load", "Cached"), ("report", "Skipped")):
        rec.step_finished(StepInfo(run_id="steps-1", experiment=exp_name, step=name, component=name, state=state))
    run.state = "Succeeded"
    rec.run_finished(run)

    steps = [r for r in _runs(rec, exp_name) if "workbench.step" in r.data.tags]
    got = sorted((r.data.tags["workbench.step"], r.data.tags["workbench.attempt"], r.info.status) for r in steps)
    assert got == [
        ("fit", "1", "FAILED"),
        ("fit", "2", "FINISHED"),
        ("load", "1", "FINISHED"),
        ("report", "1", "FINISHED"),
    ]
    parent = _by_name(_runs(rec, exp_name))["trial-0"].info.run_id
    assert {r.data.tags["mlflow.parentRunId"] for r in steps} == {parent}
    assert {r.data.tags["workbench.state"] for r in steps} == {"Failed", "Succeeded", "Cached", "Skipped"}


def test_stale_run_is_found_by_run_id_and_terminated(mlflow_uri: str, exp_name: str) -> None:
    # A controller starts a trial and a step, then crashes.
    crashed = MlflowRecorder(mlflow_uri)
    crashed.experiment_started(ExperimentInfo(name=exp_name))
    crashed.run_started(RunInfo(run_id="stale-1", experiment=exp_name, pipeline="p", trial_number=7))
    crashed.step_started(StepInfo(run_id="stale-1", experiment=exp_name, step="train", component="t", trial_number=7))
    crashed.metric("stale-1", "train", "acc", 0.3, 1, time.time())
    crashed.flush()
    before = {r.info.run_id for r in _runs(crashed, exp_name)}
    assert all(r.info.status == "RUNNING" for r in _runs(crashed, exp_name))

    # The resumed controller marks the trial Killed with a recorder that never saw it.
    fresh = MlflowRecorder(mlflow_uri)
    fresh.run_finished(
        RunInfo(run_id="stale-1", experiment=exp_name, pipeline="p", trial_number=7, state="Killed", message="lost")
    )
    runs = _runs(fresh, exp_name)
    assert {r.info.run_id for r in runs} == before  # found, not created again
    by_name = _by_name(runs)
    assert by_name["trial-7"].info.status == "KILLED"
    assert by_name["trial-7"].data.tags["workbench.state"] == "Killed"
    assert by_name["trial-7"].data.tags["workbench.message"] == "lost"
    assert by_name["train"].info.status == "KILLED"
    assert by_name["train"].data.tags["workbench.state"] == "Cancelled"


def test_resumed_run_started_reuses_the_run(mlflow_uri: str, exp_name: str) -> None:
    first = MlflowRecorder(mlflow_uri)
    run = RunInfo(run_id="again-1", experiment=exp_name, pipeline="p", trial_number=1, params={"lr": 0.1})
    first.run_started(run)
    first.step_started(StepInfo(run_id="again-1", experiment=exp_name, step="old", component="c", trial_number=1))
    first.flush()  # what its writer thread does after every batch, before the controller crashed
    second = MlflowRecorder(mlflow_uri)
    second.run_started(RunInfo(**{**run.__dict__, "params": {"lr": 0.1, "extra": 2}}))
    second.flush()
    runs = _by_name(_runs(second, exp_name))
    assert set(runs) == {"trial-1", "old"}
    assert runs["trial-1"].data.params == {"lr": "0.1", "extra": "2"}
    assert runs["trial-1"].info.status == "RUNNING"
    second.run_finished(RunInfo(**{**run.__dict__, "state": "Succeeded"}))
    runs = _by_name(_runs(second, exp_name))
    assert runs["trial-1"].info.status == "FINISHED"
    assert (runs["old"].info.status, runs["old"].data.tags["workbench.state"]) == ("KILLED", "Cancelled")


def test_standalone_run_is_named_after_the_pipeline(mlflow_recorder: MlflowRecorder, exp_name: str) -> None:
    rec = mlflow_recorder
    run = RunInfo(run_id="solo-1", experiment=exp_name, pipeline="etl", params={"day": "2024-01-01"})
    rec.run_started(run)
    run.state = "Failed"
    rec.run_finished(run)
    [r] = _runs(rec, exp_name)
    assert r.info.run_name == "etl"
    assert r.info.status == "FAILED"
    assert "workbench.trial" not in r.data.tags
    assert r.data.tags["workbench.namespace"] == "default"


def test_long_values_are_truncated_and_odd_names_sanitized(mlflow_recorder: MlflowRecorder, exp_name: str) -> None:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    rec = mlflow_recorder
    run = RunInfo(
        run_id="long-1",
        experiment=exp_name,
        pipeline="p",
        trial_number=0,
        params={"text": "x" * (MAX_PARAM_VAL_LENGTH + 100), "weird{name}": 1},
    )
    rec.run_started(run)
    for i in range(1500):  # more than one MLflow batch
        rec.metric("long-1", "s", "m", float(i), i, time.time())
    rec.flush()
    [r] = _runs(rec, exp_name)
    assert len(r.data.params["text"]) == MAX_PARAM_VAL_LENGTH
    assert r.data.params["weird_name_"] == "1"
    assert len(rec.client.get_metric_history(r.info.run_id, "m")) == 1500


@pytest.mark.parametrize("name", ["password", "DB_PASSWORD", "client_secret", "hf_token", "aws_access_key_id"])
def test_secret_names(name: str) -> None:
    from workbench.tracking._common import mask

    assert mask({name: "v", "lr": 1}) == {name: "***", "lr": 1}


def test_metric_for_an_unknown_run_is_dropped(
    mlflow_recorder: MlflowRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    mlflow_recorder.metric("never-started", "s", "m", 1.0, 0, time.time())
    mlflow_recorder.flush()
    assert any("never-started" in r.getMessage() for r in caplog.records)


def _artifact_text(rec: MlflowRecorder, run_id: str, path: str) -> str:
    local = rec.client.download_artifacts(run_id, path)
    return Path(local).read_text()


def test_documents_manifest_and_previews_are_run_artifacts_with_secrets_kept_out(
    mlflow_uri: str, mlflow_home: Path, exp_name: str, tmp_path: Path
) -> None:
    rec = MlflowRecorder(mlflow_uri, artifact_root=(mlflow_home / "mlruns").as_uri(), log_artifacts_max_bytes=2000)
    spec = {"spec": {"trialTemplate": {"arguments": [{"name": "dsn", "value": "pg://u:pw@db/x"}]}}}
    rec.run_started(
        RunInfo(
            run_id="r-doc",
            experiment=exp_name,
            pipeline="p",
            trial_number=0,
            params={"lr": 0.1, "dsn": "pg://u:pw@db/x"},
            secrets=["dsn"],
            documents={"experiment.yaml": spec, "pipeline.yaml": {"name": "p", "steps": [{"name": "train"}]}},
        )
    )
    small = tmp_path / "scores.csv"
    small.write_text("fold,score\n0,0.9\n1,0.8\n")
    big = tmp_path / "table.csv"
    big.write_text("a,b\n" + "".join(f"{i},{i * i}\n" for i in range(5000)))
    model = tmp_path / "model.bin"
    model.write_bytes(b"\0" * 100)
    step = StepInfo(
        run_id="r-doc",
        experiment=exp_name,
        step="train",
        component="trainer",
        trial_number=0,
        inputs={"lr": 0.1, "dsn": "pg://u:pw@db/x"},
        secrets=["dsn"],
        env={"MODE": "fast", "HF_TOKEN": "hf_abc"},
        command=["python", "train.py", "--dsn", "pg://u:pw@db/x", "--lr=0.1"],
    )
    rec.step_started(step)
    step.state, step.finished, step.exit_code = "Succeeded", time.time(), 0
    step.outputs = [
        OutputArtifact("scores", str(small), "Dataset", digest="d1", size=small.stat().st_size),
        OutputArtifact("table", str(big), "Dataset", size=big.stat().st_size),
        OutputArtifact("model", str(model), "Model"),
    ]
    rec.step_finished(step)
    rec.run_finished(RunInfo(run_id="r-doc", experiment=exp_name, pipeline="p", trial_number=0, state="Succeeded"))

    runs = _by_name(_runs(rec, exp_name))
    trial, train = runs["trial-0"], runs["train"]
    assert trial.data.params["dsn"] == "***"
    assert train.data.params["dsn"] == "***"
    experiment_doc = _artifact_text(rec, trial.info.run_id, "workbench/experiment.yaml")
    assert "pw@db" not in experiment_doc and "***" in experiment_doc
    assert "train" in _artifact_text(rec, trial.info.run_id, "workbench/pipeline.yaml")

    manifest = json.loads(_artifact_text(rec, train.info.run_id, "workbench/step.json"))
    assert manifest["command"] == ["python", "train.py", "--dsn", "***", "--lr=0.1"]
    assert manifest["env"] == {"MODE": "fast", "HF_TOKEN": "***"}
    assert {o["name"]: o["uri"] for o in manifest["outputs"]} == {
        "scores": str(small),
        "table": str(big),
        "model": str(model),
    }
    assert "pw@db" not in json.dumps(manifest)

    # A small table is copied whole; a big one gets a preview of its first rows; other files stay out.
    assert _artifact_text(rec, train.info.run_id, "scores/scores.csv") == small.read_text()
    preview = _artifact_text(rec, train.info.run_id, "table/preview.csv").splitlines()
    assert preview[0] == "a,b" and len(preview) == 1001 and preview[-1] == "999,998001"
    listed = {a.path for a in rec.client.list_artifacts(train.info.run_id)}
    assert "model" not in listed


def test_parquet_preview(tmp_path: Path) -> None:
    import pandas as pd

    from workbench.tracking._mlflow import table_preview

    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": range(3000), "y": ["v"] * 3000}).to_parquet(path)
    lines = table_preview(path, rows=10).splitlines()
    assert lines[0] == "x,y" and lines[1:3] == ["0,v", "1,v"] and len(lines) == 11


class _CountingClient:
    """Wraps an ``MlflowClient``, counting the calls that write."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name: str):
        attr = getattr(self.client, name)
        if name in ("create_run", "log_batch", "set_terminated", "update_run", "log_artifact"):

            def call(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)

            return call
        return attr


def _fast_trial(rec: MlflowRecorder, exp_name: str, run_id: str, n: int) -> None:
    run = RunInfo(run_id=run_id, experiment=exp_name, pipeline="p", trial_number=n, params={"x": n},
                  documents={"pipeline.yaml": "name: p\n"})  # fmt: skip
    rec.run_started(run)
    assert rec.tick() is not None  # held back: the run may end soon, then it is written in one go
    step = StepInfo(run_id=run_id, experiment=exp_name, step="main", component="c", trial_number=n, inputs={"x": n})
    rec.step_started(step)
    rec.metric(run_id, "main", "loss", 0.5, 0, time.time())
    step.state, step.exit_code, step.finished = "Succeeded", 0, time.time()
    rec.step_finished(step)
    run.state, run.metrics, run.finished = "Succeeded", {"loss": 0.5}, time.time()
    rec.run_finished(run)


def test_a_fast_trial_is_written_in_three_calls_per_run_with_the_whole_layout(
    mlflow_recorder: MlflowRecorder, exp_name: str
) -> None:
    rec = mlflow_recorder
    rec.experiment_started(ExperimentInfo(name=exp_name))
    assert rec.tick() is None  # nothing held: switches the recorder to coalesced writes
    counting = _CountingClient(rec.client)
    rec.client = counting
    _fast_trial(rec, exp_name, "fast-1", 0)
    assert rec.tick() is None  # everything written when the run ended
    assert sorted(counting.calls) == ["create_run"] * 2 + ["log_batch"] * 2 + ["set_terminated"] * 2
    rec.client = counting.client

    runs = _by_name(_runs(rec, exp_name))
    trial, main = runs["trial-0"], runs["main"]
    assert (trial.info.status, trial.data.tags["workbench.state"]) == ("FINISHED", "Succeeded")
    assert trial.data.params == {"x": "0"} and trial.data.metrics == {"loss": 0.5}
    assert set(_history(rec, trial.info.run_id, "loss")) == {(0, 0.5)}  # intermediate value and final value
    assert (main.info.status, main.data.tags["workbench.state"]) == ("FINISHED", "Succeeded")
    assert main.data.tags["mlflow.parentRunId"] == trial.info.run_id
    assert main.data.tags["workbench.exit_code"] == "0"
    assert main.data.params == {"x": "0"} and _history(rec, main.info.run_id, "loss") == [(0, 0.5)]
    assert main.info.start_time <= main.info.end_time
    assert _artifact_text(rec, trial.info.run_id, "workbench/pipeline.yaml") == "name: p\n"
    assert json.loads(_artifact_text(rec, main.info.run_id, "workbench/step.json"))["state"] == "Succeeded"


def test_a_long_trial_shows_as_running_with_its_metrics_once_its_data_is_due(
    mlflow_recorder: MlflowRecorder, exp_name: str
) -> None:
    rec = mlflow_recorder
    rec.live_interval = 3600.0
    rec.experiment_started(ExperimentInfo(name=exp_name))
    rec.tick()
    rec.run_started(RunInfo(run_id="long-1", experiment=exp_name, pipeline="p", trial_number=0, params={"lr": 0.1}))
    step = StepInfo(run_id="long-1", experiment=exp_name, step="train", component="c", trial_number=0)
    rec.step_started(step)
    rec.metric("long-1", "train", "loss", 0.9, 1, time.time())
    assert 0 < rec.tick() <= 3600.0
    assert _runs(rec, exp_name) == []  # held back, not yet due

    rec.live_interval = 0.0  # (as if an hour had passed)
    assert rec.tick() is None
    runs = _by_name(_runs(rec, exp_name))
    assert {name: r.info.status for name, r in runs.items()} == {"trial-0": "RUNNING", "train": "RUNNING"}
    assert runs["trial-0"].data.params == {"lr": "0.1"}
    assert _history(rec, runs["trial-0"].info.run_id, "loss") == [(1, 0.9)]
    assert runs["train"].data.tags["mlflow.parentRunId"] == runs["trial-0"].info.run_id

    step.state = "Succeeded"
    rec.step_finished(step)
    rec.run_finished(RunInfo(run_id="long-1", experiment=exp_name, pipeline="p", trial_number=0, state="Failed",
                             message="boom"))  # fmt: skip
    runs = _by_name(_runs(rec, exp_name))
    assert len(_runs(rec, exp_name)) == 2  # the runs created early are the ones ended, none made twice
    assert (runs["trial-0"].info.status, runs["trial-0"].data.tags["workbench.message"]) == ("FAILED", "boom")
    assert (runs["train"].info.status, runs["train"].data.tags["workbench.state"]) == ("FINISHED", "Succeeded")
