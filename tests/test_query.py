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
