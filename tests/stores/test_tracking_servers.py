"""Tracking on real servers: ML Metadata on MariaDB (its native MySQL client) and PostgreSQL, and MLflow
through a real ``mlflow server`` process (backend store PostgreSQL, artifacts served from a folder).

The sweep is the KFP example (generate -> KFP preprocess -> train -> model card), narrowed to a region
where the SVC is accurate, so that every step runs and the model card (a Markdown output) is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from workbench.search import _storage as st
from workbench.search.controller import Controller
from workbench.spec import experiment_from_dict
from workbench.testing.databases import MlflowServer, ScratchDatabase, mlflow_server
from workbench.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
KFP = REPO / "examples" / "kfp"
TRIALS = 2


def _kfp_spec(name: str) -> Any:
    doc = yaml.safe_load((KFP / "experiment.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["spec"].update(maxTrialCount=TRIALS, parallelTrialCount=2, maxFailedTrialCount=0)
    doc["spec"].pop("goal", None)
    doc["spec"]["objective"].pop("goal", None)
    doc["spec"]["parameters"] = [
        {"name": "c", "parameterType": "double", "feasibleSpace": {"min": "1", "max": "3"}},
        {"name": "gamma", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "1.5"}},
        {"name": "scaling", "parameterType": "categorical", "feasibleSpace": {"list": ["standard"]}},
    ]
    return experiment_from_dict(json.loads(json.dumps(doc)), KFP)


def _workspace(home: Path, **stores: str) -> Workspace:
    home.mkdir(parents=True, exist_ok=True)
    (home / "workbench.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in stores.items()))
    return Workspace.at(home)


def _run(ws: Workspace, name: str) -> list[optuna.trial.FrozenTrial]:
    summary = Controller(_kfp_spec(name), ws).run()
    assert summary.state == "Succeeded", summary
    study = optuna.load_study(study_name=name, storage=st.open_storage(ws.optuna_url))
    trials = study.get_trials()
    assert len(trials) == TRIALS
    return trials


@pytest.mark.slow
@pytest.mark.parametrize("server", ["mysql", "postgresql"])
def test_lineage_of_a_sweep_recorded_on_a_database_server(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from workbench.tracking._mlmd import TRIAL_TYPE, lineage_of_run, open_store

    db: ScratchDatabase = request.getfixturevalue("mysql_db" if server == "mysql" else "postgres_db")
    ws = _workspace(tmp_path / "home", mlmd=db.mlmd_url)
    trials = _run(ws, f"lineage-{server}")

    # Read back through a new connection, as the dashboard or the ml-metadata API would.
    store = open_store(db.mlmd_url)
    contexts = {c.name: c for c in store.get_contexts_by_type(TRIAL_TYPE)}
    assert sorted(contexts) == sorted(f"lineage-{server}/trial-{t.number}" for t in trials)
    for trial in trials:
        lineage = lineage_of_run(db.mlmd_url, trial.user_attrs[st.T_RUN_ID])
        assert lineage["context"]["type"] == TRIAL_TYPE
        steps = {e["step"]: e for e in lineage["executions"]}
        assert set(steps) == {"generate", "preprocess", "train", "model-card"}
        # A step whose inputs another trial already ran with (generate) may be Cached: the cache
        # lookups went through the same server.
        assert {e["state"] for e in steps.values()} <= {"Succeeded", "Cached"}
        assert steps["train"]["state"] == "Succeeded"
        # The chain generate -> preprocess -> train is the same artifacts on both sides of each edge.
        assert steps["preprocess"]["input_artifacts"]["raw_data"] == steps["generate"]["output_artifacts"]["data"]
        for part in ("train_data", "test_data"):
            assert steps["train"]["input_artifacts"][part] == steps["preprocess"]["output_artifacts"][part]
        artifacts = {a["id"]: a for a in lineage["artifacts"]}
        data = artifacts[steps["generate"]["output_artifacts"]["data"]]
        assert data["type"] == "Dataset" and Path(data["uri"].removeprefix("file://")).is_file()
        assert steps["train"]["inputs"]["c"] == pytest.approx(trial.params["c"])


@pytest.fixture
def mlflow_on_postgres(postgres_db: ScratchDatabase, tmp_path: Path) -> Iterator[MlflowServer]:
    with mlflow_server(postgres_db.url, tmp_path / "server-artifacts") as server:
        yield server


@pytest.mark.slow
def test_a_sweep_recorded_through_an_mlflow_server(mlflow_on_postgres: MlflowServer, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    server = mlflow_on_postgres
    ws = _workspace(tmp_path / "home", mlflow=server.url)
    trials = _run(ws, "through-server")

    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("through-server")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server stores artifacts itself
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    trial_runs = {r.data.tags["workbench.trial"]: r for r in runs if "workbench.step" not in r.data.tags}
    assert sorted(trial_runs) == sorted(str(t.number) for t in trials)
    for trial in trials:
        run = trial_runs[str(trial.number)]
        assert run.info.status == "FINISHED"
        assert float(run.data.params["c"]) == pytest.approx(trial.params["c"])
        assert run.data.params["scaling"] == "standard"
        assert run.data.metrics["accuracy"] == pytest.approx(trial.values[0])
        steps = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
        assert sorted(r.data.tags["workbench.step"] for r in steps) == ["generate", "model-card", "preprocess", "train"]
        # The model card (a Markdown output) went through the server into its artifact folder.
        card_run = next(r for r in steps if r.data.tags["workbench.step"] == "model-card")
        assert ("card", True) in [(a.path, a.is_dir) for a in client.list_artifacts(card_run.info.run_id)]
        folder = server.artifacts / experiment.experiment_id / card_run.info.run_id / "artifacts" / "card"
        stored = [p for p in folder.iterdir() if p.is_file()]
        assert len(stored) == 1, "the model card was not logged"
        # (The server lists nothing inside card/ when the file is named card too: download it by its path.)
        dest = tmp_path / "dl" / card_run.info.run_id
        dest.mkdir(parents=True)
        local = Path(client.download_artifacts(card_run.info.run_id, f"card/{stored[0].name}", str(dest)))
        assert local.read_bytes() == stored[0].read_bytes() and b"accuracy" in local.read_bytes().lower()
