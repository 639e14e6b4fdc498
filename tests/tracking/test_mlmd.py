"""MlmdRecorder against a real ML Metadata SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from workbench.errors import SpecError
from workbench.tracking import ExperimentInfo, MlmdRecorder, OutputArtifact, RunInfo, StepInfo, lineage_of_run
from workbench.tracking._mlmd import connection_config

EXP = "iris"


def _step(run_id: str, step: str, component: str, trial: int | None = 0, **kw) -> StepInfo:
    return StepInfo(run_id=run_id, experiment=EXP, step=step, component=component, trial_number=trial, **kw)


def _pipeline_run(rec: MlmdRecorder, run_id: str, trial: int, root: str = "/art") -> None:
    """load -> train -> evaluate, with artifact and value outputs."""
    rec.run_started(RunInfo(run_id=run_id, experiment=EXP, pipeline="iris-pipeline", trial_number=trial))
    data, model, metrics = f"{root}/{run_id}/load/data", f"{root}/{run_id}/train/model", f"{root}/{run_id}/eval/m"
    load = _step(run_id, "load", "load-data", trial, inputs={"url": "https://x/iris.csv"})
    rec.step_started(load)
    load.state, load.exit_code = "Succeeded", 0
    load.outputs = [OutputArtifact("data", data, "Dataset"), OutputArtifact("rows", "", "Integer", value=150)]
    rec.step_finished(load)
    train = _step(run_id, "train", "train", trial, inputs={"lr": 0.1}, input_artifacts={"data": (data, "Dataset")})
    rec.step_started(train)
    train.state = "Succeeded"
    train.outputs = [OutputArtifact("model", model, "Model")]
    rec.step_finished(train)
    ev = _step(run_id, "evaluate", "evaluate", trial, input_artifacts={"model": (model, "Model"), "data": (data, "")})
    rec.step_started(ev)
    ev.state = "Succeeded"
    ev.outputs = [OutputArtifact("metrics", metrics, "Metrics"), OutputArtifact("accuracy", "", "Float", value=0.93)]
    rec.step_finished(ev)


def test_executions_with_input_and_output_events(mlmd_url: str) -> None:
    rec = MlmdRecorder(mlmd_url)
    rec.experiment_started(ExperimentInfo(name=EXP, algorithm="random"))
    _pipeline_run(rec, "r1", 0)
    lineage = lineage_of_run(mlmd_url, "r1")

    assert lineage["context"]["type"] == "workbench.Trial"
    assert lineage["context"]["name"] == f"{EXP}/trial-0"
    execs = {e["step"]: e for e in lineage["executions"]}
    assert {s: (e["state"], e["mlmd_state"]) for s, e in execs.items()} == {
        "load": ("Succeeded", "COMPLETE"),
        "train": ("Succeeded", "COMPLETE"),
        "evaluate": ("Succeeded", "COMPLETE"),
    }
    assert execs["train"]["type"] == "workbench.step.train"
    assert execs["train"]["inputs"] == {"lr": 0.1}
    assert execs["load"]["outputs"] == {"rows": 150}  # value outputs: execution custom properties
    assert execs["evaluate"]["outputs"] == {"accuracy": 0.93}

    arts = {a["uri"]: a for a in lineage["artifacts"]}
    data, model = arts["/art/r1/load/data"], arts["/art/r1/train/model"]
    assert (data["type"], data["state"], data["name"]) == ("Dataset", "LIVE", "r1/load/data")
    assert model["type"] == "Model" and arts["/art/r1/eval/m"]["type"] == "Metrics"
    assert len(lineage["artifacts"]) == 3  # value outputs are no artifacts; inputs found, not duplicated
    assert sorted((e["step"], e["type"], e["name"]) for e in data["events"]) == [
        ("evaluate", "INPUT", "data"),
        ("load", "OUTPUT", "data"),
        ("train", "INPUT", "data"),
    ]
    assert execs["train"]["input_artifacts"] == {"data": data["id"]}
    assert execs["train"]["output_artifacts"] == {"model": model["id"]}
    assert execs["evaluate"]["input_artifacts"] == {"model": model["id"], "data": data["id"]}


def test_contexts_are_linked(mlmd_url: str) -> None:
    rec = MlmdRecorder(mlmd_url)
    rec.experiment_started(ExperimentInfo(name=EXP, namespace="team-a", directions=["maximize"]))
    _pipeline_run(rec, "r1", 0)
    _pipeline_run(rec, "r2", 1)
    store = rec.store
    exp = store.get_context_by_type_and_name("workbench.Experiment", EXP)
    assert exp.properties["namespace"].string_value == "team-a"
    assert json.loads(exp.properties["directions"].string_value) == ["maximize"]
    pipeline = store.get_context_by_type_and_name("workbench.Pipeline", "iris-pipeline")
    trials = {c.name for c in store.get_children_contexts_by_context(exp.id)}
    assert trials == {f"{EXP}/trial-0", f"{EXP}/trial-1"}
    trial = store.get_context_by_type_and_name("workbench.Trial", f"{EXP}/trial-1")
    assert {p.id for p in store.get_parent_contexts_by_context(trial.id)} == {exp.id, pipeline.id}
    assert trial.external_id == "r2"
    assert trial.properties["trial_number"].int_value == 1
    # Executions are associated with the trial and the experiment, artifacts attributed to both.
    assert len(store.get_executions_by_context(trial.id)) == 3
    assert len(store.get_executions_by_context(exp.id)) == 6
    assert {a.uri for a in store.get_artifacts_by_context(trial.id)} == {
        "/art/r2/load/data",
        "/art/r2/train/model",
        "/art/r2/eval/m",
    }
    assert len(store.get_artifacts_by_context(exp.id)) == 6

    rec.experiment_finished(ExperimentInfo(name=EXP, state="Succeeded"))
    exp = store.get_context_by_type_and_name("workbench.Experiment", EXP)
    assert exp.properties["state"].string_value == "Succeeded"
    assert exp.properties["namespace"].string_value == "team-a"  # the update kept the other properties


def test_cached_step_reuses_the_artifact_and_nothing_is_overwritten(mlmd_url: str) -> None:
    rec = MlmdRecorder(mlmd_url)
    _pipeline_run(rec, "r1", 0)
    store = rec.store
    [produced] = store.get_artifacts_by_uri("/art/r1/load/data")
    before = pb.Artifact()
    before.CopyFrom(produced)

    # Trial 1: "load" is a cache hit on trial 0's output; "train" consumes it (typed generically).
    rec.run_started(RunInfo(run_id="r2", experiment=EXP, pipeline="iris-pipeline", trial_number=1))
    cached = _step("r2", "load", "load-data", 1, state="Cached")
    cached.outputs = [OutputArtifact("data", "/art/r1/load/data", "Dataset")]
    rec.step_finished(cached)
    train = _step("r2", "train", "train", 1, input_artifacts={"data": ("/art/r1/load/data", "Artifact")})
    rec.step_started(train)
    train.state = "Succeeded"
    rec.step_finished(train)

    lineage = lineage_of_run(rec.store, "r2")
    execs = {e["step"]: e for e in lineage["executions"]}
    assert (execs["load"]["state"], execs["load"]["mlmd_state"]) == ("Cached", "CACHED")
    assert execs["load"]["output_artifacts"] == {"data": produced.id}
    assert execs["train"]["input_artifacts"] == {"data": produced.id}

    [after] = store.get_artifacts_by_uri("/art/r1/load/data")
    assert after.id == produced.id
    assert (after.uri, after.name, after.type_id, after.state) == (
        before.uri,
        before.name,
        before.type_id,
        before.state,
    )
    assert dict(after.custom_properties) == dict(before.custom_properties)
    assert after.custom_properties["run_id"].string_value == "r1"


def test_retries_skips_and_killed_runs(mlmd_url: str) -> None:
    rec = MlmdRecorder(mlmd_url)
    rec.run_started(RunInfo(run_id="r1", experiment=EXP, pipeline="p", trial_number=0, params={"lr": 0.1}))
    first = _step("r1", "fit", "fit")
    rec.step_started(first)
    first.state, first.exit_code = "Failed", 1
    rec.step_finished(first)
    second = _step("r1", "fit", "fit", attempt=2)
    rec.step_started(second)  # still running when the trial is killed
    rec.step_finished(_step("r1", "report", "report", state="Skipped"))
    rec.run_finished(RunInfo(run_id="r1", experiment=EXP, pipeline="p", trial_number=0, state="Killed"))

    lineage = lineage_of_run(mlmd_url, "r1")
    got = sorted((e["step"], e["attempt"], e["state"], e["mlmd_state"]) for e in lineage["executions"])
    assert got == [
        ("fit", 1, "Failed", "FAILED"),
        ("fit", 2, "Cancelled", "CANCELED"),
        ("report", 1, "Skipped", "CANCELED"),
    ]
    assert [e["exit_code"] for e in lineage["executions"] if e["attempt"] == 1 and e["step"] == "fit"] == [1]
    assert lineage["context"]["state"] == "Killed"


def test_run_finished_records_state_and_objective_values(mlmd_url: str) -> None:
    rec = MlmdRecorder(mlmd_url)
    rec.run_started(
        RunInfo(run_id="r1", experiment=EXP, pipeline="p", trial_number=0, params={"lr": 0.1, "api_key": "k"})
    )
    rec.run_finished(
        RunInfo(
            run_id="r1",
            experiment=EXP,
            pipeline="p",
            trial_number=0,
            state="Succeeded",
            metrics={"accuracy": 0.9, "loss": 0.25},
        )
    )
    ctx = lineage_of_run(mlmd_url, "r1")["context"]
    assert ctx["state"] == "Succeeded"
    assert ctx["custom_properties"] == {"metric.accuracy": 0.9, "metric.loss": 0.25}
    assert json.loads(ctx["properties"]["params"]) == {"lr": 0.1, "api_key": "***"}
    assert ctx["properties"]["finished"] > 0


def test_standalone_run_gets_a_run_context(mlmd_url: str) -> None:
    rec = MlmdRecorder(mlmd_url)
    rec.run_started(RunInfo(run_id="solo", experiment="adhoc", pipeline="etl"))
    step = StepInfo(run_id="solo", experiment="adhoc", step="extract", component="extract", inputs={"token": "s3"})
    rec.step_started(step)
    step.state = "Succeeded"
    rec.step_finished(step)
    lineage = lineage_of_run(mlmd_url, "solo")
    assert lineage["context"]["type"] == "workbench.Run"
    assert lineage["context"]["name"] == "adhoc/solo"
    assert lineage["executions"][0]["inputs"] == {"token": "***"}


def test_a_new_recorder_continues_where_the_last_one_stopped(mlmd_url: str) -> None:
    first = MlmdRecorder(mlmd_url)
    first.run_started(RunInfo(run_id="r1", experiment=EXP, pipeline="p", trial_number=0))
    step = _step("r1", "train", "train", input_artifacts={"data": ("/ext/data.csv", "Dataset")})
    first.step_started(step)

    second = MlmdRecorder(mlmd_url)  # e.g. the controller restarted
    second.step_started(step)  # re-sent: no second execution, no duplicate event
    step.state = "Succeeded"
    step.outputs = [OutputArtifact("model", "/art/r1/train/model", "Model")]
    second.step_finished(step)
    lineage = lineage_of_run(mlmd_url, "r1")
    [execution] = lineage["executions"]
    assert execution["mlmd_state"] == "COMPLETE"
    assert sorted((e["type"], e["name"]) for e in lineage["events"]) == [("INPUT", "data"), ("OUTPUT", "model")]


def test_lineage_of_unknown_run_or_missing_store(mlmd_url: str, tmp_path: Path) -> None:
    MlmdRecorder(mlmd_url)
    assert lineage_of_run(mlmd_url, "nope")["executions"] == []
    missing = f"sqlite:///{tmp_path / 'absent' / 'mlmd.sqlite'}"
    assert lineage_of_run(missing, "r1")["context"] is None
    assert not (tmp_path / "absent").exists()


def test_connection_config(tmp_path: Path) -> None:
    cfg = connection_config(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'mlmd.sqlite'}")
    assert cfg.sqlite.filename_uri == str(tmp_path / "deep" / "dir" / "mlmd.sqlite")
    assert cfg.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    assert (tmp_path / "deep" / "dir").is_dir()

    pg = connection_config("postgresql://wb:p%40ss@db.example:5433/mlmd?sslmode=require").postgresql
    assert (pg.host, pg.port, pg.dbname, pg.user, pg.password) == ("db.example", "5433", "mlmd", "wb", "p@ss")
    assert pg.ssloption.sslmode == "require"
    assert connection_config("postgresql+psycopg2://u:p@h/db").postgresql.port == "5432"

    my = connection_config("mysql://wb:pw@mysql:3307/meta").mysql
    assert (my.host, my.port, my.database, my.user, my.password) == ("mysql", 3307, "meta", "wb", "pw")

    with pytest.raises(SpecError) as err:
        connection_config("mongodb://u:topsecret@h/db")
    assert "topsecret" not in str(err.value)


def test_stale_run_finished_by_a_recorder_that_never_saw_it(mlmd_url: str) -> None:
    crashed = MlmdRecorder(mlmd_url)
    crashed.run_started(RunInfo(run_id="r9", experiment=EXP, pipeline="p", trial_number=9))
    crashed.step_started(_step("r9", "train", "train", 9))

    MlmdRecorder(mlmd_url).run_finished(
        RunInfo(run_id="r9", experiment=EXP, pipeline="p", trial_number=9, state="Killed", message="controller lost")
    )
    lineage = lineage_of_run(mlmd_url, "r9")
    assert lineage["context"]["name"] == f"{EXP}/trial-9"
    assert lineage["context"]["state"] == "Killed"
    assert lineage["context"]["properties"]["message"] == "controller lost"
    assert [(e["state"], e["mlmd_state"]) for e in lineage["executions"]] == [("Cancelled", "CANCELED")]

    # A run nobody recorded at all still gets its context (nothing is lost).
    MlmdRecorder(mlmd_url).run_finished(
        RunInfo(run_id="r10", experiment=EXP, pipeline="p", trial_number=10, state="Killed")
    )
    assert lineage_of_run(mlmd_url, "r10")["context"]["state"] == "Killed"


def test_a_resumed_run_started_again_reuses_its_context_and_executions(mlmd_url: str) -> None:
    first = MlmdRecorder(mlmd_url)
    run = RunInfo(run_id="r1", experiment=EXP, pipeline="p", trial_number=0, params={"lr": 0.1})
    first.run_started(run)
    step = _step("r1", "train", "train")
    first.step_started(step)  # the controller crashes while the step runs

    second = MlmdRecorder(mlmd_url)  # the resumed controller starts the same trial again
    second.run_started(run)
    second.step_started(step)  # re-sent: the stored execution, not a second one
    second.run_finished(RunInfo(run_id="r1", experiment=EXP, pipeline="p", trial_number=0, state="Killed"))
    lineage = lineage_of_run(mlmd_url, "r1")
    [execution] = lineage["executions"]
    assert (execution["state"], execution["mlmd_state"]) == ("Cancelled", "CANCELED")
    assert lineage["context"]["state"] == "Killed"
    store = second.store
    [trial] = store.get_contexts_by_type("workbench.Trial")
    assert sorted(c.name for c in store.get_parent_contexts_by_context(trial.id)) == ["iris", "p"]
