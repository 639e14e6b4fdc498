"""Deleting and archiving experiments: the Optuna study, the MLflow runs (deleted lifecycle stage), step outputs and
logs go; ML Metadata lineage stays (artifacts marked DELETED); a running experiment is refused; archived experiments
are hidden from the lists until unarchived. Through the CLI, the Python API and the read model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from app_helpers import quadratic_doc, write_yaml
from typer.testing import CliRunner

import workbench.api as api
from workbench import Parameter
from workbench.cli import app
from workbench.errors import WorkbenchError
from workbench.workspace import Workspace

STEPS = """
from workbench import Dataset, Output, component, report


@component
def fit(table: Output[Dataset], x: float = 0.0) -> float:
    open(table.path, "w").write(f"x,{x}\\n")
    report(loss=(x - 1) ** 2)
    return x
"""


@pytest.fixture(autouse=True)
def _in_process_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_TRACKING_PROCESS", "0")  # (no writer process to start: faster)


def _experiment(home: Path, name: str, namespace: str = "default", seed: int = 1) -> list[str]:
    """A finished 2-trial experiment in ``home`` (one step with a Dataset output); returns its trials' run ids."""
    folder = home.parent / "pipeline"
    if not folder.is_dir():
        folder.mkdir()
        (folder / "steps.py").write_text(STEPS)
        (folder / "pipeline.yaml").write_text(
            "name: fit\nparameters: [{name: x, type: Float}]\n"
            "steps: [{name: fit, component: steps.py:fit, arguments: {x: '{{params.x}}'}}]\n"
        )
    results = api.Experiment(
        name=name, namespace=namespace, objective="loss", parameters=[Parameter.double("x", -5, 5)],
        pipeline=folder / "pipeline.yaml", algorithm="random", algorithm_settings={"random_state": seed},
        max_trials=2, parallel=2,
    ).run(workspace=home, progress=False)  # fmt: skip
    assert results.state == "Succeeded"
    return [str(r) for r in results.trials_dataframe()["run_id"]]


def _mlflow_stages(ws: Workspace, run_ids: list[str]) -> set[str]:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ws.mlflow_uri)
    runs = [r for exp in client.search_experiments(view_type=ViewType.ALL)
            for r in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
            if r.data.tags.get("workbench.run_id") in run_ids]  # fmt: skip
    assert runs, "the experiment's MLflow runs"
    return {r.info.lifecycle_stage for r in runs}


def _mlmd(ws: Workspace, run_ids: list[str]) -> tuple[int, set[str], set[bool]]:
    """(executions, artifact states, whether each run context is marked deleted) of the runs in ML Metadata."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from workbench.tracking._mlmd import open_store

    store = open_store(ws.mlmd_url)
    contexts = store.get_contexts_by_external_ids(run_ids)
    executions = sum(len(store.get_executions_by_context(c.id)) for c in contexts)
    states = {pb.Artifact.State.Name(a.state) for c in contexts for a in store.get_artifacts_by_context(c.id)}
    return executions, states, {"deleted" in c.custom_properties for c in contexts}


def test_delete_removes_study_runs_outputs_and_logs_and_keeps_lineage(fresh_home: Path) -> None:
    """The regression: an experiment could not be deleted (though an error message said to)."""
    ws = Workspace.at(fresh_home)
    run_ids = _experiment(fresh_home, "doomed")
    keep = _experiment(fresh_home, "kept", seed=2)  # (other parameters: no step reused from the cache)
    folders = [ws.artifacts / "doomed" / r for r in run_ids] + [ws.runs / r for r in run_ids]
    assert all(f.is_dir() for f in folders)
    assert _mlmd(ws, run_ids)[1] == {"LIVE"}

    result = CliRunner().invoke(app, ["delete", "doomed", "--yes", "--home", str(fresh_home)])
    assert result.exit_code == 0, result.output
    assert "deleted experiment 'doomed': 2 trials" in result.stdout and "lineage stays" in result.stdout
    assert [r.name for r in api.list_experiments(fresh_home).itertuples()] == ["kept"]
    assert not any(f.exists() for f in folders) and not (ws.artifacts / "doomed").exists()
    assert _mlflow_stages(ws, run_ids) == {"deleted"} and _mlflow_stages(ws, keep) == {"active"}
    executions, states, marked = _mlmd(ws, run_ids)
    assert executions == 2 and states == {"DELETED"} and marked == {True}  # lineage is history
    assert _mlmd(ws, keep)[1] == {"LIVE"}
    shown = CliRunner().invoke(app, ["show", "doomed", "--home", str(fresh_home)])
    assert shown.exit_code == 1 and "no experiment named 'doomed'" in shown.stderr
    # The name is free again: a new experiment of that name starts from nothing.
    assert len(_experiment(fresh_home, "doomed")) == 2


def test_delete_asks_first(fresh_home: Path) -> None:
    _experiment(fresh_home, "asked")
    no = CliRunner().invoke(app, ["delete", "asked", "--home", str(fresh_home)], input="n\n")
    assert no.exit_code == 1 and "nothing deleted" in no.stderr
    assert "delete experiment 'asked' (namespace default) with its 2 trials" in no.stdout
    assert list(api.list_experiments(fresh_home)["name"]) == ["asked"]
    yes = CliRunner().invoke(app, ["delete", "asked", "--home", str(fresh_home)], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert api.list_experiments(fresh_home).empty


HOLD_LOCK = """
import sys, time
from pathlib import Path
from workbench.search._storage import ExperimentLock
lock = ExperimentLock(Path(sys.argv[1]), sys.argv[2])
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_running_experiment_is_refused_and_left_whole(fresh_home: Path) -> None:
    ws = Workspace.at(fresh_home)
    run_ids = _experiment(fresh_home, "busy")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ws.locks), "busy"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = CliRunner().invoke(app, ["delete", "busy", "--yes", "--home", str(fresh_home)])
        assert result.exit_code == 1 and "is running (a controller on this machine)" in result.stderr
        assert "workbench stop busy" in result.stderr
        with pytest.raises(WorkbenchError, match="is running"):
            api.delete_experiment("busy", workspace=fresh_home)
    finally:
        holder.kill()
        holder.wait()
    assert all((ws.runs / r).is_dir() for r in run_ids) and _mlflow_stages(ws, run_ids) == {"active"}
    assert api.delete_experiment("busy", workspace=fresh_home).trials == 2  # once it stopped


def test_delete_and_archive_name_the_namespace(fresh_home: Path) -> None:
    _experiment(fresh_home, "team-exp", namespace="team-b")
    wrong = CliRunner().invoke(app, ["delete", "team-exp", "--yes", "--home", str(fresh_home)])
    assert wrong.exit_code == 1
    assert "no experiment 'team-exp' in namespace 'default' (there is one in namespace 'team-b': add -n team-b)" in (
        " ".join(wrong.stderr.split())
    )
    archived = CliRunner().invoke(app, ["archive", "team-exp", "-n", "team-b", "--home", str(fresh_home)])
    assert archived.exit_code == 0, archived.output
    assert api.delete_experiment("team-exp", "team-b", workspace=fresh_home).trials == 2


def test_archive_hides_an_experiment_until_unarchived(fresh_home: Path) -> None:
    from workbench.readmodel import ReadModel

    _experiment(fresh_home, "old")
    _experiment(fresh_home, "new")
    runner = CliRunner()
    assert runner.invoke(app, ["archive", "old", "--home", str(fresh_home)]).exit_code == 0
    listed = runner.invoke(app, ["ls", "--home", str(fresh_home)]).stdout
    assert "new" in listed and "old" not in listed
    every = runner.invoke(app, ["ls", "--archived", "--home", str(fresh_home)]).stdout
    assert "Succeeded (archived)" in every and "old" in every
    assert list(api.list_experiments(fresh_home)["name"]) == ["new"]
    frame = api.list_experiments(fresh_home, archived=True)
    assert dict(zip(frame["name"], frame["archived"], strict=True)) == {"new": False, "old": True}
    model = ReadModel(Workspace.at(fresh_home)).experiments()
    assert dict(zip(model["name"], model["archived"], strict=True)) == {"new": False, "old": True}
    assert "is archived" in runner.invoke(app, ["archive", "old", "--home", str(fresh_home)]).stdout
    assert runner.invoke(app, ["show", "old", "--home", str(fresh_home)]).exit_code == 0  # still there, by name
    assert api.unarchive_experiment("old", workspace=fresh_home) is True
    assert sorted(api.list_experiments(fresh_home)["name"]) == ["new", "old"]
    assert "is not archived" in runner.invoke(app, ["unarchive", "old", "--home", str(fresh_home)]).stdout


def test_an_archived_experiment_runs_on_when_resumed(fresh_home: Path, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "e.yaml", quadratic_doc("resumable", trials=1, parallel=1))
    assert CliRunner().invoke(app, ["run", str(path), "-q", "--home", str(fresh_home)]).exit_code == 0
    assert api.archive_experiment("resumable", workspace=fresh_home) is True
    again = CliRunner().invoke(app, ["resume", "resumable", "--max-trials", "2", "-q", "--home", str(fresh_home)])
    assert again.exit_code == 0, again.output
    study = api.load("resumable", workspace=fresh_home)
    assert len(study.trials_dataframe()) == 2
    assert api.list_experiments(fresh_home).empty  # still archived


def test_the_search_space_message_names_the_delete_command(fresh_home: Path, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "e.yaml", quadratic_doc("space", trials=1, parallel=1))
    assert CliRunner().invoke(app, ["run", str(path), "-q", "--home", str(fresh_home)]).exit_code == 0
    doc: dict[str, Any] = quadratic_doc("space", trials=1, parallel=1)
    doc["spec"]["parameters"][0]["feasibleSpace"]["max"] = "9"
    changed = CliRunner().invoke(app, ["run", str(write_yaml(tmp_path / "f.yaml", doc)), "--home", str(fresh_home)])
    assert changed.exit_code == 2 and "workbench delete space" in changed.stderr


def test_delete_of_an_experiment_that_does_not_exist_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "nothing"
    result = CliRunner().invoke(app, ["delete", "ghost", "--yes", "--home", str(home)])
    assert result.exit_code == 1 and "no experiment 'ghost' in namespace 'default'" in result.stderr
    assert not home.exists()
