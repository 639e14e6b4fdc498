"""Deleting and archiving standalone runs: record, MLflow runs, outputs and logs go, ML Metadata lineage stays; an
output another run's cached step reused stays; a run still going is refused; archived runs are hidden until
unarchived. Through the CLI and the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import workbench.api as api
from workbench.cli import app
from workbench.errors import WorkbenchError
from workbench.runs import RunRecord, store_of
from workbench.workspace import Workspace

STEPS = """
from workbench import Dataset, Output, component


@component
def make(table: Output[Dataset], rows: int = 2) -> int:
    open(table.path, "w").write("a\\n" * rows)
    return rows
"""


@pytest.fixture(autouse=True)
def _in_process_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_TRACKING_PROCESS", "0")


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    (tmp_path / "steps.py").write_text(STEPS)
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: make\nparameters: [{name: rows, type: Integer, default: 2}]\n"
        "steps: [{name: make, component: steps.py:make, arguments: {rows: '{{params.rows}}'}}]\n"
    )
    return path


def _stages(ws: Workspace, run_id: str) -> set[str]:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ws.mlflow_uri)
    exp = client.get_experiment_by_name("Default")
    runs = client.search_runs([exp.experiment_id], f"tags.`workbench.run_id` = '{run_id}'", ViewType.ALL)
    assert runs
    return {r.info.lifecycle_stage for r in runs}


def test_runs_delete_removes_the_run_and_keeps_its_lineage(fresh_home: Path, pipeline: Path) -> None:
    from workbench.readmodel import Stores, standalone_runs

    ws = Workspace.at(fresh_home)
    record: RunRecord = api.run_pipeline(pipeline, {"rows": 3}, workspace=fresh_home)
    other: RunRecord = api.run_pipeline(pipeline, {"rows": 4}, workspace=fresh_home)
    assert record.state == "Succeeded"
    output = ws.artifacts / "Default" / record.run_id / "make" / "table"
    assert output.is_file() and (ws.runs / record.run_id).is_dir()
    no = CliRunner().invoke(app, ["runs", "delete", record.run_id[:8], "--home", str(fresh_home)], input="n\n")
    assert no.exit_code == 1 and "nothing deleted" in no.stderr and output.is_file()

    result = CliRunner().invoke(app, ["runs", "delete", record.run_id[:8], "--yes", "--home", str(fresh_home)])
    assert result.exit_code == 0, result.output
    assert f"deleted run {record.run_id}" in result.stdout
    assert not (ws.artifacts / "Default" / record.run_id).exists() and not (ws.runs / record.run_id).exists()
    assert _stages(ws, record.run_id) == {"deleted"} and _stages(ws, other.run_id) == {"active"}
    with pytest.raises(WorkbenchError, match="no run"):
        store_of(ws).get_run(record.run_id)
    assert list(api.list_runs(workspace=fresh_home)["run_id"]) == [other.run_id]
    lineage = api.lineage(str(output), workspace=fresh_home).artifacts()  # the lineage stays: history
    assert [(a["uri"], a["state"]) for a in lineage if a["uri"] == str(output)] == [(str(output), "DELETED")]
    runs = standalone_runs(Stores(ws))  # the dashboard's list of runs recorded in ML Metadata only
    assert record.run_id not in set(runs["run_id"])


def test_an_output_a_cached_step_of_another_run_reused_stays(fresh_home: Path, pipeline: Path) -> None:
    ws = Workspace.at(fresh_home)
    first: RunRecord = api.run_pipeline(pipeline, {"rows": 5}, workspace=fresh_home)
    second: RunRecord = api.rerun(first.run_id, workspace=fresh_home)
    assert second.steps["make"]["state"] == "Cached"
    output = ws.artifacts / "Default" / first.run_id / "make" / "table"
    deleted = api.delete_run(first.run_id, workspace=fresh_home)
    assert deleted.erased.kept == [str(output)]
    assert output.read_text() == "a\n" * 5  # the second run's result is made of it
    assert not (ws.runs / first.run_id).exists()
    assert not (ws.artifacts / "Default" / first.run_id / "make" / "Output").exists()


def test_a_run_still_going_is_refused(fresh_home: Path, pipeline: Path) -> None:
    from workbench.runs import prepare_run
    from workbench.spec import load_pipeline

    ws = Workspace.at(fresh_home)
    pending = prepare_run(load_pipeline(pipeline), {}, workspace=ws)
    store_of(ws).create_run(pending)
    result = CliRunner().invoke(app, ["runs", "delete", pending.run_id, "--yes", "--home", str(fresh_home)])
    assert result.exit_code == 1 and f"run {pending.run_id} is Pending; cancel it first" in result.stderr
    api.cancel_run(pending.run_id, workspace=fresh_home)  # nobody runs it: Killed at once
    assert api.delete_run(pending.run_id, workspace=fresh_home).record.run_id == pending.run_id


def test_archived_runs_are_hidden_until_unarchived(fresh_home: Path, pipeline: Path) -> None:
    a: RunRecord = api.run_pipeline(pipeline, {"rows": 1}, workspace=fresh_home)
    b: RunRecord = api.run_pipeline(pipeline, {"rows": 2}, workspace=fresh_home)
    runner = CliRunner()
    archived = runner.invoke(app, ["runs", "archive", a.run_id[:8], "--home", str(fresh_home)])
    assert archived.exit_code == 0 and f"archived run {a.run_id}" in archived.stdout
    assert list(api.list_runs(workspace=fresh_home)["run_id"]) == [b.run_id]
    assert set(api.list_runs(workspace=fresh_home, archived=True)["run_id"]) == {a.run_id, b.run_id}
    listed = json.loads(runner.invoke(app, ["runs", "ls", "--json", "--home", str(fresh_home)]).stdout)
    assert [r["run_id"] for r in listed] == [b.run_id]
    every = json.loads(runner.invoke(app, ["runs", "ls", "--json", "--archived", "--home", str(fresh_home)]).stdout)
    assert {r["run_id"]: r["archived"] for r in every} == {a.run_id: True, b.run_id: False}
    table = runner.invoke(app, ["runs", "ls", "--archived", "--home", str(fresh_home)]).stdout
    assert "(archived)" in table
    assert api.get_run(a.run_id, workspace=fresh_home).state == "Succeeded"  # nothing removed
    assert runner.invoke(app, ["runs", "unarchive", a.run_id, "--home", str(fresh_home)]).exit_code == 0
    assert set(api.list_runs(workspace=fresh_home)["run_id"]) == {a.run_id, b.run_id}
    api.archive_run(b.run_id, workspace=fresh_home)
    api.unarchive_run(b.run_id, workspace=fresh_home)
    assert len(api.list_runs(workspace=fresh_home)) == 2
