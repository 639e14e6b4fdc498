"""The read model (``workbench.query``): experiments and trials of real workspaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from app_helpers import failing_doc, quadratic_doc

from workbench.errors import WorkbenchError
from workbench.query import (
    TAIL_COLUMNS,
    experiment,
    failure_detail,
    find_study,
    list_experiments,
    load_study,
    step_logs,
    trials_dataframe,
)
from workbench.search.controller import Controller
from workbench.spec import experiment_from_dict
from workbench.workspace import Workspace


def test_list_experiments_of_a_missing_workspace(tmp_path: Path) -> None:
    assert list_experiments(Workspace.at(tmp_path / "missing")) == []
    assert not (tmp_path / "missing").exists()


def test_list_experiments_of_an_empty_workspace(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    assert list_experiments(Workspace.at(home)) == []
    assert find_study(Workspace.at(home), "x") is None
    assert list(home.iterdir()) == []  # the read model writes nothing


def test_find_and_load_study(tmp_path: Path, quad_home: dict[str, Any]) -> None:
    ws = Workspace.at(quad_home["home"])
    assert find_study(ws, "quad-cli") is not None
    assert find_study(ws, "other") is None
    assert find_study(Workspace.at(tmp_path / "missing"), "quad-cli") is None
    with pytest.raises(WorkbenchError, match=r"no experiment named 'other' in .*\(experiments: quad-cli\)"):
        load_study(ws, "other")


def test_experiment_row(quad_home: dict[str, Any]) -> None:
    ws = Workspace.at(quad_home["home"])
    [row] = list_experiments(ws)
    assert row.spec == experiment(ws, "quad-cli").spec
    assert (row.name, row.namespace, row.state, row.algorithm) == ("quad-cli", "default", "Succeeded", "random")
    assert (row.finished, row.max_trials, row.failed, row.pruned, row.running) == (6, 6, 0, 0, 0)
    assert (row.objective, row.directions) == (["loss"], ["minimize"])
    df = trials_dataframe(load_study(ws, "quad-cli"))
    assert row.best_value == pytest.approx(df["metrics.loss"].min())
    assert row.best_trial == int(df.loc[df["metrics.loss"].idxmin(), "number"])
    assert row.started is not None and row.ended is not None and 0 < row.duration < 600
    assert "budget" in row.message and row.front == 0


def test_trials_dataframe_shape(quad_home: dict[str, Any]) -> None:
    df = trials_dataframe(load_study(Workspace.at(quad_home["home"]), "quad-cli"))
    assert list(df.columns) == ["number", "state", "params.x", "params.y", "metrics.loss", *TAIL_COLUMNS]
    assert df.shape == (6, 5 + len(TAIL_COLUMNS))
    assert list(df["number"]) == list(range(6))
    assert df["number"].dtype.kind == "i" and df["params.x"].dtype.kind == "f" and df["metrics.loss"].dtype.kind == "f"
    assert pd.api.types.is_datetime64_any_dtype(df["started"]) and pd.api.types.is_datetime64_any_dtype(df["finished"])
    assert (df["finished"] >= df["started"]).all() and (df["duration_s"] > 0).all()
    assert df["run_id"].str.len().gt(0).all() and df["run_id"].is_unique
    # the quadratic objective, recomputed from the parameters (epochs=3)
    bowl = (df["params.x"] - 2) ** 2 + (df["params.y"] + 1) ** 2
    assert df["metrics.loss"].to_numpy() == pytest.approx((bowl + (1 + bowl) * 0.5**3).to_numpy())


def _run(doc: dict[str, Any], home: Path, stop_first: bool = False) -> Workspace:
    ws = Workspace.at(home)
    controller = Controller(experiment_from_dict(doc), ws)
    if stop_first:
        controller.request_stop("stopped before the first trial")
    controller.run()
    return ws


def test_trials_dataframe_without_trials(fresh_home: Path) -> None:
    doc = quadratic_doc("empty")
    doc["spec"]["objective"]["additionalMetricNames"] = ["accuracy"]
    ws = _run(doc, fresh_home, stop_first=True)
    df = trials_dataframe(load_study(ws, "empty"))
    assert len(df) == 0
    assert list(df.columns) == ["number", "state", "params.x", "params.y", "metrics.loss", "metrics.accuracy"] + list(
        TAIL_COLUMNS
    )
    row = experiment(ws, "empty")
    assert (row.state, row.finished, row.best_trial) == ("Stopped", 0, None)


def test_trials_dataframe_of_failed_trials(fresh_home: Path, tmp_path: Path) -> None:
    ws = _run(failing_doc(tmp_path / "steps", "failing", trials=2), fresh_home)
    df = trials_dataframe(load_study(ws, "failing"))
    assert len(df) == 2 and (df["state"] == "Failed").all()
    assert "metrics.loss" in df.columns and df["metrics.loss"].isna().all()
    assert df["message"].str.contains("explode").all()
    row = experiment(ws, "failing")
    assert (row.failed, row.finished, row.best_trial) == (2, 2, None)
    # why: the exception the step printed, from its log
    run_id = str(df.loc[0, "run_id"])
    assert list(step_logs(ws, run_id)) == ["explode"]
    detail, log = failure_detail(ws, run_id)
    assert detail.startswith("ValueError: boom at x=") and log == step_logs(ws, run_id)["explode"]
    assert failure_detail(ws, "no-such-run") == ("", None)


def test_list_experiments_newest_first(fresh_home: Path) -> None:
    ws = _run(quadratic_doc("first", trials=1, parallel=1), fresh_home)
    _run(quadratic_doc("second", trials=1, parallel=1), fresh_home)
    assert [r.name for r in list_experiments(ws)] == ["second", "first"]


def test_rows_imported_from_a_warm_start_csv(fresh_home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "earlier.csv"
    csv.write_text("x,y,loss\n2.0,-1.0,0.001\n0.0,0.0,5.0\n")
    doc = quadratic_doc("warm", trials=2, warmStart={"csv": str(csv)})
    ws = _run(doc, fresh_home)
    row = experiment(ws, "warm")
    assert (row.state, row.finished, row.imported) == ("Succeeded", 2, 2)  # the budget counts trials run here
    assert row.best_value == pytest.approx(0.001)
    df = trials_dataframe(load_study(ws, "warm"))
    assert len(df) == 4 and df["imported"].sum() == 2
    imported = df[df["imported"]]
    assert sorted(imported["metrics.loss"]) == [pytest.approx(0.001), pytest.approx(5.0)]
    assert imported["duration_s"].isna().all() and (imported["run_id"] == "").all()
    assert df[~df["imported"]]["duration_s"].gt(0).all()


# ------------------------------------------------------------------ lineage


def _lineage_workspace(home: Path) -> Workspace:
    """Two trials recorded by the real ML Metadata recorder: load -> train -> evaluate each, and trial 1's evaluate
    also reads trial 0's model (a cross-run consumer)."""
    from workbench.tracking import ExperimentInfo, MlmdRecorder, OutputArtifact, RunInfo, StepInfo

    ws = Workspace.at(home)
    ws.home.mkdir(parents=True, exist_ok=True)
    rec = MlmdRecorder(ws.mlmd_url)
    rec.experiment_started(ExperimentInfo(name="lin", algorithm="random"))
    art = ws.artifacts
    for trial in (0, 1):
        run = f"run{trial}"
        rec.run_started(RunInfo(run_id=run, experiment="lin", pipeline="p", trial_number=trial))
        data, model, metrics = (str(art / run / s) for s in ("load/data", "train/model", "evaluate/metrics"))
        steps = [
            ("load", {"rows": 100 + trial}, {}, [OutputArtifact("data", data, "Dataset")]),
            (
                "train",
                {"lr": 0.1 * (trial + 1)},
                {"data": (data, "Dataset")},
                [OutputArtifact("model", model, "Model")],
            ),
            (
                "evaluate",
                {},
                {
                    "model": (model, "Model"),
                    **({"baseline": (str(art / "run0/train/model"), "Model")} if trial else {}),
                },
                [OutputArtifact("metrics", metrics, "Metrics")],
            ),
        ]
        for step, inputs, in_arts, outs in steps:
            info = StepInfo(run_id=run, experiment="lin", step=step, component=step, inputs=inputs,
                            input_artifacts=in_arts, trial_number=trial)  # fmt: skip
            rec.step_started(info)
            info.state, info.outputs = "Succeeded", outs
            rec.step_finished(info)
        rec.run_finished(RunInfo(run_id=run, experiment="lin", pipeline="p", trial_number=trial, state="Succeeded"))
    rec.close()
    return ws


@pytest.fixture(scope="module")
def lineage_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return _lineage_workspace(tmp_path_factory.mktemp("lineage") / "home")


def _steps(lin: Any) -> list[tuple[str, int | None]]:
    return [(e["step"], e["trial"]) for e in lin.executions()]


def test_lineage_upstream_of_a_model_names_executions_parameters_and_inputs(lineage_ws: Workspace) -> None:
    from workbench.query import lineage

    model = str(lineage_ws.artifacts / "run1/train/model")
    lin = lineage(lineage_ws, model, "upstream")
    assert lin.method == "get_lineage_subgraph"  # ml-metadata 1.17.1 has it
    assert lin.target["kind"] == "artifact" and lin.target["type"] == "Model" and lin.target["uri"] == model
    assert _steps(lin) == [("load", 1), ("train", 1)]  # producers first
    load, train = lin.executions()
    assert load["params"] == {"rows": 101} and train["params"] == {"lr": pytest.approx(0.2)}
    assert [(i["name"], i["uri"]) for i in train["inputs"]] == [("data", str(lineage_ws.artifacts / "run1/load/data"))]
    assert [o["name"] for o in train["outputs"]] == ["model"]
    assert {a["type"] for a in lin.artifacts()} == {"Dataset", "Model"}


def test_lineage_downstream_of_a_model_crosses_runs(lineage_ws: Workspace) -> None:
    from workbench.query import lineage

    lin = lineage(lineage_ws, str(lineage_ws.artifacts / "run0/train/model"), "downstream")
    assert sorted(_steps(lin)) == [("evaluate", 0), ("evaluate", 1)]  # its own evaluate and trial 1's
    uses = {e["trial"]: [i["name"] for i in e["inputs"]] for e in lin.executions()}
    assert uses == {0: ["model"], 1: ["baseline"]}
    assert {a["name"] for a in lin.artifacts()} == {"model", "metrics"}


def test_lineage_of_a_trial_is_its_whole_graph(lineage_ws: Workspace) -> None:
    from workbench.query import lineage

    one_hop = lineage(lineage_ws, "lin:1", hops=1)
    assert one_hop.target["kind"] == "trial" and one_hop.target["run_id"] == "run1"
    assert _steps(one_hop) == [("load", 1), ("train", 1), ("evaluate", 1)]
    assert len(one_hop.edges) == 6  # 3 outputs, data -> train, model -> evaluate, trial 0's model -> evaluate
    around = lineage(lineage_ws, "lin/trial-1")  # 2 hops: also trial 0's train, which made the baseline model
    assert ("train", 0) in _steps(around)
    as_json = around.to_dict()
    assert as_json["direction"] == "both" and as_json["hops"] == 2 and len(as_json["events"]) == len(around.edges)


@pytest.mark.parametrize(
    ("target", "direction", "hops"),
    [("run1/train/model", "upstream", None), ("run0/train/model", "downstream", None), ("lin:1", "both", 3)],
)
def test_lineage_event_traversal_gives_the_same_graph(
    lineage_ws: Workspace, target: str, direction: str, hops: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback for ml-metadata without get_lineage_subgraph: forced, it finds the same nodes and edges."""
    from workbench.query import lineage
    from workbench.readmodel import _lineage

    if "/" in target and ":" not in target:
        target = str(lineage_ws.artifacts / target)
    native = lineage(lineage_ws, target, direction, hops)
    forced = lineage(lineage_ws, target, direction, hops, method="events")
    monkeypatch.setattr(_lineage, "subgraph_api", lambda store: False)  # as on ml-metadata without the query
    fallback = lineage(lineage_ws, target, direction, hops)
    assert native.method == "get_lineage_subgraph" and forced.method == fallback.method == "events"
    for other in (forced, fallback):
        assert sorted(other.nodes["id"]) == sorted(native.nodes["id"])
        assert sorted(map(tuple, other.edges.to_numpy().tolist())) == sorted(
            map(tuple, native.edges.to_numpy().tolist())
        )


def test_lineage_targets_by_id_and_relative_path_and_clear_errors(lineage_ws: Workspace) -> None:
    from workbench.query import lineage

    by_uri = lineage(lineage_ws, str(lineage_ws.artifacts / "run0/load/data"), "downstream", hops=1)
    aid = by_uri.target["artifact_id"]
    assert lineage(lineage_ws, aid, "downstream", hops=1).target["uri"] == by_uri.target["uri"]
    assert lineage(lineage_ws, f"#{aid}", "downstream", hops=1).target["artifact_id"] == aid
    assert lineage(lineage_ws, "run0/load/data", "downstream", hops=1).target["artifact_id"] == aid  # in the store
    for target, message in [
        ("99999", "no artifact with id 99999"),
        ("lin:7", "no trial 7 of experiment 'lin'"),
        ("nothing-here", "is not an artifact id, an artifact uri"),
    ]:
        with pytest.raises(WorkbenchError, match=message):
            lineage(lineage_ws, target)
    with pytest.raises(WorkbenchError, match="direction must be one of"):
        lineage(lineage_ws, aid, "sideways")
    with pytest.raises(WorkbenchError, match="no lineage store"):
        lineage(Workspace.at(lineage_ws.home.parent / "empty"), "1")


def test_lineage_cli_and_api(lineage_ws: Workspace) -> None:
    import json

    from typer.testing import CliRunner

    from workbench import api
    from workbench.cli import app

    runner = CliRunner()
    home = str(lineage_ws.home)
    model = str(lineage_ws.artifacts / "run1/train/model")
    out = runner.invoke(app, ["lineage", model, "--upstream", "--json", "--home", home])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert [e["step"] for e in doc["executions"]] == ["load", "train"] and doc["direction"] == "upstream"
    table = runner.invoke(app, ["lineage", "lin:0", "--home", home], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "evaluate" in table.output and "lr=0.1" in table.output
    missing = runner.invoke(app, ["lineage", "lin:9", "--home", home])
    assert missing.exit_code == 1 and "no trial 9" in missing.output
    both = runner.invoke(app, ["lineage", model, "--upstream", "--downstream", "--home", home])
    assert both.exit_code == 2
    lin = api.lineage(model, direction="upstream", workspace=lineage_ws.home)
    assert [e["step"] for e in lin.executions()] == ["load", "train"]
